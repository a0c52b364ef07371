"""`--set section.field=value` (engine.batch.config.parse_override, apply_overrides,
load_config(path, overrides)): values read as TOML or else as plain strings, applied to the
file's contents before validation, so an unknown section or field is named as in a file."""

import pytest

from engine.batch.config import (
    ConfigError,
    apply_overrides,
    load_config,
    parse_override,
    read_config_dict,
)


@pytest.mark.parametrize(
    "text,path,value",
    [
        ("run.days=10", ["run", "days"], 10),
        ("run.days = 10", ["run", "days"], 10),
        ("cohort.cgm_share=0.5", ["cohort", "cgm_share"], 0.5),
        ("mechanisms.growth=false", ["mechanisms", "growth"], False),
        ('therapy.kind="intensive"', ["therapy", "kind"], "intensive"),
        ("therapy.kind=intensive", ["therapy", "kind"], "intensive"),  # a bare word
        ("run.name=my first run", ["run", "name"], "my first run"),
        ("output.traced=[0, 3]", ["output", "traced"], [0, 3]),
        (
            "cohort.groups={adult = 1.0, child = 2}",
            ["cohort", "groups"],
            {"adult": 1.0, "child": 2},
        ),
        ('sweep.grid."therapy.kind"=["a", "b"]', ["sweep", "grid", "therapy.kind"], ["a", "b"]),
        ("meals.1.carbs_g=50", ["meals", "1", "carbs_g"], 50),
        ("run.name=a=b", ["run", "name"], "a=b"),  # the first '=' separates
    ],
)
def test_parse_override_reads_toml_values_and_bare_strings(text, path, value):
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize("text", ["run.days", "=10", "run..days=1", "run days=1"])
def test_parse_override_refuses_what_is_not_a_field_path(text):
    with pytest.raises(ConfigError, match="--set"):
        parse_override(text)


def test_apply_overrides_sets_fields_adds_sections_and_leaves_the_input_alone():
    data = {"run": {"days": 3, "n_patients": 5}, "meals": [{"time_h": 7, "carbs_g": 40}]}
    out = apply_overrides(data, ["run.days=10", "therapy.kind=intensive", "meals.0.carbs_g=55"])
    assert out == {
        "run": {"days": 10, "n_patients": 5},
        "meals": [{"time_h": 7, "carbs_g": 55}],
        "therapy": {"kind": "intensive"},
    }
    assert data == {"run": {"days": 3, "n_patients": 5}, "meals": [{"time_h": 7, "carbs_g": 40}]}
    # a mapping of dotted paths to values, as engine.run(overrides=...) takes
    assert apply_overrides(data, {"run.days": 10, "therapy.kind": "intensive"})["run"]["days"] == 10
    assert apply_overrides(data, None) == data


@pytest.mark.parametrize(
    "override,needle",
    [
        ("run.days.x=1", "run.days is a value (3), not a section with fields"),
        ("meals.4.carbs_g=1", "meals is a list of 1; '4' is not an index 0..0"),
        ("episodes.0.x=1", "episodes is not in the config"),
    ],
)
def test_apply_overrides_names_a_path_it_cannot_follow(override, needle):
    data = {"run": {"days": 3}, "meals": [{"time_h": 7, "carbs_g": 40}]}
    with pytest.raises(ConfigError, match="--set") as err:
        apply_overrides(data, [override])
    assert needle in str(err.value)


def test_load_config_applies_overrides_before_validation(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[run]\ndays = 3\nn_patients = 4\n[therapy]\nkind = "conventional"\n')
    cfg = load_config(path, ["run.days=10", "therapy.kind=intensive"])
    assert cfg.run.days == 10 and cfg.run.n_patients == 4
    # the preset chosen by the override fills its fields, as the same line in the file would
    file_too = tmp_path / "same.toml"
    file_too.write_text('[run]\ndays = 10\nn_patients = 4\n[therapy]\nkind = "intensive"\n')
    assert cfg == load_config(file_too)
    assert load_config(path, ['therapy.kind="intensive"']) == load_config(
        path, ["therapy.kind=intensive"]
    )
    assert read_config_dict(path)["run"]["days"] == 3  # the file is not changed
    assert load_config(path).run.days == 3


@pytest.mark.parametrize(
    "override,needle",
    [
        ("run.dayz=10", "run.dayz = 10: unknown field; allowed here: name, seed, n_patients"),
        ("nosuch.field=1", "nosuch = {'field': 1}: unknown field; allowed here: run, cohort"),
        ("run.days=0", "run.days = 0: Input should be greater than or equal to 1"),
        ("therapy.kind=nonsense", "therapy.kind = 'nonsense'"),
    ],
)
def test_a_bad_override_is_named_as_a_bad_line_in_the_file_would_be(tmp_path, override, needle):
    path = tmp_path / "c.toml"
    path.write_text("[run]\ndays = 3\n")
    with pytest.raises(ConfigError, match="invalid config") as err:
        load_config(path, [override])
    assert needle in str(err.value)
