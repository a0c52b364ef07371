"""A pre-flight estimate of a run, from its config alone: patient-days, tasks, the store's size
and number of files, memory (the orchestrating process's setup, and one task per worker) and
time at a measured rate. Pure arithmetic: nothing is sampled, compiled or written, so
`t1dmc config check` answers at once, and a run whose setup or tasks cannot fit in this
machine's memory is refused before anything is written (`check_fits`), as is one whose store
would not fit on its filesystem (`check_disk`).

The constants below were measured by `benchmarks/preflight_calibration.py`, each named with
the JSON it came from (benchmarks/results/); rerun it after a change to the store layout, the
kernel's outputs or the write path, and update them. With these constants, a second run of it
(preflight-20261202T002747Z.json; runs of 60,000-164,250 patient-days, one worker) gave
estimated / measured: store on disk 1.02-1.10, files 0.99-1.00, one task's memory 1.02-1.05
(1.39 for tasks of 3,750 patient-days, where the constant dominates), time 0.81-1.12, setup
1.11 in a fresh process (more elsewhere: what a first run loads is counted every time).
"""

import math
import os
import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..model.glycaemia import DAILY_VARIABLES
from ..model.params import MINUTES_PER_DAY, N_PARAMS, N_STATES
from ..model.slow import N_MECH
from ..model.traits import N_TRAITS
from ..store.results import TRACE_VARIABLES, Layout, patient_variables
from .config import ConfigError, RunConfig

N_TRACE = len(TRACE_VARIABLES)
N_DAILY = len(DAILY_VARIABLES)
# per-patient variables of the store, as results declares them
N_PATIENT_ARRAYS = len(patient_variables())
N_PATIENT_STRINGS = sum(v[1] is str for v in patient_variables())  # variable-length strings
N_COORDINATE_ARRAYS = 10  # scenario ... parameter_units, plus swept fields
STRING_BYTES = 16  # a short vlen-utf8 string: length + ~10 characters

# ---- the store on disk ---------------------------------------------------------------------
# Filesystem allocation unit: every file and directory takes whole blocks (ext4, XFS: 4 KiB);
# a store of many small chunks is much larger on disk than its data.
FS_BLOCK = 4096
# Compressed / raw size of each kind of array (zstd level 0 in sharded zarr v3 with CRC-32C),
# measured on the stores of four runs, 2,000 x 30 days to 450 x 365 days, default config
# (preflight-20261202T001553Z.json); each a little above the largest ratio measured, so the
# estimate errs on the large side. Float32 noise barely compresses; log_phi a little; traces
# (insulin and carbohydrate mostly zero) and integer coordinates well.
RATIO_DAILY = 0.64  # measured 0.614-0.633
RATIO_LOG_PHI = 0.91  # measured 0.895-0.903 (ir_share, stored until 0.3)
RATIO_TRACES = 0.53  # measured 0.527-0.528
RATIO_PATIENT = 0.86  # measured 0.780-0.852
RATIO_COORDINATES = 0.19  # measured 0.137-0.188
# A near-constant chunk (status, zero but where a patient stopped; completed, all ones)
# compresses to a few dozen bytes per file (measured 21-218).
TINY_CHUNK = 64
METADATA_BYTES = 1_200  # one array's zarr.json (0.8-1.3 kB)
GROUP_METADATA_BYTES = 8_000  # the group's zarr.json (config_toml, attributes)

