"""The results contract: one zarr v3 store that opens with `xarray.open_zarr` as one labelled
dataset (DESIGN.md, "The results contract").

The store is created whole first (metadata, coordinates, per-patient variables, empty arrays);
then each task writes only the chunks of its own (scenario, block of patients) region and
finally its `completed` flags. No appends, no chunk shared by two tasks.
"""
import datetime as _dt
import shutil
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from .cohort import Cohort
from .config import RunConfig, to_toml
from .kernel import N_TRACE
from .metrics import DAILY_VARIABLES
from .model.params import PARAM_NAMES, PARAM_UNITS
from .model.slow import MECHANISMS, MECHANISM_NAMES
from .traits import TRAIT_VARIABLES
from .reference import reference_patients

TRACE_VARIABLES = (
    ("bg", "mg/dL", "blood glucose (Gs/Vg) at the sample time"),
    ("cgm", "mg/dL", "latest CGM reading at the sample time"),
    ("insulin", "U", "insulin delivered over the sample interval"),
    ("carbs", "g", "carbohydrate eaten over the sample interval"),
    ("si_effective", "1", "multiplier on Vmx at the sample time relative to the start: slow "
     "sensitivity change x time of day x exercise x stress and illness"),
)
assert len(TRACE_VARIABLES) == N_TRACE

# what every task writes: a store missing any of these cannot be resumed
TASK_WRITTEN_VARIABLES = (*(v[0] for v in DAILY_VARIABLES), "status", "ir_share",
                          *(v[0] for v in TRACE_VARIABLES), "completed")

STATUS_ATTRS = {"units": "1", "long_name": "integration status",
                "flag_values": [0, 1], "flag_meanings": "ok glucose_nonfinite_or_exhausted_patient_stopped"}


