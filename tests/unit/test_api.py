"""The Python API (engine/__init__.py, engine/api.py): engine.run with a path, a dict or a
RunConfig, in memory or into a store with the command's safety rules; engine.open;
engine.load_config with overrides."""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
import zarr
from pydantic import ValidationError

import engine
from engine.batch.config import RunConfig
from engine.store.storeguard import UnsafeOutput

ROOT = Path(__file__).resolve().parents[2]

CONFIG = {
    "run": {"name": "api", "seed": 11, "n_patients": 20, "days": 2},
    "cohort": {"groups": {"adult": 1.0, "child": 1.0}},
    "output": {"traced": [0, 7]},
    "execution": {"block_size": 8},
}
# attributes that differ between two runs of one config: when and which store
PER_STORE_ATTRS = ("created", "store_id")


def assert_same_bits(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every variable and coordinate equal bit for bit, and the attributes but the time of
    creation and the store's random id."""
    assert set(a.variables) == set(b.variables)
    assert dict(a.sizes) == dict(b.sizes)
    for name in a.variables:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype.kind in "fiub":
            assert x.tobytes() == y.tobytes(), name
        else:
            assert (x == y).all(), name
    drop = lambda d: {k: v for k, v in d.items() if k not in PER_STORE_ATTRS}  # noqa: E731
    assert drop(a.attrs) == drop(b.attrs)


@pytest.fixture
def own_tempdir(tmp_path, monkeypatch):
    """tempfile's folder for the test alone, so what an in-memory run leaves there shows."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_dict_path_and_model_configs_give_the_same_bits_in_memory(tmp_path, own_tempdir):
    path = tmp_path / "api.toml"
    path.write_text(tomli_w.dumps(CONFIG))
    from_dict = engine.run(CONFIG, quiet=True)
    from_path = engine.run(str(path), quiet=True)
    from_model = engine.run(RunConfig.model_validate(CONFIG), quiet=True)
    assert dict(from_dict.sizes)["patient"] == 20 and dict(from_dict.sizes)["day"] == 2
    assert from_dict.attrs["seed"] == "11"
    assert np.isfinite(from_dict.glucose_mean.values).all()
    assert_same_bits(from_dict, from_path)
    assert_same_bits(from_dict, from_model)
    # in memory: loaded whole, and the temporary store is gone
    assert all(isinstance(v.data, np.ndarray) for v in from_dict.variables.values())
    assert list(own_tempdir.iterdir()) == []
    # the caller's dict is not changed
    assert CONFIG["run"] == {"name": "api", "seed": 11, "n_patients": 20, "days": 2}


def test_output_writes_the_store_t1dmc_run_writes_and_engine_open_reads_it(tmp_path):
    out = tmp_path / "api.zarr"
    stored = engine.run(CONFIG, out, quiet=True)
    assert out.is_dir() and stored.attrs["engine"] == "t1dmc"
    assert stored.glucose_mean.chunks is not None  # opened lazily on the store
    assert_same_bits(stored, engine.open(out))
    assert_same_bits(stored, engine.open_results(out))
    assert_same_bits(stored, engine.run(CONFIG, quiet=True))  # in memory, the same bits
    # what is not a finished results store is said so
    from engine.store.results import IncompleteStoreWarning

    with pytest.raises(ValueError, match="does not exist"):
        engine.open(tmp_path / "missing.zarr")
    (tmp_path / "mine").mkdir()
    with pytest.raises(ValueError, match="is not a t1dmc results store"):
        engine.open(tmp_path / "mine")
    zarr.open_group(str(out), mode="r+")["completed"][0, :3] = 0
    with pytest.warns(IncompleteStoreWarning, match="17 of 20 patient-scenarios written"):
        engine.open(out)
    # the command's rules: an existing store only with overwrite=True
    with pytest.raises(FileExistsError, match="exists; pass --overwrite"):
        engine.run(CONFIG, out, quiet=True)
    again = engine.run({**CONFIG, "run": {**CONFIG["run"], "days": 1}}, out, overwrite=True)
    assert again.sizes["day"] == 1


def test_a_bad_config_raises_pydantics_error_naming_the_field_and_writes_nothing(
    tmp_path, own_tempdir
):
    out = tmp_path / "bad.zarr"
    bad = {**CONFIG, "run": {**CONFIG["run"], "n_patients": 0}}
    with pytest.raises(ValidationError) as err:
        engine.run(bad, out, quiet=True)
    assert "run.n_patients" in str(err.value) and "greater than or equal to 1" in str(err.value)
    assert [e["loc"] for e in err.value.errors()] == [("run", "n_patients")]
    with pytest.raises(ValidationError, match=r"sensor\.knd"):
        engine.run({"sensor": {"knd": "none"}}, quiet=True)
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(bad))
    with pytest.raises(ValidationError, match=r"run\.n_patients"):
        engine.run(path, out, quiet=True)
    assert not out.exists()
    assert list(own_tempdir.iterdir()) == []
    with pytest.raises(TypeError, match="a path to a TOML file, a dict or a RunConfig"):
        engine.run(42)


def test_an_assignment_is_checked_and_its_error_names_the_field_as_the_file_would():
    cfg = engine.load_config(CONFIG)
    with pytest.raises(ValidationError) as err:
        cfg.run.days = -3
    assert [e["loc"] for e in err.value.errors()] == [("run", "days")]
    assert "run.days" in str(err.value) and "greater than or equal to 1" in str(err.value)
    with pytest.raises(ValidationError, match=r"run\.dayz\n.*Extra inputs are not permitted"):
        cfg.run.dayz = 3
    with pytest.raises(ValidationError, match=r"meals\.0\.time_h"):
        cfg.meals[0].time_h = 30
    assert cfg.run.days == CONFIG["run"]["days"]  # a refused assignment changes nothing
    # also where the section's own check (a model validator) runs after pydantic set it
    with pytest.raises(ValidationError, match="cohort"):
        cfg.cohort.aid_share = 0.9
    assert cfg.cohort.aid_share == 0.0
    # a section put in whole is placed too, and its own fields are checked there
    cfg.run = {"days": 4}
    with pytest.raises(ValidationError, match=r"run\.n_patients"):
        cfg.run.n_patients = 0
    cfg.run.days = 5
    assert engine.load_config(cfg).run.days == 5


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_existing_folder_the_engine_did_not_create_is_refused_and_left_as_it_was(
    tmp_path, overwrite
):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.txt").write_text("years of work")
    (out / "data").mkdir()
    (out / "data" / "x.csv").write_text("1,2\n")
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    with pytest.raises(UnsafeOutput, match="thesis' is not a t1dmc store: it holds chapter1"):
        engine.run(CONFIG, out, overwrite=overwrite, quiet=True)
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before
    assert (out / "chapter1.txt").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["thesis"]  # nothing beside it either


def test_overrides_apply_before_validation_as_set_does(tmp_path, own_tempdir):
    path = tmp_path / "api.toml"
    path.write_text(tomli_w.dumps(CONFIG))
    cfg = engine.load_config(path, {"run.days": 1, "therapy.kind": "intensive"})
    assert cfg.run.days == 1 and cfg.therapy.kind == "intensive"
    assert engine.load_config(CONFIG, ["run.days=1", "therapy.kind=intensive"]) == cfg
    ds = engine.run(path, overrides=["run.n_patients=10"], quiet=True)
    assert ds.sizes["patient"] == 10
    with pytest.raises(ValidationError, match=r"run\.dayz"):
        engine.load_config(CONFIG, {"run.dayz": 3})
    # options of a store need a store
    with pytest.raises(ValueError, match="overwrite=True needs an output"):
        engine.run(CONFIG, overwrite=True)


def test_an_in_memory_run_too_large_for_memory_is_refused_before_running(monkeypatch, own_tempdir):
    from engine import api
    from engine.batch.config import ConfigError

    monkeypatch.setattr(api, "IN_MEMORY_SHARE", 1e-9)  # as if this machine had no memory
    with pytest.raises(ConfigError, match="give an output"):
        engine.run(CONFIG, quiet=True)
    assert list(own_tempdir.iterdir()) == []


def test_the_api_is_there_without_importing_the_engine():
    code = (
        "import sys, engine; "
        "assert callable(engine.run) and callable(engine.open) and callable(engine.load_config); "
        "assert not any(m.startswith('engine.') for m in sys.modules), sorted(sys.modules); "
        "assert 'xarray' not in sys.modules and 'numba' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_field_that_changes_nothing_is_warned_about_as_the_cli_does():
    import warnings

    import engine
    from engine.api import InertFieldWarning

    config = {
        "run": {"n_patients": 4, "days": 1},
        "cohort": {"sampler": "mvlognormal"},
        "sweep": {"grid": {"cohort.jitter_cv": [0.05, 0.1]}},
    }
    with pytest.warns(InertFieldWarning, match="cohort.jitter_cv"):
        ds = engine.run(config, quiet=True, workers=1)
    assert ds.sizes["scenario"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", InertFieldWarning)  # a field that acts: no warning
        engine.run({"run": {"n_patients": 4, "days": 1}}, quiet=True, workers=1)


@pytest.mark.parametrize("workers", [-1, 1.5, True, "2"])
def test_bad_workers_are_named_before_anything_is_written(tmp_path, workers):
    out = tmp_path / "o.zarr"
    with pytest.raises(ValueError, match=f"workers={workers!r}: a whole number"):
        engine.run({"run": {"n_patients": 5, "days": 1}}, out, workers=workers, quiet=True)
    assert list(tmp_path.iterdir()) == []
