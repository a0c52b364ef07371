"""Integrity: damaged, truncated, empty and missing storage objects are named by `t1dmc
verify` (exit 1), with their variable, scenario and patients; `--resume --repair` recomputes
exactly the tasks holding them and gives back the clean store bit for bit; what tasks cannot
rewrite (metadata) is refused with the way out (--overwrite)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from engine import cli
from engine.batch import sweep
from engine.batch.config import loads_toml, parse_config
from engine.store import integrity, results
from engine.store.integrity import StoreDamaged

SWEEP_CONFIG = """
[run]
seed = 7
n_patients = {n}
days = 3

[cohort]
groups = {{ adult = 1.0, adolescent = 1.0 }}

[sweep.grid]
"therapy.target_mg_dl" = [120, 150]

[output]
traced = [0, 9]

[execution]
block_size = 8
"""


def config(n=24):
    return parse_config(loads_toml(SWEEP_CONFIG.format(n=n)))


def layout_of(cfg):
    return results.Layout.from_config(cfg, 2)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """24 patients x 3 days, blocks of 8, 2 scenarios: 6 tasks; patients 0 and 9 traced."""
    out = tmp_path_factory.mktemp("integrity") / "clean.zarr"
    sweep.run(config(), out, quiet=True, workers=2)
    return out


@pytest.fixture
def copy(clean, tmp_path):
    def make(name="damaged.zarr"):
        dst = tmp_path / name
        shutil.copytree(clean, dst)
        return dst

    return make


def flip(path: Path, n: int = 10) -> None:
    """Invert `n` bytes in the middle of a file."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def verify(store, capsys, *extra):
    code = cli.main(["verify", str(store), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def scenario_names(store):
    return [str(v) for v in zarr.open_group(str(store), mode="r")["scenario_name"][...]]


def test_a_clean_store_verifies_clean(clean, capsys):
    code, out, _ = verify(clean, capsys)
    assert code == 0, out
    assert "clean" in out and "tasks 6 complete, 0 incomplete" in out
    integrity.check_store_readable(clean)
    assert not integrity.damaged_tasks(clean, layout_of(config())).any()
    code, out, _ = verify(clean, capsys, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["findings"] == [] and doc["objects_read"] > 100


def test_flipped_bytes_in_a_daily_shard_are_named(copy, capsys):
    store = copy()
    flip(store / "tir" / "c" / "1" / "1" / "0")  # scenario 1, patients 8-15
    code, out, _ = verify(store, capsys)
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("tir:"))
    assert "checksum" in line and "scenario 1" in line and "patients 8-15" in line
    assert scenario_names(store)[1] in line
    assert "--resume --repair" in out
    # readers meet it as StoreDamaged naming the store and the way out, not as a traceback
    with pytest.raises(StoreDamaged, match="t1dmc verify"):
        with integrity.reading_store(store):
            xr.open_zarr(store)["tir"].values


def test_flipped_bytes_in_a_per_patient_chunk_and_a_trace_are_named(copy, capsys):
    store = copy()
    flip(store / "age" / "c" / "2")  # patients 16-23, every scenario
    flip(store / "bg" / "c" / "0" / "1" / "0")  # scenario 0, traced row 1: patient 9
    code, out, _ = verify(store, capsys, "--json")
    assert code == 1
    found = {f["variable"]: f for f in json.loads(out)["findings"]}
    assert set(found) == {"age", "bg"}
    assert found["age"]["kind"] == "checksum" and found["age"]["patients"] == [16, 23]
    assert found["age"]["tasks"] == [[0, 2]]  # scenario 0's task writes it
    assert found["bg"]["traced_patient"] == 9 and found["bg"]["scenario"] == 0
    assert found["bg"]["tasks"] == [[0, 1]]
    _, text, _ = verify(store, capsys)
    assert "traced patient 9" in text and "age: checksum: patients 16-23" in text


def test_a_truncated_shard_is_named(copy, capsys):
    store = copy()
    truncate(store / "glucose_mean" / "c" / "0" / "2" / "0")
    truncate(store / "tdd" / "c" / "1" / "0" / "0", keep=0.0)  # empty: reads as NaN in zarr
    code, out, _ = verify(store, capsys)
    assert code == 1
    gm = next(ln for ln in out.splitlines() if ln.startswith("glucose_mean:"))
    assert "scenario 0" in gm and "patients 16-23" in gm
    assert "checksum" in gm or "unreadable" in gm
    tdd = next(ln for ln in out.splitlines() if ln.startswith("tdd:"))
    assert "unreadable" in tdd and "empty" in tdd and "patients 0-7" in tdd
    with pytest.raises(StoreDamaged, match="tdd"):
        integrity.check_store_readable(store)


def test_a_deleted_object_of_a_completed_task_is_named_missing(copy, capsys):
    store = copy()
    os.remove(store / "hba1c" / "c" / "1" / "0" / "0")  # scenario 1, patients 0-7
    os.remove(store / "group" / "c" / "1")  # patients 8-15
    os.remove(store / "cgm" / "c" / "1" / "0" / "0")  # scenario 1, traced patient 0
    code, out, _ = verify(store, capsys)
    assert code == 1
    lines = {ln.split(":")[0]: ln for ln in out.splitlines() if ": missing" in ln}
    assert set(lines) == {"hba1c", "group", "cgm"}
    assert "scenario 1" in lines["hba1c"] and "patients 0-7" in lines["hba1c"]
    assert "patients 8-15" in lines["group"]
    assert "traced patient 0" in lines["cgm"]
    with pytest.raises(StoreDamaged, match="t1dmc verify") as err:
        integrity.check_store_readable(store)
    assert "hba1c" in str(err.value) and "--resume --repair" in str(err.value)


def test_damaged_metadata_is_named_and_not_repaired_by_tasks(copy, capsys):
    store = copy()
    (store / "tir" / "zarr.json").write_text("garbage{")
    code, out, _ = verify(store, capsys)
    assert code == 1
    assert any(ln.startswith("tir: metadata") for ln in out.splitlines())
    assert "--overwrite" in out
    with pytest.raises(StoreDamaged, match="overwrite"):
        integrity.damaged_tasks(store, layout_of(config()))


def assert_same_store(a, b):
    ga = zarr.open_group(str(a), mode="r", use_consolidated=False)
    gb = zarr.open_group(str(b), mode="r", use_consolidated=False)
    with results.quiet_zarr():  # the lock file is not a zarr node
        names = sorted(ga.array_keys())
        assert names == sorted(gb.array_keys())
    for name in names:
        x, y = ga[name][...], gb[name][...]
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert np.array_equal(x, y), name


def test_repair_recomputes_exactly_the_damaged_tasks(clean, copy, capsys):
    store = copy()
    flip(store / "tir" / "c" / "1" / "1" / "0")  # task (1, 1)
    flip(store / "age" / "c" / "2")  # task (0, 2): scenario 0 writes it
    flip(store / "bg" / "c" / "0" / "1" / "0")  # traced patient 9: task (0, 1)
    os.remove(store / "hba1c" / "c" / "1" / "0" / "0")  # task (1, 0)
    cfg = config()
    damaged = integrity.damaged_tasks(store, layout_of(cfg))
    expected = np.zeros((2, 3), dtype=bool)
    for s, b in ((1, 1), (0, 2), (0, 1), (1, 0)):
        expected[s, b] = True
    assert np.array_equal(damaged, expected), damaged
    facts = sweep.run(cfg, store, resume=True, repair=True, quiet=True, workers=2)
    assert facts["tasks"] == int(expected.sum())
    assert verify(store, capsys)[0] == 0
    assert_same_store(store, clean)


@pytest.fixture(scope="module")
def clean20(tmp_path_factory):
    """20 patients in blocks of 8: the last block (16-19) fills its shards only in part."""
    out = tmp_path_factory.mktemp("integrity20") / "clean20.zarr"
    sweep.run(config(n=20), out, quiet=True, workers=2)
    return out


def damage_partial_shards_and_completed(clean20, tmp_path) -> Path:
    store = tmp_path / "damaged20.zarr"
    shutil.copytree(clean20, store)
    flip(store / "tir" / "c" / "0" / "2" / "0")  # task (0, 2), partial shard
    truncate(store / "log_phi" / "c" / "1" / "2" / "0" / "0")  # task (1, 2), partial shard
    flip(store / "completed" / "c" / "1" / "1", n=2)  # task (1, 1)
    return store


def test_prepare_repair_then_resume_rewrites_partial_shards_and_completed(
    clean20, tmp_path, capsys
):
    """zarr reads a shard that a write fills only in part before writing it, and sweep.run
    reads `completed` before anything else: prepare_repair marks the damaged tasks incomplete
    and removes their damaged objects first, so a plain --resume then recomputes them."""
    store = damage_partial_shards_and_completed(clean20, tmp_path)
    cfg = config(n=20)
    damaged = integrity.prepare_repair(store, layout_of(cfg))
    assert sorted(zip(*np.nonzero(damaged))) == [(0, 2), (1, 1), (1, 2)]
    code, out, _ = verify(store, capsys)
    assert code == 0 and "3 incomplete" in out  # nothing damaged is left, nothing lost
    facts = sweep.run(cfg, store, resume=True, quiet=True, workers=2)
    assert facts["tasks"] == 3
    assert verify(store, capsys)[0] == 0
    assert_same_store(store, clean20)


def test_run_resume_repair_rewrites_partial_shards_and_completed(clean20, tmp_path, capsys):
    store = damage_partial_shards_and_completed(clean20, tmp_path)
    facts = sweep.run(config(n=20), store, resume=True, repair=True, quiet=True, workers=2)
    assert facts["tasks"] == 3
    assert verify(store, capsys)[0] == 0
    assert_same_store(store, clean20)


def test_what_is_not_a_t1dmc_store_exits_2(tmp_path, capsys):
    code, _, err = verify(tmp_path / "nothing.zarr", capsys)
    assert code == 2 and "no such file" in err
    (tmp_path / "folder").mkdir()
    code, _, err = verify(tmp_path / "folder", capsys)
    assert code == 2 and "not a zarr" in err
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").create_array(
        "x", shape=(3,), dtype="f4"
    )
    code, _, err = verify(tmp_path / "other.zarr", capsys)
    assert code == 2 and "not a t1dmc" in err
    (tmp_path / "broken.zarr").mkdir()
    (tmp_path / "broken.zarr" / "zarr.json").write_text("{not json")
    code, _, err = verify(tmp_path / "broken.zarr", capsys)
    assert code == 2 and "cannot be read" in err
    assert len(err.strip().splitlines()) == 1
