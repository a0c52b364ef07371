"""The CUDA backend against the CPU backend on small populations, and its throughput.

    python scripts/check_cuda.py [--patients 5] [--days 2] [--chunk 3] [--throughput N DAYS]
                                  [--cpu-patients 4000] [--cases A,B] [--progress FILE]
                                  [--therapies real_world,aid_pid] [--budget-s 120]
                                  [--warm cpu|gpu]

On a GPU this is the agreement check of the real device; with NUMBA_ENABLE_CUDASIM=1 it runs
numba's CUDA simulator (the kernel in Python, the model functions compiled for the CPU), which
the test suite uses where there is no GPU. Cases: a noisy sensor with one traced patient,
streamed in chunks smaller than the population; a tenfold overdose, untreated, where patients
leave the integrable range and stop (status 1, NaN days); the midpoint integrator; the
built-in controllers and a plug-in. Prints one JSON object: per case the largest relative
difference of the daily aggregates and the log factors, the patient-days that differ beyond
1e-9 relative (a life that took the other branch at a threshold: expected now and then on
a GPU; not under the simulator, which differs from the CPU lanes at most in exp's last
bit), the difference of
population medians, whether status and traces match, and with --throughput the patient-days/s
of both backends on the same machine: first at a tenth of N, then (--therapies) the GPU's
throughput per therapy preset at the tenth, then at N where the tenth's whole call, scaled,
projects within --budget-s. --progress appends each case's result to FILE as one JSON line
the moment it is known, so a run stopped at a device's time limit still says what it
measured. --warm only compiles the cases' kernels for one backend into NUMBA_CACHE_DIR
(processes side by side).
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "examples"))
from engine.batch import sweep  # noqa: E402
from engine.batch.config import parse_config  # noqa: E402
from engine.model.glycaemia import DAILY_NAMES  # noqa: E402
from engine.sim import cpu as kernel  # noqa: E402
from engine.sim import cuda_driver as cuda_backend  # noqa: E402
from engine.sim.bundles import PatientRows  # noqa: E402

GROUPS = {"adult": 1.0, "adolescent": 1.0, "child": 1.0}
CASES = {
    "noisy_sensor_traced": {"sensor": {"kind": "johnson_su"}},
    # no rescue, no counter-regulation, help only after 4 h: these patients stop
    "overdose_untreated": {
        "therapy": {"kind": "conventional", "dose_scale": 10.0},
        "meals": [{"time_h": 8.0, "carbs_g": 1.0}],
        "behaviour": {"hypo_treatment_g": 0.0, "assist_delay_min": 240},
        "mechanisms": {"hypo_counterregulation": False},
    },
    "midpoint_integrator": {"run": {"integrator": "midpoint"}},
    # the built-in controllers, with the devices' events made frequent enough to happen
    "aid_pid_device_events": {
        "sensor": {"kind": "johnson_su"},
        "therapy": {
            "kind": "aid_pid",
            "sensor_gaps_per_day": 1.0,
            "set_failure_share": 1.0,
            "sensor_session_days": 1,
            "exercise_mode_share": 1.0,
        },
    },
    "aid_oref": {"sensor": {"kind": "johnson_su"}, "therapy": {"kind": "aid_oref"}},
    # a plug-in controller (docs/examples/bang_bang.py), bound into the kernel
    "plugin_bang_bang": {
        "sensor": {"kind": "johnson_su"},
        "therapy": {"kind": "sap", "controller": "bang_bang:pd_controller"},
    },
}


def _args(extra: dict, n: int, days: int, n_traced: int = 0):
    """A case's kernel inputs and block arguments: `extra` over the three age groups, n
    patients x days, seed 11, patients 1..n_traced traced."""
    raw = {"cohort": {"groups": GROUPS}, **extra}
    raw["run"] = {**extra.get("run", {}), "n_patients": n, "days": days, "seed": 11}
    ki = sweep.kernel_inputs(parse_config(raw))
    c = sweep.cohort_of(ki, np.arange(n))
    slot = np.full(n, -1, dtype=np.int64)
    slot[1 : 1 + n_traced] = np.arange(n_traced)
    return ki, (PatientRows(c.params, c.x0, c.traits, c.patient_id, slot), sweep.run_settings(ki))


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|) elementwise; 0 where both are 0 or both NaN, inf where only one
    is NaN (a patient stopped on one backend only)."""
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1.0), 0.0)
    rel = np.where(nan_a & nan_b, 0.0, rel)
    return np.where(nan_a ^ nan_b, np.inf, rel)


