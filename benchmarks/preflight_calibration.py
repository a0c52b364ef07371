"""Calibration of the pre-flight estimate (engine/batch/preflight.py) against real runs on this
machine: small runs through `engine.batch.sweep.run` (default config otherwise, into a temporary
folder), measured, and set beside what `preflight.estimate` predicts for them.

    python benchmarks/preflight_calibration.py [--cases 2000x30 200x365 450x365:225 4000x30:2000]
        [--repeats 2] [--setup-patients 10000 1000000]

Measured per case:
- the store: bytes on disk (allocated blocks, files and folders, as `du`), apparent bytes,
  raw (uncompressed) bytes from each array's shape and dtype, files; per kind of array
  (daily, log_phi, status, completed, traces, per-patient, coordinates and metadata) the
  compressed / raw ratio;
- memory: with tracemalloc (numpy, zarr and Python allocations; not numba's own, the kernel's
  ~0.4 MB of scratch), the largest increase during one task (workers = 1, so tasks run one
  after another) and the peak before the first task starts (the setup); the peak resident set
  (psutil, sampled every 5 ms) above the resident set before the run;
- time: end-to-end patient-days per second per worker thread (workers = 1, no tracemalloc),
  rk4 and midpoint, best of --repeats.
And once: bytes per task of the dask graph and the threaded scheduler's state (no-op tasks),
bytes per scenario of the expanded sweep and its kernel settings, and the resident set of the
interpreter with the kernels loaded.

Writes benchmarks/results/preflight-<UTC time>.json and prints a table: measured, estimated,
estimated / measured. Benchmarks are not tests: nothing here asserts.
"""

import argparse
import datetime as dt
import gc
import json
import os
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_identity  # noqa: E402

from engine.batch import preflight, sweep  # noqa: E402
from engine.batch.config import parse_config  # noqa: E402
from engine.batch.scenarios import expand  # noqa: E402
from engine.model.glycaemia import DAILY_NAMES  # noqa: E402
from engine.store.results import engine_version  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TRACE_NAMES = ("bg", "cgm", "insulin", "carbs", "si_effective")
COORDS = (
    "scenario",
    "scenario_name",
    "patient",
    "day",
    "time",
    "traced",
    "parameter",
    "mechanism",
    "mechanism_description",
    "parameter_units",
)
ITEMSIZE = {"float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int64": 8, "bool": 1}


def kind_of(name: str) -> str:
    if name in DAILY_NAMES:
        return "daily"
    if name in ("log_phi", "ir_share", "status", "completed"):
        return name
    if name in TRACE_NAMES:
        return "traces"
    if name in COORDS:
        return "coordinates"
    return "per_patient"


def store_facts(path: Path) -> dict:
    """Per kind of array: files, apparent bytes, allocated bytes, raw bytes."""
    kinds: dict[str, dict] = {}
    total = {"files": 0, "dirs": 0, "apparent": 0, "allocated": 0, "raw": 0}
    for entry in path.rglob("*"):
        st = entry.lstat()
        total["allocated"] += st.st_blocks * 512
        if entry.is_dir():
            total["dirs"] += 1
            continue
        total["files"] += 1
        total["apparent"] += st.st_size
        rel = entry.relative_to(path).parts
        if len(rel) < 2 or rel[-1] == "zarr.json":
            continue  # metadata
        k = kinds.setdefault(kind_of(rel[0]), {"files": 0, "bytes": 0, "raw": 0, "arrays": set()})
        k["files"] += 1
        k["bytes"] += st.st_size
        k["arrays"].add(rel[0])
    total["allocated"] += path.lstat().st_blocks * 512
    for name, k in kinds.items():
        for array in k["arrays"]:
            meta = json.loads((path / array / "zarr.json").read_text())
            n = int(np.prod(meta["shape"]))
            dtype = meta["data_type"]
            k["raw"] += n * ITEMSIZE.get(dtype, preflight.STRING_BYTES)
        k["arrays"] = len(k["arrays"])
        k["ratio"] = k["bytes"] / k["raw"] if k["raw"] else None
        if name in ("daily", "log_phi", "ir_share", "status", "completed", "traces", "per_patient"):
            total["raw"] += k["raw"]
    return {"total": total, "kinds": kinds}


