"""Properties of the fast model (hypothesis) on the 30 reference patients."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine.model.fast import (
    BRAIN_UPTAKE_FALLS_BELOW_MG_DL,
    RENAL_SPLAY_MG_DL,
    TMG_HEALTHY_MG_PER_MIN_173,
    TMG_MG_PER_MIN_173,
    insulin_independent_uptake,
    kidney_rates,
    renal_excretion,
    softplus,
)
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


def test_renal_excretion_is_uva_padovas_without_the_kidney_rates():
    """gfr = tmg = 0 (the reference patients): ke1 (Gp - ke2) above the threshold, else 0."""
    p = REF.params[0].copy()
    assert p[P.gfr] == 0.0 and p[P.tmg] == 0.0
    for gp in (0.5 * p[P.ke2], p[P.ke2], 2.0 * p[P.ke2], 5.0 * p[P.ke2]):
        assert renal_excretion(gp, p) == max(p[P.ke1] * (gp - p[P.ke2]), 0.0)


def test_the_kidney_excretes_the_filtered_load_less_tmg_above_the_threshold():
    """With a sharp threshold (renal_splay 0) and the healthy TmG, a body of 1.73 m^2 (1.70 m,
    63.4 kg) excretes GFR G - TmG = 1.2 x 500 - 375 = 225 mg/min at 500 mg/dL (DeFronzo 2012),
    where UVA/Padova's form gives about a tenth of that; below TmG / GFR = 312.5 mg/dL,
    UVA/Padova's splay near 180 mg/dL stands."""
    p = REF.params[REF.index("adult#001")].copy()
    weight = 1.73**2 * 3600.0 / (100.0 * 1.70)
    p[P.gfr], p[P.tmg] = kidney_rates(weight, 1.70, TMG_HEALTHY_MG_PER_MIN_173)
    assert p[P.renal_splay] == 0.0
    gp = 500.0 * p[P.Vg]
    assert abs(renal_excretion(gp, p) * weight - 225.0) < 1e-9
    uva = p[P.ke1] * (gp - p[P.ke2])
    assert renal_excretion(gp, p) > 8.0 * uva
    for mg_dl in (150.0, 200.0, 300.0):
        gp = mg_dl * p[P.Vg]
        assert renal_excretion(gp, p) == max(p[P.ke1] * (gp - p[P.ke2]), 0.0)


def test_the_tabled_softplus_is_close_and_continuous():
    """The table's softplus is ln(1 + e^x) within 2e-4 everywhere, nondecreasing, continuous
    at 0 (where x + softplus(-x) takes over), jumps by less than 1e-5 where the table ends (0
    below -12, x above +12), and NaN stays NaN (a non-finite state must not index the table)."""
    xs = np.linspace(-20.0, 20.0, 200_001)
    got = np.array([softplus(x) for x in xs])
    assert np.abs(got - np.logaddexp(0.0, xs)).max() < 2e-4
    assert (np.diff(got) >= 0.0).all()
    for edge in (-12.0, 0.0, 12.0):
        assert abs(softplus(edge + 1e-9) - softplus(edge - 1e-9)) < 1e-5
    assert np.isnan(softplus(np.nan))
    assert softplus(np.inf) == np.inf and softplus(-np.inf) == 0.0


def _kidney_of_t1d(weight, height=1.70):
    p = REF.params[REF.index("adult#001")].copy()
    p[P.gfr], p[P.tmg] = kidney_rates(weight, height, TMG_MG_PER_MIN_173)
    p[P.renal_splay] = RENAL_SPLAY_MG_DL
    return p


