"""engine/batch/inert.py: every rule of its table holds in the kernel (two values of the field
give the same simulation, bit for bit, under the rule's condition), and the warnings name the
swept, --set and file fields that change nothing."""

from pathlib import Path

import numpy as np
import pytest

from engine.batch import inert, sweep
from engine.batch.config import apply_overrides, parse_config, read_config_dict
from engine.batch.scenarios import expand
from engine.batch.translate import kernel_inputs

ROOT = Path(__file__).resolve().parents[3]
BASE = {
    "run": {"seed": 11, "n_patients": 20, "days": 3},
    "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0, "child": 1.0}},
    "output": {"traced": [0, 7]},
}
SIM = "simglucose_basal_bolus"

# the controller's fields and the devices', with two values each
AID_FIELDS = [
    ("aid_target_mg_dl", 100.0, 180.0),
    ("max_basal_factor", 1.0, 6.0),
    ("max_iob_u_per_kg", 0.0, 0.5),
    ("suspend_before_low", True, False),  # oref's zero temps leave it nothing to do here
    ("suspend_threshold_mg_dl", 60.0, 110.0),
    ("insulin_peak_min", 45.0, 110.0),
    ("exercise_mode_share", 0.0, 1.0),
    ("exercise_target_mg_dl", 100.0, 200.0),
]
DEVICE_FIELDS = [
    ("sensor_session_days", 1, 10),
    ("sensor_warmup_min", 0, 1440),
    ("sensor_gaps_per_day", 0.0, 1.0),
    ("sensor_gap_min", 5.0, 700.0),
    ("set_change_days", 1, 3),
    ("set_failure_share", 0.0, 1.0),
    ("set_failure_loss", 0.0, 1.0),
]