# ---- memory --------------------------------------------------------------------------------
# One task (engine.batch.sweep.run_task): the kernel's outputs per patient-day
# (kernel.allocate_outputs: daily and log_phi float64, status int8), ...
OUTPUT_BYTES_PER_PATIENT_DAY = (N_DAILY + N_MECH) * 8 + 1
# ... the block's cohort (cohort.sample_cohort: params, x0, traits float64, ids, source, group,
# redraws; the README's 667-677 bytes per patient measured with tracemalloc,
# suite-20261129T054412Z.json) and its per-patient values as written
# (results.patient_values: a new string per patient, the arrays' encoded copies), ...
COHORT_BYTES_PER_PATIENT = (N_PARAMS + N_STATES + N_TRAITS) * 8 + 5 * 8 + 40
PATIENT_WRITE_BYTES_PER_PATIENT = 200
# ... the write temporaries per patient-day: until 0.3 ir_share's |total|, mask, log_phi /
# total and the np.where result (8 + 1 + 8 x 8 + 8 x 8 = 137 bytes) were the largest moment
# (log_phi's float32 copy since 0.4 is smaller, so the estimate errs on the safe side); the
# float32 copies and zarr's encode buffers come after, smaller. The peaks of 27 tasks measured
# with tracemalloc, less the terms above, fit 137 bytes per patient-day + 74 kB
# (preflight-20261202T001553Z.json), ...
WRITE_BYTES_PER_PATIENT_DAY = 8 + 1 + 16 * N_MECH
# ... and a constant: the kernel's scratch (kernel.simulate_block, per group of 16 lanes: the
# time-of-day and dawn tables, 2 x 16 x 1440 float64, numba's own allocations, which
# tracemalloc does not see), and 1 MiB for the fitted 74 kB, zstd's contexts and the C
# allocator's slack.
TASK_BYTES = 2 * 16 * MINUTES_PER_DAY * 8 + (1 << 20)
# The orchestrating process before the first task (preflight-20261202T001553Z.json,
# tracemalloc from sweep.run to the first task): per patient 20.8 bytes (10^4 against 10^6
# patients: the patient coordinate, int64, its pandas index, its encoded copy when written);
# per (scenario, patient) the `completed` flag, read whole on resume; per task 5,185 bytes
# (its dask key, arguments and the threaded scheduler's state, measured with 20,000 no-op
# tasks); per scenario 22,094 bytes (its validated config and kernel settings, measured on a
# 400-scenario grid); 12.8 MiB loaded on a process's first run (reference patients, zarr's
# and xarray's lazily imported modules).
SETUP_BYTES_PER_PATIENT = 21
SETUP_BYTES_PER_SCENARIO_PATIENT = 1
SETUP_BYTES_PER_TASK = 5_200
SETUP_BYTES_PER_SCENARIO = 22_100
SETUP_BYTES = 14 << 20
# The interpreter with numpy, numba, dask, xarray, zarr and the kernels: resident set after
# sweep.warm_jit, 221 MiB with the kernels from numba's cache
# (preflight-20261202T001553Z.json), ~426 MiB when it compiled them first (an earlier
# calibration run): shown, and counted by check_fits only on request (its callers have most of
# it loaded already).
RUNTIME_BYTES = 430 << 20

# ---- time ----------------------------------------------------------------------------------
# End-to-end patient-days per second per worker thread (cohort sampling, kernel and zarr
# writes; backend cpu, default model, one worker), measured by
# benchmarks/preflight_calibration.py on the machine named below, in its largest tasks
# (2 x 60,000 patient-days; smaller tasks measured 5,693-6,875 rk4, 5,999-8,249 midpoint);
# plus the run's fixed cost (setup, store creation, finalisation: 0.5-0.9 s measured).
# Another machine runs at another rate: the README's Performance section has 5,372-15,833
# patient-days/s per thread for the kernel alone on the machines measured so far.
# backend cuda: not measured.
RATE_MACHINE = (
    "an Intel Xeon VM, family 6 model 167, AVX-512, 2.6 GHz: "
    "benchmarks/results/preflight-20261202T001553Z.json"
)
RATE_PER_THREAD = {"rk4": 7_700.0, "midpoint": 9_400.0}
RUN_SECONDS = 0.6


@dataclass(frozen=True)
class Estimate:
    n_scenarios: int
    n_patients: int
    n_days: int
    patient_days: int
    tasks: int
    block_size: int  # patients per task (cfg.block_size())
    block_size_setting: int  # execution.block_size as configured (0: automatic)
    workers: int  # worker threads here; 0: tasks run on a cluster's workers
    store_bytes: int  # expected on disk: compressed, in whole filesystem blocks
    store_bytes_raw: int  # the same arrays uncompressed
    files: int  # storage objects: chunk and shard files, metadata files
    peak_bytes_per_worker: int  # one task: kernel outputs, cohort, scratch, write temporaries
    setup_bytes: int  # the orchestrating process before the first task
    runtime_bytes: int  # interpreter, libraries and compiled kernels
    seconds: float | None  # None where no rate is measured (backend cuda)
    rate_per_thread: float | None
    backend: str
    local: bool  # tasks run in this process's threads


