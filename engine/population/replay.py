"""Replay: drive one reference patient with recorded per-minute inputs.

`replay("adult#001", carbs_g_per_min, insulin_u_per_min)` returns an xarray Dataset over
`minute` (n + 1 points: the state at each minute boundary) with `bg` and the 13 states.
"""

import numba as nb
import numpy as np
import xarray as xr

from ..model.fast import midpoint_step, rk4_step, state_tuple, update_meal_size
from ..model.params import (
    MG_PER_G,
    N_STATES,
    PMOL_PER_U,
    STATE_LONG_NAMES,
    STATE_NAMES,
    STATE_UNITS,
    P,
    X,
)
from ..runtime import bind_fast_libm
from .reference import reference_patients

# Bounds beyond which a per-minute input is certainly a unit error, not physiology:
# 5 g/min is the reference's eating rate; 100 U in one minute is ten times a large bolus.
MAX_CARBS_G_PER_MIN = 200.0
MAX_INSULIN_U_PER_MIN = 100.0


@nb.njit(cache=True, nogil=True)
def replay_kernel(x0, p, carbs_g_per_min, insulin_u_per_min, midpoint=False):
    """States at every minute boundary, shape (n + 1, 13); RK4 steps, or midpoint steps."""
    n = carbs_g_per_min.shape[0]
    out = np.empty((n + 1, N_STATES))
    out[0] = x0
    x = state_tuple(x0)
    dbar_start = x[0] + x[1]
    eaten_g = 0.0
    eating = False
    prev_carbs = 0.0
    to_pmol_per_kg = PMOL_PER_U / p[P.BW]
    for t in range(n):
        c = carbs_g_per_min[t]
        dbar_start, eaten_g, eating, dbar = update_meal_size(
            c, prev_carbs, x, dbar_start, eaten_g, eating
        )
        prev_carbs = c
        u = insulin_u_per_min[t] * to_pmol_per_kg
        if midpoint:
            x = midpoint_step(x, p, c * MG_PER_G, u, dbar, 1.0, 1.0, 1.0, 1.0, 0.0)
        else:
            x = rk4_step(x, p, c * MG_PER_G, u, dbar, 1.0, 1.0, 1.0, 1.0, 0.0)
        for j in range(N_STATES):
            out[t + 1, j] = x[j]
    return out


def _check_input(name: str, values, n: int | None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D per-minute series, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: length {arr.shape[0]} differs from carbs_g_per_min's {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: non-finite value {arr[bad[0]]} at minute {bad[0]}")
    bad = np.flatnonzero(arr < 0)
    if bad.size:
        raise ValueError(
            f"{name}: negative value {arr[bad[0]]} at minute {bad[0]}; "
            "inputs are amounts per minute and must be >= 0"
        )
    return np.ascontiguousarray(arr)


def replay(patient: str, carbs_g_per_min, insulin_u_per_min, integrator: str = "rk4") -> xr.Dataset:
    """Drive reference patient `patient` (e.g. "adolescent#001") from its basal state with
    carbohydrate (g/min) and insulin (U/min) delivered on each minute [t, t+1).
    integrator: "rk4" (default) or "midpoint" (run.integrator's cheaper option)."""
    bind_fast_libm()
    if integrator not in ("rk4", "midpoint"):
        raise ValueError(f"integrator: {integrator!r} is not one of 'rk4', 'midpoint'")
    ref = reference_patients()
    i = ref.index(patient)
    carbs = _check_input("carbs_g_per_min", carbs_g_per_min, None)
    insulin = _check_input("insulin_u_per_min", insulin_u_per_min, carbs.shape[0])
    if carbs.shape[0] == 0:
        raise ValueError("carbs_g_per_min: empty series; give at least one minute")
    for name, arr, cap in (
        ("carbs_g_per_min", carbs, MAX_CARBS_G_PER_MIN),
        ("insulin_u_per_min", insulin, MAX_INSULIN_U_PER_MIN),
    ):
        if arr.max() > cap:
            j = int(arr.argmax())
            raise ValueError(
                f"{name}: {arr[j]} at minute {j} exceeds {cap} per minute; "
                "check the units (g/min, U/min)"
            )
    p = ref.params[i]
    states = replay_kernel(ref.x0[i], p, carbs, insulin, integrator == "midpoint")
    minute = np.arange(carbs.shape[0] + 1)
    ds = xr.Dataset(
        coords={"minute": ("minute", minute, {"units": "min", "long_name": "minutes since start"})}
    )
    ds["bg"] = (
        "minute",
        states[:, X.Gs] / p[P.Vg],
        {"units": "mg/dL", "long_name": "blood glucose (Gs/Vg)"},
    )
    for j, (name, unit, long) in enumerate(zip(STATE_NAMES, STATE_UNITS, STATE_LONG_NAMES)):
        ds[name] = ("minute", states[:, j], {"units": unit, "long_name": long})
    pad = np.append(carbs, np.nan), np.append(insulin, np.nan)
    ds["carbs"] = ("minute", pad[0], {"units": "g/min", "long_name": "carbohydrate on [t, t+1)"})
    ds["insulin"] = ("minute", pad[1], {"units": "U/min", "long_name": "insulin on [t, t+1)"})
    ds.attrs.update(
        patient=patient,
        model="UVA/Padova S2008 (simglucose 0.2.11 form)",
        integrator="RK4, 1 min" if integrator == "rk4" else "midpoint (RK2), 1 min",
    )
    return ds