# (field, the options that make it inert, two values, options under which the two values
# give different results, or None where 20 patients x 3 days may not show a difference)
CASES = [
    (
        "cohort.jitter_cv",
        {"cohort.sampler": "mvlognormal"},
        0.02,
        0.4,
        {"cohort.sampler": "resample"},
    ),
    ("therapy.correct", {"therapy.kind": SIM}, True, False, {"therapy.kind": "intensive"}),
    (
        "therapy.basal_absorption_cv",
        {"therapy.delivery": "pump"},
        0.0,
        0.6,
        {"therapy.delivery": "mdi"},
    ),
    (
        "therapy.correction_threshold_mg_dl",
        {"therapy.kind": SIM},
        100.0,
        300.0,
        {"therapy.kind": "intensive"},
    ),
    ("therapy.use_iob", {"therapy.kind": SIM}, True, False, {"therapy.kind": "intensive"}),
    ("therapy.delivery", {"therapy.kind": SIM}, "pump", "mdi", {"therapy.kind": "intensive"}),
    ("therapy.correction_threshold_mg_dl", {"therapy.correct": False}, 100.0, 300.0, {}),
    ("therapy.target_mg_dl", {"therapy.correct": False}, 90.0, 180.0, {}),
    ("therapy.use_iob", {"therapy.correct": False}, True, False, {}),
    ("therapy.dia_h", {"therapy.use_iob": False}, 2.0, 7.0, {}),
    (
        "therapy.cgm_high_alert_mg_dl",
        {"therapy.correct": False, "therapy.hypo_detection": "cgm"},
        0.0,
        180.0,
        {"therapy.hypo_detection": "cgm"},
    ),
    ("therapy.cgm_high_alert_mg_dl", {"therapy.kind": SIM}, 0.0, 180.0, None),
    ("therapy.dia_h", {"therapy.kind": SIM}, 2.0, 7.0, None),
    ("cohort.pump_share", {"therapy.delivery": "pump"}, 0.05, 0.95, {}),
    ("cohort.pump_share", {"therapy.kind": SIM, "therapy.delivery": "mix"}, 0.05, 0.95, None),
    ("cohort.cgm_share", {"therapy.hypo_detection": "cgm"}, 0.05, 0.95, None),
    (
        "cohort.aid_share",
        {"therapy.kind": "intensive", "therapy.controller": "oref", "cohort.cgm_share": 0.5},
        0.0,
        0.3,
        {"therapy.controller": "oref", "cohort.cgm_share": 0.5, "cohort.pump_share": 0.9},
    ),
    (
        "therapy.controller",
        {},  # the real-world mix, cohort.aid_share 0
        "pid",
        "oref",
        {"cohort.aid_share": 0.15, "cohort.cgm_share": 0.5},
    ),
    *(
        (
            f"therapy.{field}",
            {"therapy.kind": "sap"},
            a,
            b,
            {"therapy.kind": "aid_pid" if field == "suspend_before_low" else "aid_oref"},
        )
        for field, a, b in AID_FIELDS
    ),
    *(
        (f"therapy.{field}", {"therapy.controller": "oref"}, a, b, None)
        for field, a, b in [
            ("controller_settings", {}, {"smb": 1.0, "autosens_max": 1.5}),
            *AID_FIELDS,
        ]
    ),
    *(
        (f"therapy.{field}", {"therapy.kind": "intensive"}, a, b, {"therapy.kind": "sap"})
        for field, a, b in DEVICE_FIELDS
    ),
    *(
        (f"therapy.{field}", {"therapy.device_events": True}, a, b, None)
        for field, a, b in DEVICE_FIELDS
    ),
    (
        "therapy.fasting_target_mg_dl",
        {"therapy.titrate_days": 0},
        80.0,
        250.0,
        {"therapy.titrate_days": 1},
    ),
    (
        "therapy.hba1c_target",
        {"therapy.titrate_days": 0},
        5.5,
        11.0,
        {"therapy.kind": "intensive", "therapy.titrate_days": 1},
    ),
    ("therapy.tbr_limit_pct", {"therapy.titrate_days": 0}, 0.0, 100.0, None),
    ("therapy.dose_rise_kept", {"therapy.titrate_days": 0}, 1.0, 0.0, {"therapy.titrate_days": 1}),
    (
        "therapy.follow_advice",
        {"therapy.titrate_days": 0},
        True,
        False,
        {"therapy.titrate_days": 1},
    ),
    ("behaviour.hypo_treatment_cv", {"behaviour.hypo_treatment_g": 0.0}, 0.0, 1.2, {}),
    ("behaviour.hypo_treatment_by_weight", {"behaviour.hypo_treatment_g": 0.0}, True, False, None),
    ("behaviour.hypo_wait_min", {"behaviour.hypo_treatment_g": 0.0}, 5, 60, None),
    ("behaviour.hypo_threshold_mg_dl", {"behaviour.hypo_treatment_g": 0.0}, 55.0, 95.0, {}),
    ("behaviour.late_bolus_min", {"behaviour.miss_share": 1.0}, 5, 200, None),
    ("behaviour.snack_g", {"behaviour.unannounced_snacks_per_day": 0.0}, 5.0, 80.0, {}),
    ("behaviour.carb_count_cv", {"therapy.carb_counting": False}, 0.0, 0.8, {}),
    (
        "behaviour.programme",
        {"behaviour.exercise": False},
        None,
        {"start_day": 0, "sessions_per_week": 7.0, "session_min": 120},
        {},
    ),
    ("episodes.stress_per_week", {"episodes.stress": False}, 0.5, 7.0, {}),
    (
        "episodes.stress_hours",
        {"episodes.stress_per_week": 0.0},
        1.0,
        12.0,
        {"episodes.stress_per_week": 7.0},
    ),
    (
        "episodes.stress_severity",
        {"episodes.stress": False},
        0.1,
        1.0,
        {"episodes.stress_per_week": 7.0},
    ),
    ("episodes.illness_per_year", {"episodes.illness": False}, 1.0, 52.0, None),
    ("episodes.illness_days", {"episodes.illness_per_year": 0.0}, 1.0, 7.0, None),
    ("episodes.illness_severity", {"episodes.illness": False}, 0.1, 1.0, None),
    ("episodes.illness_appetite", {"episodes.illness_per_year": 0.0}, 0.0, 0.9, None),
    ("therapy.sick_day_extra", {"episodes.illness_per_year": 0.0}, 0.0, 1.0, None),
    ("cohort.dawn_prevalence", {"mechanisms.dawn": False}, 0.0, 1.0, {}),
    ("cohort.dawn_amplitude", {"mechanisms.dawn": False}, 0.0, 1.5, {}),
    ("cohort.dawn_amplitude", {"cohort.dawn_prevalence": 0.0}, 0.0, 1.5, None),
    ("cohort.time_of_day_amplitude", {"mechanisms.time_of_day": False}, 0.0, 0.8, {}),
    ("sensor.model", {"sensor.kind": "none"}, "Dexcom", "Navigator", {}),
    ("mechanisms.growth", {"cohort.groups": {"adult": 1.0}}, True, False, {}),
    (
        "lifestyle.adolescent_adherence_dip",
        {"cohort.groups": {"adult": 1.0, "child": 1.0}},
        0.0,
        4.0,
        {},
    ),
    (
        "lifestyle.advice_adherence_correlation",
        {"therapy.follow_advice": False, "therapy.titrate_days": 1},
        0.0,
        0.9,
        {"therapy.titrate_days": 1},
    ),
    ("lifestyle.advice_adherence_correlation", {"therapy.titrate_days": 0}, 0.0, 0.9, None),
    ("behaviour.meal_check_share", {"therapy.hypo_detection": "cgm"}, 0.0, 1.0, {}),
    ("behaviour.meal_check_share", {"cohort.cgm_share": 1.0}, 0.0, 1.0, None),
]


