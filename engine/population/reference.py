"""The 30 UVA/Padova reference patients shipped in `engine/population/data/` (see PROVENANCE.md)."""

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ..model.params import N_STATES, PARAM_NAMES

GROUPS = ("adolescent", "adult", "child")


@dataclass(frozen=True)
class ReferenceSet:
    names: tuple  # "adolescent#001", ...
    groups: tuple  # "adolescent" | "adult" | "child"
    age_years: np.ndarray
    tdi_u_per_day: np.ndarray
    params: np.ndarray  # (30, N_PARAMS), columns PARAM_NAMES
    x0: np.ndarray  # (30, 13), the reference's initial (basal) states

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(
                f"unknown reference patient {name!r}; known: {', '.join(self.names)}"
            ) from None


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files("engine.population").joinpath("data", name).open("r") as f:
        return pd.read_csv(f)


@lru_cache(maxsize=1)
def reference_patients() -> ReferenceSet:
    vp = _read_csv("vpatient_params.csv")
    quest = _read_csv("Quest.csv").set_index("Name").loc[vp["Name"]]
    table = vp.set_index("Name")
    table["CR"] = quest["CR"].to_numpy()
    table["CF"] = quest["CF"].to_numpy()
    # UVA/Padova has no kidney term: its renal excretion is ke1 (Gp - ke2) alone
    table["gfr"] = 0.0
    table["tmg"] = 0.0
    table["renal_splay"] = 0.0
    # nor a fall of its insulin-independent uptake in a deep low: Fsnc is constant
    table["g_brain"] = 0.0
    params = table[list(PARAM_NAMES)].to_numpy(dtype=np.float64)
    x0_cols = [c for c in vp.columns if c.startswith("x0_")]
    assert len(x0_cols) == N_STATES
    names = tuple(vp["Name"])
    return ReferenceSet(
        names=names,
        groups=tuple(n.split("#")[0] for n in names),
        age_years=quest["Age"].to_numpy(dtype=np.float64),
        tdi_u_per_day=quest["TDI"].to_numpy(dtype=np.float64),
        params=np.ascontiguousarray(params),
        x0=np.ascontiguousarray(vp[x0_cols].to_numpy(dtype=np.float64)),
    )


@lru_cache(maxsize=1)
def sensor_models() -> pd.DataFrame:
    """CGM noise models of simglucose (Johnson-SU parameters, sample time, clipping range)."""
    return _read_csv("sensor_params.csv").set_index("Name")
