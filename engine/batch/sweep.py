"""Orchestration: scenarios x blocks of patients as tasks, each writing its own region of the
store; local threads, an existing dask cluster, or SLURM; resume; progress; a summary.
No per-patient arithmetic here.
"""

import dataclasses
import io
import os
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np

from ..life.aid import AID, N_AID
from ..population.cohort import Cohort, sample_cohort
from ..runtime import bind_fast_libm, engine_identity, prune_kernel_caches
from ..sim.bundles import PatientRows, RunSettings
from ..sim.cpu import allocate_outputs, simulate_block
from ..store import results
from . import plausibility, plugins
from .config import ConfigError, RunConfig, parse_config
from .scenarios import Scenario, cohort_varies, expand
from .translate import KernelInputs, devices_used, kernel_inputs  # noqa: F401 - public entry


def cohort_of(inputs: KernelInputs, ids) -> Cohort:
    return sample_cohort(int(inputs.seed), ids, inputs.group_weights, inputs.population)


def run_settings(inputs: KernelInputs) -> RunSettings:
    """The kernel's RunSettings bundle from the run's translated inputs. A plug-in controller
    is imported here, by the task that simulates (engine/batch/plugins.py)."""
    pump = inputs.aid if inputs.aid is not None else np.zeros(N_AID)  # no pump: all off
    controller = 0
    if plugins.is_plugin(inputs.controller):
        controller, _ = plugins.resolve(inputs.controller)
        tuning = plugins.tuning_values(inputs.controller, dict(inputs.controller_settings))
        pump = pump.copy()
        pump[AID.p0 : AID.p0 + tuning.size] = tuning
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
        controller,
        pump,
    )


def simulate(inputs: KernelInputs, cohort: Cohort, trace_slot: np.ndarray, n_traced: int):
    """Run the kernel for `cohort`; returns (daily, log_phi, status, traces) arrays."""
    bind_fast_libm()
    outs = allocate_outputs(len(cohort), inputs.n_days, n_traced, inputs.trace_interval_min)
    if inputs.backend == "cuda":
        from ..sim.cuda_driver import simulate_block as step
    else:
        step = simulate_block
    try:
        step(
            PatientRows(cohort.params, cohort.x0, cohort.traits, cohort.patient_id, trace_slot),
            run_settings(inputs),
            outs,
        )
    except Exception as err:
        if plugins.is_plugin(inputs.controller):  # the plug-in's failure, named as such
            ids = cohort.patient_id
            where = f"patients {ids[0]}-{ids[-1]}" if len(ids) > 1 else f"patient {ids[0]}"
            raise plugins.failed(inputs.controller, err, where) from err
        raise
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
        Path(path),
        layout,
        scenario,
        block,
        daily,
        log_phi,
        status,
        traces,
        trace_rows,
        patients,
        devices_used(inputs, cohort.traits),
    )
    return ids.size * inputs.n_days