def _config(options: dict, field: str, value):
    return parse_config(apply_overrides(BASE, {**options, field: value}))


def _simulate(cfg):
    inputs = kernel_inputs(cfg)
    ids = np.arange(cfg.run.n_patients)
    cohort = sweep.cohort_of(inputs, ids)
    slot = np.full(ids.size, -1, dtype=np.int64)
    slot[[0, 7]] = [0, 1]
    return (cohort.params, cohort.x0, *sweep.simulate(inputs, cohort, slot, 2))


def _same(a, b) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))


def _case_id(case):
    return f"{case[0]}-under-{'-'.join(f'{k}={v}' for k, v in case[1].items())}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_an_inert_field_changes_nothing_in_the_kernel(case):
    field, options, a, b, control = case
    cfg_a, cfg_b = _config(options, field, a), _config(options, field, b)
    # the case is a rule of the table: some rule names the field and holds here
    assert any(
        field in rule.fields and rule.inert_when(cfg_a) and rule.inert_when(cfg_b)
        for rule in inert.RULES
    )
    assert _same(_simulate(cfg_a), _simulate(cfg_b)), f"{field} acts under {options}"
    if control is not None:  # the test can see a difference where the field acts
        assert not _same(
            _simulate(_config(control, field, a)), _simulate(_config(control, field, b))
        ), f"{field} shows no effect under {control} either: a weak case"


def test_cgm_share_acts_where_aid_users_are_drawn_among_cgm_wearers():
    """Under symptoms-only detection cgm_share still chooses who can be an AID user."""
    rule = next(r for r in inert.RULES if r.fields == ("cohort.cgm_share",))
    symptoms = {"therapy.hypo_detection": "symptoms", "therapy.controller": "oref"}
    assert rule.inert_when(_config(symptoms, "cohort.aid_share", 0.0))
    assert not rule.inert_when(_config(symptoms, "cohort.aid_share", 0.1))
    a = _simulate(_config({**symptoms, "cohort.aid_share": 0.1}, "cohort.cgm_share", 0.2))
    b = _simulate(_config({**symptoms, "cohort.aid_share": 0.1}, "cohort.cgm_share", 0.9))
    assert not _same(a, b)


def test_every_rule_and_field_of_the_table_is_tested():
    tested = set()
    for field, options, a, _, _ in CASES:
        cfg = _config(options, field, a)
        tested |= {
            (k, field) for k, r in enumerate(inert.RULES) if field in r.fields and r.inert_when(cfg)
        }
    wanted = {(k, f) for k, r in enumerate(inert.RULES) for f in r.fields}
    assert wanted - tested == set()


def _warnings(data: dict, sets=(), file_data=None):
    cfg = parse_config(apply_overrides(data, list(sets)))
    return inert.warnings(cfg, expand(cfg), inert.set_paths(sets), file_data)


