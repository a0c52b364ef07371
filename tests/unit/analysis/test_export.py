"""engine.analysis.export: a store as one table per patient-day or per patient, CSV or Parquet,
read a piece at a time, written under a temporary name, never replacing anything."""

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from engine.analysis import export
from engine.analysis.export import ExportError, export_store, write_table
from engine.store.storeguard import UnsafeOutput

pyarrow = pytest.importorskip("pyarrow")  # the `export` extra, in the `test` extra

N, DAYS = 20, 3
CONFIG = {
    "run": {"name": "export", "seed": 5, "n_patients": N, "days": DAYS},
    "cohort": {"groups": {"adult": 1.0, "child": 1.0}},
    "output": {"traced": 2},
    "execution": {"block_size": 8},
    "sweep": {"grid": {"therapy.kind": ["intensive", "conventional"]}},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from engine.api import run

    path = tmp_path_factory.mktemp("export") / "s.zarr"
    run(CONFIG, path, quiet=True)
    return path


@pytest.fixture(scope="module")
def ds(store):
    from engine.store.results import open_results

    return open_results(store)  # with the derived ir_share, as export reads it


def daily_names(ds):
    return [n for n, v in ds.data_vars.items() if v.dims == ("scenario", "patient", "day")]


def patient_names(ds):
    """Per-patient variables: the device flags, which follow each scenario's therapy, with a
    scenario dimension (results.SCENARIO_FLAGS)."""
    return [
        n
        for n, v in ds.data_vars.items()
        if v.dims == ("patient",) or (v.dims == ("scenario", "patient") and n != "completed")
    ]


def test_per_patient_day_has_one_row_per_scenario_patient_day_with_the_stores_values(
    store, ds, tmp_path
):
    out = tmp_path / "t.csv"
    facts = export_store(store, out)
    df = pd.read_csv(out)
    S = ds.sizes["scenario"]
    assert facts["rows"] == len(df) == S * N * DAYS == 120
    assert list(df.columns) == facts["columns"]
    assert list(df.columns[:5]) == ["scenario", "scenario_name", "therapy.kind", "patient", "day"]
    assert df.columns[5] == "group"
    mechanisms = [str(m) for m in ds.mechanism.values]
    expected = {*daily_names(ds), *patient_names(ds), "completed"}
    expected |= {f"{v}_{m}" for m in mechanisms for v in ("log_phi", "ir_share")}
    assert set(df.columns[5:]) == expected
    # rows in (scenario, patient, day) order
    keys = np.array(np.meshgrid(range(S), range(N), range(DAYS), indexing="ij")).reshape(3, -1)
    assert (df[["scenario", "patient", "day"]].to_numpy().T == keys).all()
    assert list(df.scenario_name.unique()) == [str(v) for v in ds.scenario_name.values]
    assert list(df["therapy.kind"].unique()) == ["intensive", "conventional"]
    # every per-day value is the store's, to the bit of its float32
    for name in daily_names(ds):
        got = df[name].to_numpy()
        want = ds[name].values.reshape(-1)
        if want.dtype.kind == "f":
            assert np.array_equal(got.astype(np.float32), want, equal_nan=True), name
        else:
            assert np.array_equal(got, want), name
    shares = ds.ir_share.values
    for k, m in enumerate(mechanisms):
        got = df[f"ir_share_{m}"].to_numpy().astype(np.float32)
        assert np.array_equal(got, shares[..., k].reshape(-1), equal_nan=True), m
    # per-patient traits repeated on each of the patient's days, in every scenario
    for name in ("age", "sex_male", "initial_weight_kg"):
        want = np.tile(np.repeat(ds[name].values, DAYS), S)
        assert np.array_equal(df[name].to_numpy(), want), name
    groups = [str(g) for g in ds.group.values]
    assert list(df.group) == [g for _ in range(S) for g in groups for _ in range(DAYS)]


def test_parquet_holds_the_same_table_with_the_stores_types(store, ds, tmp_path):
    export_store(store, tmp_path / "t.csv")
    export_store(store, tmp_path / "t.parquet", fmt="parquet")
    table = pyarrow.parquet.read_table(tmp_path / "t.parquet")
    assert table.schema.field("glucose_mean").type == pyarrow.float32()
    assert table.schema.field("status").type == pyarrow.int8()
    from_parquet = table.to_pandas()
    from_csv = pd.read_csv(tmp_path / "t.csv")
    assert list(from_parquet.columns) == list(from_csv.columns)
    for name in from_csv.columns:
        a, b = from_parquet[name].to_numpy(), from_csv[name].to_numpy()
        if from_parquet[name].dtype == np.float32:
            b = b.astype(np.float32)
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), name
        else:
            assert list(a.astype(str)) == list(b.astype(str)), name


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # a variable with no value yet
def test_per_patient_has_one_row_per_scenario_patient_and_window_means(store, ds, tmp_path):
    out = tmp_path / "p.csv"
    facts = export_store(store, out, per="patient", window=2)
    df = pd.read_csv(out)
    S = ds.sizes["scenario"]
    assert facts["rows"] == len(df) == S * N
    assert "day" not in df.columns
    assert (df.patient.to_numpy() == np.tile(np.arange(N), S)).all()
    for name in daily_names(ds):
        if name == "status":
            continue
        assert f"{name}_last2d" in df.columns and name not in df.columns
        window = ds[name].isel(day=slice(DAYS - 2, DAYS)).values  # (S, N, 2)
        want = np.nanmean(window, axis=2).reshape(-1)
        got = df[f"{name}_last2d"].to_numpy().astype(np.float32)
        assert np.array_equal(got, want, equal_nan=True), name
    assert (df.status_max.to_numpy() == ds.status.values.max(axis=2).reshape(-1)).all()
    params = [str(p) for p in ds.parameter.values]
    assert {f"physiology_{p}" for p in params} <= set(df.columns)
    bw = ds.physiology.sel(parameter="BW").values
    assert np.array_equal(df.physiology_BW.to_numpy(), np.tile(bw, S))
    # the default window is 14 days: longer than this run, so every day is averaged
    export_store(store, tmp_path / "p14.csv", per="patient")
    whole = pd.read_csv(tmp_path / "p14.csv")
    want = np.nanmean(ds.tir.values, axis=2).reshape(-1)
    assert np.array_equal(whole.tir_last14d.to_numpy().astype(np.float32), want)


