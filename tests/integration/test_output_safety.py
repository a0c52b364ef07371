"""A user's files are never lost to the commands other than `run`: `replay`, `compare -o` and
`report -o` replace only outputs t1dmc wrote (storeguard.write_output), never `.`, a link or a
folder of the user's; `compare` says how many patients it used and refuses an incomplete or
foreign store; bad input ends in a message and exit 2, damage in a message and exit 1, never a
traceback."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from engine.analysis import report
from engine.batch.config import ConfigError, load_config
from engine.cli import main
from engine.store import storeguard

ROOT = Path(__file__).resolve().parents[2]
REPLAY_INPUTS = ROOT / "configs" / "replay_adult001_S1.csv"
THESIS = b"chapter 1\n\x00\xffmy only copy\n"

CONFIG = """
[run]
seed = 5
n_patients = 8
days = 2

[output]
traced = 1

[execution]
block_size = 4

[sweep.grid]
"therapy.target_mg_dl" = [140, 110]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A finished two-scenario store (8 patients x 2 days); tests copy it to change it."""
    folder = tmp_path_factory.mktemp("store")
    cfg = folder / "c.toml"
    cfg.write_text(CONFIG)
    out = folder / "s.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    return out


def copy_store(store: Path, tmp_path: Path, name="copy.zarr") -> Path:
    dst = tmp_path / name
    shutil.copytree(store, dst)
    return dst


def users_folder(tmp_path: Path, name="mine") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "thesis.txt").write_bytes(THESIS)
    return d


def snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def tree_bytes(path: Path) -> dict:
    return snapshot(path) if path.is_dir() else {"": path.read_bytes()}


# every command with an output, with that output's placeholder {out} (suffix-free commands
# get the suffix of their format where one is needed)
def commands(store: Path) -> dict:
    return {
        "replay csv": ["replay", "adult#001", str(REPLAY_INPUTS), "-o", "{out}"],
        "compare": ["compare", str(store), "-o", "{out}"],
        "report": ["report", str(store), "-o", "{out}"],
    }


def with_out(argv: list, out) -> list:
    return [str(out) if a == "{out}" else a for a in argv]


# -------------------------------------------------------------------------------- user files


@pytest.mark.parametrize("name", ["run", "replay csv", "compare", "report"])
def test_a_name_too_long_for_the_filesystem_is_refused_as_such(store, tmp_path, capsys, name):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    argv = {**commands(store), "run": ["run", str(cfg), "-o", "{out}", "-q"]}[name]
    out = tmp_path / ("a" * 300 + ".out")  # the filesystem's limit is 255 bytes a name
    assert main(with_out(argv, out)) == 2
    err = capsys.readouterr().err
    assert "File name too long; name another path" in err and "unexpected" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@pytest.mark.parametrize("name", ["replay csv", "compare", "report"])
def test_overwrite_never_replaces_a_users_folder(store, tmp_path, capsys, name):
    mine = users_folder(tmp_path)
    before = snapshot(mine)
    assert main(with_out(commands(store)[name], mine) + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "t1dmc: error:" in err and "Traceback" not in err
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left


@pytest.mark.parametrize(
    "suffix,name",
    [(".zarr", "replay zarr"), (".zarr", "compare"), (".json", "compare"), (".csv", "replay csv")],
)
def test_a_users_folder_or_file_named_like_an_output_is_not_replaced(
    store, tmp_path, capsys, suffix, name
):
    argv = {
        **commands(store),
        "replay zarr": ["replay", "adult#001", str(REPLAY_INPUTS), "-o", "{out}"],
    }[name]
    if suffix == ".zarr":
        target = users_folder(tmp_path, "mine.zarr")
    else:
        target = tmp_path / f"mine{suffix}"
        target.write_bytes(THESIS)
    before = tree_bytes(target)
    assert main(with_out(argv, target) + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "the engine did not write" in err and "choose another path" in err
    if suffix == ".zarr":  # what the folder holds is named
        assert "holding " in err and sorted(p.name for p in target.iterdir())[0] in err, err
    assert tree_bytes(target) == before
    # without --overwrite: the same refusal, with no hint to pass a flag that would not be obeyed
    assert main(with_out(argv, target)) == 2
    err = capsys.readouterr().err
    assert "the engine did not write" in err and "--overwrite" not in err
    assert tree_bytes(target) == before


@pytest.mark.parametrize("name", ["replay csv", "compare", "report"])
@pytest.mark.parametrize("dot", [".", "./", ""])
def test_the_working_folder_is_never_an_output(store, tmp_path, monkeypatch, capsys, name, dot):
    work = users_folder(tmp_path, "work")
    monkeypatch.chdir(work)
    before = snapshot(work)
    assert main(with_out(commands(store)[name], dot) + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "working folder" in err
    assert snapshot(work) == before


@pytest.mark.parametrize("name", ["replay csv", "compare", "report"])
def test_a_parent_of_the_working_folder_is_never_an_output(
    store, tmp_path, monkeypatch, capsys, name
):
    mine = users_folder(tmp_path)
    (mine / "sub").mkdir()
    monkeypatch.chdir(mine / "sub")
    before = snapshot(mine)
    assert main(with_out(commands(store)[name], "..") + ["--overwrite"]) == 2
    assert "never an output" in capsys.readouterr().err
    assert snapshot(mine) == before


@pytest.mark.parametrize(
    "name,suffix",
    [
        ("replay csv", ".csv"),
        ("replay csv", ".zarr"),
        ("compare", ".json"),
        ("compare", ".zarr"),
        ("report", ""),
    ],
)
def test_a_symlinked_output_is_refused_and_its_target_untouched(
    store, tmp_path, capsys, name, suffix
):
    mine = users_folder(tmp_path)
    link = tmp_path / f"link{suffix}"
    link.symlink_to(mine, target_is_directory=True)
    before = snapshot(mine)
    assert main(with_out(commands(store)[name], link) + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and "never writes through links" in err
    assert link.is_symlink() and Path(link.readlink()) == mine
    assert snapshot(mine) == before


def test_the_home_folder_is_never_an_output(store, tmp_path, monkeypatch, capsys):
    home = users_folder(tmp_path, "home")
    monkeypatch.setenv("HOME", str(home))
    before = snapshot(home)
    assert main(["report", str(store), "-o", str(home), "--overwrite"]) == 2
    assert "never an output" in capsys.readouterr().err
    assert snapshot(home) == before


@pytest.mark.parametrize(
    "cmd,inside",
    [
        ("compare", ""),
        ("compare", "c.json"),
        ("compare", "tir/c.zarr"),
        ("report", ""),
        ("report", "rep"),
    ],
)
def test_an_output_is_never_the_store_read_or_inside_it(store, tmp_path, capsys, cmd, inside):
    s = copy_store(store, tmp_path)
    before = snapshot(s)
    out = s / inside if inside else s
    assert main([cmd, str(s), "-o", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert ("the store being read" if not inside else "lies inside the t1dmc store") in err
    assert snapshot(s) == before and sorted(p.name for p in s.iterdir()) == sorted(
        p.name for p in store.iterdir()
    )


@pytest.mark.parametrize("out", ["r.txt", "r", "r.parquet"])
def test_replay_refuses_an_output_format_it_does_not_write(tmp_path, capsys, out):
    assert main(["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(tmp_path / out)]) == 2
    assert "name a .csv or a .zarr output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_compare_refuses_an_output_format_it_does_not_write(store, tmp_path, capsys):
    assert main(["compare", str(store), "-o", str(tmp_path / "c.csv")]) == 2
    assert "name a .json or a .zarr output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_output_into_a_missing_folder_names_the_folder(store, tmp_path, capsys):
    for argv in (["replay", "adult#001", str(REPLAY_INPUTS), "-o"], ["compare", str(store), "-o"]):
        for suffix in (".csv", ".zarr") if argv[0] == "replay" else (".json", ".zarr"):
            out = tmp_path / "no" / "such" / f"out{suffix}"
            assert main(argv + [str(out)]) == 2
            err = capsys.readouterr().err
            assert f"folder {str(tmp_path / 'no' / 'such')!r} does not exist" in err
    assert main(["report", str(store), "-o", str(tmp_path / "no" / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_output_being_written_by_a_run_is_not_replaced(store, tmp_path, capsys):
    busy = copy_store(store, tmp_path, "busy.zarr")
    lock = storeguard._Lock(busy).acquire()  # as a running `t1dmc run` holds it
    try:
        before = snapshot(busy)
        assert main(["compare", str(store), "-o", str(busy), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "is being written by a run (PID" in err
        assert snapshot(busy) == before
    finally:
        lock.release()


# ------------------------------------------------------------ the engine's own outputs: again


def test_replay_csv_is_replaced_by_overwrite_with_identical_content(tmp_path, capsys):
    out = tmp_path / "r.csv"
    argv = ["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(out)]
    assert main(argv) == 0
    first = out.read_bytes()
    header = first.split(b"\n")[0]
    assert header.startswith(b"# t1dmc ") and header.endswith(b" replay of adult#001")
    assert storeguard.is_t1dmc_csv(out)
    assert main(argv) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    assert out.read_bytes() == first
    df = pd.read_csv(out, comment="#")
    assert len(df) == 1441 and {"bg", "carbs", "insulin"} <= set(df.columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_replay_zarr_is_tagged_and_replaced_by_overwrite_with_identical_content(tmp_path):
    out = tmp_path / "r.zarr"
    argv = ["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(out)]
    assert main(argv) == 0
    assert storeguard.is_t1dmc_zarr(out)
    with xr.open_zarr(out) as ds:
        first = {k: ds[k].values for k in ds.variables}
        assert ds.attrs["engine"] == "t1dmc" and ds.sizes["minute"] == 1441
    assert main(argv + ["--overwrite"]) == 0
    with xr.open_zarr(out) as ds:
        again = {k: ds[k].values for k in ds.variables}
    assert set(first) == set(again)
    for k in first:
        assert np.array_equal(first[k], again[k], equal_nan=first[k].dtype.kind == "f"), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]


def test_compare_json_is_tagged_and_replaced_by_overwrite_with_identical_content(
    store, tmp_path, capsys
):
    out = tmp_path / "c.json"
    assert main(["compare", str(store), "-o", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    first = out.read_bytes()
    doc = json.loads(first)
    assert doc == printed and doc["engine"] == "t1dmc"
    assert all(r["n_patients"] == 8 for r in doc["rows"])
    assert main(["compare", str(store), "-o", str(out)]) == 2
    assert main(["compare", str(store), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() == first


def test_compare_zarr_is_tagged_and_replaced_by_overwrite_with_identical_content(store, tmp_path):
    out = tmp_path / "c.zarr"
    assert main(["compare", str(store), "-o", str(out)]) == 0
    assert storeguard.is_t1dmc_zarr(out)
    with xr.open_zarr(out) as ds:
        first = ds.load()
    assert main(["compare", str(store), "-o", str(out), "--overwrite"]) == 0
    with xr.open_zarr(out) as ds:
        xr.testing.assert_identical(ds.load(), first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]


def test_report_is_tagged_and_replaced_by_overwrite_with_identical_content(store, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(store), "-o", str(out)]) == 0
    assert report.is_t1dmc_report(out)
    page = (out / "report.html").read_text()
    assert '<meta name="generator" content="t1dmc ' in page
    first = snapshot(out)
    assert main(["report", str(store), "-o", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["report", str(store), "-o", str(out), "--overwrite"]) == 0
    assert snapshot(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_a_report_folder_with_a_users_file_added_is_not_replaced(store, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(store), "-o", str(out)]) == 0
    (out / "notes.txt").write_bytes(THESIS)
    before = snapshot(out)
    assert not report.is_t1dmc_report(out)
    assert main(["report", str(store), "-o", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "a folder holding what the engine did not write: notes.txt;" in err
    assert snapshot(out) == before
    # a results store is not a report folder, and the refusal says which it is
    other = copy_store(store, tmp_path)
    assert main(["report", str(store), "-o", str(other), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "is a t1dmc results store" in err, err
    assert main(["report", str(store), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the engine did not write" in err and "--overwrite" not in err
    assert snapshot(out) == before


def test_an_empty_folder_takes_a_report(store, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["report", str(store), "-o", str(out)]) == 0
    assert report.is_t1dmc_report(out)


# ------------------------------------------------------------------- compare: what it rests on


def test_compare_refuses_an_incomplete_store_and_says_n_when_allowed(store, tmp_path, capsys):
    part = copy_store(store, tmp_path)
    zarr.open_group(str(part), mode="r+", use_consolidated=False)["completed"][1, :4] = 0
    assert main(["compare", str(part)]) == 2
    err = capsys.readouterr().err
    assert "is incomplete: 12 of 16 patient-scenarios written" in err
    assert "--resume" in err and "--allow-incomplete" in err
    assert main(["compare", str(part), "--allow-incomplete"]) == 0
    out = capsys.readouterr().out
    assert "n = 4 patients per scenario (paired" in out
    assert "INCOMPLETE STORE: 12 of 16 patient-scenarios written" in out
    assert main(["compare", str(part), "--allow-incomplete", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["n_patients"] for r in doc["rows"] if r["scenario"] == 1} == {4}
    assert doc["patient_scenarios_written"] == 12


def test_compare_always_prints_n(store, capsys):
    assert main(["compare", str(store)]) == 0
    out = capsys.readouterr().out
    assert "n = 8 patients per scenario (paired" in out
    row = next(line for line in out.splitlines() if "TDD per kg" in line)
    assert row.split()[-1] == "8"


def test_compare_and_report_refuse_a_store_that_is_not_t1dmcs(tmp_path, capsys):
    other = tmp_path / "other.zarr"
    xr.Dataset(
        {"x": (("scenario", "patient"), np.ones((2, 3)))}, coords={"scenario": [0, 1]}
    ).to_zarr(other, zarr_format=3, consolidated=False)
    before = snapshot(other)
    assert main(["compare", str(other)]) == 2
    assert "not a t1dmc results store" in capsys.readouterr().err
    assert main(["report", str(other), "-o", str(tmp_path / "r")]) == 2
    assert "not a t1dmc results store" in capsys.readouterr().err
    assert snapshot(other) == before and not (tmp_path / "r").exists()
    # a t1dmc output that is not a results store: a replay
    replayed = tmp_path / "replay.zarr"
    assert main(["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(replayed)]) == 0
    assert main(["compare", str(replayed)]) == 2
    assert "not a t1dmc results store" in capsys.readouterr().err


def test_report_on_an_incomplete_store_says_so(store, tmp_path, capsys):
    part = copy_store(store, tmp_path)
    zarr.open_group(str(part), mode="r+", use_consolidated=False)["completed"][0, :4] = 0
    assert main(["report", str(part), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is incomplete: 12 of 16" in err and "--resume" in err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- damaged stores


def damage(store: Path, tmp_path: Path, how: str) -> Path:
    bad = copy_store(store, tmp_path, "bad.zarr")
    chunk = next(p for p in sorted((bad / "tir" / "c").rglob("*")) if p.is_file())
    data = chunk.read_bytes()
    if how == "truncated":
        chunk.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        chunk.write_bytes(b"")
    else:  # a flipped byte in the middle
        i = len(data) // 2
        chunk.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    return bad


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
@pytest.mark.parametrize("cmd", ["compare", "report"])
def test_a_damaged_chunk_is_named_exit_1(store, tmp_path, capsys, how, cmd):
    bad = damage(store, tmp_path, how)
    argv = (
        ["compare", str(bad)]
        if cmd == "compare"
        else ["report", str(bad), "-o", str(tmp_path / "r")]
    )
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "t1dmc verify" in err and "unexpected failure" not in err
    assert not (tmp_path / "r").exists()


def test_inspect_names_an_empty_chunk_exit_1(store, tmp_path, capsys):
    bad = damage(store, tmp_path, "empty")
    assert main(["inspect", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "completed: 16 of 16" in captured.out  # what it can say, it says
    assert "damaged" in captured.err and "t1dmc verify" in captured.err


@pytest.mark.parametrize("how", ["garbage", "missing"])
def test_damaged_array_metadata_is_named_by_every_reader_exit_1(store, tmp_path, capsys, how):
    """One variable's NAME/zarr.json unreadable or gone: the readers that use the root's
    consolidated metadata would read on regardless, and zarr's own error names no file and
    floods stderr from its pending tasks. Each command names the file, in one message."""
    bad = copy_store(store, tmp_path, "bad.zarr")
    meta = bad / "tir" / "zarr.json"
    if how == "garbage":
        meta.write_text('{"x":')
    else:
        meta.unlink()
    for argv in (
        ["inspect", str(bad)],
        ["compare", str(bad)],
        ["export", str(bad), "-o", str(tmp_path / "x.csv")],
        ["report", str(bad), "-o", str(tmp_path / "r")],
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "[tir/zarr.json]" in err and "--overwrite" in err, argv
        assert "Traceback" not in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r").exists()


# --------------------------------------------------------------------------------- inspect


def test_inspect_names_the_run_writing_the_store(store, tmp_path, capsys):
    s = copy_store(store, tmp_path)
    lock = storeguard._Lock(s).acquire()
    try:
        assert main(["inspect", str(s)]) == 0
        out = capsys.readouterr().out
    finally:
        lock.release()
    assert "being written now: by PID" in out
    assert out.index("being written now") < out.index("config:")
    assert main(["inspect", str(s)]) == 0
    assert "being written now" not in capsys.readouterr().out


def test_inspect_names_an_interrupted_replacement(store, tmp_path, capsys):
    s = copy_store(store, tmp_path)
    staged = storeguard.staged_path(s)
    shutil.copytree(store, staged)
    assert main(["inspect", str(s)]) == 0
    out = capsys.readouterr().out
    assert f"an interrupted replacement is at {str(staged)!r}" in out
    assert f"t1dmc run CONFIG -o {s} --resume" in out


# ----------------------------------------------------------------- messages, not tracebacks


def test_a_binary_config_is_refused_with_a_message(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'[run]\nname = "x"\n\x89PNG\r\n\x1a\n\xff\xfe')
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0x89 at position 17\)"):
        load_config(cfg)
    assert main(["run", str(cfg), "-o", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert "cannot read config" in err and "not UTF-8 text" in err
    assert main(["config", "check", str(cfg)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", "-1"],
        ["--seed", str(2**64)],
        ["--seed", "x"],
        ["--years", "nan"],
        ["--patients", "1.5"],
    ],
)
def test_validate_refuses_arguments_out_of_range_before_running(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["validate", *argv])
    assert exit_.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--years", "1"], "--years 1: between 2 and 20"),
        (["--years", "0.5"], "--years 0.5: between 2 and 20"),
        (["--years", "21"], "--years 21: between 2 and 20"),
        (["--patients", "9"], "--patients 9: between 10 (for an interval) and 25,000,000"),
        (["--patients", "30000000"], "--patients 30000000: between 10"),
    ],
)
def test_validate_refuses_a_table_it_cannot_produce(argv, needle, capsys):
    assert main(["validate", *argv]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("value,needle", [("trial,foo", "foo: not a table"), (",", "no table")])
def test_validate_refuses_a_table_it_does_not_have(value, needle, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--tables", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --tables" in err and needle in err
    assert "trial, real_world, closed_loop" in err


def test_validate_prints_only_the_tables_asked_for(capsys):
    # the closed-loop table alone: its title and rows, no other table's, and the exit code
    # says whether its own rows passed
    code = main(["validate", "--tables", "closed_loop", "--patients", "10"])
    out = capsys.readouterr().out
    assert "Closed-loop table" in out and "670G: TIR" in out
    assert "Trial table" not in out and "Real-world table" not in out
    assert "HbA1c, adolescents" not in out
    met, total = map(int, re.search(r"(\d+) of (\d+) targets met", out).groups())
    assert total == 8 and code == (0 if met == total else 1)


def test_validate_help_states_the_allowed_years(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    assert "2 to 20" in " ".join(capsys.readouterr().out.split())


def test_replay_reads_its_own_csv_output_as_input(tmp_path):
    """A t1dmc CSV's header line is a comment for the input reader too."""
    inputs = tmp_path / "in.csv"
    inputs.write_text("# t1dmc 0.1 inputs\ncarbs_g_per_min,insulin_u_per_min\n0,0.01\n1,0.01\n")
    assert main(["replay", "adult#001", str(inputs), "-o", str(tmp_path / "o.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "o.csv", comment="#")) == 3


def test_remove_own_refuses_a_path_the_engine_did_not_name(tmp_path):
    """storeguard.remove_own removes only the engine's temporary names, never through a link;
    a user's folder is refused and kept with its files."""
    from engine.store.storeguard import RUN_FOLDER_PREFIX, TMP_MARKER, UnsafeOutput, remove_own

    user = tmp_path / "my_results"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(UnsafeOutput, match="not a temporary output the engine named"):
        remove_own(user)
    assert (user / "notes.txt").read_text() == "mine"
    # a link named like the engine's run folder: the link goes, its target stays
    link = tmp_path / f"{RUN_FOLDER_PREFIX}abc"
    link.symlink_to(user, target_is_directory=True)
    remove_own(link)
    assert not os.path.lexists(link) and (user / "notes.txt").exists()
    own = tmp_path / f".out.zarr{TMP_MARKER}1-ab"
    own.mkdir()
    (own / "chunk").write_text("x")
    remove_own(own)
    assert not own.exists()


def test_overwrite_replaces_only_an_output_of_the_same_kind(store, tmp_path, capsys):
    """`compare -o` and `replay -o` with --overwrite never replace a run's results store (hours
    of work) nor each other's output, and `run --overwrite` replaces neither of theirs: each
    says what is there, and nothing changes."""
    results = copy_store(store, tmp_path, "results.zarr")
    before = snapshot(results)
    for argv in (["compare", str(store)], ["replay", "adult#001", str(REPLAY_INPUTS)]):
        assert main(argv + ["-o", str(results), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "is a t1dmc results store (written by t1dmc run)" in err
        assert "choose another path" in err
    assert snapshot(results) == before
    cmp, rep = tmp_path / "c.zarr", tmp_path / "r.zarr"
    assert main(["compare", str(store), "-o", str(cmp)]) == 0
    assert main(["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(rep)]) == 0
    capsys.readouterr()
    kept = snapshot(cmp), snapshot(rep)
    assert main(["replay", "adult#001", str(REPLAY_INPUTS), "-o", str(cmp), "--overwrite"]) == 2
    assert "is a t1dmc comparison (written by t1dmc compare), not a replay" in (
        capsys.readouterr().err
    )
    assert main(["compare", str(store), "-o", str(rep), "--overwrite"]) == 2
    assert "is a t1dmc replay (written by t1dmc replay)" in capsys.readouterr().err
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    for target in (cmp, rep):
        assert main(["run", str(cfg), "-o", str(target), "--overwrite", "-q"]) == 2
        assert "not a results store" in capsys.readouterr().err
    assert (snapshot(cmp), snapshot(rep)) == kept
    assert main(["inspect", str(cmp)]) == 2
    assert "is a t1dmc comparison, not a results store" in capsys.readouterr().err


def test_no_output_is_written_inside_a_store(store, tmp_path, capsys, small_config_path):
    """A store's folder holds its own arrays only: a run, a comparison or a report inside it
    is refused, naming the store, and the store stays as it was."""
    outer = copy_store(store, tmp_path, "outer.zarr")
    before = snapshot(outer)
    for argv in (
        ["run", str(small_config_path), "-o", str(outer / "inner.zarr"), "-q"],
        ["compare", str(store), "-o", str(outer / "c.zarr")],
        ["report", str(store), "-o", str(outer / "tir" / "rep")],
    ):
        assert main(argv) == 2, argv
        assert f"lies inside the t1dmc store {str(outer)!r}" in capsys.readouterr().err
    assert snapshot(outer) == before


def test_compare_on_one_scenario_says_there_is_nothing_to_compare(
    small_config_path, tmp_path, capsys
):
    out = tmp_path / "one.zarr"
    assert main(["run", str(small_config_path), "-o", str(out), "-q", "--set", "run.days=1"]) == 0
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    assert "nothing to compare: the store has one scenario" in capsys.readouterr().out
