"""t1dmc: a population Monte Carlo engine for type 1 diabetes.

    import engine
    ds = engine.run("configs/quickstart.toml")                    # in memory: an xarray Dataset
    ds = engine.run({"run": {"n_patients": 100, "days": 30}})     # a dict shaped as the TOML
    ds = engine.run(cfg, "out.zarr")                              # into a store, as `t1dmc run`
    ds = engine.run("configs/quickstart.toml", overrides={"run.days": 10})   # as --set
    ds = engine.open("out.zarr")                                  # a store, opened lazily
    cfg = engine.load_config("configs/quickstart.toml")           # the validated RunConfig
    ds = engine.replay("adult#001", carbs_g_per_min, insulin_u_per_min)   # one reference patient
    engine.attribution(ds, by="group").lost_pp.to_pandas()       # sensitivity lost, by cause

Importing the package changes nothing in the process (no environment variable, no numba
setting, no engine module imported): the API functions and the CLI set up what the engine
needs (engine.runtime) when they are called.
"""


def run(config, output=None, **options):
    """Run a population and return its results as an xarray Dataset.

    config: a path to a TOML config, a dict with the same structure as the TOML, or a
        `RunConfig` (engine.load_config). Every scenario of its `[sweep]` is run.
    output: None (default) to run in memory: a temporary store that the engine creates, loads
        whole and removes (refused when the results would take more than half the memory
        available); or a path, where the zarr store is written exactly as `t1dmc run CONFIG -o
        PATH` writes it (an existing path is refused unless overwrite=True, and even then
        replaced only when it is a store the engine wrote) and the Dataset is opened lazily
        on it.
    options: overrides ({"run.days": 10} or ["run.days=10"], applied before validation as
        `--set`), overwrite, resume, repair, workers, scheduler, quiet (no estimate or progress
        on stderr), lock, connect_timeout_s: as the command's options.

    An invalid config raises pydantic's ValidationError naming each field, its value and what
    is allowed; a run that cannot start raises engine.batch.config.ConfigError (a ValueError).
    A swept or overridden field that changes nothing under the options beside it (e.g.
    cohort.jitter_cv under the mvlognormal sampler) gives an engine.api.InertFieldWarning,
    as `t1dmc run` warns. Same config and seed, same results, bit for bit, in memory or in a
    store.
    """
    from .api import run as _run

    return _run(config, output, **options)


def load_config(config, overrides=None):
    """The validated `RunConfig` of a TOML path, a dict or a RunConfig, with `overrides` applied
    first (see engine.run). Fields can be changed on it (each assignment is validated)."""
    from .api import load_config as _load_config

    return _load_config(config, overrides)


def open(path):  # engine.open, as xarray.open_dataset (shadows the builtin here only)
    """Open a results store lazily as a labelled xarray Dataset (engine.open_results)."""
    return open_results(path)


def attribution(ds, day=None, window=14, by=None):
    """What makes the population resistant: each mechanism's share of the loss of insulin
    sensitivity (a ratio of sums over patients, with 95% intervals) and the loss in
    percentage points, per scenario (and per value of `by`, e.g. "group"), over the `window`
    days ending at `day` (default the last): engine.analysis.attribution.population_shares."""
    from .analysis.attribution import population_shares

    return population_shares(ds, day=day, window=window, by=by)


def replay(*args, **kwargs):
    """Drive one reference patient with per-minute inputs: engine.population.replay.replay."""
    from .population.replay import replay as _replay

    return _replay(*args, **kwargs)


def open_results(*args, **kwargs):
    """Open a results store as a labelled xarray Dataset, checked: engine.api.open_results."""
    from .api import open_results as _open_results

    return _open_results(*args, **kwargs)


__all__ = ["run", "open", "load_config", "attribution", "replay", "open_results"]
