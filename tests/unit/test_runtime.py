"""engine.runtime: importing the engine changes nothing in the process; the kernel cache is
keyed on the sources for the engine's own files only; the libm binding is explicit; the engine
identity follows the sources."""

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numba as nb
import numpy as np

from engine import runtime

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_engine_leaves_the_environment_as_it_was():
    _python("import os; e = dict(os.environ); import engine; assert dict(os.environ) == e")


def test_importing_the_kernel_layers_changes_no_environment_and_no_libm_binding():
    """Importing every layer (kernels decorated, nothing compiled) touches neither os.environ,
    numba's cache setting nor the exp/log/pow symbols other numba code links against; the
    entry points' bind_fast_libm() is what changes them."""
    out = _python(
        """
        import os
        import llvmlite.binding as ll
        import numba.core.config as config
        from numba.core.registry import cpu_target
        cpu_target.target_context
        env, cache = dict(os.environ), config.CACHE_DIR
        before = {n: ll.address_of_symbol(n) for n in ("exp", "log", "pow")}
        import engine.cli, engine.batch.sweep, engine.analysis.validate, engine.sim.cpu
        assert dict(os.environ) == env and config.CACHE_DIR == cache
        assert {n: ll.address_of_symbol(n) for n in ("exp", "log", "pow")} == before
        from engine import runtime
        bound = runtime.bind_fast_libm()
        direct = runtime._libm_without_wrapper("exp")
        print(bound, bool(direct) and ll.address_of_symbol("exp") == direct)
        """
    )
    bound, exp_rebound = out.split()
    assert bound == exp_rebound  # rebound exactly where glibc has the symbols


def test_the_cache_locator_claims_engine_files_only():
    import numba.core.caching as caching

    runtime.register_cache_locator()
    runtime.register_cache_locator()  # idempotent
    locators = caching.CacheImpl._locator_classes
    assert [k.__name__ for k in locators].count("EngineCacheLocator") == 1
    engine_locator = locators[0]
    from engine.model import fast

    inside = engine_locator.from_function(fast.rk4_step.py_func, fast.__file__)
    assert inside is not None
    assert f"numba-{runtime.source_hash()[:16]}" in inside.get_cache_path()

    def outside_function():
        return 1

    assert engine_locator.from_function(outside_function, __file__) is None


def test_engine_identity_names_the_version_and_the_sources(tmp_path, monkeypatch):
    identity = runtime.engine_identity()
    version, _, source = identity.partition("+src.")
    assert version == runtime.engine_version() and len(source) == 16
    assert source == runtime.source_hash()[:16]
    # another source tree (one byte changed) is another engine
    copy = tmp_path / "engine"
    for path in runtime.PACKAGE_DIR.rglob("*.py"):
        target = copy / path.relative_to(runtime.PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    monkeypatch.setattr(runtime, "PACKAGE_DIR", copy)
    runtime.source_hash.cache_clear()
    try:
        assert runtime.source_hash()[:16] == source  # the same files hash the same
        (copy / "model" / "slow.py").write_text((copy / "model" / "slow.py").read_text() + "\n")
        runtime.source_hash.cache_clear()
        assert runtime.source_hash()[:16] != source
    finally:
        runtime.source_hash.cache_clear()


def test_numba_exp_log_pow_agree_with_libm_once_bound():
    """bind_fast_libm binds numba's exp, log and pow to glibc's entry points without errno
    wrappers: the values must be libm's."""
    import llvmlite.binding as ll

    runtime.bind_fast_libm()

    @nb.njit
    def f(x):
        out = np.empty((3, x.size))
        for i in range(x.size):
            out[0, i] = math.exp(x[i])
            out[1, i] = math.log(x[i] + 100.0)
            out[2, i] = (x[i] + 100.0) ** 1.37
        return out

    x = np.random.default_rng(0).uniform(-80.0, 80.0, 20000)
    out = f(x)
    assert np.array_equal(out[0], [math.exp(v) for v in x])
    assert np.array_equal(out[1], [math.log(v + 100.0) for v in x])
    assert np.array_equal(out[2], [(v + 100.0) ** 1.37 for v in x])
    direct = runtime._libm_without_wrapper("exp")
    if direct:
        assert ll.address_of_symbol("exp") == direct


def test_old_kernel_caches_are_pruned_and_nothing_else(tmp_path, monkeypatch):
    """Every engine build compiles into its own cache folder; beyond the most recent few,
    idle ones are removed (a review found 200, 1.3 GB). A folder that is not exactly an
    engine cache (another name, a foreign file, a link) is left alone."""
    import os

    from engine import runtime

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    current = Path(runtime.kernel_cache_dir())
    old = 10 * runtime.CACHE_IDLE_S

    def cache(name, age_s, extra=None):
        folder = tmp_path / name
        sub = folder / ("model_" + "0123456789" * 4)  # as the locator names it
        sub.mkdir(parents=True)
        (sub / "fast.step-10.py311.nbi").write_bytes(b"i")
        (sub / "fast.step-10.py311.1.nbc").write_bytes(b"c")
        if extra:
            (sub / extra).write_text("mine")
        for p in (sub, folder, *sub.iterdir()):
            os.utime(p, (1e9 - age_s, 1e9 - age_s))
        return folder

    recent = [cache(f"numba-{k:016x}", 60.0 + k) for k in range(runtime.KEPT_OTHER_CACHES)]
    busy = cache("numba-00000000000000ff", 7200.0)  # beyond the few, but used 2 hours ago
    stale = [cache(f"numba-{k:016x}", old + k) for k in range(10, 13)]
    foreign = cache("numba-00000000000000aa", old + 500, extra="notes.txt")
    other_name = cache("numba-mine", old + 600)
    target = cache("numba-00000000000000bb", old + 700)
    link = tmp_path / "numba-00000000000000cc"
    link.symlink_to(target, target_is_directory=True)
    removed = runtime.prune_kernel_caches(now=1e9)
    assert sorted(removed) == sorted(str(p) for p in [*stale, target])
    for kept in (*recent, busy, foreign, other_name):
        assert kept.is_dir(), kept
    assert link.is_symlink()
    assert not current.exists() or current.is_dir()
