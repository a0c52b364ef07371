"""Acute events (engine/life/events.py): noticing lows, severe hypoglycaemia and glucagon,
sick-day corrections."""

import numpy as np
import pytest

from engine.life import events
from engine.model import acute
from engine.model.fast import rk4_step
from engine.model.params import P, X
from engine.population.cohort import basal_steady_state
from engine.population.reference import reference_patients


def test_lows_are_noticed_by_alarm_or_by_symptoms_when_awake():
    noon, night = 12 * 60, 3 * 60
    # a CGM alarm, confirmed by a finger-stick, day or night
    assert events.notices_low(True, False, night, 65.0, 66.0, 70.0, False)
    assert not events.notices_low(True, False, noon, 75.0, 66.0, 70.0, False)
    # no CGM: symptoms below 58 (aware) or 45 (unaware), and never asleep
    assert not events.notices_low(False, False, noon, 65.0, 65.0, 70.0, False)
    assert events.notices_low(False, False, noon, 55.0, 55.0, 70.0, False)
    assert not events.notices_low(False, True, noon, 55.0, 55.0, 70.0, False)
    assert events.notices_low(False, True, noon, 44.0, 44.0, 70.0, False)
    assert not events.notices_low(False, False, night, 45.0, 45.0, 70.0, False)
    # a finger-stick before a meal finds a low at the usual threshold
    assert events.notices_low(False, False, noon, 65.0, 65.0, 70.0, True)


def test_lows_are_over_treated_as_people_do_with_the_mean_kept():
    # trial: the advised amount every time
    assert events.rescue_amount_g(15.0, 0.0, 1.7, 70.0, True) == 15.0
    # a 25 kg child is advised 0.3 g/kg (ISPAD 2022): half the adult amount
    assert events.rescue_amount_g(15.0, 0.0, 1.7, 25.0, True) == pytest.approx(7.5)
    assert events.rescue_amount_g(15.0, 0.0, 1.7, 25.0, False) == 15.0
    # real world: 32 +- 24 g (Savard 2016), log-normal, capped at RESCUE_MAX_G
    z = np.random.default_rng(1).standard_normal(200_000)
    grams = np.array([events.rescue_amount_g(32.0, 0.75, zi, 80.0, True) for zi in z])
    assert grams.max() <= events.RESCUE_MAX_G
    assert 31.0 < grams.mean() < 32.5  # the cap trims the far tail only
    assert 20.0 < grams.std() < 25.0
    assert 0.45 < np.mean(grams > 20.0) < 0.75  # Savard: most lows over-treated (> 20 g)


def test_the_behaviour_profiles_set_the_rescue_amount():
    from engine.batch.config import parse_config

    rw = parse_config({"therapy": {"kind": "real_world"}}).behaviour
    trial = parse_config({"therapy": {"kind": "intensive"}}).behaviour
    assert (rw.hypo_treatment_g, rw.hypo_treatment_cv) == (32.0, 0.75)
    assert (trial.hypo_treatment_g, trial.hypo_treatment_cv) == (15.0, 0.0)
    # a field given overrides the profile
    own = parse_config({"behaviour": {"hypo_treatment_g": 20.0}}).behaviour
    assert (own.hypo_treatment_g, own.hypo_treatment_cv) == (20.0, 0.75)


def test_a_severe_episode_starts_after_the_assist_delay_once_until_glucose_is_back():
    run, on, starts = 0, False, []
    trace = [50.0] * 5 + [38.0] * 40 + [45.0] * 10 + [39.0] * 40 + [80.0] + [39.0] * 31
    for bg in trace:
        run, on, started = events.severe_hypo_step(bg, run, on, 30)
        starts.append(started)
    # the first episode starts at its 30th minute below 40; a dip to 45 does not end it
    assert np.flatnonzero(starts).tolist() == [5 + 29, 5 + 40 + 10 + 40 + 1 + 29]


def test_sick_day_corrections_come_after_two_hours_then_every_three():
    due = [m for m in range(1, 700) if events.sick_day_due(m)]
    assert due == [120, 300, 480, 660]
    # 10% of the daily dose estimated as twice the basal: basal 12 U/day -> 2.4 U
    assert events.sick_day_units(12.0 / 1440) == pytest.approx(2.4)


def test_counterregulation_raises_production_only_below_its_threshold():
    assert acute.hypo_counterregulation(80.0, False) == 1.0
    assert acute.hypo_counterregulation(65.0, False) == 1.0
    assert acute.hypo_counterregulation(40.0, False) > acute.hypo_counterregulation(40.0, True)
    assert acute.hypo_counterregulation(55.0, True) == 1.0


def _low_state(p):
    x0 = np.zeros(13)
    assert basal_steady_state(p, x0)
    x = x0.copy()
    scale = 45.0 / (x0[X.Gp] / p[P.Vg])  # plasma glucose 45 mg/dL, tissue and sensor alike
    x[X.Gp] *= scale
    x[X.Gt] *= scale
    x[X.Gs] *= scale
    return x


