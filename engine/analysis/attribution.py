"""What makes a population resistant: the loss of insulin sensitivity split by mechanism.

Each patient-day the kernel writes log phi_k, the log of the factor mechanism k puts on
si_peripheral (s_p; 1 = the lean healthy reference), and log s_p = sum_k log phi_k exactly
(engine/model/slow.py `multipliers`). Log factors add, so every summary here is built from
them and adds up:

- `population_shares`: a mechanism's share of the population's loss is a ratio of sums,
  sum_i log phi_ik / sum_i log s_p,i, over the patients of a scenario (or an age group), each
  patient's log factors averaged over a window of days. The shares add up to 1 and stay
  bounded wherever the population has lost sensitivity at all; a mean of per-patient ratios
  does neither (a patient whose s_p is near 1 has a denominator near 0: issue 18 found
  +-13,000%). 95% intervals of a ratio estimator by the delta method over patients.
- `lost_pp`: the same split in percentage points of sensitivity: the geometric-mean patient
  has lost 100 (1 - exp(mean log s_p)) % of the reference's sensitivity, and mechanism k
  that loss x mean log phi_k / mean log s_p (a waterfall that sums to the total).
- `shares_over_time`: the population shares day by day (ratio of sums over patients).

Everything reduces lazily over days and patients (dask), so a store of any size is summarised
in bounded memory: only (scenario, patient, mechanism) window means are ever computed.
"""

import numpy as np
import xarray as xr

from ..store.results import MATERIAL_LOG_SP, with_ir_share
from .compare import window_days

Z95 = 1.959964


def _log_phi(ds: xr.Dataset) -> xr.DataArray:
    if "log_phi" not in ds:
        ds = with_ir_share(ds)
    if "log_phi" not in ds:
        raise ValueError("no attribution in these results (neither log_phi nor ir_share)")
    return ds["log_phi"]


def patient_log_factors(ds: xr.Dataset, day: int | None = None, window: int = 14):
    """(scenario, patient, mechanism) float64 numpy array: each patient's log factors averaged
    over the `window` days ending at `day` (default the last), NaN for a patient with no valid
    day in the window; and the (first, last) days used."""
    sl = window_days(ds, day, window)
    mean = _log_phi(ds).isel(day=sl).astype(np.float64).mean("day", skipna=True)
    values = mean.transpose("scenario", "patient", "mechanism").values
    return values, (sl.start, sl.stop - 1)


def _groups(ds: xr.Dataset, by: str | None, n_scenarios: int, n_patients: int):
    """(labels, (scenario, patient) label array) of the grouping `by` (None: one group)."""
    if by is None:
        return ["all"], np.full((n_scenarios, n_patients), "all", dtype=object)
    if by not in ds:
        raise ValueError(f"by={by!r}: no such per-patient variable in these results")
    values = ds[by]
    if "scenario" not in values.dims:
        values = values.expand_dims(scenario=n_scenarios)
    raw = values.transpose("scenario", "patient").values  # numpy StringDType from zarr v3
    labels = np.array([str(v) for v in raw.ravel()], dtype=object).reshape(raw.shape)
    return sorted(set(labels.ravel())), labels