def _median_difference(a: np.ndarray, b: np.ndarray) -> float:
    """|median(a) - median(b)| over finite values; 0 when neither has any (all stopped)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 and b.size == 0:
        return 0.0
    if a.size == 0 or b.size == 0:
        return float("inf")
    return float(abs(np.median(a) - np.median(b)))


def compare(name: str, extra: dict, n: int, days: int, chunk: int) -> dict:
    n_traced = 1
    ki, args = _args(extra, n, days, n_traced)
    t0 = time.perf_counter()
    cpu = kernel.allocate_outputs(n, days, n_traced, ki.trace_interval_min)
    kernel.simulate_block(*args, cpu)
    t1 = time.perf_counter()
    gpu = kernel.allocate_outputs(n, days, n_traced, ki.trace_interval_min)
    cuda_backend.simulate_block(*args, gpu, chunk=chunk)
    t2 = time.perf_counter()
    rel_daily = _relative(cpu[0], gpu[0])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: stopped patients
        per_patient_mean = {
            v: (
                np.nanmean(cpu[0][DAILY_NAMES.index(v)], axis=1),
                np.nanmean(gpu[0][DAILY_NAMES.index(v)], axis=1),
            )
            for v in ("glucose_mean", "tir", "tdd")
        }
    return {
        "case": name,
        "patients": n,
        "days": days,
        "chunk": chunk,
        "stopped_patient_days": int((cpu[2] != 0).sum()),
        "daily_max_rel_diff": float(rel_daily.max()),
        "log_phi_max_rel_diff": float(_relative(cpu[1], gpu[1]).max()),
        # patient-days where any daily variable differs beyond 1e-9 relative: the lives
        # that took another branch at a threshold
        "patient_days_differing": int((rel_daily > 1e-9).any(axis=0).sum()),
        "median_abs_diff": {v: _median_difference(a, b) for v, (a, b) in per_patient_mean.items()},
        "status_equal": bool(np.array_equal(cpu[2], gpu[2])),
        # traced patients are rerun on the CPU by the GPU backend: equal by construction,
        # checked so that their rows are put back in the right places
        "traces_equal": bool(np.array_equal(cpu[3], gpu[3], equal_nan=True)),
        # wall seconds of each backend, compiling included where the case is the first to
        # need a kernel
        "cpu_s": round(t1 - t0, 2),
        "gpu_s": round(t2 - t1, 2),
    }


def gpu_throughput(n: int, days: int, therapy: str | None = None, prepared=None) -> float:
    """Patient-days/s of the GPU kernel on n patients, host-device copies included (the
    cohort drawn before the clock starts)."""
    ki, args = prepared or _args({"therapy": {"kind": therapy}} if therapy else {}, n, days)
    out = kernel.allocate_outputs(n, days, 0, ki.trace_interval_min)
    t = time.perf_counter()
    cuda_backend.simulate_block(*args, out)
    return n * days / (time.perf_counter() - t)


def warm(name: str, extra: dict, backend: str) -> dict:
    """One patient-day of a case on one backend: its kernel compiled into NUMBA_CACHE_DIR, so
    that processes started at once compile the CPU and GPU kernels side by side (a device's
    time is short) and the checks after them load both."""
    ki, args = _args(extra, 1, 1)
    out = kernel.allocate_outputs(1, 1, 0, ki.trace_interval_min)
    t = time.perf_counter()
    (kernel.simulate_block if backend == "cpu" else cuda_backend.simulate_block)(*args, out)
    return {"warm": name, "backend": backend, "seconds": round(time.perf_counter() - t, 1)}


def throughput(n: int, days: int, cpu_n: int) -> dict:
    """GPU kernel on n patients (host-device copies included) and the CPU kernel on cpu_n of
    them, split over all this machine's cores in threads (the CPU kernel releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    ki, args = _args({}, n, days)
    gpu = gpu_throughput(n, days, prepared=(ki, args))
    threads = os.cpu_count() or 1
    parts = np.array_split(np.arange(min(cpu_n, n)), threads)

    def run_part(rows):
        patients, run = args
        kernel.simulate_block(
            PatientRows(*(a[rows] for a in patients)),
            run,
            kernel.allocate_outputs(rows.size, days, 0, ki.trace_interval_min),
        )

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run_part, parts))
    cpu = min(cpu_n, n) * days / (time.perf_counter() - t)
    return {
        "patients_gpu": n,
        "patients_cpu": min(cpu_n, n),
        "days": days,
        "cpu_threads": threads,
        "gpu_patient_days_per_s": gpu,
        "cpu_patient_days_per_s": cpu,
        "gpu_over_cpu": gpu / cpu,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=5)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=3)
    ap.add_argument("--throughput", type=int, nargs=2, metavar=("N", "DAYS"), default=None)
    ap.add_argument(
        "--cpu-patients",
        type=int,
        default=4000,
        help="patients for the CPU side of --throughput (all cores)",
    )
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--progress", type=Path, default=None, help="append each result here")
    ap.add_argument("--therapies", default="", help="GPU throughput per therapy preset")
    ap.add_argument("--budget-s", type=float, default=120.0, help="for the largest GPU size")
    ap.add_argument(
        "--warm", choices=("cpu", "gpu"), default=None, help="only compile the cases' kernels"
    )
    a = ap.parse_args()
    unknown = sorted(set(a.cases.split(",")) - set(CASES))
    if unknown:
        ap.error(f"--cases: unknown {unknown}; known: {sorted(CASES)}")

    def note(entry: dict) -> dict:
        if a.progress:
            with a.progress.open("a") as f:
                f.write(json.dumps(entry) + "\n")
        return entry

    if a.warm:
        for k in a.cases.split(","):
            print(json.dumps(note(warm(k, CASES[k], a.warm))))
        return 0
    report = note({"device": cuda_backend.require(), "simulated": cuda_backend.simulated()})
    report["cases"] = [
        note(compare(k, CASES[k], a.patients, a.days, a.chunk)) for k in a.cases.split(",")
    ]
    if a.throughput:
        n, days = a.throughput
        tenth_n = max(n // 10, 1)
        throughput(64, 1, 64)  # the first launches compile; time the next
        t0 = time.perf_counter()
        report["throughput"] = note({"throughput": throughput(tenth_n, days, a.cpu_patients)})[
            "throughput"
        ]
        # the whole call, cohort and host arrays included, scaled to n
        projected = (time.perf_counter() - t0) * n / tenth_n
        # per therapy before the full size, which is the likeliest to meet a time limit
        report["per_therapy"] = {
            t: note({"therapy": t, "gpu_patient_days_per_s": gpu_throughput(tenth_n, days, t)})[
                "gpu_patient_days_per_s"
            ]
            for t in filter(None, a.therapies.split(","))
        }
        if tenth_n < n and projected < a.budget_s:
            report["throughput"] = note({"throughput": throughput(n, days, a.cpu_patients)})[
                "throughput"
            ]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
