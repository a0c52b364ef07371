"""Scenario comparison: per scenario, the difference from a baseline scenario in the key
outcomes, with 95% intervals.

With common random numbers every patient lives the same life in every scenario, so the
difference is taken patient by patient (paired) and its variance is small. Without them the
scenarios hold different patients and the difference of means is unpaired.
Intervals use the normal approximation (mean +- 1.96 SE), apt for the hundreds to millions of
patients of a population run.
"""
import numpy as np
import xarray as xr

# outcome, label, units (those present in the store are compared)
OUTCOMES = (
    ("tir", "TIR 70-180", "%"),
    ("hba1c", "HbA1c", "%"),
    ("tdd_per_kg", "TDD per kg", "U/kg/day"),
    ("weight_kg", "weight", "kg"),
    ("si_peripheral", "peripheral sensitivity", "1"),
    ("glucose_mean", "mean glucose", "mg/dL"),
    ("tbr70", "TBR <70", "%"),
)
Z_95 = 1.959963984540054


def _baseline_index(ds: xr.Dataset, baseline) -> int:
    names = [str(n) for n in ds["scenario_name"].values]
    if baseline is None:
        return 0
    if isinstance(baseline, str) and baseline in names:
        return names.index(baseline)
    try:
        i = int(baseline)
    except (TypeError, ValueError):
        raise ValueError(f"--baseline {baseline!r}: no such scenario; scenarios are "
                         f"{', '.join(f'{k}: {n}' for k, n in enumerate(names))}") from None
    if not 0 <= i < len(names):
        raise ValueError(f"--baseline {i}: scenario index out of range 0..{len(names) - 1}")
    return i


def compare(ds: xr.Dataset, baseline=None, day: int | None = None, window: int = 14) -> xr.Dataset:
    """Differences (scenario - baseline) of each outcome's per-patient mean over the `window`
    days ending at `day` (default: the last day)."""
    n_days = ds.sizes["day"]
    day = n_days - 1 if day is None else day
    if not 0 <= day < n_days:
        raise ValueError(f"--day {day}: out of range 0..{n_days - 1}")
    if window < 1:
        raise ValueError(f"--window {window}: must be >= 1")
    b = _baseline_index(ds, baseline)
    days = slice(max(0, day - window + 1), day + 1)
    outcomes = [o for o in OUTCOMES if o[0] in ds]
    paired = int(ds.attrs.get("common_random_numbers", 1)) == 1
    S = ds.sizes["scenario"]
    stats = {k: np.full((S, len(outcomes)), np.nan) for k in
             ("baseline_mean", "scenario_mean", "difference", "ci_low", "ci_high")}
    n_used = np.zeros((S, len(outcomes)), dtype=np.int64)
    for j, (var, _, _) in enumerate(outcomes):
        per_patient = ds[var].isel(day=days).mean("day").values.astype(np.float64)  # (S, N)
        base = per_patient[b]
        for s in range(S):
            cur = per_patient[s]
            if paired:
                ok = np.isfinite(base) & np.isfinite(cur)
                d = cur[ok] - base[ok]
                n = d.size
                mean_d = d.mean() if n else np.nan
                se = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
                bm, sm = base[ok].mean() if n else np.nan, cur[ok].mean() if n else np.nan
            else:
                x, y = cur[np.isfinite(cur)], base[np.isfinite(base)]
                n = min(x.size, y.size)
                bm, sm = y.mean(), x.mean()
                mean_d = sm - bm
                se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
            stats["baseline_mean"][s, j] = bm
            stats["scenario_mean"][s, j] = sm
            stats["difference"][s, j] = mean_d
            stats["ci_low"][s, j] = mean_d - Z_95 * se
            stats["ci_high"][s, j] = mean_d + Z_95 * se
            n_used[s, j] = n
    coords = {"scenario": ds["scenario"].values,
              "scenario_name": ("scenario", [str(v) for v in ds["scenario_name"].values]),
              "outcome": [o[0] for o in outcomes],
              "outcome_units": ("outcome", [o[2] for o in outcomes])}
    out = xr.Dataset(coords=coords)
    for k, v in stats.items():
        out[k] = (("scenario", "outcome"), v)
    out["n_patients"] = (("scenario", "outcome"), n_used)
    out["difference"].attrs["long_name"] = "scenario minus baseline"
    out.attrs.update(baseline=int(b), baseline_name=coords["scenario_name"][1][b],
                     first_day=int(days.start), last_day=int(day),
                     method="paired" if paired else "unpaired", interval="95%, normal")
    return out


def format_table(cmp: xr.Dataset) -> str:
    labels = {o[0]: o[1] for o in OUTCOMES}
    lines = [f"differences from scenario {cmp.attrs['baseline']} ({cmp.attrs['baseline_name']}),"
             f" days {cmp.attrs['first_day']}-{cmp.attrs['last_day']}, "
             f"{cmp.attrs['method']}, 95% interval"]
    header = f"  {'outcome':<24}{'baseline':>10}{'scenario':>10}{'difference':>12}{'95% interval':>24}"
    for s in range(cmp.sizes["scenario"]):
        if s == cmp.attrs["baseline"]:
            continue
        lines.append(f"scenario {s}: {cmp['scenario_name'].values[s]}")
        lines.append(header)
        for j, o in enumerate(cmp["outcome"].values):
            r = {k: float(cmp[k].values[s, j]) for k in
                 ("baseline_mean", "scenario_mean", "difference", "ci_low", "ci_high")}
            ci = f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            lines.append(f"  {labels[o] + ' (' + str(cmp['outcome_units'].values[j]) + ')':<24}"
                         f"{r['baseline_mean']:>10.3f}{r['scenario_mean']:>10.3f}"
                         f"{r['difference']:>+12.3f}{ci:>24}")
    return "\n".join(lines)


def to_json(cmp: xr.Dataset) -> dict:
    rows = []
    for s in range(cmp.sizes["scenario"]):
        for j, o in enumerate(cmp["outcome"].values):
            rows.append({"scenario": int(s), "scenario_name": str(cmp["scenario_name"].values[s]),
                         "outcome": str(o), "units": str(cmp["outcome_units"].values[j]),
                         **{k: float(cmp[k].values[s, j]) for k in
                            ("baseline_mean", "scenario_mean", "difference", "ci_low",
                             "ci_high")},
                         "n_patients": int(cmp["n_patients"].values[s, j])})
    return {**{k: v for k, v in cmp.attrs.items()}, "rows": rows}