def test_the_splayed_kidney_matches_johansens_titration_curve():
    """T1D's kidney (Johansen 1984: TmG 262 mg/min, splay 20 mg/dL), a body of 1.73 m^2: the
    first trace of glycosuria (0.2 mg/min) between 6.0 and 14.3 mmol/L (108-257 mg/dL), ~10
    mg/min (1.1 mmol per 20 min) 1.1-7.6 mmol/L above it, 4.5-29 mg/min at 11 mmol/L (Wolf
    2009), almost nothing at normal glucose (< 0.2 g/day at 100 mg/dL), and far above TmG the
    filtered load less TmG, 1.2 x 500 - 262 = 338 mg/min."""
    weight = 1.73**2 * 3600.0 / (100.0 * 1.70)
    p = _kidney_of_t1d(weight)

    def mg_per_min(mg_dl):
        return renal_excretion(mg_dl * p[P.Vg], p) * weight

    grid = np.arange(60.0, 400.0, 0.5)
    rates = np.array([mg_per_min(g) for g in grid])
    assert (np.diff(rates) > 0.0).all()
    first_trace = grid[np.argmax(rates >= 0.2)]
    ten = grid[np.argmax(rates >= 1.1 * 180.16 / 20.0)]
    assert 108.0 <= first_trace <= 257.0
    assert 1.1 * 18.016 <= ten - first_trace <= 7.6 * 18.016
    assert 25e-3 * 180.16 <= mg_per_min(11.0 * 18.016) <= 163e-3 * 180.16
    assert mg_per_min(100.0) * 1440.0 / 1000.0 < 0.2
    assert abs(mg_per_min(500.0) - (1.2 * 500.0 - 262.0)) < 1e-3
    # smooth: no step where the softplus changes branch, at G = TmG / GFR
    at = 262.0 / 1.2
    assert abs(mg_per_min(at + 1e-7) - mg_per_min(at - 1e-7)) < 1e-5
    # never less than UVA/Padova's own form
    for mg_dl in grid:
        gp = mg_dl * p[P.Vg]
        assert renal_excretion(gp, p) >= max(p[P.ke1] * (gp - p[P.ke2]), 0.0)


def test_insulin_independent_uptake_falls_with_glucose_only_below_the_threshold():
    """g_brain = 0 (the reference patients): Fsnc at any glucose. Set: Fsnc down to the
    threshold, in proportion to glucose below it, 0 at or below 0."""
    p = REF.params[REF.index("adult#001")].copy()
    assert p[P.g_brain] == 0.0
    for mg_dl in (-5.0, 0.0, 1.0, 30.0, 45.0, 200.0):
        assert insulin_independent_uptake(mg_dl * p[P.Vg], p) == p[P.Fsnc]
    p[P.g_brain] = BRAIN_UPTAKE_FALLS_BELOW_MG_DL
    for mg_dl in (45.0, 60.0, 400.0):
        assert insulin_independent_uptake(mg_dl * p[P.Vg], p) == p[P.Fsnc]
    half = insulin_independent_uptake(22.5 * p[P.Vg], p)
    assert abs(half - 0.5 * p[P.Fsnc]) < 1e-12
    assert insulin_independent_uptake(0.0, p) == 0.0
    assert insulin_independent_uptake(-1.0, p) == 0.0


def test_an_overdose_drains_glucose_past_zero_only_with_a_constant_fsnc():
    """A fasting adult given 30 U at once: with UVA/Padova's constant Fsnc plasma glucose
    is exhausted (held at 0) within 4 hours; with the uptake falling below 45 mg/dL its
    nadir is above 10 mg/dL, and both lives agree until glucose first reaches 45. (Larger
    overdoses still exhaust it, hours later: insulin-dependent uptake goes on.)"""
    i = REF.index("adult#005")
    minutes = 720
    insulin = np.full(minutes, basal_u_per_min(i))
    insulin[0] += 30.0
    p = REF.params[i].copy()
    constant = replay_kernel(REF.x0[i], p, np.zeros(minutes), insulin)[:, X.Gp] / p[P.Vg]
    p[P.g_brain] = BRAIN_UPTAKE_FALLS_BELOW_MG_DL
    falling = replay_kernel(REF.x0[i], p, np.zeros(minutes), insulin)[:, X.Gp] / p[P.Vg]
    assert constant.min() <= 0.0
    assert falling.min() > 10.0
    first = np.argmax(constant < BRAIN_UPTAKE_FALLS_BELOW_MG_DL)
    assert first > 0
    # (the step into `first` may already evaluate a stage below 45)
    np.testing.assert_array_equal(falling[:first], constant[:first])