def test_a_swept_jitter_cv_warns_under_mvlognormal_only():
    swept = {"sweep": {"grid": {"cohort.jitter_cv": [0.05, 0.2]}}}
    (warning,) = _warnings(swept)
    assert warning.startswith("cohort.jitter_cv (swept) has no effect in any scenario")
    assert 'cohort.sampler is "mvlognormal"' in warning and '"resample"' in warning
    assert _warnings({**swept, "cohort": {"sampler": "resample"}}) == []
    # inert in some scenarios only (the sampler swept beside it): the comparison is the point
    both = {
        "sweep": {
            "grid": {"cohort.jitter_cv": [0.05, 0.2], "cohort.sampler": ["mvlognormal", "resample"]}
        }
    }
    assert _warnings(both) == []
    # sampled ranges too
    ranges = {"sweep": {"n": 2, "ranges": {"cohort.jitter_cv": {"low": 0.05, "high": 0.2}}}}
    assert [w.split(" (")[0] for w in _warnings(ranges)] == ["cohort.jitter_cv"]


def test_a_set_field_warns_when_inert_and_not_otherwise():
    (warning,) = _warnings({}, ["cohort.jitter_cv=0.3"])
    assert warning.startswith("cohort.jitter_cv (--set) has no effect: ")
    (warning,) = _warnings({}, ["behaviour.hypo_treatment_g=0", "behaviour.hypo_treatment_cv=0.4"])
    assert warning.startswith("behaviour.hypo_treatment_cv (--set) has no effect: ")
    assert "behaviour.hypo_treatment_g is 0" in warning
    assert _warnings({}, ["therapy.kind=intensive", "therapy.dia_h=5", "run.days=2"]) == []
    (warning,) = _warnings({}, ["therapy.kind=simglucose_basal_bolus", "therapy.use_iob=false"])
    assert warning.startswith("therapy.use_iob (--set) has no effect: therapy.kind is")


def test_a_field_replaced_by_a_swept_preset_warns_naming_the_scenarios():
    kinds = {"sweep": {"grid": {"therapy.kind": ["intensive", "conventional"]}}}
    warnings = _warnings(kinds, ["therapy.delivery=mdi", "therapy.dose_scale=1.1"])
    # conventional uses pens anyway: replaced in scenario 0 only; dose_scale is in no preset
    assert warnings == [
        "therapy.delivery (--set) has no effect in scenario 0 (of 2): therapy.kind is swept, "
        "and each scenario takes its preset's delivery; to give every scenario the same "
        'value, sweep it beside the selector (sweep.grid."therapy.delivery" = [value])'
    ]
    # under behaviour.profile = "auto" the therapy sweep chooses the behaviour profile too
    (warning,) = _warnings(kinds, ["behaviour.hypo_treatment_g=20"])
    assert warning.startswith("behaviour.hypo_treatment_g (--set) has no effect in any scenario")
    fixed = {**kinds, "behaviour": {"profile": "real_world"}}
    assert _warnings(fixed, ["behaviour.hypo_treatment_g=20"]) == []
    # a field swept beside the selector is not replaced
    beside = {
        "sweep": {
            "grid": {"therapy.kind": ["intensive", "conventional"], "therapy.delivery": ["mdi"]}
        }
    }
    assert _warnings(beside) == []
    # the file's own fields, from its contents
    data = {"therapy": {"kind": "intensive", "titrate_days": 3}, **kinds}
    (warning,) = _warnings(data, file_data=data)
    assert warning.startswith("therapy.titrate_days (in the file) has no effect in any scenario")


def test_a_file_field_that_acts_on_nobody_warns():
    # a controller's target in the everyday mix, with nobody drawn onto AID
    data = {"therapy": {"controller": "oref", "aid_target_mg_dl": 110.0}}
    controller, target = _warnings(data, file_data=data)
    assert controller.startswith("therapy.controller (in the file) has no effect: ")
    assert target.startswith("therapy.aid_target_mg_dl (in the file) has no effect: ")
    assert all("cohort.aid_share is 0" in w for w in (controller, target))
    with_users = {**data, "cohort": {"aid_share": 0.1}}
    assert _warnings(with_users, file_data=with_users) == []


def test_the_shipped_configs_warn_about_nothing():
    for path in sorted((ROOT / "configs").glob("*.toml")):
        data = read_config_dict(path)
        assert _warnings(data, file_data=data) == [], path.name
