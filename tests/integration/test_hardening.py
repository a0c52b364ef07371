"""Hostile input: generated configs, broken replay inputs, damaged stores, unwritable outputs.
Every case ends in a result or a clear error naming what is wrong, never a traceback."""

import errno
import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.batch import sweep
from engine.batch.config import ConfigError, RunConfig, parse_config
from engine.batch.scenarios import expand
from engine.cli import main
from engine.model.glycaemia import DAILY_NAMES, UNDEFINED_AS_NAN
from engine.population.replay import replay
from engine.store import results

SECTIONS = {
    name: list(f.annotation.model_fields)
    for name, f in RunConfig.model_fields.items()
    if hasattr(f.annotation, "model_fields")
}
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.floats(-2, 2), max_size=2),
)


@st.composite
def hostile_configs(draw):
    cfg = {}
    for _ in range(draw(st.integers(1, 6))):
        section = draw(st.sampled_from(sorted(SECTIONS) + ["bogus"]))
        fields = SECTIONS.get(section, ["x"]) + ["typo_field"]
        cfg.setdefault(section, {})[draw(st.sampled_from(fields))] = draw(ANY_VALUE)
    return cfg


@given(hostile_configs())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_generated_config_is_accepted_or_refused_with_a_field_named(cfg):
    try:
        parsed = parse_config(cfg)
    except ConfigError as err:
        text = str(err)
        assert text.startswith("invalid config:")
        named = [
            f"{s}.{f}" for s, fields in cfg.items() if isinstance(fields, dict) for f in fields
        ] + list(cfg)
        assert any(n in text for n in named), text
        return
    try:
        expand(parsed)
    except ConfigError:
        pass


@st.composite
def valid_configs(draw):
    """Configs inside every bound: each must run."""
    return {
        "run": {"n_patients": 2, "days": 2, "seed": draw(st.integers(0, 2**64 - 1))},
        "cohort": {
            "groups": {draw(st.sampled_from(["adult", "adolescent", "child"])): 1.0},
            "sampler": draw(st.sampled_from(["mvlognormal", "resample"])),
            "bmi_scale": draw(st.floats(0.5, 2.0)),
        },
        "therapy": {
            "kind": draw(st.sampled_from(["intensive", "conventional", "simglucose_basal_bolus"])),
            "delivery": draw(st.sampled_from(["pump", "mdi"])),
            "dose_scale": draw(st.floats(0.05, 10.0)),
            "titrate_days": draw(st.integers(0, 3)),
        },
        "lifestyle": {
            "profile": draw(st.sampled_from(["default", "sedentary_high_fat", "active"])),
            "sessions_per_week": draw(st.floats(0.0, 7.0)),
            "session_hr_excess": draw(st.floats(10.0, 120.0)),
        },
        "episodes": {
            "illness_per_year": draw(st.floats(0.0, 52.0)),
            "stress_per_week": draw(st.floats(0.0, 7.0)),
        },
        "meals": [{"time_h": draw(st.floats(0.0, 23.99)), "carbs_g": draw(st.floats(1.0, 300.0))}],
        "sensor": {"kind": draw(st.sampled_from(["none", "johnson_su"]))},
        "output": {"traced": 1},
    }


@given(valid_configs())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_config_within_bounds_runs(cfg):
    """Even extreme doses or meals give a finished run: a patient whose glucose runs out of
    range stops with status 1; nothing raises."""
    inputs = sweep.kernel_inputs(parse_config(cfg))
    cohort = sweep.cohort_of(inputs, np.arange(2))
    daily, log_phi, status, traces = sweep.simulate(inputs, cohort, np.array([0, -1]), 1)
    ok = status == 0
    defined = [k for k, n in enumerate(DAILY_NAMES) if n not in UNDEFINED_AS_NAN]
    assert np.isfinite(daily[defined][:, ok]).all()
    assert np.isnan(daily[:, ~ok]).all()


@pytest.mark.parametrize(
    "carbs,insulin,needle",
    [
        ([0.0, float("nan")], [0.0, 0.0], "non-finite value nan at minute 1"),
        ([0.0, -1.0], [0.0, 0.0], "negative value -1.0 at minute 1"),
        ([0.0, 0.0, 0.0], [0.0], "length 1 differs"),
        ([0.0, 5000.0], [0.0, 0.0], "exceeds"),
        ([], [], "empty series"),
        ([[1.0]], [[1.0]], "1-D"),
    ],
)
def test_replay_refuses_broken_inputs_clearly(carbs, insulin, needle):
    with pytest.raises(ValueError, match=None) as err:
        replay("adult#001", carbs, insulin)
    assert needle in str(err.value)


SMALL = {
    "run": {"n_patients": 8, "days": 2},
    "execution": {"block_size": 4},
    "output": {"traced": 1},
}


def _write_config(tmp_path, cfg=SMALL):
    import tomli_w

    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def test_a_damaged_store_is_named_by_inspect_and_resume(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    out = tmp_path / "s.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    # a variable's metadata lost
    shutil.rmtree(out / "tir")
    (out / "zarr.json").write_text(
        json.dumps(
            {
                k: v
                for k, v in json.loads((out / "zarr.json").read_text()).items()
                if k != "consolidated_metadata"
            }
        )
    )
    assert main(["run", str(cfg), "-o", str(out), "--resume", "-q"]) == 2
    assert "lacks tir" in capsys.readouterr().err
    # what it can say, it says; then it names the damage
    assert main(["inspect", str(out)]) == 1
    captured = capsys.readouterr()
    assert "missing variables: tir" in captured.out
    assert "tir: metadata missing (zarr.json not found) [tir/zarr.json]" in captured.err
    # garbage instead of the group metadata
    (out / "zarr.json").write_text("{ not json")
    assert main(["inspect", str(out)]) == 2
    assert "not a readable zarr store" in capsys.readouterr().err
    assert main(["run", str(cfg), "-o", str(out), "--resume", "-q"]) == 2
    assert "not a readable t1dmc store" in capsys.readouterr().err
    # the group metadata gone: the store is named as damaged, not as the user's arrays
    (out / "zarr.json").unlink()
    before = sorted(p.name for p in out.iterdir())
    assert main(["run", str(cfg), "-o", str(out), "--overwrite", "-q"]) == 2
    err = capsys.readouterr().err
    assert "its group metadata (zarr.json) is missing or unreadable" in err
    assert "did not create" not in err and sorted(p.name for p in out.iterdir()) == before


def test_an_unwritable_output_is_a_clear_error(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["run", str(cfg), "-o", str(blocker / "out.zarr"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "a_file" in err


def test_a_full_disk_leaves_nothing_half_written_marked_complete(tmp_path, monkeypatch, capsys):
    cfg_path = _write_config(tmp_path)
    out = tmp_path / "full.zarr"
    real = results.write_block

    def write_or_fail(path, layout, scenario, block, *a, **k):
        if block == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, layout, scenario, block, *a, **k)

    monkeypatch.setattr(results, "write_block", write_or_fail)
    assert main(["run", str(cfg_path), "-o", str(out), "-q"]) == 1  # the run failed
    assert "No space left on device" in capsys.readouterr().err
    layout = results.Layout.from_config(parse_config(SMALL))
    done = results.completed_blocks(out, layout)
    assert not done[0, 1]  # the block that failed to write is not marked complete
    monkeypatch.setattr(results, "write_block", real)
    assert main(["run", str(cfg_path), "-o", str(out), "--resume", "-q"]) == 0
    assert results.completed_blocks(out, layout).all()
