"""Properties of the fast model (hypothesis) on the 30 reference patients."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine.model.params import PMOL_PER_U, P, X
from engine.population.reference import reference_patients
from engine.population.replay import replay_kernel

REF = reference_patients()
patients = st.integers(0, 29)


def basal_u_per_min(i):
    return REF.params[i, P.u2ss] * REF.params[i, P.BW] / PMOL_PER_U


@st.composite
def input_series(draw, minutes=360):
    """Per-minute carbs (meals at 5 g/min) and insulin (basal plus boluses) of one patient."""
    i = draw(patients)
    carbs = np.zeros(minutes)
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, minutes - 1))
        grams = draw(st.floats(1.0, 150.0))
        n = int(np.ceil(grams / 5.0))
        carbs[start : start + n] = 5.0
    insulin = np.full(minutes, basal_u_per_min(i) * draw(st.floats(0.0, 3.0)))
    for _ in range(draw(st.integers(0, 3))):
        insulin[draw(st.integers(0, minutes - 1))] += draw(st.floats(0.0, 25.0))
    return i, carbs, insulin


@given(input_series())
def test_states_stay_finite_and_non_negative(case):
    i, carbs, insulin = case
    states = replay_kernel(REF.x0[i], REF.params[i], carbs, insulin)
    assert np.isfinite(states).all()
    # X, I1, Id may dip below zero by design (insulin below basal); the others are masses
    masses = np.delete(states, [6, 7, 8], axis=1)
    assert masses.min() >= -1e-9


@given(patients)
def test_basal_steady_state_holds_for_a_day_without_meals(i):
    minutes = 1440
    states = replay_kernel(
        REF.x0[i], REF.params[i], np.zeros(minutes), np.full(minutes, basal_u_per_min(i))
    )
    bg = states[:, X.Gs] / REF.params[i, P.Vg]
    assert np.abs(bg - bg[0]).max() < 1.0


@given(input_series(), st.floats(0.01, 5.0), st.integers(0, 359))
def test_more_insulin_never_raises_glucose(case, extra_u, minute):
    i, carbs, insulin = case
    more = insulin.copy()
    more[minute] += extra_u
    bg = replay_kernel(REF.x0[i], REF.params[i], carbs, insulin)[:, X.Gs]
    bg_more = replay_kernel(REF.x0[i], REF.params[i], carbs, more)[:, X.Gs]
    assert (bg_more <= bg + 1e-9 * np.abs(bg)).all()
    # an hour is enough for subcutaneous insulin to act, unless glucose is already exhausted
    # (the mass is held at 0 and cannot fall further)
    if minute < 300 and bg[-1] > 0.0:
        assert bg_more[-1] < bg[-1]
