"""Each mechanism of insulin resistance alone (MODEL.md §2), through the pure slow kernels."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import slow
from engine.model.slow import S
from engine.model.traits import N_TRAITS, T


def traits(age=40.0):
    tr = np.zeros(N_TRAITS)
    tr[T.sex_male], tr[T.age0], tr[T.height_m], tr[T.bmi0] = 1.0, age, 1.76, 24.0
    tr[T.puberty_peak_age] = 13.0
    return tr


def healthy_state(tr):
    st_ = np.ones(slow.N_SLOW)
    st_[S.fat], st_[S.lean] = slow.initial_body(tr)
    st_[S.exercise] = 0.0
    st_[S.eag] = 100.0
    return st_


def day(mean_insulin=100.0, exposure=0.0, mean_glucose=110.0, intake=2400.0, urine=0.0):
    agg = np.zeros(slow.N_AGG)
    agg[slow.G.mean_insulin] = mean_insulin
    agg[slow.G.hyper_exposure] = exposure
    agg[slow.G.mean_glucose] = mean_glucose
    agg[slow.G.intake_kcal] = intake
    agg[slow.G.urine_g] = urine
    return agg


ALL_ON = np.ones(slow.N_MECH)


@given(x=st.floats(-10, 10), target=st.floats(-10, 10), tau=st.floats(0.1, 100.0))
@settings(max_examples=50, deadline=None)
def test_daily_relaxation_is_exact(x, target, tau):
    """Two daily steps equal the exact solution over two days (an Euler step would not)."""
    two = slow.relax(slow.relax(x, target, tau), target, tau)
    assert two == pytest.approx(target + (x - target) * math.exp(-2.0 / tau), abs=1e-9)


def test_receptors_fall_under_sustained_high_insulin_and_recover_within_a_day():
    rho = slow.receptor_rates(100.0)[0]
    for _ in range(3):
        rho = slow.receptor_update(rho, 5000.0)
    # binding plateaus at 40-50% of control under saturating insulin (Heaton & Gelehrter 1981)
    assert 0.40 <= rho <= 0.50
    # loss maximal at 4-6 h: the time constant at saturation is 3-5 hours
    tau_h = 24.0 / slow.receptor_rates(1e6)[1]
    assert 3.0 <= tau_h <= 5.0
    # recovery nearly complete by 24 h without insulin
    assert slow.receptor_update(rho, 0.0) > 0.95


def test_peripheral_hyperinsulinaemia_at_2_5_times_controls_costs_about_a_quarter():
    """Gregory et al. 2019: basal insulin 2.5x controls, disposal 22-29% lower."""
    ratio = (
        slow.receptor_rates(2.5 * slow.INSULIN_NORMAL)[0]
        / slow.receptor_rates(slow.INSULIN_NORMAL)[0]
    )
    assert 0.70 <= ratio <= 0.80


def test_a_day_near_280_mg_dl_lowers_peripheral_uptake_by_about_18_percent():
    """Yki-Jarvinen et al. 1987: 24 h at 281 mg/dL, uptake 10.1 -> 8.3 mg/kg/min (-18%)."""
    tr = traits()
    st_ = healthy_state(tr)
    on = np.zeros(slow.N_MECH)
    on[slow.K.glucotoxicity] = 1.0
    log_phi = np.empty(slow.N_MECH)
    before = slow.multipliers(st_, tr, 40.0, on, log_phi)[0]
    slow.daily_update(
        st_, day(exposure=281.0 - slow.GLUCOTOX_THRESHOLD, mean_glucose=281.0), tr, 40.0, on, 1.5
    )
    after = slow.multipliers(st_, tr, 40.0, on, log_phi)[0]
    assert after / before == pytest.approx(0.82, abs=0.01)
    assert log_phi[slow.K.glucotoxicity] == pytest.approx(math.log(after))


def test_the_ffa_anchor():
    """Roden et al. 1996: FFA 0.18 -> 1.93 mmol/L cut peripheral uptake by 46%."""

    def phi(ffa):
        return (1 + slow.FFA_UPTAKE_COEF * slow.FFA_REF) / (1 + slow.FFA_UPTAKE_COEF * ffa)

    assert phi(1.93) / phi(0.18) == pytest.approx(0.54, abs=1e-9)
    tr = traits()
    # FFA rise with visceral fat and fall with insulin (antilipolysis)
    assert slow.ffa_level(3.0, tr, 100.0) > slow.ffa_level(1.0, tr, 100.0)
    assert slow.ffa_level(2.0, tr, 400.0) < slow.ffa_level(2.0, tr, 100.0)


def test_energy_balance_is_conserved_and_partitioned_by_forbes():
    fat, lean = 20.0, 55.0
    f2, l2 = slow.body_update(fat, lean, 2600.0, 2400.0)
    assert (f2 - fat) * slow.RHO_F + (l2 - lean) * slow.RHO_L == pytest.approx(200.0)
    p = slow.FORBES_C / (slow.FORBES_C + fat)
    assert (l2 - lean) * slow.RHO_L == pytest.approx(p * 200.0)


def test_puberty_lowers_peripheral_sensitivity_about_a_third_at_tanner_iii():
    tr = traits(age=13.0)
    st_ = healthy_state(tr)
    on = np.zeros(slow.N_MECH)
    on[slow.K.counterregulation] = 1.0
    log_phi = np.empty(slow.N_MECH)
    at_peak = slow.multipliers(st_, tr, 13.0, on, log_phi)[0]
    before = slow.multipliers(st_, tr, 7.0, on, log_phi)[0]
    assert 0.70 <= at_peak / before <= 0.82  # the rest comes from the glucotoxicity it causes


@pytest.mark.parametrize("k", range(slow.N_MECH))
def test_a_switched_off_mechanism_contributes_exactly_nothing(k):
    tr = traits(age=13.0)
    st_ = healthy_state(tr)
    on = ALL_ON.copy()
    on[k] = 0.0
    log_phi = np.empty(slow.N_MECH)
    slow.equilibrate(st_, day(mean_insulin=300.0, exposure=60.0, mean_glucose=190.0), tr, 13.0, on)
    for _ in range(30):
        slow.daily_update(
            st_,
            day(mean_insulin=300.0, exposure=60.0, mean_glucose=190.0, intake=2800.0),
            tr,
            13.0,
            on,
            1.5,
        )
        st_[S.exercise] += 0.1
    s_p = slow.multipliers(st_, tr, 13.0, on, log_phi)[0]
    assert log_phi[k] == 0.0
    assert math.log(s_p) == pytest.approx(log_phi.sum(), abs=1e-12)
    others = [j for j in range(slow.N_MECH) if j != k]
    assert any(log_phi[j] != 0.0 for j in others)


@pytest.mark.parametrize(
    "age,male,weight,expected",
    [
        (8.0, 1.0, 26.0, 22.7 * 26.0 + 495.0),
        (10.0, 1.0, 31.0, 17.5 * 31.0 + 651.0),
        (15.0, 0.0, 52.0, 12.2 * 52.0 + 746.0),
        (45.0, 1.0, 80.0, 11.6 * 80.0 + 879.0),
        (45.0, 0.0, 68.0, 8.7 * 68.0 + 829.0),
        (65.0, 0.0, 70.0, 10.5 * 70.0 + 596.0),
    ],
)
def test_schofields_basal_rate_by_age_band_and_sex(age, male, weight, expected):
    assert slow.schofield_bmr(age, male, weight) == pytest.approx(expected)


def test_halls_constant_term_brings_resting_expenditure_to_schofields_and_leaves_the_dynamics():
    """A 31 kg boy of 10: Hall's moving part alone gave about half of Schofield's basal rate;
    with the constant term the level is Schofield's, and a day at the start's balance moves no
    weight, with or without it."""
    fat, lean = 6.5, 24.5
    moving = slow.resting_expenditure(fat, lean)
    constant = slow.resting_constant_kcal(10.0, 1.0, fat, lean)
    assert moving < 0.6 * slow.schofield_bmr(10.0, 1.0, fat + lean)
    assert constant + moving == pytest.approx(slow.schofield_bmr(10.0, 1.0, fat + lean))
    tr = traits(age=10.0)
    on = np.zeros(slow.N_MECH)
    on[slow.K.body_composition] = 1.0
    pal = 1.6
    for k in (0.0, constant):
        st_ = healthy_state(tr)
        st_[S.fat], st_[S.lean] = fat, lean
        st_[S.eag] = 120.0  # HbA1c under 7%: no poor-control term
        agg = day(intake=pal * (k + moving) / (1.0 - slow.TEF))
        agg[slow.G.ree_constant_kcal] = k
        slow.daily_update(st_, agg, tr, 10.0, on, pal)
        assert st_[S.fat] + st_[S.lean] == pytest.approx(fat + lean, abs=1e-9)