def _round_up(nbytes: float) -> int:
    return int(math.ceil(max(nbytes, 1.0) / FS_BLOCK)) * FS_BLOCK


def _traced_per_block(cfg: RunConfig, block: int) -> int:
    counts = Counter(i // block for i in cfg.traced_ids() if i < cfg.run.n_patients)
    return max(counts.values(), default=0)


def _layout(cfg: RunConfig, n_scenarios: int):
    return Layout.from_config(cfg, n_scenarios)


def _swept_paths(cfg: RunConfig) -> list:
    from .scenarios import swept_paths

    return swept_paths(cfg)


def peak_bytes_per_task(
    block: int, days: int, traced_in_block: int, trace_interval_min: int
) -> int:
    """One task's memory: the kernel's outputs for `block` patients x `days` and the traces of
    its traced patients, its cohort, the write temporaries and the kernel's scratch."""
    pd = block * days
    samples = days * MINUTES_PER_DAY // trace_interval_min
    traces = N_TRACE * traced_in_block * samples * 4
    return int(
        pd * (OUTPUT_BYTES_PER_PATIENT_DAY + WRITE_BYTES_PER_PATIENT_DAY)
        + block * (COHORT_BYTES_PER_PATIENT + PATIENT_WRITE_BYTES_PER_PATIENT)
        + traces
        + TASK_BYTES
    )


def estimate(cfg: RunConfig, n_scenarios: int, workers: int) -> Estimate:
    """What a run of `cfg` with `n_scenarios` scenarios needs, on `workers` worker threads
    of this process (0: on a cluster's workers, which this process does not hold)."""
    from .scenarios import cohort_varies

    S, N, D = int(n_scenarios), cfg.run.n_patients, cfg.run.days
    B = cfg.block_size()
    n_blocks = -(-N // B)
    tasks = S * n_blocks
    local = cfg.cluster.kind == "local" and workers > 0
    workers = max(0, int(workers))
    backend = cfg.execution.backend
    if backend == "cuda" and local:
        workers = min(workers, 2)  # sweep.run: one GPU, two host threads
    pd = S * N * D
    T = D * MINUTES_PER_DAY // cfg.output.trace_interval_min
    n_traced = len([i for i in cfg.traced_ids() if i < N])
    patient_sets = S if cohort_varies(cfg) else 1

    # ---- store: per array kind, files x (bytes per file), raw and on disk
    raw = 0
    disk = 0
    files = 0
    full, last = B, N - (n_blocks - 1) * B  # patients in a full and in the last block
    # a daily shard holds ceil(days / day_chunk) inner chunks, each with a CRC-32C and an
    # entry (offset, length) in the shard's index, which has its own CRC-32C
    day_chunk = _layout(cfg, S).day_chunk
    shard_overhead = -(-D // day_chunk) * (4 + 16) + 4

    def region_arrays(count, bytes_per_patient, ratio, overhead=0, tiny=False, scenarios=S):
        """`count` arrays with one file (chunk or shard) per (scenario, block of patients)."""
        nonlocal raw, disk, files
        for patients, blocks in ((full, n_blocks - 1), (last, 1)):
            if blocks == 0:
                continue
            r = patients * bytes_per_patient
            c = TINY_CHUNK if tiny else r * ratio + overhead
            raw += count * scenarios * blocks * r
            disk += count * scenarios * blocks * (_round_up(c) + FS_BLOCK)  # file + its folder
            files += count * scenarios * blocks

    region_arrays(N_DAILY, D * 4, RATIO_DAILY, shard_overhead)
    region_arrays(1, D * N_MECH * 4, RATIO_LOG_PHI, shard_overhead)
    region_arrays(1, D, 0.0, tiny=True)  # status
    region_arrays(1, 1, 0.0, tiny=True)  # completed
    # per-patient variables: one chunk per block each, written by one scenario's tasks unless
    # scenarios differ in who the patients are
    region_arrays(
        N_PATIENT_ARRAYS - N_PATIENT_STRINGS - 1, 8, RATIO_PATIENT, scenarios=patient_sets
    )
    region_arrays(1, N_PARAMS * 8, RATIO_PATIENT, scenarios=patient_sets)  # physiology
    region_arrays(N_PATIENT_STRINGS, STRING_BYTES, RATIO_PATIENT, scenarios=patient_sets)
    trace_file = T * 4
    raw += N_TRACE * S * n_traced * trace_file
    disk += N_TRACE * S * n_traced * (_round_up(trace_file * RATIO_TRACES) + FS_BLOCK)
    files += N_TRACE * S * n_traced
    n_coords = N_COORDINATE_ARRAYS + len(_swept_paths(cfg))
    n_arrays = N_DAILY + 3 + N_TRACE + N_PATIENT_ARRAYS + n_coords
    coord_bytes = 8 * (N + D + T + n_traced + S)
    raw += coord_bytes
    disk += _round_up(coord_bytes * RATIO_COORDINATES) + n_coords * 2 * FS_BLOCK
    # every array's zarr.json in its folder (and its c/ folder), the group's with the
    # consolidated metadata of all of them
    disk += n_arrays * (_round_up(METADATA_BYTES) + 2 * FS_BLOCK)
    disk += _round_up(GROUP_METADATA_BYTES + n_arrays * METADATA_BYTES) + FS_BLOCK
    files += n_coords + n_arrays + 1

    # ---- memory
    peak = peak_bytes_per_task(B, D, _traced_per_block(cfg, B), cfg.output.trace_interval_min)
    setup = (
        SETUP_BYTES
        + N * SETUP_BYTES_PER_PATIENT
        + S * N * SETUP_BYTES_PER_SCENARIO_PATIENT
        + tasks * SETUP_BYTES_PER_TASK
        + S * SETUP_BYTES_PER_SCENARIO
    )

    # ---- time: waves of tasks on the worker threads at the measured rate per thread (one
    # thread's work where the workers are a cluster's)
    rate = RATE_PER_THREAD.get(cfg.run.integrator) if backend == "cpu" else None
    seconds = None
    if rate:
        threads = min(workers, tasks) if workers else 1
        seconds = RUN_SECONDS + max(pd / (rate * threads), B * D / rate)
    return Estimate(
        n_scenarios=S,
        n_patients=N,
        n_days=D,
        patient_days=pd,
        tasks=tasks,
        block_size=B,
        block_size_setting=cfg.execution.block_size,
        workers=workers,
        store_bytes=int(disk),
        store_bytes_raw=int(raw),
        files=int(files),
        peak_bytes_per_worker=peak,
        setup_bytes=int(setup),
        runtime_bytes=RUNTIME_BYTES,
        seconds=seconds,
        rate_per_thread=rate,
        backend=backend,
        local=local,
    )


def available_memory_bytes() -> int:
    """Memory a new allocation can have without swapping (MemAvailable)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def size(nbytes: float) -> str:
    """Bytes for people: 12.3 GiB, 340 MiB, 12 kB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes / 1e3:,.0f} kB"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 86400:,.1f} days"


def check_fits(est: Estimate, available: int | None = None, count_runtime: bool = False) -> None:
    """Refuse (ConfigError) a run whose setup, or (tasks in this process's threads) whose setup
    plus one task per worker, needs more memory than `available` (default: this machine's
    available memory, `available_memory_bytes()`). `count_runtime`: add the interpreter, its
    libraries and the compiled kernels (off by default: the caller has most of them loaded,
    so they are not in `available` any more)."""
    if available is None:
        available = available_memory_bytes()
    base = est.setup_bytes + (est.runtime_bytes if count_runtime else 0)
    if base > available:
        scenarios = (
            f" in each of {est.n_scenarios} scenarios, or fewer scenarios"
            if est.n_scenarios > 1
            else ""
        )
        raise ConfigError(
            f"run.n_patients = {est.n_patients}: the run's setup needs {size(base)} but "
            f"{size(available)} are available; run fewer patients{scenarios}, or run on a "
            f"machine with more memory (the setup holds about "
            f"{SETUP_BYTES_PER_PATIENT + est.n_scenarios * SETUP_BYTES_PER_SCENARIO_PATIENT} "
            f"bytes per patient and {size(SETUP_BYTES_PER_TASK)} per task, {est.tasks:,} tasks)"
        )
    if not est.local:
        return
    need = base + est.workers * est.peak_bytes_per_worker
    if need <= available:
        return
    # a smaller block that fits (its traces counted as this block's: no more)
    traces = est.peak_bytes_per_worker - peak_bytes_per_task(est.block_size, est.n_days, 0, 1)

    def task(b):
        return peak_bytes_per_task(b, est.n_days, 0, 1) + traces

    def fits(b):  # smaller blocks, more tasks: the setup's task graph grows
        tasks = est.n_scenarios * -(-est.n_patients // b)
        setup = base + (tasks - est.tasks) * SETUP_BYTES_PER_TASK
        return setup + est.workers * task(b) <= available

    lo, hi = 0, est.block_size  # the largest block that fits, by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    block = lo
    workers = int((available - base) // est.peak_bytes_per_worker)
    hints = []
    if block >= 1:
        hints.append(f"set execution.block_size to at most {block:,}")
    if workers >= 1:
        hints.append(f"run with --workers {workers} (or execution.workers = {workers})")
    hint = " or ".join(hints) if hints else "run on a machine with more memory"
    field = (
        f"execution.block_size = {est.block_size_setting}"
        if est.block_size_setting
        else f"execution.block_size = 0 (automatic: {est.block_size:,} patients per task)"
    )
    raise ConfigError(
        f"{field} with {est.workers} workers: each task needs "
        f"{size(est.peak_bytes_per_worker)}, so {est.workers} x "
        f"{size(est.peak_bytes_per_worker)} + setup {size(base)} = {size(need)} but "
        f"{size(available)} are available; {hint}"
    )


def _existing_parent(path: Path) -> Path:
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def check_disk(est: Estimate, path) -> None:
    """Refuse (ConfigError) a store that would not fit on the filesystem of `path` (the output;
    its nearest existing parent when it does not exist yet)."""
    where = _existing_parent(Path(path))
    free = shutil.disk_usage(where).free
    if free < est.store_bytes:
        raise ConfigError(
            f"output {str(path)!r}: the store needs ~{size(est.store_bytes)} but its "
            f"filesystem ({where}) has {size(free)} free; free some space or write elsewhere"
        )


def format_estimate(est: Estimate) -> str:
    """A few aligned lines for people."""
    s = "s" if est.n_scenarios != 1 else ""
    if est.local:
        workers = (
            f"per worker {size(est.peak_bytes_per_worker)} x {est.workers} "
            f"worker{'s' if est.workers != 1 else ''}"
        )
    else:
        workers = f"per worker {size(est.peak_bytes_per_worker)} (on the cluster's workers)"
    lines = [
        f"  patient-days  {est.patient_days:,} ({est.n_scenarios} scenario{s} x "
        f"{est.n_patients:,} patients x {est.n_days:,} day{'s' if est.n_days != 1 else ''})",
        f"  tasks         {est.tasks:,} x {est.block_size:,} patients",
        f"  store         ~{size(est.store_bytes)} on disk in ~{est.files:,} files "
        f"({size(est.store_bytes_raw)} uncompressed)",
        f"  memory        setup {size(est.setup_bytes)}; {workers}; Python and the kernels "
        f"{size(est.runtime_bytes)}",
    ]
    if est.seconds is None:
        lines.append(f"  time          not measured for backend {est.backend}")
    else:
        threads = min(est.workers, est.tasks) if est.local else 1
        what = (
            f"{threads} thread{'s' if threads != 1 else ''}"
            if est.local
            else "1 thread; divide by the cluster's worker threads"
        )
        text = (
            f"~{duration(est.seconds)} at {est.rate_per_thread:,.0f} patient-days/s per "
            f"thread x {what}: an estimate for a machine like the one measured "
            f"({RATE_MACHINE}); a new engine version first compiles its kernels, ~1 min"
        )
        wrapped = textwrap.wrap(text, width=80)
        lines.append("  time          " + wrapped[0])
        lines += ["                " + line for line in wrapped[1:]]
    return "\n".join(lines)
