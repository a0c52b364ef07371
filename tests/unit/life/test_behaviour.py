"""A patient's daily life: frequencies match the settings and every draw is a pure function
of (seed, patient, day)."""

import numpy as np
import pytest

from engine.batch.config import parse_config
from engine.batch.translate import behaviour_settings
from engine.life import behaviour as B
from engine.model.traits import N_TRAITS, T

SEED = np.uint64(99)


def traits(sessions=3.5, adherence=0.8, stress=0.0):
    tr = np.zeros(N_TRAITS)
    tr[T.sessions_per_week], tr[T.session_min], tr[T.session_hr_excess] = sessions, 40.0, 50.0
    tr[T.session_time_h], tr[T.adherence], tr[T.chronic_stress] = 17.0, adherence, stress
    return tr


def beh(**sections):
    return behaviour_settings(parse_config(sections))


def test_exercise_sessions_follow_the_weekly_frequency_and_a_programme_replaces_it():
    b = beh(
        behaviour={
            "programme": {
                "start_day": 500,
                "sessions_per_week": 7.0,
                "session_min": 30,
                "session_hr_excess": 70,
            }
        }
    )
    tr = traits(sessions=2.0)
    days = [B.exercise_session(SEED, 3, d, tr, b) for d in range(1000)]
    before = np.mean([s[0] >= 0 for s in days[:500]])
    assert before == pytest.approx(2.0 / 7.0, abs=0.05)
    assert all(s[0] >= 0 and s[1] == 30 and s[2] == 70.0 for s in days[500:])
    assert B.exercise_session(SEED, 3, 42, tr, b) == days[42]  # pure in (seed, id, day)


def test_missed_and_late_boluses_follow_adherence_and_counting_error_its_cv():
    b = beh(behaviour={"carb_count_cv": 0.25, "miss_share": 0.5, "late_bolus_min": 30})
    tr = traits(adherence=0.8)
    out = [B.bolus_decision(SEED, 5, d, 0, tr, b) for d in range(4000)]
    factors = np.array([o[0] for o in out])
    missed = np.mean([not o[2] for o in out])
    late = np.mean([o[2] and o[1] == 30 for o in out])
    assert missed == pytest.approx(0.1, abs=0.015)
    assert late == pytest.approx(0.1, abs=0.015)
    assert factors.mean() == pytest.approx(1.0, abs=0.02)
    assert factors.std() / factors.mean() == pytest.approx(0.25, abs=0.02)


def test_illness_episodes_last_days_at_the_configured_rate():
    b = beh(episodes={"illness_per_year": 6.0, "illness_days": 4.0})
    sick = np.array([B.illness_severity(SEED, 11, d, b) for d in range(3650)]) > 0
    starts = np.sum(sick[1:] & ~sick[:-1])
    assert 40 <= starts <= 80  # ~60 in ten years
    assert 0.04 <= sick.mean() <= 0.10  # ~6 x 4 days / 365
    assert B.illness_severity(SEED, 11, 1234, b) == B.illness_severity(SEED, 11, 1234, b)
    off = beh(episodes={"illness": False})
    assert all(B.illness_severity(SEED, 11, d, off) == 0.0 for d in range(365))


def test_chronic_stress_makes_acute_stress_more_frequent():
    b = beh(episodes={"stress_per_week": 1.0})
    calm = np.mean(
        [B.stress_episode(SEED, 2, d, traits(stress=0.0), b)[0] >= 0 for d in range(3000)]
    )
    tense = np.mean(
        [B.stress_episode(SEED, 2, d, traits(stress=1.0), b)[0] >= 0 for d in range(3000)]
    )
    assert calm == pytest.approx(1 / 7, abs=0.02)
    assert tense == pytest.approx(3 / 7, abs=0.03)


