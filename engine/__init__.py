"""t1dmc: a population Monte Carlo engine for type 1 diabetes.

    import engine
    ds = engine.replay("adult#001", carbs_g_per_min, insulin_u_per_min)   # one reference patient
    res = engine.open_results("quickstart.zarr")                          # a population run
"""
from .reference_replay import replay
from .results import open_results

__all__ = ["replay", "open_results"]
