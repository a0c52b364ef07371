"""t1dmc: a population Monte Carlo engine for type 1 diabetes.

    import engine
    ds = engine.replay("adult#001", carbs_g_per_min, insulin_u_per_min)   # one reference patient
    res = engine.open_results("quickstart.zarr")                          # a population run

Importing the package changes nothing in the process (no environment variable, no numba
setting): the API functions and the CLI set up what the engine needs (engine.runtime).
"""


def replay(*args, **kwargs):
    """Drive one reference patient with per-minute inputs: engine.population.replay.replay."""
    from .population.replay import replay as _replay

    return _replay(*args, **kwargs)


def open_results(*args, **kwargs):
    """Open a results store as a labelled xarray Dataset: engine.store.results.open_results."""
    from .store.results import open_results as _open_results

    return _open_results(*args, **kwargs)


__all__ = ["replay", "open_results"]
