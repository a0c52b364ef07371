"""`t1dmc export`: a results store as one table, CSV or Parquet, for people who do not use
xarray.

Two shapes (`per`):
- `patient-day` (the default): one row per (scenario, patient, day). Columns: the keys
  (`scenario`, `scenario_name` and each swept field, `patient`, `day`), the patient's
  per-patient variables (labels and traits: `group`, `source_patient`, `age`, `sex_male`, ...),
  then every per-day variable (`glucose_mean`, `tir`, ..., `status`). A per-day variable with a
  further dimension gives one column per coordinate: `ir_share_body_composition`, ...
- `patient`: one row per (scenario, patient). Columns: the keys, the per-patient variables and
  each UVA/Padova parameter (`physiology_BW`, ...), then every per-day variable as its mean
  over the last `window` days of the run (14 by default, the window of `t1dmc compare`;
  missing days skipped as compare skips them), named `<variable>_last<window>d`, and each
  integer per-day variable as its largest value over the whole run (`status_max`: 1 when the
  patient's integration failed and stopped on some day).

Traces (`bg`, `cgm`, `insulin`, `carbs` per 5 minutes) are not exported: they stay in the store.
Missing values (NaN) are empty fields in CSV and nulls in Parquet.

The store is read lazily, a piece at a time (one scenario and at most ROWS_PER_READ patient-days
of one task's block of patients), and each piece is written before the next is read, so memory
stays bounded whatever the store's size. The table is written to a temporary name beside the
output and moved into place when complete; an existing output is never replaced.
"""

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

FORMATS = ("csv", "parquet")
SHAPES = ("patient-day", "patient")
DEFAULT_WINDOW = 14
# patient-days read from the store at once: ~60 float32 columns, ~25 MB read, ~100 MB as a
# table with the traits repeated (10,000 x 30 days exported in 260 MB peak RSS, imports included)
ROWS_PER_READ = 100_000
PARQUET_HINT = 'pip install "t1dmc[export]"'
# per-patient labels first, in this order; the other per-patient variables follow
LEADING_PATIENT_COLUMNS = ("group", "source_patient", "age", "sex_male")


class ExportError(ValueError):
    """An export that cannot be made (exit status 2): a bad argument, a missing extra, an
    existing output."""