def test_meals_scale_with_appetite_and_keep_their_slots():
    slots = (
        np.array([420.0, 720.0]),
        np.array([0.0, 0.0]),
        np.array([50.0, 80.0]),
        np.array([0.0, 0.0]),
        np.array([1.0, 1.0]),
    )
    minute = np.empty(8, dtype=np.int64)
    grams = np.empty(8)
    slot = np.empty(8, dtype=np.int64)
    n = B.plan_meals(SEED, 1, 0, *slots, 0.5, 0.0, 20.0, minute, grams, slot)
    assert n == 2 and list(minute[:2]) == [420, 720] and list(slot[:2]) == [0, 1]
    np.testing.assert_allclose(grams[:2], [25.0, 40.0])


def test_unannounced_snacks_are_poisson_many_unbolused_and_inside_waking_hours():
    slots = tuple(np.zeros(0) for _ in range(5))
    minute = np.zeros(B.MAX_SNACKS_PER_DAY, dtype=np.int64)
    grams = np.zeros(B.MAX_SNACKS_PER_DAY)
    slot = np.zeros(B.MAX_SNACKS_PER_DAY, dtype=np.int64)
    counts, all_grams = [], []
    for day in range(3000):
        n = B.plan_meals(SEED, 3, day, *slots, 1.0, 0.5, 20.0, minute, grams, slot)
        counts.append(n)
        assert (slot[:n] == B.SNACK_SLOT).all()
        assert (np.diff(minute[:n]) >= 0).all()
        assert ((minute[:n] >= 9 * 60) & (minute[:n] < 22 * 60)).all()
        all_grams += list(grams[:n])
    assert np.mean(counts) == pytest.approx(0.5, abs=0.04)
    assert np.mean(all_grams) == pytest.approx(20.0, rel=0.05)


def test_clustered_lapses_keep_the_lapse_rate_and_concentrate_it_on_some_days():
    tr = np.zeros(N_TRAITS)
    tr[T.adherence] = 0.85
    b = B.default_behaviour()
    b[B.B.miss_share] = 1.0
    b[B.B.lapse_day_share] = 0.35
    missed = np.array(
        [[not B.bolus_decision(SEED, 8, d, s, tr, b)[2] for s in range(3)] for d in range(6000)]
    )
    assert missed.mean() == pytest.approx(0.15, abs=0.015)
    # lapses fall on about 35% of days (on those, each bolus is missed with p = 0.15/0.35)
    lapse_days = missed.any(axis=1).mean()
    assert lapse_days == pytest.approx(0.35 * (1 - (1 - 0.15 / 0.35) ** 3), abs=0.03)


def test_finger_stick_users_check_glucose_at_their_share_of_meals_apart_from_the_bolus():
    tr = np.zeros(N_TRAITS)
    tr[T.adherence] = 0.85
    b = B.default_behaviour()
    b[B.B.miss_share] = 1.0
    assert b[B.B.meal_check_share] == 1.0
    assert all(B.meal_checked(SEED, 3, d, s, b) for d in range(200) for s in range(3))
    b[B.B.meal_check_share] = 0.65
    checked = np.array([[B.meal_checked(SEED, 3, d, s, b) for s in range(3)] for d in range(6000)])
    assert checked.mean() == pytest.approx(0.65, abs=0.01)
    # the check is drawn apart from the bolus: the same boluses are missed with or without it,
    # and a missed bolus is checked as often as a given one
    given = np.array(
        [[B.bolus_decision(SEED, 3, d, s, tr, b)[2] for s in range(3)] for d in range(6000)]
    )
    b[B.B.meal_check_share] = 0.0
    assert not any(B.meal_checked(SEED, 3, d, 0, b) for d in range(200))
    again = np.array(
        [[B.bolus_decision(SEED, 3, d, s, tr, b)[2] for s in range(3)] for d in range(6000)]
    )
    assert (given == again).all()
    assert checked[~given].mean() == pytest.approx(0.65, abs=0.04)


def test_basal_omissions_happen_at_their_yearly_rate():
    b = B.default_behaviour()
    b[B.B.basal_omissions_per_year] = 3.0
    starts = np.array([B.basal_omission_minute(SEED, 2, d, b) for d in range(36525)])
    assert (starts >= 0).sum() / 100 == pytest.approx(3.0, abs=0.6)
    assert starts.max() < 1440
    b[B.B.basal_omissions_per_year] = 0.0
    assert B.basal_omission_minute(SEED, 2, 5, b) == -1