def population_shares(
    ds: xr.Dataset, day: int | None = None, window: int = 14, by: str | None = None
) -> xr.Dataset:
    """Each mechanism's share of the population's loss of sensitivity, per scenario (and per
    value of the per-patient variable `by`, e.g. "group"), over the `window` days ending at
    `day`: a ratio of sums with its 95% interval, and the loss in percentage points.

    Variables (dims scenario[, by], mechanism): `share`, `share_low`, `share_high`;
    `log_factor` (mean log phi_k), `lost_pp`, `lost_pp_low`, `lost_pp_high`; and per
    scenario[, by]: `log_sp` (mean log s_p), `lost_pp_total`, `n` (patients), `material`
    (whether |mean log s_p| >= MATERIAL_LOG_SP; the shares are NaN where it is not)."""
    a, days = patient_log_factors(ds, day, window)
    S, N, M = a.shape
    labels, label_of = _groups(ds, by, S, N)
    G = len(labels)
    out = {
        name: np.full((S, G, M), np.nan)
        for name in ("share", "share_low", "share_high", "log_factor", "lost_pp")
    }
    out |= {name: np.full((S, G, M), np.nan) for name in ("lost_pp_low", "lost_pp_high")}
    per_group = {name: np.full((S, G), np.nan) for name in ("log_sp", "lost_pp_total")}
    n_used = np.zeros((S, G), dtype=np.int64)
    material = np.zeros((S, G), dtype=bool)
    for s in range(S):
        for g, label in enumerate(labels):
            rows = a[s][(label_of[s] == label) & np.isfinite(a[s]).all(axis=1)]
            n = rows.shape[0]
            n_used[s, g] = n
            if n == 0:
                continue
            b = rows.sum(axis=1)  # each patient's log s_p
            mean_k, mean_b = rows.mean(axis=0), b.mean()
            out["log_factor"][s, g] = mean_k
            per_group["log_sp"][s, g] = mean_b
            se_k = rows.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(M, np.nan)
            # the loss in points: -100 expm1(L) split in proportion to the log factors
            # (the factor expm1(L)/L -> 1 as L -> 0, so small losses split smoothly)
            f = np.expm1(mean_b) / mean_b if mean_b != 0.0 else 1.0
            out["lost_pp"][s, g] = -100.0 * f * mean_k
            out["lost_pp_low"][s, g] = -100.0 * f * (mean_k + Z95 * se_k)
            out["lost_pp_high"][s, g] = -100.0 * f * (mean_k - Z95 * se_k)
            per_group["lost_pp_total"][s, g] = -100.0 * np.expm1(mean_b)
            material[s, g] = abs(mean_b) >= MATERIAL_LOG_SP
            if not material[s, g]:
                continue
            r = mean_k / mean_b
            out["share"][s, g] = r
            if n > 1:
                resid = rows - np.outer(b, r)  # delta method for a ratio of means
                se = np.sqrt((resid**2).sum(axis=0) / (n * (n - 1))) / abs(mean_b)
                out["share_low"][s, g] = r - Z95 * se
                out["share_high"][s, g] = r + Z95 * se
    dim = by or "population"
    coords = {
        "scenario": ds["scenario"].values,
        dim: labels,
        "mechanism": ds["mechanism"].values,
    }
    if "scenario_name" in ds.coords:
        coords["scenario_name"] = ("scenario", ds["scenario_name"].values)
    three = ("scenario", dim, "mechanism")
    res = xr.Dataset(
        {name: (three, v) for name, v in out.items()}
        | {name: (("scenario", dim), v) for name, v in per_group.items()}
        | {"n": (("scenario", dim), n_used), "material": (("scenario", dim), material)},
        coords=coords,
    )
    res["share"].attrs.update(
        units="1",
        long_name="share of the population's loss of log s_p (ratio of sums over patients)",
    )
    res["lost_pp"].attrs.update(
        units="percentage points",
        long_name="sensitivity lost to the mechanism, of the geometric-mean patient, relative "
        "to the lean healthy reference (negative: the mechanism protects)",
    )
    res["lost_pp_total"].attrs.update(units="percentage points", long_name="sensitivity lost")
    res.attrs.update(
        first_day=int(days[0]),
        last_day=int(days[1]),
        material_log_sp=MATERIAL_LOG_SP,
        method="ratio of sums of per-patient window means of log phi; 95% intervals by the "
        "delta method over patients",
    )
    if by is None:
        res = res.squeeze("population", drop=True)
    return res


def shares_over_time(ds: xr.Dataset) -> xr.DataArray:
    """(scenario, day, mechanism): each day's population shares, sum over patients of log
    phi_k / sum of log s_p, NaN on days whose mean |log s_p| < MATERIAL_LOG_SP. Lazy."""
    log_phi = _log_phi(ds).astype(np.float64)
    valid = log_phi.notnull().all("mechanism")
    num = log_phi.where(valid).sum("patient")
    total = num.sum("mechanism")
    n = valid.sum("patient")
    share = (num / total).where(np.abs(total) >= MATERIAL_LOG_SP * n)
    share.attrs.update(units="1", long_name="share of the population's loss of log s_p")
    return share.transpose("scenario", "day", "mechanism")