class RssPeak:
    """Peak resident set of this process, sampled in a thread."""

    def __init__(self, interval=0.005):
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        gc.collect()
        self.before = self.proc.memory_info().rss
        self.peak = self.before
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def config(n: int, days: int, integrator: str = "rk4", block: int = 0):
    return parse_config(
        {
            "run": {
                "name": "preflight calibration",
                "n_patients": n,
                "days": days,
                "integrator": integrator,
            },
            "execution": {"block_size": block},
        }
    )


def timed_run(n: int, days: int, block: int, integrator: str, repeats: int) -> dict:
    best = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            facts = sweep.run(
                config(n, days, integrator, block), Path(tmp) / "c.zarr", workers=1, quiet=True
            )
        rate = facts["patient_days"] / facts["compute_s"]
        if best is None or rate > best["pd_per_s_per_thread"]:
            best = {
                "pd_per_s_per_thread": rate,
                "wall_s": facts["wall_s"],
                "setup_s": facts["setup_s"],
                "compute_s": facts["compute_s"],
                "tasks": facts["tasks"],
            }
    return best


def memory_run(n: int, days: int, block: int, tmp: Path) -> dict:
    """One run with tracemalloc: setup peak before the first task, each task's increase."""
    seen = {"setup_current": None, "setup_peak": None, "task_peaks": [], "tasks": []}
    original = sweep.run_task

    def traced_task(path, layout, inputs, scenario, b, *args, **kwargs):
        current, peak = tracemalloc.get_traced_memory()
        if seen["setup_peak"] is None:
            seen["setup_current"], seen["setup_peak"] = current, peak
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        out = original(path, layout, inputs, scenario, b, *args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - start
        sl = layout.block(b)
        seen["task_peaks"].append(peak)
        seen["tasks"].append(
            {
                "patients": sl.stop - sl.start,
                "days": inputs.n_days,
                "traced": sum(sl.start <= i < sl.stop for i in layout.traced_ids),
                "samples": layout.n_samples,
                "peak_bytes": peak,
            }
        )
        return out

    sweep.run_task = traced_task
    out = tmp / "m.zarr"
    try:
        gc.collect()
        with RssPeak() as rss:
            tracemalloc.start()
            t = time.perf_counter()
            sweep.run(config(n, days, block=block), out, workers=1, quiet=True)
            wall = time.perf_counter() - t
            tracemalloc.stop()
    finally:
        sweep.run_task = original
    return {
        "setup_current_bytes": seen["setup_current"],
        "setup_peak_bytes": seen["setup_peak"],
        "task_peak_bytes": max(seen["task_peaks"]) if seen["task_peaks"] else None,
        "tasks": seen["tasks"],
        "rss_before": rss.before,
        "rss_peak": rss.peak,
        "rss_increase": rss.peak - rss.before,
        "wall_s_with_tracemalloc": wall,
        "store": store_facts(out),
    }


def known_task_bytes(t: dict) -> int:
    """What preflight counts of a task besides the write temporaries and the constant: the
    kernel's outputs and traces, the cohort and its per-patient values."""
    return (
        t["patients"] * t["days"] * preflight.OUTPUT_BYTES_PER_PATIENT_DAY
        + t["patients"]
        * (preflight.COHORT_BYTES_PER_PATIENT + preflight.PATIENT_WRITE_BYTES_PER_PATIENT)
        + preflight.N_TRACE * t["traced"] * t["samples"] * 4
    )


def fit_task_memory(cases: list) -> dict:
    """Least squares over every task of every case: residual = write bytes per patient-day x
    patient-days + a constant."""
    tasks = [t for c in cases for t in c["task_memory"]]
    x = np.array([t["patients"] * t["days"] for t in tasks], dtype=float)
    y = np.array([t["residual_bytes"] for t in tasks], dtype=float)
    if len(set(x)) < 2:
        return {}
    slope, const = np.polyfit(x, y, 1)
    worst = max((yi - const) / xi for xi, yi in zip(x, y))
    return {
        "write_bytes_per_patient_day": float(slope),
        "constant_bytes": float(const),
        "largest_write_bytes_per_patient_day_over_fit_constant": float(worst),
        "tasks": len(tasks),
    }


class _Stop(Exception):
    pass


def setup_probe(n: int, days: int = 1) -> dict:
    """A run's setup alone: tracemalloc from the call of sweep.run to the start of its first
    task, where the run is stopped."""
    seen = {}
    original = sweep.run_task

    def first_task(*args, **kwargs):
        seen["current"], seen["peak"] = tracemalloc.get_traced_memory()
        raise _Stop

    sweep.run_task = first_task
    try:
        with tempfile.TemporaryDirectory() as tmp:
            gc.collect()
            tracemalloc.start()
            try:
                sweep.run(config(n, days), Path(tmp) / "s.zarr", workers=1, quiet=True)
            except _Stop:
                pass
            finally:
                tracemalloc.stop()
    finally:
        sweep.run_task = original
    return {
        "n": n,
        "days": days,
        "peak_bytes": seen.get("peak"),
        "current_bytes": seen.get("current"),
    }


def per_task_setup_bytes(k: int = 20_000) -> float:
    """The dask graph and the threaded scheduler's state per task, as sweep._run_threads
    builds them (same key names, shared arguments), for no-op tasks."""
    import dask

    cfg = config(100, 1)
    inputs = sweep.kernel_inputs(cfg)

    def noop(path, layout, inputs, s, b):
        return 0

    gc.collect()
    tracemalloc.start()
    calls = [("/tmp/x.zarr", None, inputs, 0, b) for b in range(k)]
    tasks = [dask.delayed(noop, pure=False)(*a, dask_key_name=f"task-{a[3]}-{a[4]}") for a in calls]
    dask.compute(*tasks, scheduler="threads", num_workers=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / k


def per_scenario_setup_bytes(k: int = 400) -> float:
    """A sweep's expanded scenarios (each a validated config) and their kernel settings."""
    base = {
        "run": {"n_patients": 10, "days": 1},
        "sweep": {"grid": {"behaviour.carb_count_cv": list(np.linspace(0.0, 0.5, k))}},
    }
    cfg = parse_config(base)
    gc.collect()
    tracemalloc.start()
    scenarios = expand(cfg)
    inputs = [sweep.kernel_inputs(s.config, s.seed) for s in scenarios]
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(inputs) == k
    return current / k


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cases",
        nargs="+",
        default=["2000x30", "200x365", "450x365:225", "4000x30:2000"],
        help="PATIENTSxDAYS or PATIENTSxDAYS:BLOCK_SIZE (default: automatic)",
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--setup-patients",
        type=int,
        nargs="+",
        default=[10_000, 1_000_000],
        help="runs whose setup alone is measured (stopped at the first task)",
    )
    a = ap.parse_args(argv)
    sweep.warm_jit()
    gc.collect()
    runtime_rss = psutil.Process().memory_info().rss
    cases, failed = [], []
    for case in a.cases:
        size_part, _, block_part = case.partition(":")
        n, days = (int(x) for x in size_part.split("x"))
        block_setting = int(block_part or 0)
        cfg = config(n, days, block=block_setting)
        est = preflight.estimate(cfg, 1, workers=1)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                mem = memory_run(n, days, block_setting, Path(tmp))
        except Exception as err:  # noqa: BLE001 - a case the engine cannot run: say so, go on
            print(f"{case}: the run failed: {type(err).__name__}: {err}", file=sys.stderr)
            failed.append({"case": case, "error": f"{type(err).__name__}: {err}"})
            continue
        speed = {m: timed_run(n, days, block_setting, m, a.repeats) for m in ("rk4", "midpoint")}
        st = mem["store"]["total"]
        pd = n * days
        block = cfg.block_size()
        for t in mem["tasks"]:
            t["residual_bytes"] = t["peak_bytes"] - known_task_bytes(t)
        implied_write = max(
            (t["residual_bytes"] / (t["patients"] * t["days"]) for t in mem["tasks"]), default=None
        )
        est_mid = preflight.estimate(config(n, days, "midpoint", block_setting), 1, workers=1)
        cases.append(
            {
                "n": n,
                "days": days,
                "patient_days": pd,
                "block_size": block,
                "block_size_setting": block_setting,
                "task_memory": mem["tasks"],
                "tasks": -(-n // block),
                "estimate": est.__dict__,
                "estimate_midpoint_seconds": est_mid.seconds,
                "measured": {
                    "store_bytes_on_disk": st["allocated"],
                    "store_bytes_apparent": st["apparent"],
                    "store_bytes_raw": st["raw"],
                    "files": st["files"],
                    "dirs": st["dirs"],
                    "kinds": mem["store"]["kinds"],
                    "store_bytes_on_disk_per_patient_day": st["allocated"] / pd,
                    "store_bytes_apparent_per_patient_day": st["apparent"] / pd,
                    "task_peak_bytes_tracemalloc": mem["task_peak_bytes"],
                    "task_peak_bytes_per_patient_day": (
                        mem["task_peak_bytes"] / (block * days) if mem["task_peak_bytes"] else None
                    ),
                    "implied_write_bytes_per_patient_day": implied_write,
                    "setup_peak_bytes_tracemalloc": mem["setup_peak_bytes"],
                    "setup_current_bytes_tracemalloc": mem["setup_current_bytes"],
                    "setup_peak_bytes_per_patient": (
                        mem["setup_peak_bytes"] / n if mem["setup_peak_bytes"] else None
                    ),
                    "rss_increase_bytes": mem["rss_increase"],
                    "rss_increase_per_patient_day": mem["rss_increase"] / pd,
                    "speed": speed,
                    "wall_s_rk4_1_worker": speed["rk4"]["wall_s"],
                    "wall_s_midpoint_1_worker": speed["midpoint"]["wall_s"],
                },
            }
        )
    fit = fit_task_memory(cases)
    probes = [setup_probe(n) for n in a.setup_patients]
    setup = {"probes": probes}
    if len(probes) >= 2 and all(p["peak_bytes"] for p in probes):
        lo, hi = probes[0], probes[-1]
        setup["bytes_per_patient"] = (hi["peak_bytes"] - lo["peak_bytes"]) / (hi["n"] - lo["n"])
    per_task = per_task_setup_bytes()
    per_scenario = per_scenario_setup_bytes()
    report = {
        "benchmark": "preflight",
        "engine_version": engine_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
            "cpu": cpu_identity(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
            "memory_total": psutil.virtual_memory().total,
        },
        "runtime_rss_bytes": runtime_rss,
        "task_memory_fit": fit,
        "setup": setup,
        "setup_bytes_per_task": per_task,
        "setup_bytes_per_scenario": per_scenario,
        "cases": cases,
        "failed_cases": failed,
    }
    print(table(report))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = RESULTS / f"preflight-{stamp}.json"
    target.write_text(json.dumps(report, indent=2, default=str))
    print(f"-> {target}")
    return report


def table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu'].get('model name', '?')}, {m['cpus']} CPUs, load average "
        f"{m['load_average'][0]:.2f} at the end",
        "",
    ]
    for c in report["cases"]:
        e, s = c["estimate"], c["measured"]
        rows = [
            ("store on disk (du)", e["store_bytes"], s["store_bytes_on_disk"], preflight.size),
            (
                "store raw (uncompressed)",
                e["store_bytes_raw"],
                s["store_bytes_raw"],
                preflight.size,
            ),
            ("files", e["files"], s["files"], lambda v: f"{v:,}"),
            (
                "peak per worker (one task)",
                e["peak_bytes_per_worker"],
                s["task_peak_bytes_tracemalloc"],
                preflight.size,
            ),
            (
                "setup (before the first task)",
                e["setup_bytes"],
                s["setup_peak_bytes_tracemalloc"],
                preflight.size,
            ),
            (
                "time rk4, 1 worker, s",
                e["seconds"],
                s["wall_s_rk4_1_worker"],
                lambda v: f"{v:,.1f}",
            ),
            (
                "time midpoint, 1 worker, s",
                c["estimate_midpoint_seconds"],
                s["wall_s_midpoint_1_worker"],
                lambda v: f"{v:,.1f}",
            ),
        ]
        lines += [
            f"{c['n']:,} patients x {c['days']} days ({c['patient_days']:,} patient-days, "
            f"{c['tasks']} tasks of {c['block_size']})",
            "",
            "| quantity | estimated | measured | estimated / measured |",
            "|---|---|---|---|",
        ]
        for label, est, meas, fmt in rows:
            ratio = f"{est / meas:.2f}" if est is not None and meas else "-"
            lines.append(
                f"| {label} | {fmt(est) if est is not None else '-'} | "
                f"{fmt(meas) if meas is not None else '-'} | {ratio} |"
            )
        lines.append("")
        lines.append("| per kind | files | bytes | raw | compressed / raw |")
        lines.append("|---|---|---|---|---|")
        for kind, k in sorted(s["kinds"].items()):
            ratio = f"{k['ratio']:.3f}" if k["ratio"] is not None else "-"
            lines.append(
                f"| {kind} ({k['arrays']} arrays) | {k['files']:,} | {k['bytes']:,} | "
                f"{k['raw']:,} | {ratio} |"
            )
        lines.append("")
        lines.append(
            f"on disk {s['store_bytes_on_disk_per_patient_day']:.1f} B/patient-day (apparent "
            f"{s['store_bytes_apparent_per_patient_day']:.1f}); task peak "
            f"{s['task_peak_bytes_per_patient_day']:.0f} B/patient-day, implied write "
            f"temporaries {s['implied_write_bytes_per_patient_day']:.0f} B/patient-day; setup "
            f"{s['setup_peak_bytes_per_patient']:.0f} B/patient (code as measured); peak RSS "
            f"+{preflight.size(s['rss_increase_bytes'])}; rk4 "
            f"{s['speed']['rk4']['pd_per_s_per_thread']:,.0f} and midpoint "
            f"{s['speed']['midpoint']['pd_per_s_per_thread']:,.0f} patient-days/s per thread"
        )
        lines.append("")
    fit = report.get("task_memory_fit") or {}
    if fit:
        lines.append(
            f"task memory beyond outputs, traces and cohort, fitted over {fit['tasks']} "
            f"tasks: {fit['write_bytes_per_patient_day']:.0f} B/patient-day + "
            f"{preflight.size(fit['constant_bytes'])} (preflight: "
            f"{preflight.WRITE_BYTES_PER_PATIENT_DAY} B/patient-day + "
            f"{preflight.size(preflight.TASK_BYTES)})"
        )
    setup = report.get("setup") or {}
    for p in setup.get("probes", []):
        if p["peak_bytes"]:
            lines.append(
                f"setup of {p['n']:,} patients x {p['days']} day (stopped at the first "
                f"task): peak {preflight.size(p['peak_bytes'])}, held "
                f"{preflight.size(p['current_bytes'])}"
            )
    if "bytes_per_patient" in setup:
        lines.append(
            f"setup per patient (between those): {setup['bytes_per_patient']:.1f} B "
            f"(preflight: {preflight.SETUP_BYTES_PER_PATIENT} + "
            f"{preflight.SETUP_BYTES_PER_SCENARIO_PATIENT} per scenario)"
        )
    lines.append(
        f"setup per task (dask graph and scheduler state): "
        f"{report['setup_bytes_per_task']:,.0f} B; per scenario (config and kernel "
        f"settings): {report['setup_bytes_per_scenario']:,.0f} B; runtime (interpreter, "
        f"libraries, kernels loaded): {preflight.size(report['runtime_rss_bytes'])}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