@pytest.mark.parametrize("per", ["patient-day", "patient"])
def test_reading_in_small_pieces_writes_the_same_table(ds, tmp_path, per):
    """Pieces of 5 patient-days (within each block of 8 patients) and one piece per block."""
    write_table(ds, tmp_path / "small.csv", per=per, rows_per_read=5)
    write_table(ds, tmp_path / "large.csv", per=per)
    assert (tmp_path / "small.csv").read_bytes() == (tmp_path / "large.csv").read_bytes()
    pieces = list(export._pieces(ds, 5))
    assert {sl.stop - sl.start for _, sl in pieces} == {1}  # 5 patient-days: 1 patient of 3 days
    blocks = list(export._pieces(ds, 10**9))
    assert [(s, sl.start, sl.stop) for s, sl in blocks] == [
        (s, a, b) for s in range(2) for a, b in ((0, 8), (8, 16), (16, 20))
    ]


def test_an_existing_output_is_refused_saying_what_is_there(store, tmp_path):
    out = tmp_path / "t.csv"
    out.write_text("my own table\n")
    with pytest.raises(ExportError, match=r"exists \(a file of 13 bytes, modified .*\); export"):
        export_store(store, out)
    assert out.read_text() == "my own table\n"
    folder = tmp_path / "folder.parquet"
    folder.mkdir()
    (folder / "x").write_text("x")
    with pytest.raises(ExportError, match=r"exists \(a folder of 1 entries\)"):
        export_store(store, folder, fmt="parquet")
    assert [p.name for p in folder.iterdir()] == ["x"]
    other = tmp_path / "other.zarr"
    shutil.copytree(store, other)
    with pytest.raises(ExportError, match=r"exists \(a t1dmc store \(a folder of \d+ entries"):
        export_store(store, other)
    with pytest.raises(UnsafeOutput, match="is the store being read"):
        export_store(store, store)
    with pytest.raises(UnsafeOutput, match="inside the (store being read|t1dmc store)"):
        export_store(store, store / "t.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.parquet", "other.zarr", "t.csv"]
    assert not (store / "t.csv").exists()


def test_a_failed_export_leaves_nothing_behind(store, tmp_path, monkeypatch):
    calls = []
    real = export._patient_day_frame

    def fail_on_the_second_piece(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(export, "_patient_day_frame", fail_on_the_second_piece)
    for fmt in ("csv", "parquet"):
        calls.clear()
        with pytest.raises(OSError, match="No space left"):
            export_store(store, tmp_path / f"t.{fmt}", fmt=fmt)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary


def test_parquet_without_pyarrow_says_how_to_install_it(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ExportError, match=r'needs pyarrow.*pip install "t1dmc\[export\]"'):
        export_store(store, tmp_path / "t.parquet", fmt="parquet")
    assert list(tmp_path.iterdir()) == []


def test_an_incomplete_store_is_refused_unless_allowed(store, tmp_path):
    import zarr

    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    completed = zarr.open_group(str(copy), mode="r+")["completed"]
    completed[1, 16:] = 0
    with pytest.raises(ExportError, match="incomplete: 36 of 40 .* or pass --allow-incomplete"):
        export_store(copy, tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()
    export_store(copy, tmp_path / "t.csv", per="patient", allow_incomplete=True)
    df = pd.read_csv(tmp_path / "t.csv")
    assert len(df) == 40 and df.completed.tolist() == [1] * 36 + [0] * 4
    # the patients not written have no values, whole numbers included (the store's fill, 0,
    # would read as "not stopped", "female"): empty, as their floats are
    unwritten, written = df[df.completed == 0], df[df.completed == 1]
    for name in ("status_max", "sex_male", "uses_cgm", "hba1c_last14d"):
        assert unwritten[name].isna().all() and written[name].notna().all(), name
    export_store(copy, tmp_path / "t.parquet", fmt="parquet", allow_incomplete=True)
    daily = pd.read_parquet(tmp_path / "t.parquet")
    late = daily.completed == 0 if "completed" in daily else daily.patient.isin(unwritten.patient)
    assert daily.loc[late & (daily.scenario == 1), "status"].isna().all()
    assert daily.loc[~(late & (daily.scenario == 1)), "status"].notna().all()


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"fmt": "xlsx"}, "--format 'xlsx': one of csv, parquet"),
        ({"per": "day"}, "--per 'day': one of patient-day, patient"),
        ({"window": 0}, "--window 0: must be at least 1 day"),
    ],
)
def test_bad_arguments_are_refused(ds, tmp_path, kwargs, needle):
    with pytest.raises(ExportError) as err:
        write_table(ds, tmp_path / "t.csv", **kwargs)
    assert needle in str(err.value)
    assert not (tmp_path / "t.csv").exists()
