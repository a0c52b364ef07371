"""The Python API for notebooks and scripts: engine.run, engine.load_config (engine/__init__.py
imports these lazily). A run goes through the same function as `t1dmc run`
(engine.batch.sweep.run), so its checks, its output safety and its results are the command's.
"""

import contextlib
import copy
import os
import tempfile
from pathlib import Path

from .batch.config import ConfigError, RunConfig, apply_overrides, read_config_dict
from .store.storeguard import RUN_FOLDER_PREFIX, remove_own

# what an in-memory run may hold: this share of the memory available now
IN_MEMORY_SHARE = 0.5


class InertFieldWarning(UserWarning):
    """A swept, overridden or preset-replaced config field that changes nothing under the
    options chosen beside it (engine/batch/inert.py), as `t1dmc run` warns on stderr."""


def warn_inert_fields(config, cfg: RunConfig, overrides=None) -> list[str]:
    """Issue an InertFieldWarning for each field of `cfg` that has no effect (the checks of
    `t1dmc run`); returns the messages. `config` and `overrides` as given to run."""
    import warnings

    from .batch import inert
    from .batch.scenarios import expand

    try:
        scenarios = expand(cfg)
    except ConfigError:
        return []  # the run itself says why the sweep does not expand
    if isinstance(overrides, dict):
        paths = list(overrides)
    else:
        paths = inert.set_paths(overrides or ())
    if isinstance(config, dict):
        given = config
    elif isinstance(config, (str, os.PathLike)):
        given = read_config_dict(config)
    else:
        given = None  # a RunConfig holds every field: which were given is not known
    messages = inert.warnings(cfg, scenarios, paths, given)
    for message in messages:
        warnings.warn(message, InertFieldWarning, stacklevel=3)
    return messages


def load_config(config, overrides=None) -> RunConfig:
    """The validated RunConfig of `config`: a path to a TOML file, a dict of the same structure
    as the TOML, or a RunConfig; `overrides` (`{"run.days": 10}` or `["run.days=10"]`, as
    `--set`) are applied to its contents first. An invalid config raises pydantic's
    ValidationError, which names each field, its value and what is allowed; an unreadable file
    or a bad override raises ConfigError (a ValueError). `config` itself is not changed.
    Fields of the RunConfig returned may be set (`cfg.run.days = 10`): each assignment is
    checked at once against its section's rules, its error naming the field as the file's
    would (`run.days`), and a refused one leaves the field as it was; the checks across
    sections run when the config is used (run, load_config(cfg))."""
    if isinstance(config, RunConfig):
        data = config.model_dump(mode="json", exclude_none=True)  # what a store records
    elif isinstance(config, dict):
        data = copy.deepcopy(config)
    elif isinstance(config, (str, os.PathLike)):
        data = read_config_dict(config)
    else:
        raise TypeError(
            f"config: a path to a TOML file, a dict or a RunConfig, not {type(config).__name__}"
        )
    if overrides:
        data = apply_overrides(data, overrides)
    return RunConfig.model_validate(data)


def run(
    config,
    output=None,
    *,
    overrides=None,
    overwrite: bool = False,
    resume: bool = False,
    repair: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    lock: bool = True,
    connect_timeout_s: float = 30.0,
):
    """Run `config` (every scenario of its sweep) and return the results as an xarray Dataset.

    `output=None`: in memory. The run writes a temporary store that the engine creates, loads
    it whole and removes it (also on failure or Ctrl-C); refused (ConfigError) when the results
    would take more than half the memory available now, or when the tasks would run on a
    cluster (its workers could not reach a temporary folder here).

    `output=PATH`: the zarr store at PATH, exactly as `t1dmc run CONFIG -o PATH` writes it,
    with the same rules: an existing PATH is refused (FileExistsError) unless `overwrite=True`,
    and even then only when it is a store the engine wrote (otherwise UnsafeOutput); `resume`
    and `repair` as the command's `--resume` and `--repair`. The Dataset returned is opened
    lazily on the store.

    Options as the command's: `workers` (threads; default all cores), `scheduler` (the address
    of a dask scheduler), `quiet` (no pre-flight estimate or progress on stderr), `lock`,
    `connect_timeout_s`; `overrides` as load_config's. Errors: see load_config; ConfigError
    (a ValueError) for a run that cannot start (a sweep's invalid scenario, memory or disk)."""
    from .batch import sweep
    from .store.results import open_results

    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 0
    ):
        raise ValueError(
            f"workers={workers!r}: a whole number of threads, 1 or more (None or 0: all cores)"
        )
    cfg = load_config(config, overrides)
    warn_inert_fields(config, cfg, overrides)
    folder = None
    if output is None:
        for name, given in (("overwrite", overwrite), ("resume", resume), ("repair", repair)):
            if given:
                raise ValueError(
                    f"{name}=True needs an output: run(config, 'OUT.zarr', {name}=True)"
                )
        if scheduler is not None or cfg.cluster.kind != "local":
            raise ConfigError(
                "a run on a cluster writes its store from the cluster's workers: give an "
                "output on a filesystem they share, run(config, '/shared/OUT.zarr', ...)"
            )
        _check_fits_in_memory(cfg, workers)
        folder = Path(tempfile.mkdtemp(prefix=RUN_FOLDER_PREFIX))
    store = Path(output) if folder is None else folder / "results.zarr"
    try:
        sweep.run(
            cfg,
            store,
            overwrite=overwrite,
            resume=resume,
            workers=workers,
            scheduler=scheduler,
            quiet=quiet,
            repair=repair,
            lock=lock,
            connect_timeout_s=connect_timeout_s,
        )
        if folder is None:
            return open_results(store)
        with open_results(store) as ds:
            return ds.load()
    finally:
        if folder is not None:
            # the folder mkdtemp made for this run, never through a link (storeguard.remove_own)
            with contextlib.suppress(OSError):
                remove_own(folder)


def _check_fits_in_memory(cfg: RunConfig, workers: int | None) -> None:
    from .batch import preflight
    from .batch.scenarios import expand

    # 0, given or configured: all cores; None: the config's
    n_workers = (workers if workers is not None else cfg.execution.workers) or os.cpu_count() or 1
    est = preflight.estimate(cfg, len(expand(cfg)), n_workers)
    available = preflight.available_memory_bytes()
    if est.store_bytes_raw > IN_MEMORY_SHARE * available:
        raise ConfigError(
            f"in memory the results would take {preflight.size(est.store_bytes_raw)}, more than "
            f"half of the {preflight.size(available)} available: give an output, "
            "run(config, 'OUT.zarr'), and read it lazily"
        )


def open_results(path):
    """The results store at `path` as a lazy labelled Dataset, with the derived `ir_share`.
    ValueError saying why when `path` holds no results store (nothing there, another
    program's zarr, a comparison); an IncompleteStoreWarning when its run has not finished.
    (Here, above the store layer, because the checks are the analysis commands'.)"""
    import warnings

    from .analysis.compare import incomplete_message, open_store
    from .store.results import IncompleteStoreWarning

    ds = open_store(path)
    incomplete = incomplete_message(path, ds)
    if incomplete:
        warnings.warn(
            f"{incomplete}; its unwritten patients hold fill values (`completed` is 0 for them)",
            IncompleteStoreWarning,
            stacklevel=3,
        )
    return ds
