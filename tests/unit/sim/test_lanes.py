"""The lane kernel: patients stepped LANES at a time on the vector units must give each patient
exactly what one-at-a-time stepping gives, whatever its lane or neighbours."""

import sys
from pathlib import Path

import numpy as np
import pytest

from engine.batch import sweep
from engine.batch.config import parse_config
from engine.model.fast import midpoint_step, rk4_step, state_tuple
from engine.model.glycaemia import DAILY_NAMES, UNDEFINED_AS_NAN
from engine.model.params import N_PARAMS, N_STATES
from engine.sim import lanes

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_population import CORE  # noqa: E402  (the benchmark's core model)

from tests.libm import GLIBC_FMA_EXP  # noqa: E402

GROUPS = {"adult": 1.0, "adolescent": 1.0, "child": 1.0}


def _cohort(n):
    cfg = parse_config({"run": {"n_patients": n, "days": 1}, "cohort": {"groups": GROUPS}})
    ki = sweep.kernel_inputs(cfg)
    return sweep.cohort_of(ki, np.arange(n))


@pytest.mark.parametrize(
    "lanes_step,scalar_step", [(lanes.rk4_lanes, rk4_step), (lanes.midpoint_lanes, midpoint_step)]
)
def test_each_lane_is_the_scalar_step_bit_for_bit(lanes_step, scalar_step):
    c = _cohort(lanes.LANES)
    rng = np.random.default_rng(3)
    w = np.zeros(lanes.W_SIZE)
    expected = []
    for j in range(lanes.LANES):
        x = c.x0[j] * rng.uniform(0.5, 1.5, N_STATES)
        x[:2] += rng.uniform(0.0, 60000.0, 2)  # a meal in the stomach
        inputs = (
            rng.uniform(0, 5000),
            rng.uniform(0, 50),
            rng.uniform(0, 80000),
            rng.uniform(0.3, 2),
            rng.uniform(0.3, 2),
            rng.uniform(0.5, 2),
            rng.uniform(1, 2),
            rng.uniform(0, 1e-4),
        )
        if j == 3:  # no meal: kgut = kmax, exps unused
            inputs = inputs[:2] + (0.0,) + inputs[3:]
        for k in range(N_STATES):
            w[lanes.W_STATE + k * lanes.LANES + j] = x[k]
        for k in range(N_PARAMS):
            w[lanes.W_PARAMS + k * lanes.LANES + j] = c.params[j, k]
        for r, v in enumerate(inputs):
            w[lanes.W_INPUTS + r * lanes.LANES + j] = v
        expected.append(scalar_step(state_tuple(x), c.params[j], *inputs))
    lanes_step(w)
    for j in range(lanes.LANES):
        got = w[lanes.W_STATE + j : lanes.W_STATE + N_STATES * lanes.LANES : lanes.LANES]
        if GLIBC_FMA_EXP:
            assert np.array_equal(got, np.array(expected[j])), f"lane {j}"
        else:  # rk4_step calls libm's exp, the lanes vexp's
            np.testing.assert_allclose(got, expected[j], rtol=1e-12, err_msg=f"lane {j}")


def test_a_patient_does_not_depend_on_its_lane_or_group():
    """2 LANES + 3 patients fill two groups and a partial one; the same patients re-run from
    offset 5 (so every one changes lane) and patient 12 alone must match bit for bit."""
    n = 2 * lanes.LANES + 3
    cfg = parse_config(
        {
            "run": {"n_patients": n, "days": 3},
            "cohort": {"groups": GROUPS},
            "sensor": {"kind": "johnson_su"},
        }
    )
    ki = sweep.kernel_inputs(cfg)
    ids = np.arange(n)
    whole = sweep.simulate(ki, sweep.cohort_of(ki, ids), np.full(n, -1, dtype=np.int64), 0)
    shifted = sweep.simulate(
        ki, sweep.cohort_of(ki, ids[5:]), np.full(n - 5, -1, dtype=np.int64), 0
    )
    alone = sweep.simulate(ki, sweep.cohort_of(ki, ids[12:13]), np.zeros(1, dtype=np.int64), 1)
    for a, b in zip(whole[:3], shifted[:3]):
        assert np.array_equal(a[..., 5:, :] if a.ndim == 3 else a[5:], b, equal_nan=True)
    assert np.array_equal(whole[0][:, 12:13], alone[0], equal_nan=True)
    defined = [k for k, n in enumerate(DAILY_NAMES) if n not in UNDEFINED_AS_NAN]
    assert np.isfinite(whole[0][defined]).all()


