"""t1dmc: a population Monte Carlo engine for type 1 diabetes.

    import engine
    ds = engine.replay("adult#001", carbs_g_per_min, insulin_u_per_min)   # one reference patient
    res = engine.open_results("quickstart.zarr")                          # a population run
"""
import hashlib as _hashlib
import os as _os
from pathlib import Path as _Path


def _numba_cache_dir() -> str:
    """numba's cache=True notices edits to a kernel's own file but not to the functions it
    inlines from other files, and would then run a stale kernel: key the cache on a hash of
    every engine source instead."""
    digest = _hashlib.sha256()
    for source in sorted(_Path(__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    return _os.path.join(base, "t1dmc", "numba-" + digest.hexdigest()[:16])


if "NUMBA_CACHE_DIR" not in _os.environ:  # a user's or a SLURM job's own choice wins
    _os.environ["NUMBA_CACHE_DIR"] = _numba_cache_dir()
    import numba.core.config as _numba_config
    _numba_config.reload_config()


def _libm_without_wrapper(name: str):
    """The address of glibc's __<name>_finite (GLIBC_2.15): libm's computation of exp, log or
    pow without the wrapper that checks errno around it; None where there is no such symbol."""
    import ctypes
    import ctypes.util
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        dlvsym = ctypes.CDLL(None).dlvsym
    except (OSError, AttributeError, TypeError):
        return None
    dlvsym.restype = ctypes.c_void_p
    dlvsym.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
    return dlvsym(libm._handle, f"__{name}_finite".encode(), b"GLIBC_2.15")


def _bind_libm_without_wrappers():
    """numba calls exp, log and pow through the copies its C helper was linked against: on
    glibc, wrappers that check errno around libm's computation (exp@GLIBC_2.2.5), about a third
    of the kernel's exp time. Bind them to the same computation without the wrapper, hence the
    same bits (our arguments are always finite and in range). Elsewhere nothing changes."""
    import llvmlite.binding as ll
    from numba.core.registry import cpu_target
    cpu_target.target_context   # numba installs its own bindings when its CPU target starts
    for name in ("exp", "log", "pow"):
        address = _libm_without_wrapper(name)
        if address:
            ll.add_symbol(name, address)


_bind_libm_without_wrappers()

from .reference_replay import replay  # noqa: E402
from .results import open_results  # noqa: E402

__all__ = ["replay", "open_results"]
