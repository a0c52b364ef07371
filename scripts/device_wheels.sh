#!/usr/bin/env bash
# Wheels for the lent GPU machine (Python 3.12, no network there): what t1dmc imports beyond
# that machine's image, which already has numba, numba-cuda, the CUDA toolkit, numpy, pandas.
# Saved in .whl/ (ignored by git); scripts/device_gpu_check.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
  typing-extensions==4.16.0 google-crc32c==1.9.0 \
  zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 dask==2026.8.0 distributed==2026.8.0 \
  partd==1.4.2 locket==1.0.0 tblib==3.2.2 zict==3.0.0 tornado==6.6.1 tomli-w==1.2.0 \
  xarray==2026.9.0
du -sh .whl