@pytest.mark.parametrize("patient", [0, 5, 12, 25])
def test_glucagon_lifts_an_insulin_induced_low_by_about_100_mg_dl_in_an_hour(patient):
    """1 mg glucagon at insulin-induced hypoglycaemia: glucose up by ~100-140 mg/dL within
    60-90 min (Rickels et al., Diabetes Care 39:264, 2016)."""
    p = reference_patients().params[patient].copy()
    rises = {}
    for ecr in (1.0, events.GLUCAGON_EGP_FACTOR):
        x = _low_state(p)
        u = p[P.u2ss]  # basal insulin continues
        for _ in range(events.GLUCAGON_MIN):
            x = np.array(rk4_step(tuple(x), p, 0.0, u, 0.0, 1.0, 1.0, ecr, 1.0, 0.0))
        rises[ecr] = x[X.Gp] / p[P.Vg] - 45.0
    extra = rises[events.GLUCAGON_EGP_FACTOR] - rises[1.0]
    assert 50.0 <= extra <= 180.0


def test_the_kernel_gives_each_sick_day_correction_as_the_rule_sizes_it():
    """Children on pumps, traced minute by minute: a correction given after 2 h above 250
    mg/dL, and every 3 h after, is events.sick_day_units of the day's basal (10% of twice
    it), rounded down to the pump's 0.05 U. (Sized from the whole recent dose instead, tried
    in 0.9.1: children's severe hypoglycaemia 24 -> 44 per 100 patient-years; docs/model.md
    §3.)"""
    from engine.batch import sweep
    from engine.batch.config import parse_config
    from engine.batch.translate import kernel_inputs
    from engine.model.glycaemia import D
    from engine.sim.outputs import TRACE

    n, days = 40, 14
    cfg = parse_config(
        {
            "run": {"seed": 3, "n_patients": n, "days": days},
            "cohort": {"groups": {"child": 1.0}},
            # the CGM users' high alert off: its corrections are not the rule's
            "therapy": {"kind": "real_world", "delivery": "pump", "cgm_high_alert_mg_dl": 0.0},
            "output": {"trace_interval_min": 1},
        }
    )
    inputs = kernel_inputs(cfg)
    daily, _, status, traces = sweep.simulate(
        inputs, sweep.cohort_of(inputs, np.arange(n)), np.arange(n), n
    )
    assert (status == 0).all()
    given, due = [], 0
    for i in range(n):
        bg, insulin, carbs = (traces[k, i] for k in (TRACE.bg, TRACE.insulin, TRACE.carbs))
        high = 0
        for m in range(bg.size):
            high = high + 1 if bg[m] > events.KETONE_CHECK_MG_DL else 0
            day = m // 1440
            window = slice(m - 2, m + 3)
            if not events.sick_day_due(high) or carbs[window].any():
                continue  # not due, or a meal's bolus in the same minutes
            due += 1
            basal_per_min = daily[D.basal_u, i, day] / 1440
            extra = insulin[window].max() - basal_per_min
            if extra > 0.05:  # given: each with the patient's adherence
                given.append(extra / events.sick_day_units(basal_per_min))
    assert len(given) >= 10
    assert len(given) <= due
    # rounded down to 0.05 U, and the basal's own minute beside it
    assert 0.85 <= np.median(given) <= 1.02


def test_a_cgm_high_alert_corrects_cgm_users_and_no_one_else():
    """Adults on pumps: with therapy.cgm_high_alert_mg_dl at 250, CGM users give more bolus
    insulin and spend less time above 250 mg/dL than the same patients without it; patients
    who notice lows by symptoms (no CGM), and AID users (their controller answers highs), are
    bit for bit the same with or without the alert."""
    from engine.batch import sweep
    from engine.batch.config import parse_config
    from engine.batch.translate import kernel_inputs
    from engine.model.glycaemia import D

    n, days = 60, 20  # 30 x 10 left the effect on time above 250 at the threshold (0.92)

    def daily(**therapy):
        cfg = parse_config(
            {
                "run": {"seed": 5, "n_patients": n, "days": days},
                "cohort": {"groups": {"adult": 1.0}},
                "therapy": {"kind": "real_world", "delivery": "pump", **therapy},
            }
        )
        inputs = kernel_inputs(cfg)
        out = sweep.simulate(inputs, sweep.cohort_of(inputs, np.arange(n)), np.full(n, -1), 0)
        assert (out[2] == 0).all()
        return out[0]

    on = daily(hypo_detection="cgm", cgm_high_alert_mg_dl=250.0)
    off = daily(hypo_detection="cgm", cgm_high_alert_mg_dl=0.0)
    assert on[D.bolus_u].sum() > 1.01 * off[D.bolus_u].sum()
    assert on[D.tar250].mean() < 0.9 * off[D.tar250].mean()
    np.testing.assert_array_equal(
        daily(hypo_detection="symptoms", cgm_high_alert_mg_dl=250.0),
        daily(hypo_detection="symptoms", cgm_high_alert_mg_dl=0.0),
    )
    np.testing.assert_array_equal(
        daily(kind="aid_oref", cgm_high_alert_mg_dl=250.0),
        daily(kind="aid_oref", cgm_high_alert_mg_dl=0.0),
    )
