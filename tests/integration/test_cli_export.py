"""`t1dmc export`: exit codes, messages, the table written, nothing replaced."""

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from engine.cli import main


@pytest.fixture
def store(small_config_path, tmp_path):
    out = tmp_path / "s.zarr"
    assert main(["run", str(small_config_path), "-o", str(out), "-q"]) == 0
    return out


def test_export_writes_each_shape_and_format_and_refuses_to_overwrite(store, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "days.csv"
    assert main(["export", str(store), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "exported 72 rows x" in said and "(one per patient-day)" in said and str(out) in said
    ds = xr.open_zarr(store)
    df = pd.read_csv(out)
    assert len(df) == 24 * 3
    assert np.array_equal(df.tir.to_numpy().astype(np.float32), ds.tir.values.reshape(-1))
    assert main(["export", str(store), "-o", str(out), "--per", "patient"]) == 2
    err = capsys.readouterr().err
    assert "exists (a file of" in err and "never replaces" in err
    assert len(pd.read_csv(out)) == 72  # untouched

    pytest.importorskip("pyarrow")
    per_patient = tmp_path / "patients.parquet"
    argv = ["export", str(store), "-o", str(per_patient)]  # .parquet: the format's default
    assert main([*argv, "--per", "patient", "--window", "2"]) == 0
    assert "exported 24 rows x" in capsys.readouterr().out
    table = pd.read_parquet(per_patient)
    assert len(table) == 24 and "tir_last2d" in table.columns and "status_max" in table.columns
    want = np.nanmean(ds.tir.values[:, :, 1:], axis=2).reshape(-1)
    assert np.array_equal(table.tir_last2d.to_numpy(), want)


def test_export_refuses_bad_input_with_exit_2_and_writes_nothing(store, tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["export", str(tmp_path / "missing.zarr"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["export", str(tmp_path / "notes.txt"), "-o", str(out)]) == 2
    assert "not a t1dmc results store" in capsys.readouterr().err
    assert main(["export", str(store), "-o", str(store / "t.csv")]) == 2
    assert "inside the t1dmc store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(store), "-o", str(out), "--per", "day"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["export", str(store), "-o", str(out), "--window", "0"])
    # options that would be ignored or contradict the output's name are refused, not obeyed
    assert main(["export", str(store), "-o", str(out), "--window", "3"]) == 2
    assert "--window 3: it sets the days a per-patient row averages" in capsys.readouterr().err
    assert main(["export", str(store), "-o", str(out), "--format", "parquet"]) == 2
    err = capsys.readouterr().err
    assert "its extension says csv; name the output t.parquet or leave --format out" in err
    assert not out.exists()


def test_export_parquet_without_pyarrow_says_how_to_install_it(
    store, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "t.parquet"
    assert main(["export", str(store), "-o", str(out), "--format", "parquet"]) == 2
    assert 'pip install "t1dmc[export]"' in capsys.readouterr().err
    assert not out.exists()


def test_export_help_says_what_a_per_patient_row_holds(capsys):
    from engine import cli
    from engine.analysis import export

    assert (cli.DEFAULT_WINDOW, cli.PARQUET_HINT) == (export.DEFAULT_WINDOW, export.PARQUET_HINT)
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"MEAN OVER THE LAST --window DAYS ({export.DEFAULT_WINDOW}" in text
    assert "one row per (scenario, patient, day)" in text
    assert export.PARQUET_HINT in text
