"""Orchestration: scenarios x blocks of patients as tasks, each writing its own region of the
store; local threads, an existing dask cluster, or SLURM; resume; progress; a summary.
No per-patient arithmetic here.
"""

import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from ..population.cohort import Cohort, sample_cohort
from ..runtime import bind_fast_libm, engine_identity
from ..sim.bundles import PatientRows, RunSettings
from ..sim.cpu import allocate_outputs, simulate_block
from ..store import results
from . import plausibility
from .config import ConfigError, RunConfig, parse_config
from .scenarios import Scenario, cohort_varies, expand
from .translate import KernelInputs, kernel_inputs  # noqa: F401 - the public entry, re-exported


def cohort_of(inputs: KernelInputs, ids) -> Cohort:
    return sample_cohort(int(inputs.seed), ids, inputs.group_weights, inputs.population)


def run_settings(inputs: KernelInputs) -> RunSettings:
    """The kernel's RunSettings bundle from the run's translated inputs."""
    return RunSettings(
        np.uint64(inputs.seed),
        int(inputs.n_days),
        inputs.meal_slots,
        inputs.therapy,
        inputs.behaviour,
        inputs.switches,
        inputs.sensor_params,
        int(inputs.cgm_interval_min),
        int(inputs.trace_interval_min),
    )


def simulate(inputs: KernelInputs, cohort: Cohort, trace_slot: np.ndarray, n_traced: int):
    """Run the kernel for `cohort`; returns (daily, log_phi, status, traces) arrays."""
    bind_fast_libm()
    outs = allocate_outputs(len(cohort), inputs.n_days, n_traced, inputs.trace_interval_min)
    if inputs.backend == "cuda":
        from ..sim.cuda_driver import simulate_block as step
    else:
        step = simulate_block
    step(
        PatientRows(cohort.params, cohort.x0, cohort.traits, cohort.patient_id, trace_slot),
        run_settings(inputs),
        outs,
    )
    return outs


def run_task(
    path: str, layout: results.Layout, inputs: KernelInputs, scenario: int, block: int
) -> int:
    """Simulate one block of patients of one scenario and write its region. Returns the
    patient-days computed. Pure in its inputs: rerunning it writes the same bytes."""
    sl = layout.block(block)
    ids = np.arange(sl.start, sl.stop, dtype=np.int64)
    cohort = cohort_of(inputs, ids)
    traced = np.array(layout.traced_ids, dtype=np.int64)
    trace_rows = np.flatnonzero((traced >= sl.start) & (traced < sl.stop))
    trace_slot = np.full(ids.size, -1, dtype=np.int64)
    trace_slot[traced[trace_rows] - sl.start] = np.arange(trace_rows.size)
    daily, log_phi, status, traces = simulate(inputs, cohort, trace_slot, trace_rows.size)
    patients = results.patient_values(cohort) if layout.writes_patients(scenario) else None
    results.write_block(
        Path(path), layout, scenario, block, daily, log_phi, status, traces, trace_rows, patients
    )
    return ids.size * inputs.n_days


def warm_jit() -> bool:
    """Compile (or load from cache) the kernels once per worker, outside the timed tasks."""
    cfg = parse_config({"run": {"n_patients": 1, "days": 1}})
    inputs = kernel_inputs(cfg)
    simulate(inputs, cohort_of(inputs, np.arange(1)), np.zeros(1, dtype=np.int64), 1)
    return True


class Progress:
    """Tasks done, patient-days per second and time left, on a stream (stderr)."""

    def __init__(self, total_tasks: int, patient_days_per_task: float, stream=None):
        self.total = total_tasks
        self.pd_per_task = patient_days_per_task
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self.last_print = 0.0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def advance(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.done == self.total or now - self.last_print > (0.2 if self.tty else 5.0):
            self.last_print = now
            end = "\r" if self.tty and self.done < self.total else "\n"
            self.stream.write(self.line(now) + end)
            self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = now - self.start
        rate = self.done * self.pd_per_task / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) * elapsed / self.done if self.done else float("nan")
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} tasks  "
            f"{rate:,.0f} patient-days/s  elapsed {elapsed:,.1f} s  left {left:,.1f} s"
        )


