"""The gain of the dose-escalation loop (issue 17): insulin -> weight -> sensitivity -> insulin.

Four paired scenarios (common random numbers: the same patients living the same lives), each
N patients x D days under one therapy preset (default: the config default, real_world):

  baseline        as configured
  more_insulin    prescriptions mis-set less (therapy.dose_error_bias lowered by --dose-step):
                  more insulin for the same people -> w = weight gained per extra U/day, and
                  the total response of s_p to the dose (receptors, glucotoxicity, weight)
  more_food       habitual intake +--surplus-step (lifestyle.energy_surplus): weight gained
                  without a therapy change -> s = change in ln s_p per kg, and the titration's
                  answer to it -> e = elasticity of the daily dose to s_p
  more_resistant  polygenic type 2 risk +--prs-step SD: s_p lowered with little weight change
                  -> a second estimate of e

The changed scenarios are changes made at day 0 to people who lived the baseline's life before
it: each enters with the glycosuria of its baseline's first two weeks (the per-patient input
`prior_glycosuria_g`, as `t1dmc validate`'s DCCT arms), so appetite defends the weight of the
care they had, and a stronger prescription can show the weight that less glycosuria brings
(docs/model.md §2, Appetite). Until 0.14.1 each scenario defended the glycosuria of its own
first two weeks, which hid that path.

Shares and elasticities are ratios of population sums over the last --window days (paired
differences), never means of per-patient ratios. The loop gain through weight is
G = e x s x w x TDD (dimensionless, e from the polygenic step): an extra unit of daily dose
returns G units through weight and sensitivity; G < 1 means the loop converges (amplification
1/(1 - G)). The total gain replaces s x w by the dose's whole effect on ln s_p (receptors,
glucotoxicity and weight together). Nothing here forces either value.

    python scripts/dose_weight_loop.py -n 1500 --days 730 --json benchmarks/results/loop.json
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

SCENARIOS = ("baseline", "more_insulin", "more_food", "more_resistant")
GROUPS = ("child", "adolescent", "adult")


def _window_mean(ds, name, window):
    """Per scenario x patient: the mean of the last `window` days (NaN-aware)."""
    da = ds[name].isel(day=slice(-window, None)).mean("day", skipna=True)
    return da.transpose("scenario", "patient").values


def loop_gain(ds, window: int, groups=GROUPS) -> dict:
    """The loop's parts by group and overall, from a dataset with the four scenarios in order."""
    # a lifestyle sweep gives traits a scenario dimension; the groups are the same in each
    g0 = ds.group.isel(scenario=0) if "scenario" in ds.group.dims else ds.group
    group = np.array([str(g) for g in g0.values])
    alive = (ds.status == 0).all(("scenario", "day")).values
    tdd = _window_mean(ds, "tdd", window)
    weight = _window_mean(ds, "weight_kg", window)
    log_sp = np.log(_window_mean(ds, "si_peripheral", window))
    hba1c = ds.hba1c.isel(day=-1).transpose("scenario", "patient").values
    out = {}
    for g in (*groups, "all"):
        sel = alive & (np.ones(group.size, bool) if g == "all" else group == g)
        if sel.sum() < 10:
            continue

        def d(a, k, sel=sel):
            return float(np.nanmean(a[k, sel] - a[0, sel]))

        base_tdd = float(np.nanmean(tdd[0, sel]))
        ins = 1
        food = 2
        prs = 3
        w = d(weight, ins) / d(tdd, ins)  # kg per extra U/day
        sp_per_u = d(log_sp, ins) / d(tdd, ins)  # total response of ln s_p per extra U/day
        s = d(log_sp, food) / d(weight, food)  # ln s_p per kg gained
        dlog_tdd_food = float(np.nanmean(np.log(tdd[food, sel]) - np.log(tdd[0, sel])))
        dlog_tdd_prs = float(np.nanmean(np.log(tdd[prs, sel]) - np.log(tdd[0, sel])))
        e_food = dlog_tdd_food / d(log_sp, food)
        e_prs = dlog_tdd_prs / d(log_sp, prs)
        # e from the polygenic step: it moves s_p with little weight change, so its ratio is
        # well conditioned; the food step moves s_p too little for a stable ratio
        gain_weight = e_prs * s * w * base_tdd
        gain_total = e_prs * sp_per_u * base_tdd
        out[g] = {
            "n": int(sel.sum()),
            "baseline_tdd_u": base_tdd,
            "baseline_weight_kg": float(np.nanmean(weight[0, sel])),
            "baseline_hba1c": float(np.nanmean(hba1c[0, sel])),
            **{
                f"{name}_{what}": val
                for name, k in zip(SCENARIOS[1:], (ins, food, prs), strict=True)
                for what, val in (
                    ("d_tdd_u", d(tdd, k)),
                    ("d_weight_kg", d(weight, k)),
                    ("d_log_sp", d(log_sp, k)),
                    ("d_hba1c", float(np.nanmean(hba1c[k, sel] - hba1c[0, sel]))),
                )
            },
            "w_kg_per_u_day": w,
            "s_log_sp_per_kg": s,
            "total_log_sp_per_u_day": sp_per_u,
            "e_dose_elasticity_food": e_food,
            "e_dose_elasticity_prs": e_prs,
            "loop_gain_via_weight": gain_weight,
            "loop_gain_total": gain_total,
        }
    return out