def require_pyarrow():
    """pyarrow and pyarrow.parquet, or ExportError saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ExportError(
            f"--format parquet needs pyarrow, which is not installed: {PARQUET_HINT}"
        ) from None
    return pyarrow, pyarrow.parquet


@dataclass
class Plan:
    """Which variables of a store become which columns."""

    scenario: list = field(default_factory=list)  # (scenario,): scenario_name, swept fields
    scenario_values: dict = field(default_factory=dict)  # their values, read once
    patient: list = field(default_factory=list)  # (patient,) or (scenario, patient)
    patient_wide: list = field(default_factory=list)  # (..., patient, X): physiology
    daily: list = field(default_factory=list)  # (scenario, patient, day[, X])


def _ordered(names: list, first) -> list:
    """`names` with those in `first` first, in its order; the others after, as they were."""
    rank = {n: k for k, n in enumerate(first)}
    return [n for _, _, n in sorted((rank.get(n, len(rank)), i, n) for i, n in enumerate(names))]


def plan(ds: xr.Dataset) -> Plan:
    """Sort the store's variables into the table's column groups; traces and anything else
    not indexed by patient are left out."""
    from ..model.glycaemia import DAILY_NAMES
    from ..store.results import patient_variables

    per_patient = (("patient",), ("scenario", "patient"))
    p = Plan()
    for name, var in ds.variables.items():
        dims = var.dims
        if name in ds.dims:  # index coordinates: scenario, patient, day, ... are keys or labels
            continue
        if dims == ("scenario",):
            p.scenario.append(name)
        elif dims in per_patient:
            p.patient.append(name)
        elif dims[:3] == ("scenario", "patient", "day") and len(dims) <= 4:
            p.daily.append(name)
        elif len(dims) >= 2 and dims[:-1] in per_patient:
            p.patient_wide.append(name)
    p.scenario_values = {name: _column(ds[name].values) for name in p.scenario}
    p.patient = _ordered(
        p.patient, (*LEADING_PATIENT_COLUMNS, *(v[0] for v in patient_variables()))
    )
    p.daily = _ordered(p.daily, (*DAILY_NAMES, "status"))
    return p


def _labels(ds: xr.Dataset, dim: str) -> list[str]:
    if dim in ds.coords:
        return [str(v) for v in ds[dim].values]
    return [str(k) for k in range(ds.sizes[dim])]


def _column(values: np.ndarray) -> np.ndarray:
    """Strings (numpy's StringDType or unicode) as objects, which pandas and pyarrow take."""
    if values.dtype.kind in ("T", "U", "S"):
        return values.astype(object)
    return values


def _pieces(ds: xr.Dataset, rows_per_read: int):
    """(scenario position, patient slice) of each read: within one task's block of patients
    (one shard of the store), at most `rows_per_read` patient-days."""
    n, days = ds.sizes["patient"], max(ds.sizes.get("day", 1), 1)
    try:
        block = int(ds.attrs.get("block_size") or 0)
    except (TypeError, ValueError):
        block = 0
    block = block if block > 0 else n
    step = max(1, min(block, rows_per_read // days))
    for s in range(ds.sizes["scenario"]):
        for start in range(0, n, block):
            stop = min(start + block, n)
            for lo in range(start, stop, step):
                yield s, slice(lo, min(lo + step, stop))


def _keys(ds: xr.Dataset, p: Plan, s: int, ids: np.ndarray, repeat: int) -> dict:
    """The key columns of a piece: scenario, its labels, patient (and day, by the caller)."""
    rows = ids.size * repeat
    cols = {"scenario": np.full(rows, ds["scenario"].values[s])}
    for name in p.scenario:
        value = p.scenario_values[name][s]
        cols[name] = np.full(rows, value, dtype=object if isinstance(value, str) else None)
    cols["patient"] = np.repeat(ids, repeat)
    return cols


def _patient_columns(piece: xr.Dataset, p: Plan, repeat: int, wide: bool) -> dict:
    cols = {}
    for name in p.patient:
        cols[name] = np.repeat(_column(piece[name].transpose("patient").values), repeat)
    if wide:
        for name in p.patient_wide:
            var = piece[name]
            extra = var.dims[-1]
            values = var.transpose("patient", extra).values
            for k, label in enumerate(_labels(piece, extra)):
                cols[f"{name}_{label}"] = _column(values[:, k])
    return cols


def _blank_unwritten(ds, cols: dict, s: int, sl: slice, repeat: int) -> None:
    """The rows of patients whose task has not finished (`completed` 0) hold the store's fill
    values, NaN but also 0 in whole-number columns, which would read as values (status 0,
    sex_male 0), or what a killed task wrote of them: every value column is made missing
    (export --allow-incomplete)."""
    if "completed" not in ds:
        return
    written = ds["completed"].isel(scenario=s, patient=sl).values.astype(bool)
    if written.all():
        return
    unwritten = np.repeat(~written, repeat)
    keys = {"scenario", "patient", "day", "completed", *ds["scenario"].coords}
    for name, values in cols.items():
        kind = getattr(values, "dtype", np.dtype(object)).kind
        if name in keys:
            continue
        if kind == "f":
            column = values.copy()
            column[unwritten] = np.nan
        elif kind in "iub":
            bits = 8 * values.dtype.itemsize
            nullable = "boolean" if kind == "b" else f"{'U' if kind == 'u' else ''}Int{bits}"
            column = pd.array(values, dtype=nullable)
            column[unwritten] = pd.NA
        else:  # strings: a patient's group, drawn before the run, is kept
            continue
        cols[name] = column


def _patient_day_frame(ds, p: Plan, s: int, sl: slice) -> pd.DataFrame:
    piece = ds[p.patient + p.daily].isel(scenario=s, patient=sl).compute()
    ids = ds["patient"].values[sl]
    days = ds["day"].values
    cols = _keys(ds, p, s, ids, days.size)
    cols["day"] = np.tile(days, ids.size)
    cols.update(_patient_columns(piece, p, days.size, wide=False))
    for name in p.daily:
        var = piece[name]
        values = var.transpose("patient", "day", ...).values
        if values.ndim == 2:
            cols[name] = values.reshape(-1)
        else:
            for k, label in enumerate(_labels(piece, var.dims[-1])):
                cols[f"{name}_{label}"] = values[:, :, k].reshape(-1)
    _blank_unwritten(ds, cols, s, sl, days.size)
    return pd.DataFrame(cols, copy=False)


def _patient_frame(ds, p: Plan, s: int, sl: slice, window: int) -> pd.DataFrame:
    n_days = ds.sizes["day"]
    last = slice(max(0, n_days - window), n_days)
    floats = [n for n in p.daily if ds[n].dtype.kind == "f"]
    whole = [n for n in p.daily if ds[n].dtype.kind != "f"]  # status: over the whole run
    piece = ds[p.patient + p.patient_wide + whole].isel(scenario=s, patient=sl).compute()
    recent = ds[floats].isel(scenario=s, patient=sl, day=last).compute()
    ids = ds["patient"].values[sl]
    cols = _keys(ds, p, s, ids, 1)
    cols.update(_patient_columns(piece, p, 1, wide=True))
    with warnings.catch_warnings():  # a patient with no day in the window: NaN, said in --help
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for name in floats:
            var = recent[name]
            values = np.nanmean(var.transpose("patient", "day", ...).values, axis=1)
            if values.ndim == 1:
                cols[f"{name}_last{window}d"] = values
            else:
                for k, label in enumerate(_labels(recent, var.dims[-1])):
                    cols[f"{name}_{label}_last{window}d"] = values[:, k]
    for name in whole:
        values = piece[name].transpose("patient", "day", ...).values
        cols[f"{name}_max"] = values.reshape(values.shape[0], -1).max(axis=1)
    _blank_unwritten(ds, cols, s, sl, 1)
    return pd.DataFrame(cols, copy=False)


class _CsvWriter:
    def __init__(self, path: Path):
        self.file = open(path, "x", encoding="utf-8", newline="")
        self.header = True

    def write(self, df: pd.DataFrame) -> None:
        df.to_csv(self.file, index=False, header=self.header)
        self.header = False

    def close(self) -> None:
        self.file.close()


class _ParquetWriter:
    def __init__(self, path: Path):
        self.pa, self.pq = require_pyarrow()
        self.path = path
        self.writer = None
        self.schema = None

    def write(self, df: pd.DataFrame) -> None:
        table = self.pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        if self.writer is None:
            self.schema = table.schema
            # a name no one else uses (storeguard's temporary): created here, never replaced
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            self.sink = os.fdopen(fd, "wb")
            self.writer = self.pq.ParquetWriter(self.sink, self.schema, compression="zstd")
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.sink.close()


def write_table(
    ds: xr.Dataset,
    path: Path,
    fmt: str = "csv",
    per: str = "patient-day",
    window: int = DEFAULT_WINDOW,
    progress=None,
    rows_per_read: int = ROWS_PER_READ,
) -> dict:
    """Write the store `ds` (opened lazily) as one table at `path`, a new file (created
    exclusively). `progress(done, total)` is called with the rows written. Returns the rows,
    the columns and the seconds it took."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    if per not in SHAPES:
        raise ExportError(f"--per {per!r}: one of {', '.join(SHAPES)}")
    if window < 1:
        raise ExportError(f"--window {window}: must be at least 1 day")
    t0 = time.perf_counter()
    p = plan(ds)
    if not p.daily:
        raise ExportError("the store holds no per-day variables (scenario, patient, day)")
    per_patient = per == "patient"
    total = ds.sizes["scenario"] * ds.sizes["patient"] * (1 if per_patient else ds.sizes["day"])
    writer = _ParquetWriter(path) if fmt == "parquet" else _CsvWriter(path)
    rows, columns = 0, []
    try:
        for s, sl in _pieces(ds, rows_per_read):
            if per_patient:
                df = _patient_frame(ds, p, s, sl, window)
            else:
                df = _patient_day_frame(ds, p, s, sl)
            writer.write(df)
            rows += len(df)
            columns = list(df.columns)
            if progress is not None:
                progress(rows, total)
    finally:
        writer.close()
    return {"rows": rows, "columns": columns, "seconds": time.perf_counter() - t0}


def describe_existing(path: Path) -> str:
    """What is at `path`, for the refusal to replace it."""
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)!r}"
    if path.is_dir():
        entries = os.listdir(path)
        from ..store.storeguard import read_attrs

        attrs = read_attrs(path)
        if attrs is not None and attrs.get("engine") == "t1dmc":
            return f"a t1dmc store (a folder of {len(entries)} entries)"
        return f"a folder of {len(entries)} entries"
    st = path.stat()
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    return f"a file of {st.st_size:,} bytes, modified {when}"


def export_store(
    store,
    output,
    fmt: str = "csv",
    per: str = "patient-day",
    window: int = DEFAULT_WINDOW,
    allow_incomplete: bool = False,
    progress=None,
) -> dict:
    """Export the results store `store` as the table `output` (see the module's docstring).
    Refuses (ExportError, storeguard.UnsafeOutput) before reading: an existing `output`, an
    output inside the store, a missing pyarrow for parquet, an incomplete store unless
    `allow_incomplete`. Written to a temporary name beside `output`, then renamed."""
    from ..store.storeguard import refuse_unsafe_target, write_output
    from .compare import incomplete_message, open_store, refuse_output_in_store

    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        require_pyarrow()
    out = Path(output)
    refuse_unsafe_target(out)
    refuse_output_in_store(out, store)
    if os.path.lexists(out):
        raise ExportError(
            f"output {str(out)!r} exists ({describe_existing(out)}); export never replaces "
            "anything: choose another path, or remove it first"
        )
    ds = open_store(store)
    incomplete = incomplete_message(store, ds)
    if incomplete and not allow_incomplete:
        raise ExportError(f"{incomplete} or pass --allow-incomplete")
    facts = {}

    def write(tmp: Path) -> None:
        facts.update(write_table(ds, tmp, fmt, per, window, progress))

    write_output(out, False, lambda _path: False, write, "output")
    facts["path"] = str(out)
    return facts
