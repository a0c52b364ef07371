"""Plug-in controllers: `therapy.controller = "package.module:function"` resolved, its settings
validated and the function compiled with the controller signature (engine/life/controllers.py)
before a run writes anything, so a controller that cannot run is refused naming it.

Nothing here runs when a config is parsed, checked or shown, or when a store is opened,
inspected or reported: the module is imported only by `check` (called where a run starts) and
by `resolve` (called by the task that simulates, engine.batch.sweep.run_settings).

A plug-in module declares its tuning, like the built-ins' (engine/life/controllers.py TUNING),
as `<function>_TUNING` or `TUNING`: rows (name, default, low, high, description), at most
controllers.N_TUNING; their values reach the controller as settings[CS.p0 ...] in that order.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import numpy as np

from ..life import controllers
from ..life.controllers import CS, N_CGM_HISTORY, N_CONTROLLER_SETTINGS, N_CONTROLLER_STATE
from .config import ConfigError

FIELD = "therapy.controller"


def is_plugin(name: str) -> bool:
    return name not in controllers.TUNING


@functools.cache
def resolve(spec: str):
    """(the jitted function, its tuning rows) of "package.module:function"; ConfigError naming
    the field when the module or function is missing or not a numba function."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - any import failure refuses the run, named
        raise ConfigError(f"{FIELD} = {spec!r}: cannot import {module_name}: {err}") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise ConfigError(f"{FIELD} = {spec!r}: module {module_name} has no {func_name}")
    if not hasattr(func, "py_func") or not hasattr(func, "compile"):
        raise ConfigError(
            f"{FIELD} = {spec!r}: {func_name} is not a numba-jitted function "
            "(decorate it with @numba.njit)"
        )
    tuning = getattr(module, f"{func_name}_TUNING", getattr(module, "TUNING", ()))
    rows = tuple(tuple(r) for r in tuning)
    if len(rows) > controllers.N_TUNING or any(len(r) != 5 for r in rows):
        raise ConfigError(
            f"{FIELD} = {spec!r}: its TUNING must be at most {controllers.N_TUNING} rows of "
            "(name, default, low, high, description)"
        )
    _check_rows(spec, rows)
    return func, rows


def _check_rows(spec: str, rows: tuple) -> None:
    """A plug-in's TUNING rows must be usable as the built-ins' are: distinct names, numbers,
    and each default within its own range (a default outside it would run unchecked)."""
    seen = set()
    for name, default, low, high, _ in rows:
        where = f"{FIELD} = {spec!r}: TUNING row {name!r}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{where}: the name must be an identifier")
        if name in seen:
            raise ConfigError(f"{where}: declared twice")
        seen.add(name)
        numbers = (default, low, high)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise ConfigError(f"{where}: default, low and high must be numbers")
        if not all(np.isfinite(v) for v in numbers) or not low <= default <= high:
            raise ConfigError(
                f"{where}: needs finite low <= default <= high (got default {default}, "
                f"low {low}, high {high})"
            )


def tuning_values(spec: str, settings: dict) -> np.ndarray:
    """The plug-in's tuning in its declared order, defaults filled in; ConfigError naming the
    setting that is unknown or out of its range."""
    _, rows = resolve(spec)
    try:
        values = controllers.tuning_values(
            rows, settings, spec, field="therapy.controller_settings"
        )
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return np.array(values)


def sample_arguments(tuning: np.ndarray):
    """Arguments of the controller signature with plausible values, for the trial compile."""
    cgm = np.linspace(150.0, 160.0, N_CGM_HISTORY)
    settings = np.zeros(N_CONTROLLER_SETTINGS)
    settings[CS.kind] = controllers.KIND_PLUGIN
    settings[CS.basal_u_per_h] = 1.0
    settings[CS.isf] = 50.0
    settings[CS.cr] = 10.0
    settings[CS.target] = 120.0
    settings[CS.tdd_u] = 40.0
    settings[CS.max_basal_u_per_h] = 4.0
    settings[CS.max_iob_u] = 8.0
    settings[CS.insulin_peak_min] = 75.0
    settings[CS.interval_min] = 5.0
    settings[CS.weight_kg] = 70.0
    settings[CS.p0 : CS.p0 + tuning.size] = tuning
    state = np.zeros(N_CONTROLLER_STATE)
    state[controllers.STATE_SENSITIVITY] = np.nan
    return cgm, 2.5, 1.0, 0.0, np.int64(480), settings, state