def engine_version() -> str:
    try:
        return version("t1dmc")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Layout:
    """Sizes and chunking of a store, derived from the config alone."""
    n_scenarios: int
    n_patients: int
    n_days: int
    block_size: int
    traced_ids: tuple
    trace_interval_min: int

    @classmethod
    def from_config(cls, cfg: RunConfig, n_scenarios: int = 1) -> "Layout":
        return cls(n_scenarios, cfg.run.n_patients, cfg.run.days, cfg.block_size(),
                   tuple(cfg.traced_ids()), cfg.output.trace_interval_min)

    @property
    def n_blocks(self) -> int:
        return -(-self.n_patients // self.block_size)

    def block(self, b: int) -> slice:
        return slice(b * self.block_size, min((b + 1) * self.block_size, self.n_patients))

    @property
    def n_samples(self) -> int:
        return self.n_days * 1440 // self.trace_interval_min


def refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {str(path)!r} exists; pass --overwrite to replace it")


def _coordinate_values(values: list):
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([str(v) for v in values], dtype=object)


def _patient_variables(cohorts: list[Cohort], by_scenario: bool) -> dict:
    """Per-patient traits and parameters; with a scenario dimension only when scenarios
    differ in who the patients are (a swept cohort field or decorrelated random numbers)."""
    ref = reference_patients()
    dims = ("scenario", "patient") if by_scenario else ("patient",)
    used = cohorts if by_scenario else cohorts[:1]

    def stack(f):
        arrays = [f(c) for c in used]
        return np.stack(arrays) if by_scenario else arrays[0]

    bw = PARAM_NAMES.index("BW")
    return {
        "group": (dims, stack(lambda c: c.group.astype(object)),
                  {"long_name": "reference age group"}),
        "source_patient": (dims, stack(lambda c: np.array([ref.names[s] for s in c.source],
                                                           dtype=object)),
                           {"long_name": "reference patient resampled"}),
        "age": (dims, stack(lambda c: c.age_years), {"units": "year", "long_name": "age at start"}),
        "initial_weight_kg": (dims, stack(lambda c: c.params[:, bw]),
                              {"units": "kg", "long_name": "body weight at start"}),
        "physiology": ((*dims, "parameter"), stack(lambda c: c.params),
                       {"long_name": "UVA/Padova parameters of each patient",
                        "units": "per parameter: see the coordinate parameter_units"}),
        **{name: (dims, stack(lambda c, k=k: c.traits[:, k]), {"units": units, "long_name": ln})
           for k, (name, units, ln) in enumerate(TRAIT_VARIABLES) if name != "age0"},
    }


def create_store(path: Path, cfg: RunConfig, layout: Layout, scenarios: list,
                 cohorts: list[Cohort], cohort_by_scenario: bool) -> None:
    """Write the store's metadata, coordinates and per-patient variables; arrays stay empty.
    `scenarios` are `engine.scenarios.Scenario`s; `cohorts` one per scenario."""
    S, N, D = layout.n_scenarios, layout.n_patients, layout.n_days
    B, T = layout.block_size, layout.n_samples
    coords = {
        "scenario": ("scenario", np.arange(S), {"long_name": "scenario index"}),
        "scenario_name": ("scenario", np.array([s.name for s in scenarios], dtype=object),
                          {"long_name": "scenario label"}),
        "patient": ("patient", cohorts[0].patient_id,
                    {"long_name": "patient id (key of its random numbers)", "cf_role": "trajectory_id"}),
        "day": ("day", np.arange(D), {"units": "day", "long_name": "days since start"}),
        "time": ("time", np.arange(T) * layout.trace_interval_min,
                 {"units": "min", "long_name": "minutes since start of the run"}),
        "traced": ("traced", np.array(layout.traced_ids, dtype=np.int64),
                   {"long_name": "patient id of each traced patient"}),
        "parameter": ("parameter", np.array(PARAM_NAMES, dtype=object),
                      {"long_name": "UVA/Padova parameter name (simglucose's)"}),
        "mechanism": ("mechanism", np.array(MECHANISM_NAMES, dtype=object),
                      {"long_name": "mechanism of insulin resistance (MODEL.md section 2)"}),
        "mechanism_description": ("mechanism", np.array([m[1] for m in MECHANISMS], dtype=object),
                                  {"long_name": "what the mechanism is"}),
        "parameter_units": ("parameter", np.array([PARAM_UNITS[k] for k in PARAM_NAMES],
                                                  dtype=object),
                            {"long_name": "units of each parameter"}),
    }
    for path_ in scenarios[0].values:
        coords[path_] = ("scenario", _coordinate_values([s.values[path_] for s in scenarios]),
                         {"long_name": f"swept config field {path_}"})
    ds = xr.Dataset(coords=coords)
    daily_shape, daily_chunks = (S, N, D), (1, B, D)
    for name, units, long_name in DAILY_VARIABLES:
        ds[name] = (("scenario", "patient", "day"),
                    da.full(daily_shape, np.nan, dtype=np.float32, chunks=daily_chunks),
                    {"units": units, "long_name": long_name})
    ds["ir_share"] = (("scenario", "patient", "day", "mechanism"),
                      da.full((S, N, D, len(MECHANISM_NAMES)), np.nan, dtype=np.float32,
                              chunks=(1, B, D, len(MECHANISM_NAMES))),
                      {"units": "1", "long_name": "share of log si_peripheral explained by each "
                       "mechanism (log phi_k / log s_p; negative: the mechanism protects)"})
    ds["status"] = (("scenario", "patient", "day"),
                    da.zeros(daily_shape, dtype=np.int8, chunks=daily_chunks), STATUS_ATTRS)
    for name, units, long_name in TRACE_VARIABLES:
        ds[name] = (("scenario", "traced", "time"),
                    da.full((S, len(layout.traced_ids), T), np.nan, dtype=np.float32,
                            chunks=(1, 1, T)), {"units": units, "long_name": long_name})
    ds["completed"] = (("scenario", "patient"),
                       da.zeros((S, N), dtype=np.uint8, chunks=(1, B)),
                       {"units": "1", "long_name": "1 when the patient's results are written"})
    for name, var in _patient_variables(cohorts, cohort_by_scenario).items():
        ds[name] = var
    ds.attrs.update({
        "Conventions": "CF-1.10",
        "title": cfg.run.name,
        "featureType": "trajectory",
        "engine": "t1dmc",
        "engine_version": engine_version(),
        "seed": str(cfg.run.seed),
        "config_toml": to_toml(cfg),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "block_size": B,
        "common_random_numbers": int(cfg.sweep.common_random_numbers),
        "scenario_seeds": [str(s.seed) for s in scenarios],
        "source": "UVA/Padova S2008 (simglucose 0.2.11 parameters), RK4 at 1 min",
    })
    for var in ds.data_vars:
        ds[var].encoding = {}
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False)


