#!/usr/bin/env bash
# The GPU checks in one command on the lent H200 (see scripts/device_wheels.sh):
#   device run, carry [".whl"]:  bash scripts/device_gpu_check.sh
# After the kernels are compiled side by side (step 0), steps in order of worth, each under its
# own time limit, each writing to $OUT as it goes (a step that runs out of time still leaves
# what it measured in progress.jsonl):
# 1. agreement of the CUDA and CPU backends for the built-in cases (real_world, a noisy
#    sensor and a traced patient, patients who stop, the midpoint integrator, aid_pid with its
#    device events, aid_oref) on 1,000 patients x 7 days, streamed in chunks of 300; then the
#    kernel's throughput, GPU against the CPU backend on all cores, and the GPU's per therapy;
# 2. an end-to-end run (daily aggregates to zarr) of 200,000 x 30 days on the GPU (the kernels
#    from step 1's cache);
# 3. the agreement for a plug-in controller (docs/examples/bang_bang.py): its own kernels,
#    compiled in each process, so it starts first and runs beside the others.
# Seen on 2026-12-04 (H200, 16 Xeon cores): the machine started in ~45 s; step 1 spent 244 s
# compiling (the CPU kernel, then NVVM and ptxas) before its launch failed (since fixed); the
# plug-in's compiles did not finish in 150 s. Steps 0-2 are limited to 530 s and step 3 to
# 560 s beside them: run it with timeout_s 590, in a session with the whole 15 minutes of
# device time left.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import sys, numpy, numba, numba_cuda, llvmlite
print(sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__,
      'numba-cuda', numba_cuda.__version__, 'llvmlite', llvmlite.__version__)"
  echo "cpus $(nproc)"; grep -m1 'model name' /proc/cpuinfo
} 2>&1 | tee "$OUT/gpu.txt"
step() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: exit $? after $((SECONDS - t0)) s"; tail -c 1500 "$OUT/$name.log"
}
BUILTIN=noisy_sensor_traced,overdose_untreated,midpoint_integrator,aid_pid_device_events,aid_oref
# 3 first, in the background: a plug-in's kernels are compiled in each process (numba's cache
# keys a plug-in by its object) and took over 150 s, so its compiles overlap steps 0-2 on the
# spare cores
timeout 560 python3 scripts/check_cuda.py --patients 1000 --days 7 --chunk 300 \
  --cases plugin_bang_bang --progress "$OUT/progress.jsonl" > "$OUT/plugin.log" 2>&1 &
plugin=$!
# 0. the built-in kernels compiled side by side into the cache (numba compiles one at a time
#    in a process): the CPU's and the GPU's
t0=$SECONDS; warming=()
for backend in cpu gpu; do
  timeout 250 python3 scripts/check_cuda.py --warm "$backend" --cases noisy_sensor_traced \
    --progress "$OUT/progress.jsonl" >> "$OUT/warm.log" 2>&1 &
  warming+=($!)
done
wait "${warming[@]}"
echo "== warm: $((SECONDS - t0)) s"; grep -v Warning "$OUT/warm.log" | tail -c 1500
# (6 files come back: gpu.txt, progress.jsonl, warm.log and one log a step; the limit is 8)
step builtin 195 python3 scripts/check_cuda.py --patients 1000 --days 7 --chunk 300 \
  --cases $BUILTIN --throughput 1000000 30 --cpu-patients 8000 --budget-s 90 \
  --therapies real_world,sap,aid_pid,aid_oref --progress "$OUT/progress.jsonl"
cat > /tmp/e2e.toml <<'TOML'
[run]
name = "gpu end to end"
n_patients = 200000
days = 30
[execution]
backend = "cuda"
TOML
rm -rf /tmp/e2e.zarr  # a rerun on a warm machine: the engine refuses to replace a store
step e2e 85 python3 -m engine.cli run /tmp/e2e.toml -o /tmp/e2e.zarr
t0=$SECONDS; wait "$plugin"
echo "== plugin: exit $? (waited $((SECONDS - t0)) s more)"; tail -c 1500 "$OUT/plugin.log"
cat "$OUT/progress.jsonl"
