"""Population throughput: patient-days per second of the kernel alone and of whole runs
(cohort, kernel, zarr writes) for several population sizes; the kernel with every
insulin-resistance mechanism, behaviour and titration on against the core model (fast
physiology, meals and simglucose's rule only) in the same process; and, when simglucose is
importable, one simglucose patient-day timed in the same process for the ratio.

    python benchmarks/bench_population.py [--sizes 100 1000 10000] [--days 30] [--workers 2]

Prints a table and writes benchmarks/results/population-<UTC time>.json. Benchmarks are not
tests: nothing here asserts a time.
"""

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from engine.batch import sweep
from engine.batch.config import parse_config
from engine.model.slow import MECHANISM_NAMES
from engine.store.results import engine_version

RESULTS = Path(__file__).parent / "results"


# the core model: fast physiology, meals and simglucose's rule; everything else off
CORE = {
    "therapy": {"kind": "simglucose_basal_bolus"},
    "mechanisms": {
        **{m: False for m in MECHANISM_NAMES},
        "dawn": False,
        "time_of_day": False,
        "weight_feedback": False,
    },
    "behaviour": {"exercise": False, "hypo_treatment_g": 0.0, "carb_count_cv": 0.0},
    "episodes": {"stress": False, "illness": False},
    "lifestyle": {"adherence": 0.999},
}


def population_config(
    n: int, days: int, core: bool = False, therapy: str | None = None, cohort: dict | None = None
):
    """The benchmark population; `therapy` a preset's name or a therapy section, `cohort`
    fields added to the cohort section."""
    extra = dict(CORE) if core else {}
    if therapy is not None:
        section = {"kind": therapy} if isinstance(therapy, str) else therapy
        extra["therapy"] = {**extra.get("therapy", {}), **section}
    groups = {"adult": 1.0, "adolescent": 1.0, "child": 1.0}
    return parse_config(
        {
            "run": {"name": "benchmark", "n_patients": n, "days": days},
            "cohort": {"groups": groups, **(cohort or {})},
            "output": {"traced": min(10, n)},
            **extra,
        }
    )


def kernel_throughput(
    n: int,
    days: int,
    repeats: int = 3,
    core: bool = False,
    threads: int = 1,
    backend: str = "cpu",
    integrator: str = "rk4",
    therapy: str | dict | None = None,
    cohort: dict | None = None,
) -> float:
    """Kernel patient-days/s (best of `repeats`), no I/O. With threads > 1 the population is
    split into that many parts run in parallel threads (the kernel releases the GIL).
    backend "cuda": the GPU kernel, its host-device copies included."""
    cfg = population_config(n, days, core, therapy, cohort)
    cfg.execution.backend = backend
    cfg.run.integrator = integrator
    ki = sweep.kernel_inputs(cfg)
    parts = [np.asarray(p) for p in np.array_split(np.arange(n), threads)]
    cohorts = [sweep.cohort_of(ki, p) for p in parts]
    no_trace = [np.full(p.size, -1, dtype=np.int64) for p in parts]
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            t = time.perf_counter()
            list(pool.map(lambda k: sweep.simulate(ki, cohorts[k], no_trace[k], 0), range(threads)))
            best = min(best, time.perf_counter() - t)
    return n * days / best


def run_throughput(n: int, days: int, workers: int, backend: str = "cpu") -> dict:
    cfg = population_config(n, days)
    cfg.execution.backend = backend
    with tempfile.TemporaryDirectory() as tmp:
        facts = sweep.run(cfg, Path(tmp) / "bench.zarr", workers=workers, quiet=True)
        size = sum(f.stat().st_size for f in (Path(tmp) / "bench.zarr").rglob("*") if f.is_file())
    facts["store_bytes"] = size
    return facts