def _differences(a, b, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted field, value in a, value in b) of every leaf where two config dumps differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for k in sorted(set(a) | set(b), key=str):
            found += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return found
    return [] if a == b else [(prefix.rstrip("."), a, b)]


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or SIGTERM, SIGHUP), with what it leaves behind: `store`, the
    store being written (None when nothing was written yet), `done` of `total` tasks written
    and kept there, `running` tasks that were still computing in this process's threads
    (they finish only if the process waits for them) and the `stage` it was in ("setup",
    "compiling" or "running")."""

    def __init__(self, store, done: int, total: int, running: int, stage: str):
        super().__init__(f"interrupted while {stage}")
        self.store, self.done, self.total = store, done, total
        self.running, self.stage = running, stage
        self.staged = None  # the replacement written beside `store` (--overwrite), if any


def _has_cached_overload(dispatcher) -> bool:
    """Whether numba's cache holds a compiled version of `dispatcher` that this process can
    load: an entry for this machine (its codegen's magic tuple) and this function's bytecode,
    in an index whose source stamp is fresh (numba's own test when it loads)."""
    if dispatcher.overloads:  # compiled or loaded in this process already
        return True
    cache = dispatcher._cache
    want = cache._index_key(None, dispatcher.targetctx.codegen())[1:]
    return any(tuple(key[1:]) == want for key in cache._cache_file._load_index())


def kernels_cached(backend: str = "cpu") -> bool:
    """Whether the kernels a run calls from Python (the cohort sampler and the population
    kernel) are in the kernel cache (engine/runtime.py kernel_cache_dir, keyed on the engine's
    sources), so that the first task loads them in about a second rather than compiling them
    (about a minute). Where numba's cache cannot be read this way, whether the cache folder
    holds the population kernel's index file at all."""
    from ..population import cohort

    try:
        dispatchers = [simulate_block, cohort._sample]
        if backend == "cuda":
            from ..sim.cuda import population_kernel

            dispatchers.append(population_kernel)
        return all(_has_cached_overload(d) for d in dispatchers)
    except Exception:  # noqa: BLE001 - numba's internals changed: look at the files instead
        from ..runtime import kernel_cache_dir

        tag = f"py{sys.version_info.major}{sys.version_info.minor}"
        return any(Path(kernel_cache_dir()).glob(f"*/cpu.simulate_block-*.{tag}.nbi"))


def warm_kernels(inputs: KernelInputs) -> None:
    """Compile (or load from the cache) every kernel a task of `inputs` calls: one patient
    for one day through the same functions, in this process."""
    inputs = dataclasses.replace(inputs, n_days=1)
    simulate(inputs, cohort_of(inputs, np.arange(1)), np.zeros(1, dtype=np.int64), 1)


def warm_jit() -> bool:
    """Compile (or load from cache) the kernels once per worker, outside the timed tasks."""
    warm_kernels(kernel_inputs(parse_config({"run": {"n_patients": 1, "days": 1}})))
    return True


def _interruptibly(function, *args) -> None:
    """Call `function` in a daemon thread while this one waits. numba spends up to a minute of
    a compile inside single LLVM calls, and Python raises Ctrl-C only between bytecodes of the
    main thread: compiling there, an interrupt waited for the compile to finish. Waiting on a
    thread, it is raised at once; the compile thread is left to die with the process (numba
    writes its cache files by rename, so none is left half written)."""
    failure: list[BaseException] = []

    def call() -> None:
        try:
            function(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            failure.append(err)

    worker = threading.Thread(target=call, name="t1dmc-compile", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if failure:
        raise failure[0]


def prepare_kernels(inputs: KernelInputs, say) -> tuple[float, bool]:
    """Compile or load the kernels before the first task, saying so when they compile (not
    cached: the first run after an install or a change to the engine's sources). Returns
    (seconds taken, whether they were compiled)."""
    cold = not kernels_cached(inputs.backend) or plugins.is_plugin(inputs.controller)
    if cold and plugins.is_plugin(inputs.controller):
        # numba's cache keys a plug-in by its function object: compiled in every process
        say("compiling kernels for the plug-in controller (every run, about a minute) ...")
    elif cold:
        say("compiling kernels (first run only, about a minute) ...")
        try:  # a new build's cache: the stale ones of old builds go (runtime.py)
            removed = prune_kernel_caches()
        except OSError:
            removed = []
        if removed:
            say(f"removed {len(removed)} unused kernel caches of other engine builds")
    start = time.perf_counter()
    if inputs.backend == "cpu":
        _interruptibly(warm_kernels, inputs)
    else:  # a CUDA context belongs to a thread: the kernel is loaded where it will be launched
        warm_kernels(inputs)
    seconds = time.perf_counter() - start
    if cold:
        say(f"compiled in {seconds:.0f} s")
    return seconds, cold


class Progress:
    """Tasks done, patient-days per second and time left, on a stream (stderr)."""

    def __init__(self, total_tasks: int, patient_days_per_task: float, stream=None):
        self.total = total_tasks
        self.pd_per_task = patient_days_per_task
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.running = 0  # tasks handed to this process's threads and not yet done
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
        def _pretask(self, key, dsk, state):
            if isinstance(key, str) and key.startswith("task-"):
                progress.running += 1

        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(key, str) and key.startswith("task-"):
                progress.running -= 1
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


def check_resumable(
    out: Path, cfg: RunConfig, layout: results.Layout, plugin_ids: dict | None = None
) -> None:
    """The store at `out` was made by this config (execution and cluster may differ), by this
    engine, and by the same plug-in controllers (`plugin_ids`, plugins.identities)."""
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
        # the run's size and the presets' selectors first: a preset fills many fields
        diff = sorted(
            _differences(a, b),
            key=lambda d: (
                not d[0].startswith("run.") and not d[0].endswith((".kind", ".profile")),
                d[0],
            ),
        )
        shown = "; ".join(f"{k}: {x!r} in the store, {y!r} now" for k, x, y in diff[:5])
        more = f"; and {len(diff) - 5} more" if len(diff) > 5 else ""
        raise ConfigError(
            f"--resume: the config differs from the one that made {str(out)!r} "
            f"({shown}{more}); resume with the same config"
        )
    if int(attrs.get("block_size", -1)) != layout.block_size:
        raise ConfigError(
            f"--resume: the store's block size is {attrs.get('block_size')}, "
            f"this run's is {layout.block_size}; pass --block-size {attrs.get('block_size')} "
            f"(or set execution.block_size = {attrs.get('block_size')})"
        )
    if attrs.get("engine_identity") != engine_identity():
        made_by = attrs.get("engine_identity") or f"{attrs.get('engine_version')} (no identity)"
        raise ConfigError(
            f"--resume: the store was made by engine {made_by}, this is "
            f"{engine_identity()}; results would not be identical: finish the "
            "run with that engine, or start again with --overwrite"
        )
    made_with = dict(attrs.get("controller_identity") or {})
    if plugin_ids is not None and made_with != plugin_ids:
        changed = sorted(
            k for k in {*made_with, *plugin_ids} if made_with.get(k) != plugin_ids.get(k)
        )
        raise ConfigError(
            f"--resume: the plug-in controller {', '.join(changed)} is not the one that began "
            f"{str(out)!r} (its module's source changed); results would mix the two: start "
            "again with --overwrite"
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

    plugin_ids = plugins.identities(s.config.therapy.controller for s in scenarios)
    if not resuming:
        results.create_store(store, cfg, layout, scenarios, plugin_ids)
        return np.zeros((layout.n_scenarios, layout.n_blocks), dtype=bool)
    check_resumable(store, cfg, layout, plugin_ids)
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
    `repair` (with `resume`) recomputes the tasks whose chunks fail their checksums.

    The kernels are compiled (or loaded from the kernel cache) in this process before the
    first task, saying so on stderr when they compile; the result's `compile_s` is that time
    and `patient_days_per_s` leaves it out. Ctrl-C (or SIGTERM, SIGHUP) raises RunInterrupted,
    saying what was written."""
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    out = Path(os.path.abspath(out))
    # what an interrupt leaves behind (RunInterrupted): the stage, the store once it exists
    where = {
        "stage": "setup",
        "store": None,
        "skipped": 0,
        "total": 0,
        "progress": None,
        "written": None,  # () -> the tasks marked complete in the store
        "staged": None,  # the replacement being written beside the store (--overwrite)
    }
    try:
        return _run(
            cfg,
            out,
            overwrite,
            resume,
            workers,
            scheduler,
            quiet,
            repair,
            lock,
            connect_timeout_s,
            say,
            where,
        )
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        progress = where["progress"]
        reported = where["skipped"] + (progress.done if progress is not None else 0)
        running = progress.running if progress is not None else 0
        done = reported
        if where["written"] is not None:
            try:  # the store's own flags: a task may have finished before its report
                done = max(reported, where["written"]())
            except Exception:  # noqa: BLE001 - unreadable mid-creation: what was reported
                pass
        running = max(running - (done - reported), 0)
        err = RunInterrupted(where["store"], done, where["total"], running, where["stage"])
        err.staged = where["staged"]
        raise err from None


def _run(
    cfg,
    out,
    overwrite,
    resume,
    workers,
    scheduler,
    quiet,
    repair,
    lock,
    connect_timeout_s,
    say,
    where,
) -> dict:
    from ..store.integrity import reading_store
    from ..store.storeguard import StoreClaim, refuse_unsafe_target, staged_path
    from . import preflight

    t0 = time.perf_counter()
    if cfg.execution.backend == "cuda":
        from ..sim.cuda_driver import CudaUnavailable, require

        try:
            say(f"backend cuda: {require()}")
        except CudaUnavailable as err:
            raise ConfigError(f"execution.backend = 'cuda': {err}") from None
    scenarios: list[Scenario] = expand(cfg)  # every scenario validated before anything is written
    for s in scenarios:  # a plug-in controller imported and compiled, or refused, here
        t = s.config.therapy
        plugins.check(t.controller, t.controller_settings, cfg.execution.backend)
    layout = results.Layout.from_config(cfg, len(scenarios), cohort_varies(cfg))
    inputs = [kernel_inputs(s.config, s.seed) for s in scenarios]
    # 0, given or configured: all cores; None: the config's
    n_workers = (workers if workers is not None else cfg.execution.workers) or os.cpu_count() or 1
    if cfg.execution.backend == "cuda":
        # one GPU is the parallelism: two threads, so one task's results are transposed and
        # written while the next task's kernel runs (cuda_backend lets one at a time on it)
        n_workers = min(n_workers, 2)
    distributed = scheduler is not None or cfg.cluster.kind == "slurm"
    estimate = preflight.estimate(cfg, len(scenarios), 0 if distributed else n_workers)
    preflight.check_fits(estimate)
    say(preflight.format_estimate(estimate))
    # a bad path is refused before the estimate's checks
    refuse_unsafe_target(Path(os.path.abspath(out)))
    if repair and not (os.path.lexists(out) or os.path.lexists(staged_path(Path(out)))):
        # a mistyped path would start the whole run afresh: a repair needs a store
        raise ConfigError(
            f"--repair: there is no store at {str(out)!r} to repair; to start the run, "
            "leave out --repair"
        )
    if not resume:
        preflight.check_disk(estimate, out)  # before any folder is made: exit 2 writes nothing
    connection = None
    if distributed:
        from .cluster import connect

        connection = connect(cfg, scheduler, timeout_s=connect_timeout_s, say=say)
    compile_s, compiled = 0.0, False
    try:
        with (
            StoreClaim.open(out, overwrite=overwrite, resume=resume, lock=lock) as claim,
            reading_store(claim.write_path),
        ):
            store = claim.write_path
            where.update(
                stage="setup",
                store=out,
                total=layout.n_scenarios * layout.n_blocks,
                staged=store if claim.staged else None,
            )
            done = _prepare_store(store, claim.resuming, cfg, layout, scenarios, repair, say)
            calls = [
                (str(store), layout, inputs[s], s, b)
                for s in range(layout.n_scenarios)
                for b in range(layout.n_blocks)
                if not done[s, b]
            ]
            skipped = int(done.sum())
            where["skipped"] = skipped
            where["written"] = lambda: int(results.completed_blocks(store, layout).sum())
            if skipped:
                say(f"resuming: {skipped} of {done.size} tasks already complete")
            # the kernels are compiled (or loaded from the cache) here, before the progress
            # bar and its clock start, so neither the time left nor the throughput counts it
            where["stage"] = "compiling"
            if calls and connection is None:
                compile_s, compiled = prepare_kernels(inputs[0], say)
            elif calls:
                say("preparing the kernels on the workers (a first run compiles them) ...")
                start = time.perf_counter()
                connection.client.run(warm_jit)
                compile_s, compiled = time.perf_counter() - start, None
                say(f"workers ready in {compile_s:.0f} s")
            where["stage"] = "running"
            pd_per_task = cfg.run.n_patients * cfg.run.days / layout.n_blocks
            progress = Progress(len(calls), pd_per_task, stream=io.StringIO() if quiet else None)
            where["progress"] = progress
            t1 = time.perf_counter()
            scheduler_address = None
            if connection is not None:
                patient_days = _run_distributed(calls, connection, progress, say)
                n_workers, scheduler_address = 0, connection.scheduler_address
            else:
                patient_days = _run_threads(calls, n_workers, progress)
            t2 = time.perf_counter()
            where["stage"] = "finishing"
            results.finalize_store(store)
            claim.commit()
    finally:
        if connection is not None:
            connection.close()
    t3 = time.perf_counter()
    simulating_s = t3 - t0 - compile_s
    return {
        "patient_days": int(patient_days),
        "tasks": len(calls),
        "tasks_skipped": skipped,
        "workers": n_workers,
        "scheduler": scheduler_address,
        "setup_s": t1 - t0 - compile_s,
        "compile_s": compile_s,
        "compiled": compiled,
        "compiles_every_run": any(plugins.is_plugin(i.controller) for i in inputs),
        "compute_s": t2 - t1,
        "finalize_s": t3 - t2,
        "wall_s": t3 - t0,
        # throughput without the kernels' compilation (or loading), a one-time cost
        "patient_days_per_s": patient_days / simulating_s if simulating_s > 0 else 0.0,
    }


def summary_table(ds, mmol: bool = False) -> str:
    """Population median and IQR over patients of their per-day means, per scenario; glucose
    in mmol/L when `mmol`."""
    from ..model.units import MMOL_LABELS, glucose_display

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
        n = sub.sizes["patient"]
        lines.append(
            f"scenario {str(sub['scenario_name'].values)}: {n} patients"
            f" x {sub.sizes['day']} day{'s' if sub.sizes['day'] != 1 else ''}: {ok} simulated "
            f"to the end, {n - ok} stopped "
            "(glucose left the range the model can integrate; status 1, NaN after)"
        )
        lines.append(f"  {'metric':<14}{'median':>10}{'IQR':>22}  units")
        for label, var, units in rows:
            per_patient = sub[var].mean("day").values
            quartiles, shown = glucose_display(
                np.nanpercentile(per_patient, [25, 50, 75]), units, mmol
            )
            q1, med, q3 = quartiles
            if mmol:
                label = MMOL_LABELS.get(label, label)
            lines.append(f"  {label:<14}{med:>10.2f}{f'{q1:.2f} - {q3:.2f}':>22}  {shown}")
        lines.append(plausibility.summary_line(sub))
    return "\n".join(lines)
