"""The results contract: one zarr v3 store that opens with `xarray.open_zarr` as one labelled
dataset (README, "The results").

The store is created whole first (metadata, coordinates, empty arrays); then each task samples
its own block of patients, writes only the shards of its (scenario, block of patients) region
(per-patient values, daily variables, traces) and finally its `completed` flags. No appends,
no shard shared by two tasks.
"""

import datetime as _dt
import threading
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ..model.glycaemia import DAILY_VARIABLES
from ..model.params import MINUTES_PER_DAY, PARAM_NAMES, PARAM_UNITS
from ..model.slow import MECHANISM_NAMES, MECHANISMS
from ..model.traits import TRAIT_VARIABLES, UNSTORED_TRAITS
from ..population.cohort import Cohort
from ..population.reference import reference_patients
from ..runtime import engine_identity, engine_version

if TYPE_CHECKING:  # the store layer does not import the batch layer above it
    from ..batch.config import RunConfig
from ..sim.outputs import STATUS_MEANINGS, TRACES

TRACE_VARIABLES = TRACES.rows

# what every task writes: a store missing any of these cannot be resumed
TASK_WRITTEN_VARIABLES = (
    *(v[0] for v in DAILY_VARIABLES),
    "status",
    "log_phi",
    *(v[0] for v in TRACE_VARIABLES),
    "completed",
)
# (the per-patient variables, results.patient_variables(), are written by tasks too)

STATUS_ATTRS = {
    "units": "1",
    "long_name": "integration status",
    "flag_values": list(range(len(STATUS_MEANINGS))),
    "flag_meanings": " ".join(STATUS_MEANINGS),
}


# Storage layout (zarr v3). One shard per variable per task region (1 scenario x a block of
# patients x all days): a task writes whole shards only, never part of one that another task
# writes (zarr-python #3682). Inside a shard, chunks of `day_chunk` days, so reading one day's
# cross-section decodes one small chunk per shard, not whole years. Every chunk and every
# shard index carries a CRC-32C, so damage is detected when read (`t1dmc verify`).
CHUNK_TARGET_BYTES = 1 << 16  # smallest inner chunk worth compressing on its own
MIN_DAY_CHUNK = 32


