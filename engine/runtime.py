"""The engine's process-level setup, explicit rather than done by `import engine`.

- `register_cache_locator()`: numba's `cache=True` notices edits to a kernel's own file but not
  to the functions it inlines from other files, and would then load a stale kernel. The
  engine's kernels are cached in a folder keyed on a hash of every engine source instead. The
  locator applies to the engine's own source files only; other numba code in the process keeps
  numba's own cache rules. Called by the kernel layers' package `__init__` (engine.model), so
  a kernel is never cached elsewhere however it is imported. NUMBA_CACHE_DIR, when set (a
  user's or a SLURM job's choice), is the folder the keyed one goes into.
- `bind_fast_libm()`: numba calls exp, log and pow through glibc's errno-checking wrappers;
  this binds them to the same computation without the wrapper (same bits, about a third less
  exp time). It changes those three symbols for all numba code compiled afterwards in the
  process, so only the entry points call it: the CLI, `engine.replay` and the engine's own
  simulate (engine.batch.sweep.simulate), the door every population run passes through.
- `engine_identity()`: the version plus a hash of the sources; a store records it and
  `--resume` refuses a store written by another.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@functools.cache
def source_hash() -> str:
    """sha256 over every engine source file (path and bytes), hex."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(source.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def engine_version() -> str:
    try:
        return version("t1dmc")
    except PackageNotFoundError:
        return "0+unknown"


def engine_identity() -> str:
    """'<version>+src.<first 16 hex of the source hash>': two engines with the same identity
    compute the same bits from the same inputs."""
    return f"{engine_version()}+src.{source_hash()[:16]}"


def kernel_cache_dir() -> str:
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "t1dmc"
    )
    return os.path.join(base, "numba-" + source_hash()[:16])


# Kernel caches of other engine builds (an upgrade, an edited checkout) are kept this many,
# the most recently used, and only those untouched for a day are removed, so that a second
# engine running beside this one keeps its cache.
KEPT_OTHER_CACHES = 4
CACHE_IDLE_S = 24 * 3600
CACHE_FOLDER = re.compile(r"numba-[0-9a-f]{16}")
CACHE_FILE = re.compile(r".+\.(nbi|nbc)")
# the engine's locator names each source folder's cache <folder>_<sha1 of its path> (numba's
# get_suitable_cache_subpath)
CACHE_SUBFOLDER = re.compile(r"[A-Za-z0-9_.-]+_[0-9a-f]{40}")


def _is_engine_cache(folder: Path) -> bool:
    """A kernel cache the engine made: a real folder named numba-<16 hex>, holding only real
    subfolders named as the engine's cache locator names them, which hold only numba's index
    and data files (.nbi, .nbc). Anything else is not the engine's to remove."""
    if folder.is_symlink() or not folder.is_dir() or not CACHE_FOLDER.fullmatch(folder.name):
        return False
    for sub in folder.iterdir():
        if sub.is_symlink() or not sub.is_dir() or not CACHE_SUBFOLDER.fullmatch(sub.name):
            return False
        for f in sub.iterdir():
            if f.is_symlink() or not f.is_file() or not CACHE_FILE.fullmatch(f.name):
                return False
    return True


def prune_kernel_caches(now: float | None = None) -> list[str]:
    """Remove the kernel caches of other engine builds beyond the KEPT_OTHER_CACHES most
    recently used, if idle for CACHE_IDLE_S; each build compiles into its own folder
    (kernel_cache_dir), so an edited or upgraded engine otherwise leaves them all (a review
    found 200 folders, 1.3 GB). Returns the folders removed."""
    import shutil
    import time

    current = Path(kernel_cache_dir())
    base = current.parent
    if not base.is_dir():
        return []
    now = time.time() if now is None else now
    others = []
    for folder in base.iterdir():
        if folder.name == current.name or not CACHE_FOLDER.fullmatch(folder.name):
            continue
        try:
            used = max([folder.stat().st_mtime, *(s.stat().st_mtime for s in folder.iterdir())])
        except OSError:
            continue
        others.append((used, folder))
    others.sort(reverse=True)
    removed = []
    for used, folder in others[KEPT_OTHER_CACHES:]:
        if now - used < CACHE_IDLE_S or not _is_engine_cache(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


def _engine_locator(caching):
    """A numba cache-locator class (for the CPU target's or numba-cuda's caching module) that
    claims the engine's source files and places their cache in kernel_cache_dir()."""
    base = (
        caching.UserProvidedCacheLocator
        if hasattr(caching, "UserProvidedCacheLocator")
        else caching._UserProvidedCacheLocator
    )

    class EngineCacheLocator(base):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(
                kernel_cache_dir(), self.get_suitable_cache_subpath(py_file)
            )

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                Path(py_file).resolve().relative_to(PACKAGE_DIR)
            except (ValueError, OSError):
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:  # not writable: numba's own locators decide
                return None
            return self

    return EngineCacheLocator


def register_cache_locator(caching=None) -> None:
    """Put the engine's locator first in `caching`'s list (numba.core.caching by default).
    Idempotent."""
    if caching is None:
        import numba.core.caching as caching
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    if any(getattr(k, "__name__", "") == "EngineCacheLocator" for k in impl._locator_classes):
        return
    impl._locator_classes.insert(0, _engine_locator(caching))


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


@functools.cache
def bind_fast_libm() -> bool:
    """Bind numba's exp, log and pow to glibc's computation without the errno wrapper (our
    arguments are always finite and in range, so the bits are the same). Idempotent; True
    where bound, False where this libm has no such symbols (nothing changes)."""
    import llvmlite.binding as ll
    from numba.core.registry import cpu_target

    cpu_target.target_context  # numba installs its own bindings when its CPU target starts
    bound = False
    for name in ("exp", "log", "pow"):
        address = _libm_without_wrapper(name)
        if address:
            ll.add_symbol(name, address)
            bound = True
    return bound
