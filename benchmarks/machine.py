"""What CPU this is, read once from /proc/cpuinfo (Linux; empty elsewhere). The VMs this project
runs on change hardware between sessions, so every benchmark result names its CPU; the tests ask
it whether libm's exp is the one model/vexp.py reproduces (tests/libm.py)."""

from functools import cache
from pathlib import Path


@cache
def cpuinfo() -> dict[str, str]:
    """The first processor's fields."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> set[str]:
    return set(cpuinfo().get("flags", "").split())


def cpu_ghz() -> float:
    try:
        return float(cpuinfo()["cpu MHz"]) / 1000.0
    except (KeyError, ValueError):
        return float("nan")


def cpu_identity() -> dict:
    """Vendor, family, model and the widest vector instructions."""
    flags = cpu_flags()
    ident = {
        k: cpuinfo()[k]
        for k in ("vendor_id", "cpu family", "model", "model name")
        if k in cpuinfo()
    }
    ident["vector_isa"] = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return ident


def flops_per_cycle(ident: dict) -> int:
    """Peak double-precision flops per cycle of one core: 2 FMA units x vector width x 2, with
    AVX-512 (8 doubles) where the CPU runs it at full width, else 4 doubles. AMD Zen 4 (family
    25) has AVX-512 but executes it as two 256-bit halves; some Intel parts have one 512-bit
    FMA unit, which this overstates twofold (the result names the CPU)."""
    zen4 = ident.get("vendor_id") == "AuthenticAMD" and ident.get("cpu family") == "25"
    return 2 * (8 if ident["vector_isa"] == "avx512" and not zen4 else 4) * 2
