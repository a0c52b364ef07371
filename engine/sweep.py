"""Orchestration: scenarios x blocks of patients as dask tasks, each writing its own region of
the store; progress while it runs; a summary at the end. No per-patient arithmetic here.
"""
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
from dask.callbacks import Callback

from . import results
from .cohort import sample_cohort
from .config import RunConfig
from .kernel import allocate_outputs, simulate_block
from .reference import sensor_models
from .sensor import N_SENSOR, S_DELTA, S_GAMMA, S_KIND, S_LAMBDA, S_MAX, S_MIN, S_PACF, S_XI
from .sensor import SENSOR_JOHNSON_SU, SENSOR_NONE


@dataclass(frozen=True)
class KernelInputs:
    """Everything a task needs besides the patients, as plain arrays (picklable, small)."""
    seed: np.uint64
    n_days: int
    meal_slots: np.ndarray
    target_bg: float
    sensor_params: np.ndarray
    cgm_interval_min: int
    trace_interval_min: int
    group_weights: dict
    jitter_cv: float


def kernel_inputs(cfg: RunConfig) -> KernelInputs:
    meals = cfg.meals
    slots = np.array([[m.time_h * 60.0 for m in meals], [m.time_sd_min for m in meals],
                      [m.carbs_g for m in meals], [m.carbs_cv for m in meals],
                      [m.probability for m in meals]], dtype=np.float64).reshape(5, len(meals))
    sp = np.zeros(N_SENSOR)
    if cfg.sensor.kind == "johnson_su":
        row = sensor_models().loc[cfg.sensor.model]
        sp[S_KIND] = SENSOR_JOHNSON_SU
        sp[S_PACF], sp[S_GAMMA], sp[S_LAMBDA] = row["PACF"], row["gamma"], row["lambda"]
        sp[S_DELTA], sp[S_XI], sp[S_MIN], sp[S_MAX] = row["delta"], row["xi"], row["min"], row["max"]
    else:
        sp[S_KIND] = SENSOR_NONE
    return KernelInputs(np.uint64(cfg.run.seed), cfg.run.days, slots, cfg.therapy.target_mg_dl,
                        sp, cfg.sensor.interval_min, cfg.output.trace_interval_min,
                        dict(cfg.cohort.groups), cfg.cohort.jitter_cv)


def run_task(path: Path, layout: results.Layout, inputs: KernelInputs, scenario: int,
             block: int) -> int:
    """Simulate one block of patients of one scenario and write its region. Returns the
    patient-days computed."""
    sl = layout.block(block)
    ids = np.arange(sl.start, sl.stop, dtype=np.int64)
    cohort = sample_cohort(int(inputs.seed), ids, inputs.group_weights, inputs.jitter_cv)
    traced = np.array(layout.traced_ids, dtype=np.int64)
    trace_rows = np.flatnonzero((traced >= sl.start) & (traced < sl.stop))
    trace_slot = np.full(ids.size, -1, dtype=np.int64)
    trace_slot[traced[trace_rows] - sl.start] = np.arange(trace_rows.size)
    daily, status, traces = allocate_outputs(ids.size, inputs.n_days, trace_rows.size,
                                             inputs.trace_interval_min)
    simulate_block(cohort.params, cohort.x0, cohort.patient_id, inputs.seed, inputs.n_days,
                   inputs.meal_slots, inputs.target_bg, inputs.sensor_params,
                   inputs.cgm_interval_min, trace_slot, inputs.trace_interval_min,
                   daily, status, traces)
    results.write_block(path, layout, scenario, block, daily, status, traces, trace_rows)
    return ids.size * inputs.n_days


class Progress(Callback):
    """Tasks done, patient-days per second and time left, on stderr."""

    def __init__(self, total_tasks: int, patient_days_per_task: float, stream=sys.stderr):
        super().__init__()
        self.total = total_tasks
        self.pd_per_task = patient_days_per_task
        self.stream = stream
        self.done = 0
        self.start = time.perf_counter()
        self.last_print = 0.0
        self.tty = stream.isatty()

    def _posttask(self, key, result, dsk, state, worker_id):
        if not (isinstance(key, tuple) and str(key[0]).startswith("task-")):
            return
        self.done += 1
        now = time.perf_counter()
        if self.done == self.total or now - self.last_print > (0.2 if self.tty else 5.0):
            self.last_print = now
            self.stream.write(self.line(now) + ("\r" if self.tty and self.done < self.total
                                                else "\n"))
            self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = now - self.start
        rate = self.done * self.pd_per_task / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) * elapsed / self.done if self.done else float("nan")
        width = 30
        filled = int(width * self.done / self.total)
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} tasks  "
                f"{rate:,.0f} patient-days/s  elapsed {elapsed:,.1f} s  left {left:,.1f} s")


def run(cfg: RunConfig, out: Path, overwrite: bool = False, workers: int | None = None,
        quiet: bool = False) -> dict:
    """Run `cfg` into the zarr store `out`. Returns timing facts."""
    out = Path(out)
    results.refuse_existing(out, overwrite)
    layout = results.Layout.from_config(cfg)
    inputs = kernel_inputs(cfg)
    t0 = time.perf_counter()
    cohort = sample_cohort(cfg.run.seed, np.arange(cfg.run.n_patients), inputs.group_weights,
                           inputs.jitter_cv)
    if out.exists():
        results.remove_store(out)
    results.create_store(out, cfg, layout, cohort, ["baseline"])
    tasks = [dask.delayed(run_task, pure=False)(out, layout, inputs, s, b,
                                                dask_key_name=f"task-{s}-{b}")
             for s in range(layout.n_scenarios) for b in range(layout.n_blocks)]
    n_workers = workers or cfg.execution.workers or os.cpu_count() or 1
    progress = Progress(len(tasks), cfg.run.n_patients * cfg.run.days * layout.n_scenarios
                        / len(tasks), stream=open(os.devnull, "w") if quiet else sys.stderr)
    t1 = time.perf_counter()
    with progress:
        patient_days = sum(dask.compute(*tasks, scheduler="threads", num_workers=n_workers))
    t2 = time.perf_counter()
    results.finalize_store(out)
    t3 = time.perf_counter()
    return {"patient_days": int(patient_days), "tasks": len(tasks), "workers": n_workers,
            "setup_s": t1 - t0, "compute_s": t2 - t1, "finalize_s": t3 - t2,
            "wall_s": t3 - t0, "patient_days_per_s": patient_days / (t3 - t0)}


def summary_table(ds) -> str:
    """Population median and IQR over patients of their per-day means."""
    rows = [("TIR 70-180", "tir", "%"), ("TBR <70", "tbr70", "%"), ("TBR <54", "tbr54", "%"),
            ("mean glucose", "glucose_mean", "mg/dL"), ("TDD", "tdd", "U/day"),
            ("TDD per kg", "tdd_per_kg", "U/kg/day")]
    lines = []
    for s in range(ds.sizes["scenario"]):
        sub = ds.isel(scenario=s)
        ok = int((sub["status"].max("day") == 0).sum())
        lines.append(f"scenario {str(sub['scenario_name'].values)}: {sub.sizes['patient']} patients"
                     f" x {sub.sizes['day']} days ({ok} without integration failure)")
        lines.append(f"  {'metric':<14}{'median':>10}{'IQR':>22}  units")
        for label, var, units in rows:
            per_patient = sub[var].mean("day").values
            q1, med, q3 = np.nanpercentile(per_patient, [25, 50, 75])
            lines.append(f"  {label:<14}{med:>10.2f}{f'{q1:.2f} - {q3:.2f}':>22}  {units}")
    return "\n".join(lines)
