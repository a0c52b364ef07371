"""The optional cheaper integrator (run.integrator = "midpoint") against the default 1-min RK4,
in one run: kernel throughput of both on 1 and 2 threads, and the error of the midpoint rule.

    python benchmarks/integrator_error.py [--n 1000] [--days 30] [--repeats 3]

Error: every patient traced, blood glucose compared at every 5-minute sample (the minute's
own value, not an average); daily aggregates compared patient-day by patient-day (mean glucose,
time in range, total daily dose, HbA1c on the last day, s_p). Writes
benchmarks/results/integrator-<UTC time>.json and prints a markdown table.
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_population import kernel_throughput, population_config  # noqa: E402

from engine.batch import sweep  # noqa: E402
from engine.model.glycaemia import D  # noqa: E402
from engine.store.results import engine_version  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def simulate(n: int, days: int, integrator: str, traced: bool):
    cfg = population_config(n, days)
    cfg.run.integrator = integrator
    ki = sweep.kernel_inputs(cfg)
    cohort = sweep.cohort_of(ki, np.arange(n))
    slot = np.arange(n) if traced else np.full(n, -1)
    t = time.perf_counter()
    out = sweep.simulate(ki, cohort, slot.astype(np.int64), n if traced else 0)
    return out, n * days / (time.perf_counter() - t)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    simulate(8, 1, "rk4", False)
    simulate(8, 1, "midpoint", False)  # compile outside the timings
    speed = {"rk4": 0.0, "midpoint": 0.0}
    speed2 = {"rk4": 0.0, "midpoint": 0.0}
    for _ in range(a.repeats):  # taking turns: a slow spell hits both
        for method in speed:
            speed[method] = max(
                speed[method],
                kernel_throughput(a.n, a.days, repeats=1, threads=1, integrator=method),
            )
            speed2[method] = max(
                speed2[method],
                kernel_throughput(a.n, a.days, repeats=1, threads=2, integrator=method),
            )
    ref, _ = simulate(a.n, a.days, "rk4", True)
    mid, _ = simulate(a.n, a.days, "midpoint", True)
    both_ok = (ref[2] == 0) & (mid[2] == 0)
    bg_ref, bg_mid = ref[3][0].astype(float), mid[3][0].astype(float)
    finite = np.isfinite(bg_ref) & np.isfinite(bg_mid)
    bg_diff = np.abs(bg_ref - bg_mid)[finite]
    daily = {}
    for name, v in (
        ("glucose_mean_mg_dl", D.glucose_mean),
        ("tir_pct", D.tir),
        ("tdd_u", D.tdd),
        ("si_peripheral", D.si_peripheral),
    ):
        d = np.abs(ref[0][v] - mid[0][v])[both_ok]
        daily[name] = {"max_abs": float(d.max()), "mean_abs": float(d.mean())}
    last = both_ok[:, -1]
    hba1c = np.abs(ref[0][D.hba1c][:, -1] - mid[0][D.hba1c][:, -1])[last]
    report = {
        "benchmark": "integrator",
        "engine_version": engine_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "n": a.n,
        "days": a.days,
        "repeats": a.repeats,
        "pd_per_s": speed,
        "speedup": speed["midpoint"] / speed["rk4"],
        "pd_per_s_2_threads": speed2,
        "bg_samples": int(bg_diff.size),
        "bg_max_abs_mg_dl": float(bg_diff.max()),
        "bg_mean_abs_mg_dl": float(bg_diff.mean()),
        "bg_p99_abs_mg_dl": float(np.percentile(bg_diff, 99)),
        "daily": daily,
        "hba1c_last_day_max_abs_pct": float(hba1c.max()),
        "patient_days_stopped": {
            "rk4": int((ref[2] != 0).sum()),
            "midpoint": int((mid[2] != 0).sum()),
        },
    }
    md = [
        f"{a.n:,} patients x {a.days} days, full model, best of {a.repeats}",
        "",
        "| integrator | pd/s, 1 thread | pd/s, 2 threads | x rk4 (1 thread) |",
        "|---|---|---|---|",
        f"| rk4 (default) | {speed['rk4']:,.0f} | {speed2['rk4']:,.0f} | 1.00 |",
        f"| midpoint | {speed['midpoint']:,.0f} | {speed2['midpoint']:,.0f} | "
        f"{report['speedup']:.2f} |",
        "",
        "| error of midpoint against rk4 | max | mean |",
        "|---|---|---|",
        f"| BG at {bg_diff.size:,} 5-min samples, mg/dL | {bg_diff.max():.3f} | "
        f"{bg_diff.mean():.4f} |",
    ]
    for name, d in daily.items():
        md.append(f"| daily {name} | {d['max_abs']:.4g} | {d['mean_abs']:.3g} |")
    md.append(f"| HbA1c on the last day, % | {hba1c.max():.4g} | {hba1c.mean():.3g} |")
    text = "\n".join(md)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"integrator-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(f"-> {RESULTS / f'integrator-{stamp}.json'}")
    return report


if __name__ == "__main__":
    main()