def _run_threads(calls, workers: int, progress: Progress) -> int:
    """dask's threaded scheduler on this machine (the kernels release the GIL)."""
    import dask
    from dask.callbacks import Callback

    class _Tick(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(key, str) and key.startswith("task-"):
                progress.advance()

    tasks = [
        dask.delayed(run_task, pure=False)(*args, dask_key_name=f"task-{args[3]}-{args[4]}")
        for args in calls
    ]
    with _Tick():
        return int(sum(dask.compute(*tasks, scheduler="threads", num_workers=workers)))


def _run_distributed(calls, connection, progress: Progress, say) -> int:
    """Tasks as futures on a distributed cluster; progress as they complete. A task lost with
    its worker is recomputed elsewhere by the scheduler; results do not change."""
    from distributed import as_completed

    client = connection.client
    if connection.dashboard_link:
        say(f"dask dashboard: {connection.dashboard_link}")
    client.run(warm_jit)
    futures = [
        client.submit(run_task, *args, key=f"task-{args[3]}-{args[4]}", pure=False, retries=2)
        for args in calls
    ]
    total = 0
    for fut in as_completed(futures, loop=client.loop):
        total += fut.result()
        progress.advance()
        fut.release()
    return total


def check_resumable(out: Path, cfg: RunConfig, layout: results.Layout) -> None:
    """The store at `out` was made by this config (execution and cluster may differ)."""
    import zarr

    try:
        group = zarr.open_group(str(out), mode="r", use_consolidated=False)
        attrs = dict(group.attrs)
    except Exception as err:  # noqa: BLE001 - any unreadable store means the same to the user
        raise ConfigError(
            f"--resume: {str(out)!r} is not a readable t1dmc store ({err}); "
            "start again with --overwrite"
        ) from None
    if "config_toml" not in attrs:
        raise ConfigError(
            f"--resume: {str(out)!r} has no config_toml: not a t1dmc store, or "
            "its creation was interrupted; start again with --overwrite"
        )
    present = set(attrs.get("t1dmc_nodes") or results.TASK_WRITTEN_VARIABLES)
    needed = set(results.TASK_WRITTEN_VARIABLES) | {v[0] for v in results.patient_variables()}
    unreadable = []
    for name in sorted(needed & present):
        try:
            group[name]
        except Exception:  # noqa: BLE001 - missing or damaged metadata alike
            unreadable.append(name)
    missing = sorted(set(results.TASK_WRITTEN_VARIABLES) - present) + unreadable
    if missing:
        raise ConfigError(
            f"--resume: {str(out)!r} lacks {', '.join(missing)} (missing or "
            "damaged metadata): its creation was interrupted or it was damaged; "
            "start again with --overwrite"
        )
    try:
        stored = parse_config(tomllib.loads(attrs["config_toml"]))
    except (ConfigError, tomllib.TOMLDecodeError, TypeError) as err:
        raise ConfigError(
            f"--resume: {str(out)!r} holds a config this engine cannot read "
            f"({str(err).splitlines()[0]}); start again with --overwrite"
        ) from None
    ignore = {"execution", "cluster"}
    a = stored.model_dump(exclude=ignore)
    b = cfg.model_dump(exclude=ignore)
    if a != b:
        diff = sorted(k for k in a if a[k] != b[k])
        raise ConfigError(
            f"--resume: the config differs from the one that made {str(out)!r} "
            f"(sections: {', '.join(diff)}); resume with the same config"
        )
    if int(attrs.get("block_size", -1)) != layout.block_size:
        raise ConfigError(
            f"--resume: the store's block size is {attrs.get('block_size')}, "
            f"this run's is {layout.block_size}; set execution.block_size = "
            f"{attrs.get('block_size')}"
        )
    if attrs.get("engine_identity") != engine_identity():
        made_by = attrs.get("engine_identity") or f"{attrs.get('engine_version')} (no identity)"
        raise ConfigError(
            f"--resume: the store was made by engine {made_by}, this is "
            f"{engine_identity()}; results would not be identical: finish the "
            "run with that engine, or start again with --overwrite"
        )
    if int(attrs.get("cohort_by_scenario", -1)) != int(layout.cohort_by_scenario):
        raise ConfigError(
            f"--resume: {str(out)!r} was written with another store layout "
            "(an older engine); start again with --overwrite"
        )


def _prepare_store(
    store: Path,
    resuming: bool,
    cfg: RunConfig,
    layout: results.Layout,
    scenarios: list,
    repair: bool,
    say,
) -> np.ndarray:
    """Create the store, or check the one being resumed (and plan its repair); returns the
    (scenario, block) tasks already complete."""
    from ..store.integrity import check_store_readable, prepare_repair

    if not resuming:
        results.create_store(store, cfg, layout, scenarios)
        return np.zeros((layout.n_scenarios, layout.n_blocks), dtype=bool)
    check_resumable(store, cfg, layout)
    if repair:
        # marks the damaged tasks incomplete and removes their damaged shards, so `completed`
        # reads and the tasks rewrite them whole
        damaged = prepare_repair(store, layout)
        say(
            f"repair: {int(damaged.sum())} task(s) with damaged or missing chunks will be "
            "recomputed"
        )
    else:
        # missing chunks cost a listing to find; damage inside chunks costs reading them all,
        # which is `t1dmc verify` (and --repair)
        check_store_readable(store)
    return results.completed_blocks(store, layout)


def run(
    cfg: RunConfig,
    out: Path,
    overwrite: bool = False,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    repair: bool = False,
    lock: bool = True,
    connect_timeout_s: float = 30.0,
) -> dict:
    """Run `cfg` (every scenario of its sweep) into the zarr store `out`.

    Everything that can refuse the run does so before anything is written: the config and its
    scenarios, the pre-flight memory check, the scheduler connection, the output path (only
    the engine's own store is replaced, and only with `overwrite`). A replaced store is built
    beside the old one and swapped in at the end; the run holds the store's lock throughout.
    `repair` (with `resume`) recomputes the tasks whose chunks fail their checksums."""
    from ..store.integrity import reading_store
    from ..store.storeguard import StoreClaim
    from . import preflight

    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    out = Path(os.path.abspath(out))
    t0 = time.perf_counter()
    if cfg.execution.backend == "cuda":
        from ..sim.cuda_driver import CudaUnavailable, require

        try:
            say(f"backend cuda: {require()}")
        except CudaUnavailable as err:
            raise ConfigError(f"execution.backend = 'cuda': {err}") from None
    scenarios: list[Scenario] = expand(cfg)  # every scenario validated before anything is written
    layout = results.Layout.from_config(cfg, len(scenarios), cohort_varies(cfg))
    inputs = [kernel_inputs(s.config, s.seed) for s in scenarios]
    n_workers = workers or cfg.execution.workers or os.cpu_count() or 1
    if cfg.execution.backend == "cuda":
        # one GPU is the parallelism: two threads, so one task's results are transposed and
        # written while the next task's kernel runs (cuda_backend lets one at a time on it)
        n_workers = min(n_workers, 2)
    distributed = scheduler is not None or cfg.cluster.kind == "slurm"
    estimate = preflight.estimate(cfg, len(scenarios), 0 if distributed else n_workers)
    preflight.check_fits(estimate)
    say(preflight.format_estimate(estimate))
    if not resume:
        preflight.check_disk(estimate, out)  # before any folder is made: exit 2 writes nothing
    connection = None
    if distributed:
        from .cluster import connect

        connection = connect(cfg, scheduler, timeout_s=connect_timeout_s, say=say)
    try:
        with (
            StoreClaim.open(out, overwrite=overwrite, resume=resume, lock=lock) as claim,
            reading_store(claim.write_path),
        ):
            store = claim.write_path
            done = _prepare_store(store, claim.resuming, cfg, layout, scenarios, repair, say)
            calls = [
                (str(store), layout, inputs[s], s, b)
                for s in range(layout.n_scenarios)
                for b in range(layout.n_blocks)
                if not done[s, b]
            ]
            skipped = int(done.sum())
            if skipped:
                say(f"resuming: {skipped} of {done.size} tasks already complete")
            pd_per_task = cfg.run.n_patients * cfg.run.days / layout.n_blocks
            progress = Progress(
                len(calls), pd_per_task, stream=open(os.devnull, "w") if quiet else None
            )
            t1 = time.perf_counter()
            scheduler_address = None
            if connection is not None:
                patient_days = _run_distributed(calls, connection, progress, say)
                n_workers, scheduler_address = 0, connection.scheduler_address
            else:
                patient_days = _run_threads(calls, n_workers, progress)
            t2 = time.perf_counter()
            results.finalize_store(store)
            claim.commit()
    finally:
        if connection is not None:
            connection.close()
    t3 = time.perf_counter()
    return {
        "patient_days": int(patient_days),
        "tasks": len(calls),
        "tasks_skipped": skipped,
        "workers": n_workers,
        "scheduler": scheduler_address,
        "setup_s": t1 - t0,
        "compute_s": t2 - t1,
        "finalize_s": t3 - t2,
        "wall_s": t3 - t0,
        "patient_days_per_s": patient_days / (t3 - t0) if t3 > t0 else 0.0,
    }


def summary_table(ds) -> str:
    """Population median and IQR over patients of their per-day means, per scenario."""
    rows = [
        ("TIR 70-180", "tir", "%"),
        ("TBR <70", "tbr70", "%"),
        ("TBR <54", "tbr54", "%"),
        ("mean glucose", "glucose_mean", "mg/dL"),
        ("TDD", "tdd", "U/day"),
        ("TDD per kg", "tdd_per_kg", "U/kg/day"),
        ("HbA1c", "hba1c", "%"),
        ("weight", "weight_kg", "kg"),
        ("s_p", "si_peripheral", "1 = lean healthy"),
    ]
    lines = []
    for s in range(ds.sizes["scenario"]):
        sub = ds.isel(scenario=s)
        ok = int((sub["status"].max("day") == 0).sum())
        lines.append(
            f"scenario {str(sub['scenario_name'].values)}: {sub.sizes['patient']} patients"
            f" x {sub.sizes['day']} days ({ok} kept their glucose in range; the "
            "others stopped, status 1)"
        )
        lines.append(f"  {'metric':<14}{'median':>10}{'IQR':>22}  units")
        for label, var, units in rows:
            per_patient = sub[var].mean("day").values
            q1, med, q3 = np.nanpercentile(per_patient, [25, 50, 75])
            lines.append(f"  {label:<14}{med:>10.2f}{f'{q1:.2f} - {q3:.2f}':>22}  {units}")
        lines.append(plausibility.summary_line(sub))
    return "\n".join(lines)
