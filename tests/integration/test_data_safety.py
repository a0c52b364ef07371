"""A user's files are never lost: `t1dmc run` replaces only its own stores, one writer per
store, nothing is removed before the new run can start, a replacement is built beside the old
store, Ctrl-C and kill -9 leave a store that resumes to the clean run's bytes."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from engine.batch import sweep
from engine.batch.config import loads_toml, parse_config
from engine.batch.scenarios import expand
from engine.cli import main
from engine.store import results, storeguard

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[run]
seed = {seed}
n_patients = {n}
days = {days}

[cohort]
groups = {{ adult = 1.0, child = 1.0 }}

[output]
traced = [0, 5]

[execution]
block_size = {block}
"""


def write_config(folder: Path, name="c.toml", seed=3, n=12, days=2, block=4) -> Path:
    p = folder / name
    p.write_text(CONFIG.format(seed=seed, n=n, days=days, block=block))
    return p


def store_arrays(path: Path) -> dict:
    with xr.open_zarr(path) as ds:
        return {k: ds[k].values for k in ds.variables}


def assert_same_arrays(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        if a[k].dtype.kind == "f":
            assert np.array_equal(a[k], b[k], equal_nan=True), k
        else:
            assert np.array_equal(a[k], b[k]), k


def tree_bytes(folder: Path, skip_locks: bool = False) -> dict:
    """Every file under `folder` (links not followed) with its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if skip_locks and p.name == storeguard.LOCK_NAME:
            continue  # a writer names itself in the lock file it holds
        if p.is_symlink():
            out[str(p.relative_to(folder))] = ("link", os.readlink(p))
        elif p.is_file():
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run of each config the tests use: what every safe path must reproduce."""
    d = tmp_path_factory.mktemp("clean")
    small, other = write_config(d), write_config(d, "other.toml", seed=4)
    long = write_config(d, "long.toml", seed=5, n=120, days=8, block=4)
    stores = {}
    for name, cfg in (("small", small), ("other", other), ("long", long)):
        assert main(["run", str(cfg), "-o", str(d / f"{name}.zarr"), "-q"]) == 0
        stores[name] = store_arrays(d / f"{name}.zarr")
    return stores


def run_cli(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for_tasks(out: Path, at_least: int, proc: subprocess.Popen, polls=4800) -> int:
    """Poll the `completed` flags of the store being written until `at_least` are set
    (polls of 0.05 s: up to about 4 minutes)."""
    for _ in range(polls):
        if proc.poll() is not None:
            break
        try:
            done = int(
                zarr.open_group(str(out), mode="r", use_consolidated=False)["completed"][...].sum()
            )
        except Exception:  # noqa: BLE001 - not created yet
            done = 0
        if done >= at_least:
            return done
        time.sleep(0.05)
    raise AssertionError(
        f"run ended or stalled before {at_least} patients were written: rc {proc.poll()}"
    )


# ------------------------------------------------------------------ 1. --overwrite is guarded


def test_overwrite_refuses_a_folder_holding_a_users_file(tmp_path, capsys):
    cfg = write_config(tmp_path)
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.txt").write_text("four years of work")
    before = tree_bytes(tmp_path)
    assert main(["run", str(cfg), "-o", str(d), "--overwrite", "-q"]) == 2
    err = capsys.readouterr().err
    assert "is not a t1dmc store: it holds thesis.txt" in err and "Traceback" not in err
    assert tree_bytes(tmp_path) == before


@pytest.mark.parametrize("flags", [["--overwrite"], ["--resume"], []])
def test_the_working_folder_is_never_an_output(tmp_path, monkeypatch, capsys, flags):
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = tree_bytes(tmp_path)
    for target in (".", "", "./", str(tmp_path), str(tmp_path.parent)):
        assert main(["run", "c.toml", "-o", target, "-q", *flags]) == 2
        assert "never an output" in capsys.readouterr().err
    assert tree_bytes(tmp_path) == before


def test_home_and_root_are_never_outputs(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for target in (str(home), "/"):
        assert main(["run", str(cfg), "-o", target, "--overwrite", "-q"]) == 2
        assert "never an output" in capsys.readouterr().err


def test_a_symlinked_output_is_refused_and_its_target_untouched(tmp_path, capsys, clean):
    cfg = write_config(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    (target / "data.csv").write_text("1,2,3")
    link = tmp_path / "out.zarr"
    link.symlink_to(target)
    # even a link to the engine's own store is not written through
    store = tmp_path / "store.zarr"
    assert main(["run", str(cfg), "-o", str(store), "-q"]) == 0
    link2 = tmp_path / "out2.zarr"
    link2.symlink_to(store)
    before = tree_bytes(tmp_path)
    for out in (link, link2):
        for flags in (["--overwrite"], ["--resume"], []):
            assert main(["run", str(cfg), "-o", str(out), "-q", *flags]) == 2
            assert "symbolic link" in capsys.readouterr().err
    assert tree_bytes(tmp_path) == before


def test_resume_on_a_folder_that_is_not_a_store_does_not_suggest_overwrite(tmp_path, capsys):
    cfg = write_config(tmp_path)
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.md").write_text("mine")
    assert main(["run", str(cfg), "-o", str(d), "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert "is not a t1dmc store" in err and "--overwrite" not in err
    assert (d / "notes.md").read_text() == "mine" and sorted(os.listdir(d)) == ["notes.md"]


def test_a_store_holding_a_users_file_is_not_replaced(tmp_path, capsys):
    cfg = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    (out / "my_analysis.nc").write_bytes(b"\x00results")
    (out / "tir" / "notes.txt").write_text("inside an array folder")
    before = tree_bytes(tmp_path)
    assert main(["run", str(cfg), "-o", str(out), "--overwrite", "-q"]) == 2
    err = capsys.readouterr().err
    assert "also holds what the engine did not create" in err and "my_analysis.nc" in err
    assert "tir/" in err
    assert tree_bytes(tmp_path) == before


def test_a_users_file_deep_among_a_stores_chunks_is_found_and_named(tmp_path, capsys):
    """The chunk folders (`<array>/c/<i>/<j>/...`) hold only chunk files named by index, as
    deep as the array has dimensions: anything else is the user's (a hostile user's review
    found --overwrite removed such files until 0.14.1)."""
    cfg = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    chunk = next(p for p in (out / "tir" / "c").rglob("*") if p.is_file())
    # a chunk write killed before its rename is the engine's own
    chunk.with_name(f"{chunk.name}.0123456789abcdef.partial").write_bytes(b"half a chunk")
    assert main(["run", str(cfg), "-o", str(out), "--overwrite", "-q"]) == 0
    (out / "tir" / "c" / "my_analysis").mkdir()
    (out / "tir" / "c" / "my_analysis" / "notes.txt").write_text("mine")
    (out / "glucose_mean" / "c" / "README.txt").write_text("mine")
    deep = next(
        p for p in (out / "tir" / "c").rglob("*") if p.is_file() and p.parent.name != "my_analysis"
    )
    deep.with_name(deep.name + ".bak").write_text("mine")
    (deep.parent / "extra").mkdir()
    before = tree_bytes(tmp_path)
    assert main(["run", str(cfg), "-o", str(out), "--overwrite", "-q"]) == 2
    err = capsys.readouterr().err
    rel = deep.parent.relative_to(out)
    for name in ("tir/c/my_analysis/", "glucose_mean/c/README.txt", f"{rel}/{deep.name}.bak"):
        assert name in err, (name, err)
    assert tree_bytes(tmp_path) == before


def test_overwrite_replaces_the_engines_own_store_with_the_clean_runs_bytes(tmp_path, clean):
    small, other = write_config(tmp_path), write_config(tmp_path, "other.toml", seed=4)
    out = tmp_path / "s.zarr"
    assert main(["run", str(small), "-o", str(out), "-q"]) == 0
    assert main(["run", str(other), "-o", str(out), "-q", "--overwrite"]) == 0
    assert_same_arrays(store_arrays(out), clean["other"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "other.toml", "s.zarr"]


def test_an_empty_folder_is_used_in_place(tmp_path, clean):
    cfg = write_config(tmp_path)
    out = tmp_path / "made_by_hand.zarr"
    out.mkdir()
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    assert_same_arrays(store_arrays(out), clean["small"])


def test_a_folder_left_holding_only_a_dead_runs_lock_is_used_in_place(tmp_path, clean, capsys):
    # a run that crashed (a plug-in's segfault, kill -9) while compiling leaves the folder it
    # claimed with its lock file alone: it said "exists ... (it is a t1dmc store)" and inspect
    # "not a readable zarr store"
    cfg = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    out.mkdir()
    holder = {"engine": "t1dmc", "pid": 999999, "host": "gone", "since": "2026-01-01T00:00:00"}
    (out / storeguard.LOCK_NAME).write_text(json.dumps(holder))
    assert main(["inspect", str(out)]) == 2
    assert "ended before writing anything" in capsys.readouterr().err
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    assert_same_arrays(store_arrays(out), clean["small"])


def test_a_lock_that_is_a_link_does_not_make_a_folder_empty(tmp_path):
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"engine": "t1dmc", "mine": True}))  # e.g. an exported file
    out = tmp_path / "s.zarr"
    out.mkdir()
    (out / storeguard.LOCK_NAME).symlink_to(users)
    assert not storeguard.holds_only_a_lock(out)
    assert storeguard.classify_store(out).kind == "foreign"


def test_a_lock_only_folder_whose_run_is_alive_is_refused(tmp_path, capsys):
    import fcntl

    cfg = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    out.mkdir()
    lock = out / storeguard.LOCK_NAME
    lock.write_text(json.dumps({"engine": "t1dmc", "pid": 4242, "host": "h", "since": "now"}))
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert main(["run", str(cfg), "-o", str(out), "-q"]) == 2
        assert "being written by another run (PID 4242 on h" in capsys.readouterr().err
        assert main(["inspect", str(out)]) == 2
        assert "a run is starting on it (PID 4242" in capsys.readouterr().err
    finally:
        os.close(fd)
    assert os.listdir(out) == [storeguard.LOCK_NAME]


# ---------------------------------------------------------------- 2. one writer per store


@pytest.mark.parametrize("second", [[], ["--overwrite"], ["--resume"]])
def test_a_second_writer_is_refused_naming_the_first(tmp_path, clean, second):
    long = write_config(tmp_path, "long.toml", seed=5, n=120, days=8, block=4)
    other = write_config(tmp_path, "other.toml", seed=4)
    out = tmp_path / "shared.zarr"
    first = run_cli(long, "-o", out, "-q", "--workers", "1")
    wait_for_tasks(out, 4, first)
    cfg2 = long if second == ["--resume"] else other
    rc2 = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(cfg2), "-o", str(out), "-q", *second],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert rc2.returncode == 2, rc2.stderr
    assert f"being written by another run (PID {first.pid} on " in rc2.stderr
    assert "Traceback" not in rc2.stderr
    assert_same_arrays(store_arrays(out), clean["long"])


def test_the_lock_is_held_for_the_run_and_released_after(tmp_path):
    cfg = parse_config(loads_toml(write_config(tmp_path).read_text()))
    out = tmp_path / "s.zarr"
    seen = []
    real = sweep._run_threads

    def spy(calls, workers, progress):
        seen.append(storeguard.writer_of(out))
        return real(calls, workers, progress)

    sweep._run_threads = spy
    try:
        sweep.run(cfg, out, quiet=True)
    finally:
        sweep._run_threads = real
    assert seen and seen[0].startswith(f"PID {os.getpid()} on ")
    assert storeguard.writer_of(out) is None


# ------------------------------------------- 4. nothing is removed before the new run can start


def test_a_failing_overwrite_leaves_the_old_store_whole(tmp_path, capsys, clean):
    small, other = write_config(tmp_path), write_config(tmp_path, "other.toml", seed=4)
    out = tmp_path / "s.zarr"
    assert main(["run", str(small), "-o", str(out), "-q"]) == 0
    before = tree_bytes(tmp_path)
    # an unreachable scheduler
    assert (
        main(
            [
                "run",
                str(other),
                "-o",
                str(out),
                "-q",
                "--overwrite",
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--connect-timeout",
                "2",
            ]
        )
        == 2
    )
    assert "scheduler" in capsys.readouterr().err
    # a malformed one
    assert (
        main(
            [
                "run",
                str(other),
                "-o",
                str(out),
                "-q",
                "--overwrite",
                "--scheduler",
                "tcp://no port here",
            ]
        )
        == 2
    )
    capsys.readouterr()
    # bad worker counts
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["run", str(other), "-o", str(out), "-q", "--overwrite", "--workers", bad])
        assert exit_.value.code == 2
    # a bad config
    (tmp_path / "bad.toml").write_text("[run]\nn_patients = -3\n")
    assert main(["run", str(tmp_path / "bad.toml"), "-o", str(out), "-q", "--overwrite"]) == 2
    capsys.readouterr()
    (tmp_path / "bad.toml").unlink()
    assert tree_bytes(tmp_path) == before
    assert_same_arrays(store_arrays(out), clean["small"])


def test_a_killed_replacement_leaves_the_old_store_and_resumes_into_the_new(tmp_path, clean):
    small = write_config(tmp_path)
    long = write_config(tmp_path, "long.toml", seed=5, n=120, days=8, block=4)
    out = tmp_path / "s.zarr"
    assert main(["run", str(small), "-o", str(out), "-q"]) == 0
    old = tree_bytes(out, skip_locks=True)
    proc = run_cli(long, "-o", out, "-q", "--overwrite", "--workers", "1")
    wait_for_tasks(storeguard.staged_path(out), 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tree_bytes(out, skip_locks=True) == old  # the old results, whole and readable
    assert_same_arrays(store_arrays(out), clean["small"])
    staged = storeguard.staged_path(out)
    assert storeguard.classify_store(staged).kind == "store"
    assert main(["inspect", str(out)]) == 0
    assert main(["run", str(long), "-o", str(out), "-q", "--resume"]) == 0
    assert not staged.exists()
    assert_same_arrays(store_arrays(out), clean["long"])


def test_ctrl_c_exits_130_with_the_resume_hint_and_resumes_bit_for_bit(tmp_path, clean):
    long = write_config(tmp_path, "long.toml", seed=5, n=120, days=8, block=4)
    out = tmp_path / "s.zarr"
    proc = run_cli(long, "-o", out, "-q", "--workers", "1")
    wait_for_tasks(out, 8, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"t1dmc run {long} -o {out} --resume" in err
    assert storeguard.writer_of(out) is None
    assert main(["run", str(long), "-o", str(out), "-q", "--resume"]) == 0
    assert_same_arrays(store_arrays(out), clean["long"])


def test_days_that_are_not_a_multiple_of_the_inner_chunk(tmp_path):
    """Blocks of 512 patients take inner chunks of 32 days (64 kB): at 40 days the shard
    reaches past the last day. Results equal those of another block size (whole-day
    chunks), and verify finds the store whole."""
    stores = []
    for block, shard in ((512, (1, 512, 64)), (256, (1, 256, 40))):
        cfg = write_config(tmp_path, f"b{block}.toml", n=1024, days=40, block=block)
        out = tmp_path / f"b{block}.zarr"
        assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
        assert main(["verify", str(out)]) == 0
        with xr.open_zarr(out) as ds:
            assert ds["tir"].encoding["shards"] == shard
        stores.append(store_arrays(out))
    assert_same_arrays(*stores)


# ------------------------------------------------------ 3, 9. damage found on --resume


def test_repair_of_a_path_that_holds_no_store_is_refused(tmp_path, capsys):
    cfg = write_config(tmp_path)
    out = tmp_path / "mistyped.zarr"
    assert main(["run", str(cfg), "-o", str(out), "--resume", "--repair", "-q"]) == 2
    assert "--repair: there is no store at" in capsys.readouterr().err
    assert not out.exists()


def test_resume_names_missing_chunks_and_damaged_metadata(tmp_path, capsys, clean):
    import shutil

    cfg = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    shard = next((out / "tir" / "c").rglob("*"))
    while shard.is_dir():
        shard = next(shard.iterdir())
    kept = shard.read_bytes()
    shard.unlink()
    assert main(["run", str(cfg), "-o", str(out), "--resume", "-q"]) == 1
    err = capsys.readouterr().err
    assert "tir" in err and "--resume --repair" in err and "Traceback" not in err
    assert main(["run", str(cfg), "-o", str(out), "--resume", "--repair", "-q"]) == 0
    assert_same_arrays(store_arrays(out), clean["small"])
    assert shard.read_bytes() == kept
    shutil.copy(out / "tir" / "zarr.json", tmp_path / "tir.json")
    (out / "tir" / "zarr.json").write_text("{ not json")
    assert main(["run", str(cfg), "-o", str(out), "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert "lacks tir (missing or damaged metadata)" in err and "Traceback" not in err


# ---------------------------------------------------- 5. setup memory does not grow with N


def test_setting_up_a_million_patient_store_takes_constant_memory(tmp_path):
    """Cohort sampling happens in the tasks: creating the store of 10^6 patients allocates
    about what 10^4 do, plus the 8-byte patient coordinate."""
    peaks = {}
    for n in (10_000, 1_000_000):
        cfg = parse_config({"run": {"n_patients": n, "days": 1}})
        scenarios = expand(cfg)
        layout = results.Layout.from_config(cfg, len(scenarios))
        tracemalloc.start()
        results.create_store(tmp_path / f"s{n}.zarr", cfg, layout, scenarios)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    grew = peaks[1_000_000] - peaks[10_000]
    # the old up-front sampling held ~0.93 kB per patient: 920 MB more at 10^6
    assert grew < 64 * 990_000, peaks


# ------------------------------------------ races around the swap (review of this change)


def _fake_store(folder: Path, lock: bool = False) -> Path:
    """A minimal store the engine would call its own (attributes, one array folder)."""
    folder.mkdir()
    attrs = {"engine": "t1dmc", "t1dmc_nodes": ["tir"]}
    (folder / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs})
    )
    (folder / "tir").mkdir()
    (folder / "tir" / "zarr.json").write_text("{}")
    if lock:
        (folder / storeguard.LOCK_NAME).write_text("{}")
    return folder


def test_a_store_moved_away_during_a_replacement_is_not_removed_at_the_swap(tmp_path):
    out = _fake_store(tmp_path / "res.zarr")
    claim = storeguard.StoreClaim.open(out, overwrite=True)
    try:
        _fake_store(claim.write_path / "inner")  # the new run's work
        (tmp_path / "res.zarr").rename(tmp_path / "kept.zarr")
        out.mkdir()
        (out / "thesis.tex").write_text("mine")
        with pytest.raises(storeguard.UnsafeOutput, match="moved or replaced"):
            claim.commit()
    finally:
        claim.release()
    assert (out / "thesis.tex").read_text() == "mine"
    assert (tmp_path / "kept.zarr" / "tir").is_dir()
    assert (storeguard.staged_path(out) / "inner").is_dir()  # the new results are kept


def test_finishing_a_replacement_holds_the_output_path_against_a_new_run(tmp_path):
    out = tmp_path / "res.zarr"
    _fake_store(storeguard.staged_path(out))
    claim = storeguard.StoreClaim.open(out, resume=True)
    try:
        assert claim.staged and out.is_dir()  # an empty locked placeholder
        with pytest.raises(storeguard.StoreBusy, match="being written by another run"):
            storeguard.StoreClaim.open(out)
        claim.commit()
    finally:
        claim.release()
    assert (out / "tir").is_dir() and not storeguard.staged_path(out).exists()
    assert not [p for p in tmp_path.iterdir() if ".t1dmc-old" in p.name]


def test_a_lock_file_alone_does_not_make_a_folder_the_engines(tmp_path):
    other = tmp_path / "other.zarr"
    other.mkdir()
    (other / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}})
    )
    (other / "data").mkdir()
    (other / "data" / "zarr.json").write_text("{}")
    (other / storeguard.LOCK_NAME).write_text("{}")
    assert storeguard.classify_store(other).kind == "foreign"
    # a zarr metadata document interrupted mid-write is the engine's own leftover
    ours = _fake_store(tmp_path / "ours.zarr", lock=True)
    (ours / "zarr.0123456789abcdef0123456789abcdef.partial").write_text("{")
    (ours / "tir" / "zarr.fedcba9876543210fedcba9876543210.partial").write_text("{")
    assert storeguard.classify_store(ours).kind == "store"


def test_a_refusal_for_disk_space_creates_no_folder(tmp_path, monkeypatch, capsys):
    import shutil as shutil_mod

    cfg = write_config(tmp_path)
    out = tmp_path / "new.zarr"
    usage = shutil_mod.disk_usage(tmp_path)
    monkeypatch.setattr(shutil_mod, "disk_usage", lambda p: usage._replace(free=1024))
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 2
    assert "new.zarr" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_an_output_folder_that_changes_during_a_long_write_is_not_replaced(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()

    def slow_write(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "report.html").write_text("<html>")
        (rep / "note.txt").write_text("saved meanwhile")  # the user, during the write

    with pytest.raises(storeguard.UnsafeOutput, match="changed while"):
        storeguard.write_output(
            rep,
            True,
            lambda p: (
                not any(p.iterdir()) or (p / "report.html").exists() and len(list(p.iterdir())) == 1
            ),
            slow_write,
        )
    assert (rep / "note.txt").read_text() == "saved meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
