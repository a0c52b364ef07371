"""The benchmark suite in one command: kernel throughput (full model and core model) over
population sizes and run lengths, end-to-end runs with zarr writes, scaling with 1 and 2
workers, resident memory per patient, side by side with simglucose where importable, the
CUDA backend where a GPU is visible (device named), and a cost model (floating-point work per
patient-minute and the share of the machine's peak).

    python benchmarks/run_all.py [--sizes 100 1000 10000 100000] [--days 30 365]
                                 [--budget-s 600] [--workers 1 2]

A size x days cell whose estimated time exceeds --budget-s is skipped and listed as such.
Writes benchmarks/results/suite-<UTC time>.json and .md and prints the markdown table.
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_population import kernel_throughput, population_config, simglucose_patient_day  # noqa: E402
from machine import cpu_ghz, cpu_identity, flops_per_cycle  # noqa: E402

from engine.batch import sweep  # noqa: E402
from engine.store.results import engine_version  # noqa: E402

RESULTS = Path(__file__).parent / "results"

# Cost model: floating-point operations per patient-minute, counted by hand from the source
# (model/fast.py: one derivative evaluation ~95 flops incl. the two exps of gastric emptying
# counted as ~20 each; RK4 = 4 evaluations + 3 stages x 13 + combine 13 x 6 ~ 500; the minute's
# bookkeeping ~60). A rough, stated estimate, not a measurement. The RK4 runs on vector units
# (lanes.py), its exps too (model/vexp.py); the bookkeeping is scalar.
FLOPS_PER_PATIENT_MINUTE = 560


def kernel_cell(n: int, days: int, core: bool, threads: int = 1) -> dict:
    pd_per_s = kernel_throughput(n, days, repeats=1, core=core, threads=threads)
    return {
        "n": n,
        "days": days,
        "model": "core" if core else "full",
        "threads": threads,
        "seconds": n * days / pd_per_s,
        "pd_per_s": pd_per_s,
    }


# therapy presets side by side (issue 19: each AID preset >= 60% of real_world's throughput)
# name: (therapy section, cohort fields); the last: the everyday mix with 30% on closed loop
THERAPY_CELLS = {
    "real_world": ({"kind": "real_world"}, {}),
    "sap": ({"kind": "sap"}, {}),
    "aid_pid": ({"kind": "aid_pid"}, {}),
    "aid_oref": ({"kind": "aid_oref"}, {}),
    "real_world, 30% aid_oref": (
        {"kind": "real_world", "controller": "oref"},
        {"aid_share": 0.3, "cgm_share": 0.5},  # AID among the 0.63 x 0.5 with both devices
    ),
}


def therapy_cells(n: int = 1000, days: int = 30, repeats: int = 5) -> list[dict]:
    """Kernel throughput of each therapy preset on the same patients, same run; best of
    `repeats`, and its ratio to real_world's. The repeats are interleaved (every cell once a
    round): on a shared machine a slow spell then falls on all cells alike, where cell after
    cell it moved one ratio by 0.1 between runs."""
    for therapy, cohort in THERAPY_CELLS.values():  # compile outside the timings
        kernel_throughput(4, 1, repeats=1, therapy=therapy, cohort=cohort)
    best = dict.fromkeys(THERAPY_CELLS, 0.0)
    for _ in range(repeats):
        for name, (therapy, cohort) in THERAPY_CELLS.items():
            pd_per_s = kernel_throughput(n, days, repeats=1, therapy=therapy, cohort=cohort)
            best[name] = max(best[name], pd_per_s)
    cells = [
        {"therapy": name, "n": n, "days": days, "pd_per_s": pd_per_s, "repeats": repeats}
        for name, pd_per_s in best.items()
    ]
    for c in cells:
        c["ratio_to_real_world"] = c["pd_per_s"] / cells[0]["pd_per_s"]
    return cells


def therapies_only() -> int:
    cells = therapy_cells()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "therapies",
        "created": stamp,
        "engine_version": engine_version(),
        "cpu": cpu_identity().get("model name", "?"),
        "cells": cells,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"therapies-{stamp}.json").write_text(json.dumps(report, indent=1))
    print("| therapy preset (1,000 x 30, 1 thread) | pd/s | / real_world |\n|---|---|---|")
    for c in cells:
        print(f"| {c['therapy']} | {c['pd_per_s']:,.0f} | {c['ratio_to_real_world']:.2f} |")
    return 0


def run_cell(n: int, days: int, workers: int, backend: str = "cpu") -> dict:
    cfg = population_config(n, days)
    cfg.execution.backend = backend
    with tempfile.TemporaryDirectory() as tmp:
        facts = sweep.run(cfg, Path(tmp) / "b.zarr", workers=workers, quiet=True)
    return {
        "n": n,
        "days": days,
        "workers": workers,
        "backend": backend,
        "seconds": facts["wall_s"],
        "pd_per_s": facts["patient_days_per_s"],
    }


def gpu_cells(sizes, budget_s: float) -> dict:
    """The CUDA backend's kernel and end-to-end throughput, full model, 30 days, where a GPU
    is visible (not the simulator); otherwise the reason it was skipped."""
    from engine.sim import cuda_driver as cuda_backend

    if cuda_backend.simulated():
        return {"skipped": "NUMBA_ENABLE_CUDASIM is set: a simulator has no speed to measure"}
    try:
        device = cuda_backend.require()
    except cuda_backend.CudaUnavailable as err:
        return {"skipped": str(err)}
    kernel_throughput(256, 1, repeats=1, backend="cuda")  # compile outside the timings
    cells, runs = [], []
    for n in sorted(set(sizes) | {10**6}):
        t = kernel_throughput(n, 30, repeats=1, backend="cuda")
        cells.append({"n": n, "days": 30, "model": "full", "backend": "cuda", "pd_per_s": t})
        if n * 30 / t * 4 > budget_s:
            break
    runs.append(run_cell(max(c["n"] for c in cells), 30, 1, backend="cuda"))
    return {"device": device, "kernel": cells, "runs": runs}


def memory_per_patient(n: int = 20000, days: int = 2) -> dict:
    """Bytes per patient held beyond the output arrays: the cohort (parameters, states,
    traits, ids) and the kernel's inputs, measured with tracemalloc (numpy reports its
    allocations to it) while the cohort is drawn and a run executes. The kernel's own
    per-patient working copies live in numba's allocator, are a few hundred bytes and are
    freed patient by patient; peak RSS is dominated by the interpreter, numba and LLVM, so
    it cannot resolve this."""
    import tracemalloc

    cfg = population_config(n, days)
    ki = sweep.kernel_inputs(cfg)
    tracemalloc.start()
    cohort = sweep.cohort_of(ki, np.arange(n))
    held, _ = tracemalloc.get_traced_memory()
    out = sweep.simulate(ki, cohort, np.full(n, -1, dtype=np.int64), 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = sum(a.nbytes for a in out)
    return {
        "bytes_per_patient_beyond_outputs": max(held, peak - out_bytes) / n,
        "output_bytes_per_patient_day": out_bytes / n / days,
        "rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000, 100000])
    ap.add_argument("--days", type=int, nargs="+", default=[30, 365])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--budget-s",
        type=float,
        default=600.0,
        help="skip a cell whose estimated time exceeds this",
    )
    ap.add_argument(
        "--therapies-only",
        action="store_true",
        help="only the therapy presets' cells (benchmarks/results/therapies-<time>.json)",
    )
    args = ap.parse_args(argv)
    if args.therapies_only:
        return therapies_only()

    kernel_cell(4, 1, False)
    kernel_cell(4, 1, True)  # compile or load the cache outside the timings
    probe = kernel_cell(200, 30, False)["pd_per_s"]
    cells, two_threads, skipped = [], [], []
    for days in args.days:
        for n in args.sizes:
            if n * days / probe * 3.0 > args.budget_s:
                skipped.append({"n": n, "days": days, "estimated_s": round(n * days / probe * 3.0)})
                continue
            cells.append(kernel_cell(n, days, False))
            cells.append(kernel_cell(n, days, True))
            two_threads.append(kernel_cell(n, days, False, threads=2))
    runs = []
    n_run = 10000 if 10000 * 30 / probe < args.budget_s / 2 else 1000
    for w in args.workers:
        runs.append(run_cell(n_run, 30, w))
    kernel_1000 = next(
        (
            c["pd_per_s"]
            for c in cells
            if c["model"] == "full"
            and c["days"] == 30
            and c["n"] == max(x["n"] for x in cells if x["days"] == 30)
        ),
        probe,
    )
    therapies = therapy_cells()
    mem = memory_per_patient()
    gpu = gpu_cells(args.sizes, args.budget_s)
    sg = simglucose_patient_day()
    ghz = cpu_ghz()
    cpu = cpu_identity()
    best_full = max(c["pd_per_s"] for c in cells if c["model"] == "full")
    flops = best_full * 1440 * FLOPS_PER_PATIENT_MINUTE
    peak = ghz * 1e9 * flops_per_cycle(cpu)
    report = {
        "benchmark": "suite",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine_version": engine_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "ghz": ghz,
            "cpu": cpu,
            "python": platform.python_version(),
        },
        "kernel": cells + two_threads,
        "skipped": skipped,
        "runs": runs,
        "therapies": therapies,
        "memory": mem,
        "simglucose": sg,
        "gpu": gpu,
        "cost_model": {
            "flops_per_patient_minute": FLOPS_PER_PATIENT_MINUTE,
            "best_full_pd_per_s_1_thread": best_full,
            "gflops_1_thread": flops / 1e9,
            "core_peak_gflops": peak / 1e9,
            "share_of_core_peak": flops / peak,
        },
    }
    md = [
        f"machine: {cpu.get('model name', '?')} (family {cpu.get('cpu family', '?')}, model "
        f"{cpu.get('model', '?')}, {cpu['vector_isa']}), {os.cpu_count()} CPUs, {ghz:.2f} GHz",
        "",
        "| N | days | full model pd/s (1 thread) | core model pd/s (1 thread) | full/core "
        "| full model pd/s (2 threads) |",
        "|---|---|---|---|---|---|",
    ]
    for full, core, full2 in zip(cells[::2], cells[1::2], two_threads):
        md.append(
            f"| {full['n']:,} | {full['days']} | {full['pd_per_s']:,.0f} | "
            f"{core['pd_per_s']:,.0f} | {full['pd_per_s'] / core['pd_per_s']:.2f} | "
            f"{full2['pd_per_s']:,.0f} |"
        )
    for s in skipped:
        md.append(
            f"| {s['n']:,} | {s['days']} | skipped (~{s['estimated_s']:,} s > budget) | | | |"
        )
    md += [
        "",
        "| end-to-end run (zarr writes) | workers | pd/s | run / (workers x kernel) |",
        "|---|---|---|---|",
    ]
    for r in runs:
        md.append(
            f"| {r['n']:,} x {r['days']} days | {r['workers']} | {r['pd_per_s']:,.0f} | "
            f"{r['pd_per_s'] / (r['workers'] * kernel_1000):.2f} |"
        )
    md += ["", "| therapy preset (1,000 x 30, 1 thread) | pd/s | / real_world |", "|---|---|---|"]
    for c in therapies:
        md.append(f"| {c['therapy']} | {c['pd_per_s']:,.0f} | {c['ratio_to_real_world']:.2f} |")
    md += [
        "",
        f"resident state per patient beyond the outputs: "
        f"{mem['bytes_per_patient_beyond_outputs']:,.0f} bytes; outputs "
        f"{mem['output_bytes_per_patient_day']:,.0f} bytes per patient-day",
        f"cost model: ~{FLOPS_PER_PATIENT_MINUTE} flops per patient-minute -> "
        f"{flops / 1e9:.2f} GFLOP/s on one thread, {100 * flops / peak:.1f}% of one core's "
        f"peak ({peak / 1e9:.0f} GFLOP/s at {ghz:.2f} GHz)",
    ]
    if "skipped" in gpu:
        md.append(f"GPU (backend cuda): skipped: {gpu['skipped']}")
    else:
        md += [
            "",
            f"| GPU: {gpu['device']} | pd/s | x CPU kernel, 1 thread, same machine |",
            "|---|---|---|",
        ]
        for c in gpu["kernel"]:
            md.append(
                f"| kernel, {c['n']:,} x 30 days | {c['pd_per_s']:,.0f} | "
                f"{c['pd_per_s'] / kernel_1000:,.0f} |"
            )
        for r in gpu["runs"]:
            md.append(
                f"| end to end (zarr), {r['n']:,} x 30 days | {r['pd_per_s']:,.0f} | "
                f"{r['pd_per_s'] / kernel_1000:,.0f} |"
            )
        md.append("")
    if sg:
        md.append(
            f"simglucose {sg['version']}: {sg['seconds_per_patient_day']:.2f} s per "
            f"patient-day; t1dmc kernel {best_full * sg['seconds_per_patient_day']:,.0f}x "
            f"(1 thread); replaying its inputs, t1dmc's BG differs by at most "
            f"{sg['max_abs_bg_difference_mg_dl']:.2g} mg/dL over "
            f"{sg['minutes_compared']} minutes"
        )
    else:
        md.append(
            "simglucose not importable here: no side-by-side timing (pip install "
            "simglucose into this environment to add it); the BG agreement is checked "
            "by tests/unit/population/test_replay.py against stored simglucose traces"
        )
    text = "\n".join(md)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"suite-{stamp}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"suite-{stamp}.md").write_text(text + "\n")
    print(f"-> {RESULTS / f'suite-{stamp}.json'}")


if __name__ == "__main__":
    main()
