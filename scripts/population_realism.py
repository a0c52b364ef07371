"""How real is a population? Run one therapy preset, N patients x D days, and print by age
group the numbers that registries report (issue 17's table): HbA1c, the share under 7%, time
in ranges, glucose CV (within the day, and over the last 14 days as the consensus measures
it), dose per kg and basal share, weight and BMI change, severe events, the
impossible days and the stopped patients. Writes JSON beside the printed table.

    python scripts/population_realism.py --preset intensive -n 3000 --days 365 \
        --json benchmarks/results/realism-intensive.json

Registry columns for comparison (not used to tune anything here): T1D Exchange 2016-18
(Foster et al., Diabetes Technol Ther 21:66, 2019) and SWEET (youth).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.batch.plausibility import implausible_days

GROUPS = ("child", "adolescent", "adult")
# the consensus's CV is over a CGM period of at least 14 days (Battelino et al., Diabetes Care
# 42:1593, 2019: target 36% or less): the days' spread around their own means and the spread
# of those means, pooled
CV_PERIOD_DAYS = 14
GUARDED = ("glucose_mean", "bmi", "tdd_per_kg", "hba1c")


def realism_table(ds) -> dict:
    """Per age group: the numbers of issue 17's table, from a results dataset with one
    scenario. HbA1c and dose at the last day; time in ranges, CV over the whole run."""
    sc = ds.isel(scenario=0)
    group = np.array([str(g) for g in sc.group.values])
    status = sc.status.values
    stopped = (status != 0).any(axis=1)
    rows = {}

    def v(name):
        return sc[name].values if name in sc else None

    hba1c = v("hba1c")
    tir, tbr70, tbr54, cv = v("tir"), v("tbr70"), v("tbr54"), v("glucose_cv")
    gmean = v("glucose_mean")
    tddkg, basal, tdd = v("tdd_per_kg"), v("basal_u"), v("tdd")
    weight, bmi = v("weight_kg"), v("bmi")
    height, sds = v("height"), v("bmi_sds")
    severe = v("severe_hypo_events")
    dka = v("dka_events")
    crisis = v("hyperglycaemia_admissions")
    days = status.shape[1]
    for g in (*GROUPS, "all"):
        sel = np.ones(group.size, bool) if g == "all" else group == g
        if not sel.any():
            continue
        last_a1c = np.array([_last(hba1c[i]) for i in np.flatnonzero(sel)])
        py = sel.sum() * days / 365.25
        row = {
            "n": int(sel.sum()),
            "hba1c_mean": float(np.nanmean(last_a1c)),
            "hba1c_under7_pct": float(100 * np.nanmean(last_a1c < 7.0)),
            "tir_median": float(np.nanmedian(np.nanmean(tir[sel], axis=1))),
            "tbr70_mean": float(np.nanmean(tbr70[sel])),
            "tbr54_mean": float(np.nanmean(tbr54[sel])),
            "cv_median": float(np.nanmedian(np.nanmean(cv[sel], axis=1))),
            "cv_14d_median": float(
                np.nanmedian(
                    pooled_cv(gmean[sel][:, -CV_PERIOD_DAYS:], cv[sel][:, -CV_PERIOD_DAYS:])
                )
            ),
            "tdd_per_kg_mean": float(np.nanmean(tddkg[sel][:, -30:])),
            "basal_share_mean": float(
                np.nansum(basal[sel][:, -30:]) / np.nansum(tdd[sel][:, -30:])
            ),
            "weight_change_kg": float(np.nanmean(_last_rows(weight[sel]) - weight[sel][:, 0])),
            "bmi_change": float(np.nanmean(_last_rows(bmi[sel]) - bmi[sel][:, 0])),
            **{
                f"days {label}": n
                for label, n in implausible_days(
                    {name: sc[name].values[sel] for name in GUARDED}
                ).items()
            },
            "stopped": int(stopped[sel].sum()),
        }
        if height is not None:
            row["height_change_cm"] = float(
                100 * np.nanmean(_last_rows(height[sel]) - height[sel][:, 0])
            )
            with np.errstate(all="ignore"):
                d_sds = _last_rows(sds[sel]) - sds[sel][:, 0]
            row["bmi_sds_change"] = float(np.nanmean(d_sds)) if np.isfinite(d_sds).any() else np.nan
        if severe is not None:
            row["severe_hypo_per_100py"] = float(100 * np.nansum(severe[sel]) / py)
        if dka is not None:
            row["dka_per_100py"] = float(100 * np.nansum(dka[sel]) / py)
        if crisis is not None:
            row["crisis_per_100py"] = float(100 * np.nansum(crisis[sel]) / py)
        rows[g] = row
    return rows


def pooled_cv(day_mean, day_cv_pct):
    """Per patient, the CV (%) of glucose over the days given (columns), from each day's mean
    and CV: every day weighs alike (each has 1,440 minutes). NaN days are left out."""
    with np.errstate(all="ignore"):
        sd = day_cv_pct / 100.0 * day_mean
        mean = np.nanmean(day_mean, axis=1)
        second = np.nanmean(sd * sd + day_mean * day_mean, axis=1)
        return 100.0 * np.sqrt(np.maximum(second - mean * mean, 0.0)) / mean


def _last(x):
    ok = np.flatnonzero(np.isfinite(x))
    return x[ok[-1]] if ok.size else np.nan


def _last_rows(a):
    return np.array([_last(r) for r in a])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default=None, help="therapy kind (default: the config default)")
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--groups", default="child=1,adolescent=1,adult=1", help="cohort weights, name=w,..."
    )
    args = ap.parse_args(argv)

    import xarray as xr

    from engine.batch import sweep
    from engine.batch.config import parse_config

    groups = {k: float(w) for k, w in (kv.split("=") for kv in args.groups.split(","))}
    raw = {
        "run": {"name": "realism", "n_patients": args.n, "days": args.days, "seed": args.seed},
        "cohort": {"groups": groups},
    }
    if args.preset:
        raw["therapy"] = {"kind": args.preset}
    cfg = parse_config(raw)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        summary = sweep.run(cfg, Path(tmp) / "s.zarr", quiet=True, workers=args.workers)
        wall = time.perf_counter() - t
        with xr.open_zarr(Path(tmp) / "s.zarr") as ds:
            rows = realism_table(ds.load())
    result = {
        "preset": args.preset or cfg.therapy.kind,
        "n": args.n,
        "days": args.days,
        "seed": args.seed,
        "wall_s": round(wall, 1),
        "summary": {k: v for k, v in summary.items() if isinstance(v, int | float | str)},
        "by_group": rows,
    }
    cols = list(next(iter(rows.values())).keys())
    print(f"{result['preset']}: {args.n} x {args.days} days, seed {args.seed}, {wall:.0f} s")
    print(f"{'':36s}" + "".join(f"{g:>12s}" for g in rows))
    for c in cols:
        print(f"{c:36s}" + "".join(f"{rows[g].get(c, np.nan):12.2f}" for g in rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
