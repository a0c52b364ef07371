#!/usr/bin/env bash
# The GPU checks of issue 6 in one command on the lent H200 (see scripts/device_wheels.sh):
#   device run, carry [".whl"]:  bash scripts/device_gpu_check.sh
# 1. agreement of the CUDA and CPU backends on 256 patients x 3 days, and kernel throughput,
#    GPU on 1,000,000 x 30 days against the CPU backend on all cores; 2. an end-to-end run
#    (daily aggregates to zarr) of 200,000 x 30 days on the GPU. Output JSON lands in $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 scripts/check_cuda.py --patients 256 --days 3 --chunk 100 \
  --throughput 1000000 30 --cpu-patients 8000 | tee "$OUT/check_cuda.json"
cat > /tmp/e2e.toml <<'TOML'
[run]
name = "gpu end to end"
n_patients = 200000
days = 30
[execution]
backend = "cuda"
TOML
python3 -m engine.cli run /tmp/e2e.toml -o /tmp/e2e.zarr --overwrite 2>&1 | tail -4 \
  | tee "$OUT/e2e.txt"
