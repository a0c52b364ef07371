"""Whether this machine's libm exp is the one model/vexp.py reproduces bit for bit.

glibc >= 2.28 has the exp vexp ports (Szabolcs Nagy's); on x86-64 its ifunc runs the FMA build
(__exp_fma) only where the CPU has both FMA and AVX2, else __exp_sse2, whose last bit can differ.
Where this is false, the CPU lane kernel (vexp) and anything using libm's exp (the scalar step,
the CUDA simulator) may differ in the last bit, and tests compare within a tolerance instead."""

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from machine import cpu_flags  # noqa: E402


def _glibc_at_least(major: int, minor: int) -> bool:
    name, version = platform.libc_ver()
    if name != "glibc":
        return False
    try:
        got = tuple(int(v) for v in version.split(".")[:2])
    except ValueError:
        return False
    return got >= (major, minor)


GLIBC_FMA_EXP = (
    platform.machine() == "x86_64" and _glibc_at_least(2, 28) and {"fma", "avx2"} <= cpu_flags()
)