def codecs() -> list:
    """Compression, then a checksum of the compressed bytes."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return [ZstdCodec(level=0), Crc32cCodec()]


@dataclass(frozen=True)
class Layout:
    """Sizes and chunking of a store, derived from the config alone."""

    n_scenarios: int
    n_patients: int
    n_days: int
    block_size: int
    traced_ids: tuple
    trace_interval_min: int
    cohort_by_scenario: bool = False

    @classmethod
    def from_config(
        cls, cfg: "RunConfig", n_scenarios: int = 1, cohort_by_scenario: bool = False
    ) -> "Layout":
        return cls(
            n_scenarios,
            cfg.run.n_patients,
            cfg.run.days,
            cfg.block_size(),
            tuple(cfg.traced_ids()),
            cfg.output.trace_interval_min,
            cohort_by_scenario,
        )

    @property
    def n_blocks(self) -> int:
        return -(-self.n_patients // self.block_size)

    def block(self, b: int) -> slice:
        return slice(b * self.block_size, min((b + 1) * self.block_size, self.n_patients))

    @property
    def n_samples(self) -> int:
        return self.n_days * MINUTES_PER_DAY // self.trace_interval_min

    @property
    def day_chunk(self) -> int:
        """Days per inner chunk of a daily shard: at least a month and ~64 kB."""
        want = max(MIN_DAY_CHUNK, -(-CHUNK_TARGET_BYTES // (4 * self.block_size)))
        return min(self.n_days, want)

    def writes_patients(self, scenario: int) -> bool:
        """Whether the task of `scenario` writes its block's per-patient variables: every
        scenario's when they differ in who the patients are, else scenario 0's alone."""
        return self.cohort_by_scenario or scenario == 0


def _coordinate_values(values: list):
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([str(v) for v in values], dtype=object)


# yes/no traits are stored as int8 flags (CF flag_values / flag_meanings), not as floats
FLAG_TRAITS = {
    "sex_male": "female male",
    "hypertension": "no yes",
    "family_history_t2d": "no yes",
    "uses_cgm": "no yes",
    "uses_pump": "no yes",
    "hypo_unaware": "no yes",
    "uses_aid": "no yes",
}
FLAG_FILL = -1  # never a value: a block of all-0 flags is still written (integrity checks it)
# The devices each patient uses follow the scenario's therapy (one arm on pens, another on a
# pump with a controller), so these per-patient flags always have a scenario dimension and
# every scenario's task writes its own (engine/batch/translate.py devices_used).
SCENARIO_FLAGS = ("uses_pump", "uses_cgm", "uses_aid")


def _trait_variable(name, units, long_name):
    if name in FLAG_TRAITS:
        attrs = {
            "long_name": long_name,
            "flag_values": [0, 1],
            "flag_meanings": FLAG_TRAITS[name],
        }
        return (name, np.int8, (), attrs)
    return (name, np.float64, (), {"units": units, "long_name": long_name})


def patient_variables() -> list[tuple]:
    """Per-patient variables: (name, dtype, extra (dim, size) pairs, attrs). Each task writes
    its block's values: cohort sampling happens in the tasks, so a run's setup does not grow
    with the number of patients."""
    return [
        ("group", str, (), {"long_name": "reference age group"}),
        ("source_patient", str, (), {"long_name": "reference patient resampled"}),
        ("age", np.float64, (), {"units": "year", "long_name": "age at start"}),
        ("initial_weight_kg", np.float64, (), {"units": "kg", "long_name": "body weight at start"}),
        (
            "physiology",
            np.float64,
            (("parameter", len(PARAM_NAMES)),),
            {
                "long_name": "UVA/Padova parameters of each patient",
                "units": "per parameter: see the coordinate parameter_units",
            },
        ),
        *(
            _trait_variable(name, units, ln)
            for name, units, ln in TRAIT_VARIABLES
            if name not in UNSTORED_TRAITS
        ),
    ]


def patient_values(cohort: Cohort) -> dict[str, np.ndarray]:
    """The values of `patient_variables()` for one block's cohort, but the SCENARIO_FLAGS
    (written per scenario: write_block's `devices`)."""
    ref = reference_patients()
    values = {
        "group": np.array([str(g) for g in cohort.group], dtype=object),
        "source_patient": np.array([ref.names[s] for s in cohort.source], dtype=object),
        "age": cohort.age_years,
        "initial_weight_kg": cohort.params[:, PARAM_NAMES.index("BW")],
        "physiology": cohort.params,
    }
    for k, (name, _, _) in enumerate(TRAIT_VARIABLES):
        if name in SCENARIO_FLAGS:
            continue
        if name in FLAG_TRAITS:
            values[name] = (cohort.traits[:, k] > 0.5).astype(np.int8)
        elif name not in UNSTORED_TRAITS:
            values[name] = cohort.traits[:, k]
    return values


def _daily_encoding(layout: Layout, extra: tuple = ()) -> dict:
    # a shard must hold whole inner chunks: it reaches past the last day when the days are
    # not a multiple of `day_chunk` (365 = 11 x 32 + 13); nothing is stored past the end
    B, dc = layout.block_size, layout.day_chunk
    shard_days = -(-layout.n_days // dc) * dc
    return {
        "chunks": (1, B, dc, *extra),
        "shards": (1, B, shard_days, *extra),
        "compressors": codecs(),
    }


def create_store(
    path: Path, cfg: "RunConfig", layout: Layout, scenarios: list, plugin_ids: dict | None = None
) -> None:
    """Write the store's metadata and coordinates; every per-patient and per-day array stays
    empty until the tasks write their regions. `scenarios` are `engine.batch.scenarios.Scenario`s.
    Memory grows with the number of patients only through the patient coordinate."""
    B = layout.block_size
    ds = xr.Dataset(coords=_coordinates(layout, scenarios))
    encoding = {name: {"compressors": codecs()} for name in ds.coords}
    _add_run_arrays(ds, encoding, layout)
    lead, lead_shape, lead_chunks, strings = _add_patient_arrays(ds, encoding, layout)
    ds.attrs.update(
        {
            "Conventions": "CF-1.10",
            "title": cfg.run.name,
            "featureType": "trajectory",
            "engine": "t1dmc",
            "engine_version": engine_version(),
            # version + source hash: --resume refuses a store another engine wrote
            "engine_identity": engine_identity(),
            # {plug-in controller: hash of its module's source}: --resume refuses another one
            "controller_identity": dict(plugin_ids or {}),
            "seed": str(cfg.run.seed),
            "config_toml": cfg.to_toml(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "block_size": B,
            "common_random_numbers": int(cfg.sweep.common_random_numbers),
            "cohort_by_scenario": int(layout.cohort_by_scenario),
            "scenario_seeds": [str(s.seed) for s in scenarios],
            "source": "UVA/Padova S2008 (simglucose 0.2.11 parameters), RK4 at 1 min",
            # every node the engine creates: an output holding anything else is not replaced
            "t1dmc_nodes": sorted([*map(str, ds.variables), *(n for n, _ in strings)]),
            # tasks write every chunk, fill values included: a missing one is damage (integrity)
            "all_chunks_written": 1,
            "store_id": uuid.uuid4().hex,  # this store, not another one made at the same path
        }
    )
    with quiet_zarr():
        ds.to_zarr(
            path, mode="a", compute=False, zarr_format=3, consolidated=False, encoding=encoding
        )
        group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        for name, attrs in strings:
            group.create_array(
                name,
                shape=lead_shape,
                chunks=lead_chunks,
                dtype=str,
                fill_value="",
                dimension_names=lead,
                attributes=attrs,
                compressors=codecs(),
            )


def _coordinates(layout: Layout, scenarios: list) -> dict:
    """The store's coordinates, each with its CF attributes; a sweep's fields too."""
    S, N, D, T = layout.n_scenarios, layout.n_patients, layout.n_days, layout.n_samples
    coords = {
        "scenario": ("scenario", np.arange(S), {"long_name": "scenario index"}),
        "scenario_name": (
            "scenario",
            np.array([s.name for s in scenarios], dtype=object),
            {"long_name": "scenario label"},
        ),
        "patient": (
            "patient",
            np.arange(N, dtype=np.int64),
            {"long_name": "patient id (key of its random numbers)", "cf_role": "trajectory_id"},
        ),
        "day": ("day", np.arange(D), _time_attrs("days", "day of the run (0: the first)")),
        "time": (
            "time",
            np.arange(T) * layout.trace_interval_min,
            _time_attrs("minutes", "minute of the run (0: 00:00 of the first day)"),
        ),
        "traced": (
            "traced",
            np.array(layout.traced_ids, dtype=np.int64),
            {"long_name": "patient id of each traced patient"},
        ),
        "parameter": (
            "parameter",
            np.array(PARAM_NAMES, dtype=object),
            {"long_name": "UVA/Padova parameter name (simglucose's)"},
        ),
        "mechanism": (
            "mechanism",
            np.array(MECHANISM_NAMES, dtype=object),
            {"long_name": "mechanism of insulin resistance (docs/model.md section 2)"},
        ),
        "mechanism_description": (
            "mechanism",
            np.array([m[1] for m in MECHANISMS], dtype=object),
            {"long_name": "what the mechanism is"},
        ),
        "parameter_units": (
            "parameter",
            np.array([PARAM_UNITS[k] for k in PARAM_NAMES], dtype=object),
            {"long_name": "units of each parameter"},
        ),
    }
    for path_ in scenarios[0].values:
        coords[path_] = (
            "scenario",
            _coordinate_values([s.values[path_] for s in scenarios]),
            {"long_name": f"swept config field {path_}"},
        )
    return coords


def _add_run_arrays(ds: xr.Dataset, encoding: dict, layout: Layout) -> None:
    """The daily variables, log_phi, status, the traces and the completion flags, empty."""
    S, N, D = layout.n_scenarios, layout.n_patients, layout.n_days
    B, T = layout.block_size, layout.n_samples
    M = len(MECHANISM_NAMES)
    daily_shape = (S, N, D)
    for name, units, long_name in DAILY_VARIABLES:
        ds[name] = (
            ("scenario", "patient", "day"),
            da.full(daily_shape, np.nan, dtype=np.float32, chunks=(1, B, D)),
            {"units": units, "long_name": long_name},
        )
        encoding[name] = _daily_encoding(layout)
    ds["log_phi"] = (
        ("scenario", "patient", "day", "mechanism"),
        da.full((S, N, D, M), np.nan, dtype=np.float32, chunks=(1, B, D, M)),
        LOG_PHI_ATTRS,
    )
    encoding["log_phi"] = _daily_encoding(layout, (M,))
    ds["status"] = (
        ("scenario", "patient", "day"),
        da.zeros(daily_shape, dtype=np.int8, chunks=(1, B, D)),
        STATUS_ATTRS,
    )
    encoding["status"] = _daily_encoding(layout)
    for name, units, long_name in TRACE_VARIABLES:
        ds[name] = (
            ("scenario", "traced", "time"),
            da.full((S, len(layout.traced_ids), T), np.nan, dtype=np.float32, chunks=(1, 1, T)),
            {"units": units, "long_name": long_name},
        )
        encoding[name] = {"chunks": (1, 1, T), "compressors": codecs()}
    ds["completed"] = (
        ("scenario", "patient"),
        da.zeros((S, N), dtype=np.uint8, chunks=(1, B)),
        {"units": "1", "long_name": "1 when the patient's results are written"},
    )
    encoding["completed"] = {"chunks": (1, B), "compressors": codecs()}


def _add_patient_arrays(ds: xr.Dataset, encoding: dict, layout: Layout):
    """The per-patient variables, empty; returns their dims, shape, chunks and the string
    variables created afterwards with zarr (dask would load them whole to type them)."""
    N, B, S = layout.n_patients, layout.block_size, layout.n_scenarios
    lead = ("scenario", "patient") if layout.cohort_by_scenario else ("patient",)
    lead_shape = (S, N) if layout.cohort_by_scenario else (N,)
    lead_chunks = (1, B) if layout.cohort_by_scenario else (B,)
    strings = []
    for name, dtype, extra, attrs in patient_variables():
        if dtype is str:  # variable-length strings: dask would load them whole to type them
            strings.append((name, attrs))
            continue
        per_scenario = name in SCENARIO_FLAGS
        dims = (*(("scenario", "patient") if per_scenario else lead), *(d for d, _ in extra))
        shape = (*((S, N) if per_scenario else lead_shape), *(n for _, n in extra))
        chunks = (*((1, B) if per_scenario else lead_chunks), *(n for _, n in extra))
        fill = FLAG_FILL if np.dtype(dtype).kind == "i" else np.nan
        ds[name] = (dims, da.full(shape, fill, dtype=dtype, chunks=chunks), attrs)
        encoding[name] = {"chunks": chunks, "compressors": codecs()}
    return lead, lead_shape, lead_chunks, strings


# CF time coordinates need a reference date; a run has no calendar (no seasons, no weekdays),
# so `day` and `time` count from a nominal start, 2000-01-01 00:00. CF readers
# (xr.open_zarr, Panoply, ncview) decode them to dates from it; engine.open keeps the numbers
# (decode_times=False), so `ds.sel(day=364)` works.
NOMINAL_START = "2000-01-01 00:00:00"


def _time_attrs(unit: str, long_name: str) -> dict:
    return {
        "units": f"{unit} since {NOMINAL_START}",
        "calendar": "proleptic_gregorian",
        "standard_name": "time",
        "axis": "T",
        "long_name": f"{long_name}, counted from a nominal start date (the run has no calendar)",
    }


LOG_PHI_ATTRS = {
    "units": "1",
    "long_name": "natural log of the factor each mechanism puts on si_peripheral; they add up "
    "to log si_peripheral (negative: sensitivity lost to the mechanism, positive: it protects)",
}
# A patient-day's shares (log phi_k / log s_p) are given only where log s_p is material: at
# |log s_p| < 0.05 (s_p within ~5% of the lean healthy reference) the ratio of two small
# numbers says nothing and can reach +-10^4 (issue 18). Population shares are ratios of sums
# (engine.analysis.attribution), never means of these.
MATERIAL_LOG_SP = 0.05


def with_ir_share(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with `ir_share` (lazy) derived from the stored `log_phi`: each mechanism's share of
    log s_p on a patient-day, NaN where |log s_p| < MATERIAL_LOG_SP. A store written before
    log_phi was stored (0.3 and earlier: ir_share only) gets log_phi back as ir_share x log s_p
    and its shares recomputed under the same rule."""
    if "log_phi" not in ds and "ir_share" in ds and "si_peripheral" in ds:
        log_sp = np.log(ds["si_peripheral"].astype(np.float64))
        ds["log_phi"] = (ds["ir_share"] * log_sp).fillna(0.0).astype(np.float32)
        ds["log_phi"].attrs.update(LOG_PHI_ATTRS)
    if "log_phi" not in ds:
        return ds
    total = ds["log_phi"].astype(np.float64).sum("mechanism", skipna=False)
    share = (ds["log_phi"] / total).where(np.abs(total) >= MATERIAL_LOG_SP)
    ds["ir_share"] = share.astype(np.float32)
    ds["ir_share"].attrs.update(
        units="1",
        long_name="share of log si_peripheral explained by each mechanism on a patient-day "
        f"(log phi_k / log s_p; NaN where |log s_p| < {MATERIAL_LOG_SP}; negative: the "
        "mechanism protects); derived from log_phi when the store is opened",
    )
    return ds


def _writable(arr):
    # every chunk is written, even one equal to the fill value (an all-ok `status`), so a
    # missing chunk of a completed task always means damage (integrity.py)
    return arr.with_config({"write_empty_chunks": True})


_ARRAYS_CACHE: dict = {}
_ARRAYS_LOCK = threading.Lock()


def _open_arrays(path: str, store_id: str, group) -> dict:
    """A task's arrays, opened once per process and store: opening ~60 arrays reads ~60
    metadata documents, a quarter of a small task's write time (measured 0.04 of 0.18 s).
    Keyed by the store's random id, so a new store at the same path is opened anew."""
    key = (path, store_id)
    with _ARRAYS_LOCK:
        if store_id and key in _ARRAYS_CACHE:
            return _ARRAYS_CACHE[key]
    names = (*TASK_WRITTEN_VARIABLES, *(v[0] for v in patient_variables()))
    arrays = {name: _writable(group[name]) for name in names}
    with _ARRAYS_LOCK:
        _ARRAYS_CACHE.clear()  # one store at a time per process
        _ARRAYS_CACHE[key] = arrays
    return arrays


def write_block(
    path: Path,
    layout: Layout,
    scenario: int,
    block: int,
    daily: np.ndarray,
    log_phi: np.ndarray,
    status: np.ndarray,
    traces: np.ndarray,
    trace_rows: np.ndarray,
    patients: dict | None = None,
    devices: dict | None = None,
) -> None:
    """Write one task's region: its patients' per-patient values (`patients`, when this task
    writes them: Layout.writes_patients), daily variables, status and traces, then mark them
    complete (last, so a half-written block is never marked). Whole shards only."""
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    array = _open_arrays(str(path), group.attrs.get("store_id", ""), group).__getitem__
    sl = layout.block(block)
    if patients is not None:
        lead = (scenario, sl) if layout.cohort_by_scenario else (sl,)
        for name, values in patients.items():
            array(name)[lead] = values
    for name, values in (devices or {}).items():  # every scenario's own (SCENARIO_FLAGS)
        array(name)[scenario, sl] = np.asarray(values).astype(np.int8)
    for v, (name, _, _) in enumerate(DAILY_VARIABLES):
        array(name)[scenario, sl, :] = daily[v].astype(np.float32)
    array("log_phi")[scenario, sl, :, :] = np.moveaxis(log_phi, 0, -1).astype(np.float32)
    array("status")[scenario, sl, :] = status
    for k, row in enumerate(trace_rows):
        for v, (name, _, _) in enumerate(TRACE_VARIABLES):
            array(name)[scenario, row, :] = traces[v, k]
    array("completed")[scenario, sl] = 1


def completed_blocks(path: Path, layout: Layout) -> np.ndarray:
    """(n_scenarios, n_blocks) bool: which tasks finished."""
    done = zarr.open_group(str(path), mode="r", use_consolidated=False)["completed"][...]
    out = np.zeros((layout.n_scenarios, layout.n_blocks), dtype=bool)
    for b in range(layout.n_blocks):
        out[:, b] = done[:, layout.block(b)].all(axis=1)
    return out


def mark_incomplete(path: Path, layout: Layout, tasks: np.ndarray) -> None:
    """Clear the `completed` flags of the (scenario, block) tasks marked in `tasks`, so a
    resume recomputes them (their chunks are rewritten whole)."""
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    completed = group["completed"].with_config({"write_empty_chunks": True})
    for s, b in zip(*np.nonzero(tasks)):
        completed[s, layout.block(b)] = 0


def inspect_store(path: Path) -> str:
    """What a store holds and how far its run got, readable even when it is incomplete."""
    from .storeguard import holds_only_a_lock, output_kind, writer_of

    if holds_only_a_lock(path):
        busy = writer_of(path)
        raise ValueError(
            f"{str(path)!r} holds only a t1dmc run's lock: "
            + (
                f"a run is starting on it ({busy})"
                if busy
                else "its run ended before writing anything; running on it again starts afresh"
            )
        )
    try:
        group = zarr.open_group(str(path), mode="r", use_consolidated=False)
        attrs = dict(group.attrs)
    except Exception as err:  # noqa: BLE001 - whatever makes it unreadable, say so
        raise ValueError(f"{str(path)!r} is not a readable zarr store: {err}") from None
    if "config_toml" not in attrs:
        kind = output_kind(path)
        if kind is not None or "t1dmc_nodes" in attrs:
            what = (
                f"a t1dmc {kind}" if kind else "another output of t1dmc (a comparison or a replay)"
            )
            raise ValueError(f"{str(path)!r} is {what}, not a results store")
        raise ValueError(
            f"{str(path)!r} is not a t1dmc store (no config_toml attribute): "
            "its creation may have been interrupted"
        )
    names = set(group.array_keys())
    lines = [
        f"store: {path}",
        f"title: {attrs.get('title')}   engine {attrs.get('engine_version')}   "
        f"created {attrs.get('created')}   seed {attrs.get('seed')}",
    ]
    dims = {}
    for name in sorted(names):
        arr = group[name]
        for d, n in zip(arr.metadata.dimension_names or (), arr.shape):
            dims[d] = n
    lines.append("dimensions: " + ", ".join(f"{d}={n}" for d, n in dims.items()))
    if "scenario_name" in names:
        labels = group["scenario_name"][...]
        lines.append("scenarios:")
        lines += [f"  {k}: {v}" for k, v in enumerate(labels)]
    if "completed" in names:
        done = group["completed"][...]
        total = done.size
        lines.append(
            f"completed: {int(done.sum()):,} of {total:,} patient-scenarios "
            f"({100.0 * done.sum() / max(total, 1):.1f}%)"
            + ("" if done.all() else "; finish with t1dmc run CONFIG -o STORE --resume")
        )
        missing = [name for name, _, _ in DAILY_VARIABLES if name not in names]
        if missing:
            lines.append(f"missing variables: {', '.join(missing)} (store damaged)")
    lines.append("config:")
    lines += ["  " + ln for ln in attrs["config_toml"].strip().splitlines()]
    return "\n".join(lines)


@contextmanager
def quiet_zarr():
    """zarr-python warns that consolidated metadata is not yet in the v3 specification
    (xarray reads it, and without it opening still works) and that a store's lock file
    (storeguard.LOCK_NAME) is not a zarr node, and xarray that an unfinished store (consolidated
    only when its run ends) has no consolidated metadata: none is news to the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*not recognized as a component")
        warnings.filterwarnings(
            "ignore", message=".*consolidated metadata", category=RuntimeWarning
        )
        yield


def finalize_store(path: Path) -> None:
    """Consolidate metadata once, at the end, so opening reads one document."""
    with quiet_zarr():
        zarr.consolidate_metadata(str(path))


class IncompleteStoreWarning(UserWarning):
    """A results store opened before its run finished: its unwritten patients hold fill
    values (NaN, and 0 in whole-number variables); `completed` says which."""


def open_results(path) -> xr.Dataset:
    """The store at `path` as a lazy labelled Dataset, with the derived `ir_share` (no checks:
    engine.open and engine.open_results say why a path holds no finished results store)."""
    return with_ir_share(xr.open_zarr(path, decode_times=False))