def ir_share(log_phi: np.ndarray) -> np.ndarray:
    """(patient, day, mechanism) shares from the kernel's (mechanism, patient, day) log
    factors; NaN where s_p is 1 to within 1e-9 (nothing to attribute)."""
    total = log_phi.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(np.abs(total) > 1e-9, log_phi / total, np.nan)
    return np.moveaxis(share, 0, -1)


def write_block(path: Path, layout: Layout, scenario: int, block: int, daily: np.ndarray,
                log_phi: np.ndarray, status: np.ndarray, traces: np.ndarray,
                trace_rows: np.ndarray) -> None:
    """Write one task's region: its patients' daily variables, status and traces, then mark
    them complete (last, so a half-written block is never marked)."""
    group = zarr.open_group(str(path), mode="r+")
    sl = layout.block(block)
    for v, (name, _, _) in enumerate(DAILY_VARIABLES):
        group[name][scenario, sl, :] = daily[v].astype(np.float32)
    group["ir_share"][scenario, sl, :, :] = ir_share(log_phi).astype(np.float32)
    group["status"][scenario, sl, :] = status
    for k, row in enumerate(trace_rows):
        for v, (name, _, _) in enumerate(TRACE_VARIABLES):
            group[name][scenario, row, :] = traces[v, k]
    group["completed"][scenario, sl] = 1


def completed_blocks(path: Path, layout: Layout) -> np.ndarray:
    """(n_scenarios, n_blocks) bool: which tasks finished."""
    done = zarr.open_group(str(path), mode="r", use_consolidated=False)["completed"][...]
    out = np.zeros((layout.n_scenarios, layout.n_blocks), dtype=bool)
    for b in range(layout.n_blocks):
        out[:, b] = done[:, layout.block(b)].all(axis=1)
    return out


def inspect_store(path: Path) -> str:
    """What a store holds and how far its run got, readable even when it is incomplete."""
    try:
        group = zarr.open_group(str(path), mode="r", use_consolidated=False)
        attrs = dict(group.attrs)
    except Exception as err:  # noqa: BLE001 - whatever makes it unreadable, say so
        raise ValueError(f"{str(path)!r} is not a readable zarr store: {err}") from None
    if "config_toml" not in attrs:
        raise ValueError(f"{str(path)!r} is not a t1dmc store (no config_toml attribute): "
                         "its creation may have been interrupted")
    names = set(group.array_keys())
    lines = [f"store: {path}",
             f"title: {attrs.get('title')}   engine {attrs.get('engine_version')}   "
             f"created {attrs.get('created')}   seed {attrs.get('seed')}"]
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
        lines.append(f"completed: {int(done.sum()):,} of {total:,} patient-scenarios "
                     f"({100.0 * done.sum() / max(total, 1):.1f}%)"
                     + ("" if done.all() else "; finish with t1dmc run CONFIG -o STORE --resume"))
        missing = [name for name, _, _ in DAILY_VARIABLES if name not in names]
        if missing:
            lines.append(f"missing variables: {', '.join(missing)} (store damaged)")
    lines.append("config:")
    lines += ["  " + ln for ln in attrs["config_toml"].strip().splitlines()]
    return "\n".join(lines)


def finalize_store(path: Path) -> None:
    """Consolidate metadata once, at the end, so opening reads one document."""
    with warnings.catch_warnings():
        # zarr-python warns that consolidated metadata is not yet in the v3 specification;
        # xarray reads it, and without it opening still works.
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def open_results(path) -> xr.Dataset:
    return xr.open_zarr(path)


def remove_store(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