OUTPUTS = ("tdd", "weight_kg", "si_peripheral", "hba1c", "glycosuria_g")


def _simulate(inputs, cohort, workers: int):
    """The kernel over `cohort` in `workers` threads (the kernel releases the GIL; a patient's
    results do not depend on which block runs it): daily outputs and status."""
    from engine.batch.sweep import simulate
    from engine.model.glycaemia import D

    n = len(cohort)
    edges = np.linspace(0, n, max(1, min(workers, n)) + 1).astype(int)

    def block(a, b):
        part = replace(
            cohort,
            **{f: getattr(cohort, f)[a:b] for f in ("patient_id", "params", "x0", "traits")},
            source=cohort.source[a:b],
            group=cohort.group[a:b],
        )
        daily, _, status, _ = simulate(inputs, part, np.full(b - a, -1, dtype=np.int64), 0)
        return {name: daily[getattr(D, name)] for name in OUTPUTS}, status

    with ThreadPoolExecutor(len(edges) - 1) as pool:
        parts = list(pool.map(block, edges[:-1], edges[1:]))
    out = {name: np.concatenate([p[0][name] for p in parts]) for name in OUTPUTS}
    return out, np.concatenate([p[1] for p in parts])


def run_scenarios(configs, workers: int):
    """Run the paired scenarios (the baseline first); the others enter with the baseline's
    first-two-weeks glycosuria. Returns an xarray Dataset (scenario, patient, day)."""
    import xarray as xr

    from engine.batch.sweep import cohort_of, kernel_inputs
    from engine.model.slow import GMI_DAYS
    from engine.model.traits import T

    daily, status, group, prior = [], [], None, None
    for cfg in configs:
        inputs = kernel_inputs(cfg)
        cohort = cohort_of(inputs, np.arange(cfg.run.n_patients))
        if prior is not None:
            traits = cohort.traits.copy()
            traits[:, T.prior_glycosuria_g] = prior
            cohort = replace(cohort, traits=traits)
        out, st = _simulate(inputs, cohort, workers)
        if prior is None:
            prior = np.nanmean(out["glycosuria_g"][:, :GMI_DAYS], axis=1)
            group = cohort.group
        daily.append(out)
        status.append(st)
    dims = ("scenario", "patient", "day")
    return xr.Dataset(
        {name: (dims, np.stack([d[name] for d in daily])) for name in OUTPUTS}
        | {"status": (dims, np.stack(status))},
        coords={"group": ("patient", np.asarray(group))},
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default=None, help="therapy kind (default: the config default)")
    ap.add_argument("-n", type=int, default=1500)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--window", type=int, default=91, help="days averaged at the end")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dose-step", type=float, default=0.15, help="dose_error_bias lowered by")
    ap.add_argument("--surplus-step", type=float, default=0.05, help="energy_surplus raised by")
    ap.add_argument("--prs-step", type=float, default=1.0, help="polygenic_shift raised by, SD")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from engine.batch.config import parse_config

    raw = {
        "run": {"name": "dose-weight loop", "n_patients": args.n, "days": args.days},
        "cohort": {"groups": {g: 1.0 for g in GROUPS}},
    }
    raw["run"]["seed"] = args.seed
    if args.preset:
        raw["therapy"] = {"kind": args.preset}
    base = parse_config(raw)
    bias = base.therapy.dose_error_bias
    surplus = base.lifestyle.energy_surplus
    prs = base.genetics.polygenic_shift
    changes = (
        {},
        {"therapy": {"dose_error_bias": bias - args.dose_step}},
        {"lifestyle": {"energy_surplus": surplus + args.surplus_step}},
        {"genetics": {"polygenic_shift": prs + args.prs_step}},
    )
    configs = [
        parse_config({**raw, **{k: {**raw.get(k, {}), **v} for k, v in change.items()}})
        for change in changes
    ]
    t = time.perf_counter()
    rows = loop_gain(run_scenarios(configs, args.workers), args.window)
    wall = time.perf_counter() - t
    result = {
        "preset": args.preset or base.therapy.kind,
        "n": args.n,
        "days": args.days,
        "window_days": args.window,
        "seed": args.seed,
        "steps": {
            "dose_error_bias": [bias, bias - args.dose_step],
            "energy_surplus": [surplus, surplus + args.surplus_step],
            "polygenic_shift": [prs, prs + args.prs_step],
        },
        "wall_s": round(wall, 1),
        "by_group": rows,
    }
    print(
        f"{result['preset']}: {args.n} x {args.days} days x {len(SCENARIOS)} paired scenarios, "
        f"last {args.window} days, {wall:.0f} s"
    )
    print(f"{'':34s}" + "".join(f"{g:>12s}" for g in rows))
    for c in next(iter(rows.values())):
        print(f"{c:34s}" + "".join(f"{rows[g][c]:12.4g}" for g in rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