@pytest.mark.parametrize("case", ["full", "core", "illness"])
def test_matches_the_one_patient_at_a_time_kernel(case):
    """Outputs of the kernel before lanes (tests/data/kernel_before_lanes.npz, commit f879621)
    for three configs: every mechanism and behaviour; the core model, where 9 patient-days fail;
    frequent illness and stress. On the machine that made the file they are bit-identical;
    elsewhere libm's exp may round differently in the last bit, hence the 1e-9 bound, far below
    any change of logic. Since 0.3.0 the defaults differ (real_world therapy, events,
    counter-regulation, growth, the adolescent adherence dip; 0.4.0 rescue carbohydrate by
    weight), so the run sets the kernel of then: intensive therapy with its CGM alarm, trial
    behaviour with the same rescue for all, no sick-day rules, no dose cut after a severe
    low, none of the new mechanisms (0.7.0: nor the kidney's glycosuria and appetite; 0.8.0: nor
    youths' meals from the survey and Hall's constant term; 0.9.0: nor day-to-day absorption).
    It compares the daily variables by name,
    on day 0, every minute of which runs the lanes: from day 1 0.3.0 changes the model by
    design (HbA1c at the start is the mean of the days so far; the titration rule raises the
    basal when lows come with high fasting glucose), with no switch back."""
    raw = {
        "run": {
            "name": "g",
            "n_patients": {"full": 21, "core": 13, "illness": 17}[case],
            "days": {"full": 12, "core": 5, "illness": 15}[case],
            "seed": 7,
        },
        # the reference's cohort: BMI as drawn before 0.12.0
        "cohort": {"groups": GROUPS, "youth_bmi": "group_lognormal"},
        "output": {"traced": 3},
        "therapy": {
            "kind": "intensive",
            "hypo_detection": "cgm",
            "sick_day_rules": False,
            "severe_hypo_cut": 0.0,
            "max_bolus_u_per_kg": 0.0,
            "basal_absorption_cv": 0.0,
            "rapid_absorption_cv": 0.0,
        },
        "behaviour": {
            "profile": "trial",
            "assist_delay_min": 240,
            "hypo_treatment_by_weight": False,
        },
        "lifestyle": {"adolescent_adherence_dip": 0.0, "youth_meals": False},
        "mechanisms": {
            "growth": False,
            "hypo_counterregulation": False,
            "appetite_feedback": False,
            "kidney_glycosuria": False,
            "renal_splay": False,
            "brain_uptake_in_lows": False,
            "resting_constant": False,
        },
    }
    if case == "core":
        for section, fields in CORE.items():
            kept = {} if section == "therapy" else raw.get(section, {})
            raw[section] = {**kept, **fields}
    if case == "illness":
        raw["episodes"] = {"illness_per_year": 30.0, "stress_per_week": 5.0}
    cfg = parse_config(raw)
    ki = sweep.kernel_inputs(cfg)
    n = cfg.run.n_patients
    slot = np.full(n, -1, dtype=np.int64)
    slot[[0, n // 2, n - 1]] = [0, 1, 2]
    got = sweep.simulate(ki, sweep.cohort_of(ki, np.arange(n)), slot, 3)
    ref = np.load(DATA / "kernel_before_lanes.npz")
    first_titration = 1  # the days compared: day 0
    for key, value in zip(("daily", "log_phi", "status", "traces"), got):
        before = ref[f"{case}_{key}"]
        if key == "daily":  # the file's 33 daily variables, by name; later ones are new
            value = value[[DAILY_NAMES.index(n) for n in DAILY_BEFORE_LANES]]
        cut = first_titration  # days, or for traces the samples of those days
        if key == "traces":
            cut *= before.shape[-1] // cfg.run.days
        before, value = before[..., :cut], value[..., :cut]
        assert np.array_equal(np.isnan(value), np.isnan(before)), key
        ok = ~np.isnan(before)
        rel = np.abs(value[ok] - before[ok]) / np.maximum(np.abs(before[ok]), 1e-12)
        assert rel.max(initial=0.0) <= 1e-9, (key, rel.max())
    assert (got[2] != 0).sum() == {"full": 0, "core": 9, "illness": 0}[case]


# the daily variables of tests/data/kernel_before_lanes.npz, in its order
DAILY_BEFORE_LANES = [
    n
    for n in DAILY_NAMES
    if n
    not in (
        "severe_hypo_events",
        "dka_events",
        "hyperglycaemia_admissions",
        "height",
        "bmi_sds",
        "lbgi",
        "hbgi",
        # closed loop (0.5.0)
        "closed_loop_pct",
        "suspend_min",
        "auto_bolus_u",
        "aid_sensitivity_ratio",
        "set_failures",
        "sensor_gap_min",
        "cgm_tir",
        "cgm_tbr70",
        # energy balance (0.7.0)
        "intake_kcal",
        "glycosuria_g",
    )
]