def simglucose_patient_day() -> dict | None:
    """One simglucose 0.2.11 patient-day (adult#001, its basal-bolus controller, S1 meals):
    its seconds, and the largest difference between its blood glucose and t1dmc's replay of
    the same minute-by-minute carbohydrate and insulin. None when simglucose is not
    importable."""
    try:
        from simglucose.actuator.pump import InsulinPump
        from simglucose.controller.basal_bolus_ctrller import BBController
        from simglucose.patient.t1dpatient import T1DPatient
        from simglucose.sensor.cgm import CGMSensor
        from simglucose.simulation.env import T1DSimEnv
        from simglucose.simulation.scenario import CustomScenario
        from simglucose.simulation.sim_engine import SimObj, sim
    except ImportError:
        return None
    import logging

    from engine import replay

    logging.disable(logging.CRITICAL)
    start = dt.datetime(2026, 1, 1, 0, 0, 0)

    def run(record=None):
        scenario = CustomScenario(start_time=start, scenario=[(7, 45), (12, 70), (18, 80)])
        with tempfile.TemporaryDirectory() as tmp:
            env = T1DSimEnv(
                T1DPatient.withName("adult#001"),
                CGMSensor.withName("Dexcom", seed=1),
                InsulinPump.withName("Insulet"),
                scenario,
            )
            if record is not None:  # each minute: carbohydrate eaten, insulin, then BG
                step = env.mini_step

                def recording_step(action):
                    out = step(action)
                    record.append((env.patient._last_action.CHO, out[1], out[2]))
                    return out

                env.mini_step = recording_step
            obj = SimObj(env, BBController(), dt.timedelta(days=1), animate=False, path=tmp)
            t = time.perf_counter()
            sim(obj)
            return time.perf_counter() - t

    seconds = run()
    minutes = []
    run(minutes)
    carbs, insulin, bg = (np.array(v) for v in zip(*minutes))
    ours = replay("adult#001", carbs, insulin)["bg"].values[1:]
    import simglucose

    return {
        "seconds_per_patient_day": seconds,
        "max_abs_bg_difference_mg_dl": float(np.abs(ours - bg).max()),
        "minutes_compared": int(bg.size),
        "version": getattr(simglucose, "__version__", "0.2.11"),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)

    kernel_throughput(4, 1, repeats=1)  # compile or load the cache outside the timings
    rows = []
    for n in args.sizes:
        repeats = 1 if n * args.days > 100_000 else 3
        k = kernel_throughput(n, args.days, repeats=repeats)
        core = kernel_throughput(n, args.days, repeats=repeats, core=True)
        r = run_throughput(n, args.days, args.workers)
        rows.append(
            {
                "n_patients": n,
                "days": args.days,
                "kernel_pd_per_s_1_thread": k,
                "core_kernel_pd_per_s_1_thread": core,
                "full_vs_core": k / core,
                "run_pd_per_s": r["patient_days_per_s"],
                "run_wall_s": r["wall_s"],
                "run_workers": r["workers"],
                "run_tasks": r["tasks"],
                "store_bytes": r["store_bytes"],
                "run_vs_kernel_per_core": r["patient_days_per_s"] / (k * r["workers"]),
            }
        )
    sg = simglucose_patient_day()
    best_run = max(row["run_pd_per_s"] for row in rows)
    report = {
        "benchmark": "population",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine_version": engine_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "rows": rows,
        "simglucose": sg,
        "speedup_vs_simglucose": (best_run * sg["seconds_per_patient_day"]) if sg else None,
    }
    header = (
        f"{'N':>7} {'days':>5} {'core pd/s (1 thr)':>18} {'full pd/s (1 thr)':>18} "
        f"{'full/core':>10} {'run pd/s':>12} "
        f"{'workers':>8} {'run/kernel per core':>20} {'wall s':>8} {'store MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['n_patients']:>7} {row['days']:>5} "
            f"{row['core_kernel_pd_per_s_1_thread']:>18,.0f} "
            f"{row['kernel_pd_per_s_1_thread']:>18,.0f} {row['full_vs_core']:>10.2f} "
            f"{row['run_pd_per_s']:>12,.0f} {row['run_workers']:>8} "
            f"{row['run_vs_kernel_per_core']:>20.2f} {row['run_wall_s']:>8.1f} "
            f"{row['store_bytes'] / 1e6:>9.1f}"
        )
    if sg:
        print(
            f"simglucose {sg['version']}: {sg['seconds_per_patient_day']:.2f} s per patient-day, "
            f"BG within {sg['max_abs_bg_difference_mg_dl']:.2g} mg/dL of t1dmc's replay; "
            f"t1dmc runs {report['speedup_vs_simglucose']:,.0f}x as many patient-days per second"
        )
    else:
        print("simglucose not importable: no side-by-side ratio (pip install simglucose to add it)")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"population-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
