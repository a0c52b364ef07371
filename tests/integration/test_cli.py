"""The t1dmc command: exit codes, messages, nothing written on bad input."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from engine.cli import main


def test_bad_config_exits_2_names_the_field_and_writes_nothing(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[run]\nn_patients = 0\ndays = 3\n")
    out = tmp_path / "out.zarr"
    assert main(["run", str(cfg), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "run.n_patients = 0" in err and "greater than or equal to 1" in err
    assert not out.exists()


def test_unknown_field_and_bad_toml_exit_2(tmp_path, capsys):
    cfg = tmp_path / "typo.toml"
    cfg.write_text("[sensor]\nknd = 'none'\n")
    assert main(["run", str(cfg), "-o", str(tmp_path / "o.zarr")]) == 2
    assert "sensor.knd = 'none': unknown field" in capsys.readouterr().err
    cfg.write_text("[sensor\n")
    assert main(["run", str(cfg), "-o", str(tmp_path / "o.zarr")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "o.zarr")]) == 2
    assert not (tmp_path / "o.zarr").exists()


def test_run_refuses_an_existing_output_without_overwrite(small_config_path, tmp_path, capsys):
    out = tmp_path / "out.zarr"
    assert main(["run", str(small_config_path), "-o", str(out), "-q"]) == 0
    first = xr.open_zarr(out).glucose_mean.values
    assert main(["run", str(small_config_path), "-o", str(out), "-q"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert np.array_equal(xr.open_zarr(out).glucose_mean.values, first)
    assert (
        main(
            [
                "run",
                str(small_config_path),
                "-o",
                str(out),
                "-q",
                "--overwrite",
                "--block-size",
                "3",
            ]
        )
        == 0
    )
    captured = capsys.readouterr().out
    assert "TIR 70-180" in captured and "patient-days/s" in captured
    assert np.array_equal(xr.open_zarr(out).glucose_mean.values, first)


def test_replay_command_writes_csv(tmp_path, s1_traces):
    k = list(s1_traces["names"]).index("adult#001")
    inputs = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "carbs_g_per_min": s1_traces["carbs_g_per_min"][k],
            "insulin_u_per_min": s1_traces["insulin_u_per_min"][k],
        }
    ).to_csv(inputs, index=False)
    out = tmp_path / "out.csv"
    assert main(["replay", "adult#001", str(inputs), "-o", str(out)]) == 0
    df = pd.read_csv(out, comment="#")  # the first line: "# t1dmc VERSION replay of ..."
    assert len(df) == 1441
    assert np.abs(df["bg"].to_numpy() - s1_traces["bg"][k]).max() < 0.5
    assert main(["replay", "adult#001", str(inputs), "-o", str(out)]) == 2


@pytest.mark.parametrize(
    "content,needle",
    [
        ("carbs,insulin\n0,0\n", "missing column(s) carbs_g_per_min, insulin_u_per_min"),
        ("carbs_g_per_min,insulin_u_per_min\n0,0.01\n-3,0.01\n", "negative value -3.0 at minute 1"),
        ("carbs_g_per_min,insulin_u_per_min\n0,x\n", "column insulin_u_per_min is not numeric"),
        ("carbs_g_per_min,insulin_u_per_min\n", "no rows; the CSV needs one row per minute"),
    ],
)
def test_replay_command_rejects_bad_inputs(tmp_path, capsys, content, needle):
    inputs = tmp_path / "in.csv"
    inputs.write_text(content)
    assert main(["replay", "adult#001", str(inputs), "-o", str(tmp_path / "o.csv")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_console_script_is_installed_and_exits_2_on_bad_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[run]\ndays = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(cfg), "-o", str(tmp_path / "o.zarr")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "run.days = -1" in proc.stderr


def test_shipped_replay_example_runs(tmp_path):
    out = tmp_path / "replay.zarr"
    assert main(["replay", "adult#001", "configs/replay_adult001_S1.csv", "-o", str(out)]) == 0
    ds = xr.open_zarr(out)
    assert ds.sizes["minute"] == 1441 and ds.bg.attrs["units"] == "mg/dL"


def test_inspect_reports_scenarios_and_completion_even_when_incomplete(
    small_config_path, tmp_path, capsys
):
    import zarr

    out = tmp_path / "i.zarr"
    assert main(["run", str(small_config_path), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "scenario=1" in text and "patient=24" in text and "0: baseline" in text
    assert "completed: 24 of 24 patient-scenarios (100.0%)" in text
    assert 'name = "small"' in text
    zarr.open_group(str(out), mode="r+")["completed"][0, :8] = 0  # as if killed
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "completed: 16 of 24" in text and "--resume" in text
    (tmp_path / "junk.zarr").mkdir()
    assert main(["inspect", str(tmp_path / "junk.zarr")]) == 2
    err = capsys.readouterr().err
    assert "not a readable zarr store" in err or "not a t1dmc store" in err


def test_config_check_and_schema(tmp_path, capsys):
    import json

    assert main(["config", "check", "configs/quickstart.toml"]) == 0
    assert (
        "valid; 1 scenario(s) x 1000 patients x 30 days = 30,000 patient-days"
        in capsys.readouterr().out
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep.grid]\n"run.days" = [1, 2]\n')
    assert main(["config", "check", str(bad)]) == 2
    assert "run.days cannot be swept" in capsys.readouterr().err
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) >= {"run", "cohort", "meals", "sweep", "cluster"}
    assert schema["$defs"]["RunSection"]["properties"]["n_patients"]["minimum"] == 1


def test_bad_command_line_override_exits_2(small_config_path, tmp_path, capsys):
    assert (
        main(["run", str(small_config_path), "-o", str(tmp_path / "o.zarr"), "--block-size", "-3"])
        == 2
    )
    assert "--block-size -3: Input should be greater than or equal to 0" in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()