def check(spec: str, settings: dict, backend: str) -> None:
    """Refuse, naming the field, a plug-in that cannot run: not importable, not jitted, bad
    settings, a compile error with the controller signature, an answer that is not two
    numbers, or (backend "cuda") a function numba-cuda cannot compile in the kernel."""
    if not is_plugin(spec):
        return
    func, _ = resolve(spec)
    args = sample_arguments(tuning_values(spec, settings))
    try:
        answer = func(*args)
    except Exception as err:  # noqa: BLE001 - numba's typing errors and the function's own
        raise ConfigError(
            f"{FIELD} = {spec!r} does not compile or run with the controller signature "
            f"(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state): "
            f"{error_summary(err)}"
        ) from None
    if not (
        isinstance(answer, tuple)
        and len(answer) == 2
        and all(isinstance(v, (float, int, np.floating, np.integer)) for v in answer)
    ):
        raise ConfigError(
            f"{FIELD} = {spec!r} must return (basal_u_per_h, bolus_u), two numbers; it "
            f"returned {answer!r}"
        )
    if backend == "cuda":
        _check_cuda(spec, func)


class PluginFailed(RuntimeError):
    """A plug-in controller raised while the kernel ran it (not the engine's failure)."""


def failed(spec: str, err: Exception, where: str) -> PluginFailed:
    return PluginFailed(
        f"{FIELD} = {spec!r} raised {type(err).__name__} while simulating {where}: "
        f"{error_summary(err)}"
    )


def identity(spec: str) -> str:
    """A hash of the plug-in's module source (its file's bytes), so that --resume can refuse
    a store that another version of the plug-in began: the engine's own identity does not
    cover code outside it."""
    import hashlib
    import inspect

    func, _ = resolve(spec)
    module = sys.modules.get(func.py_func.__module__)
    try:
        data = Path(inspect.getsourcefile(module)).read_bytes()
    except (TypeError, OSError):  # no file (built in a session): the function's own code
        data = func.py_func.__code__.co_code
    return hashlib.sha256(data).hexdigest()[:16]


def identities(controllers_named) -> dict[str, str]:
    """{spec: identity} of the plug-ins among the controller names given."""
    return {c: identity(c) for c in sorted(set(controllers_named)) if is_plugin(c)}


def error_summary(err: Exception, lines: int = 3) -> str:
    """The informative lines of an error: numba's start with "Failed in ... pipeline", a
    header that says nothing about the cause."""
    text = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    text = [ln for ln in text if not ln.startswith("Failed in ")]
    return " ".join(text[:lines]) or type(err).__name__


@functools.cache
def _check_cuda(spec: str, func) -> None:
    """The CUDA kernel with the plug-in compiled for the current GPU, once per plug-in and
    process: the dispatcher compiled is the one this process's launches use (local workers
    are its threads; a cluster's workers compile their own). Under numba's CUDA simulator the
    kernel runs in Python and calls the CPU-compiled function just checked, so there is
    nothing more to compile."""
    from numba.core.errors import NumbaError

    from ..sim import cuda_driver

    if cuda_driver.simulated():
        return
    try:
        cuda_driver.compile_kernel(func)
    except NumbaError as err:  # typing and lowering: the function's own
        raise ConfigError(
            f"{FIELD} = {spec!r} does not compile for the CUDA backend (numba-cuda supports "
            f"a subset of what the CPU does): {error_summary(err)}"
        ) from None
    except Exception as err:  # noqa: BLE001 - the toolchain's (NVVM, driver), not the plug-in's
        hint = ""
        if "constant data" in str(err):  # ptxas: the kernel's global arrays past 64 KiB
            hint = (
                " (the plug-in's global arrays share the kernel's 64 KiB of constant memory "
                "with the engine's tables, each mention of an array its own copy: name a "
                "table once (bind it to a local), keep it small or compute it)"
            )
        raise ConfigError(
            f"execution.backend = 'cuda': the CUDA toolchain failed while compiling the kernel "
            f"with {FIELD} = {spec!r}: {error_summary(err)}{hint}"
        ) from None
