import numpy as np
import pytest

from engine.batch.config import parse_config
from engine.batch.translate import default_population, population_settings
from engine.model.fast import (
    BRAIN_UPTAKE_FALLS_BELOW_MG_DL,
    RENAL_SPLAY_MG_DL,
    TMG_MG_PER_MIN_173,
    derivatives,
    kidney_rates,
    meal_shape,
    state_tuple,
)
from engine.model.params import N_STATES, PARAM_NAMES, P, X
from engine.model.traits import T
from engine.population.cohort import FITTED_INDEX, basal_steady_state, fit_groups, sample_cohort
from engine.population.reference import reference_patients

GROUPS = {"adult": 1.0, "adolescent": 1.0, "child": 1.0}
MVLN = default_population()
RESAMPLE = default_population(sampler="resample", jitter_cv=0.1)


def test_steady_state_reproduces_the_reference_basal_states():
    ref = reference_patients()
    for i in range(30):
        p = ref.params[i].copy()
        x = np.empty(N_STATES)
        assert basal_steady_state(p, x)
        np.testing.assert_allclose(x, ref.x0[i], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(p, ref.params[i], rtol=1e-9)


@pytest.mark.parametrize("pop", [MVLN, RESAMPLE], ids=["mvlognormal", "resample"])
def test_sampled_patients_start_at_rest_at_their_basal_glucose(pop):
    c = sample_cohort(3, np.arange(300), GROUPS, pop)
    for i in range(len(c)):
        dx = derivatives(
            state_tuple(c.x0[i]),
            c.params[i],
            0.0,
            c.params[i][P.u2ss],
            meal_shape(0.0, 0.5, 0.5),
            1.0,
            1.0,
            1.0,
            1.0,
            0.0,
        )
        assert np.abs(dx).max() < 1e-9
        assert c.x0[i, X.Gs] / c.params[i, P.Vg] == pytest.approx(c.params[i, P.Gb])


def test_a_patient_is_a_pure_function_of_seed_and_id():
    a = sample_cohort(11, np.arange(50), GROUPS, MVLN)
    b = sample_cohort(11, np.array([49, 7, 30]), GROUPS, MVLN)
    for k, pid in enumerate([49, 7, 30]):
        assert np.array_equal(a.params[pid], b.params[k])
        assert np.array_equal(a.traits[pid], b.traits[k], equal_nan=True)
    c = sample_cohort(12, np.arange(50), GROUPS, MVLN)
    assert not np.array_equal(a.params, c.params)


def test_patients_are_distinct_and_groups_follow_the_weights():
    c = sample_cohort(5, np.arange(3000), {"adult": 3.0, "child": 1.0}, MVLN)
    assert len(np.unique(c.params[:, 1])) == 3000
    share = (c.group == "adult").mean()
    assert abs(share - 0.75) < 0.03
    assert set(np.unique(c.group)) == {"adult", "child"}


def test_mvlognormal_reproduces_each_groups_log_means_and_correlations():
    """The fitted distribution's mean and correlations come back from 4,000 draws (up to the
    3-SD truncation and the rejection of non-physiological draws)."""
    ref = reference_patients()
    for group in ("adult", "child"):
        c = sample_cohort(8, np.arange(4000), {group: 1.0}, MVLN)
        logs = np.log(c.params[:, FITTED_INDEX])
        mean, chol, sd = fit_groups([group])
        rows = np.log(ref.params[np.array(ref.groups) == group][:, FITTED_INDEX])
        assert np.abs(logs.mean(axis=0) - rows.mean(axis=0)).max() < 0.25 * sd[0].max()
        assert np.all(np.abs(logs.std(axis=0) / sd[0] - 1.0) < 0.2)
        # a strongly correlated pair in the reference keeps its sign
        ref_corr = np.corrcoef(rows, rowvar=False)
        i, j = np.unravel_index(np.argmax(np.abs(np.triu(ref_corr, 1))), ref_corr.shape)
        got = np.corrcoef(logs[:, i], logs[:, j])[0, 1]
        assert np.sign(got) == np.sign(ref_corr[i, j]) and abs(got) > 0.3


def test_traits_are_within_their_bounds_and_adult_bmi_follows_nhis():
    c = sample_cohort(9, np.arange(5000), {"adult": 1.0}, MVLN)
    tr = c.traits
    assert np.all((tr[:, T.age0] >= 20) & (tr[:, T.age0] < 70))
    assert np.all((tr[:, T.adherence] > 0) & (tr[:, T.adherence] < 1))
    bmi = tr[:, T.bmi0]
    assert bmi.mean() == pytest.approx(27.2, abs=0.4)  # the log-normal's mean
    assert (bmi >= 30).mean() == pytest.approx(0.28, abs=0.03)
    assert ((bmi >= 25) & (bmi < 30)).mean() == pytest.approx(0.34, abs=0.03)
    h = tr[:, T.height_m]
    np.testing.assert_allclose(c.params[:, P.BW], bmi * h * h)
    assert (tr[:, T.dawn_amplitude] > 0).mean() == pytest.approx(0.89, abs=0.02)
    assert 0.0 < tr[:, T.fat_mass0].min() and (tr[:, T.fat_mass0] < c.params[:, P.BW]).all()


def _youth_bmi_sds(c):
    from engine.model.growth import bmi_sds

    tr = c.traits
    return np.array(
        [bmi_sds(b, m, a) for b, m, a in zip(tr[:, T.bmi0], tr[:, T.sex_male], tr[:, T.age0])]
    )


def test_youth_bmi_follows_the_cdc_charts_at_searchs_overweight_and_obesity():
    """Under 20, BMI-for-age SDS of the CDC 2000 charts as SEARCH's youths with T1D had it
    (Liu et al., Pediatr Diabetes 11:4, 2010): 12.6% at or above the 95th percentile and 34.7%
    at or above the 85th; few thin (the old log-normal: 11% below SDS -2, children at the
    floor of 13). cohort.youth_bmi = "group_lognormal" draws as before 0.12.0."""
    youths = {"child": 1.0, "adolescent": 1.0}
    c = sample_cohort(11, np.arange(6000), youths, MVLN)
    sds = _youth_bmi_sds(c)
    assert (sds >= 1.645).mean() == pytest.approx(0.126, abs=0.015)
    assert (sds >= 1.036).mean() == pytest.approx(0.347, abs=0.02)
    assert (sds < -2.0).mean() < 0.005
    assert c.traits[:, T.bmi0].min() > 13.0
    legacy = default_population(youth_bmi="group_lognormal")
    old = sample_cohort(11, np.arange(6000), youths, legacy)
    old_sds = _youth_bmi_sds(old)
    assert (old_sds < -2.0).mean() > 0.08
    assert (old.traits[:, T.bmi0] == 13.0).mean() > 0.01
    # adults are drawn alike either way but for the ceiling: 55 now, 60 before
    adults = sample_cohort(11, np.arange(2000), {"adult": 1.0}, MVLN)
    adults_old = sample_cohort(11, np.arange(2000), {"adult": 1.0}, legacy)
    above = adults_old.traits[:, T.bmi0] > 55.0
    assert 0 < above.sum() < 5 and (adults.traits[above, T.bmi0] == 55.0).all()
    np.testing.assert_array_equal(adults.traits[~above], adults_old.traits[~above])


def _ranks(x):
    return np.argsort(np.argsort(x))


def test_following_advice_can_go_with_adherence_and_is_independent_of_it_by_default():
    ids = np.arange(4000)
    pop = population_settings(parse_config({}))
    alone = sample_cohort(9, ids, GROUPS, pop).traits
    pop = population_settings(parse_config({"lifestyle": {"advice_adherence_correlation": 0.8}}))
    tied = sample_cohort(9, ids, GROUPS, pop).traits
    for tr in (alone, tied):  # uniform 0-1 either way
        follow = tr[:, T.advice_follow]
        assert ((follow >= 0) & (follow <= 1)).all()
        assert follow.mean() == pytest.approx(0.5, abs=0.02)
        assert (follow < 0.25).mean() == pytest.approx(0.25, abs=0.03)
    # only the chance of following advice changes: the same people, adherence and all
    np.testing.assert_array_equal(
        np.delete(alone, T.advice_follow, 1), np.delete(tied, T.advice_follow, 1)
    )
    adult = alone[:, T.age0] >= 20  # no adolescent dip: adherence's rank is its own draw's
    rank_corr = [
        np.corrcoef(_ranks(tr[adult, T.adherence]), _ranks(tr[adult, T.advice_follow]))[0, 1]
        for tr in (alone, tied)
    ]
    assert abs(rank_corr[0]) < 0.06
    # Spearman's rho of a normal copula with correlation r: (6/pi) asin(r/2) = 0.79 at 0.8
    assert rank_corr[1] == pytest.approx(0.79, abs=0.04)


def test_zero_jitter_resample_gives_the_reference_patients_exactly():
    ref = reference_patients()
    c = sample_cohort(
        5, np.arange(40), GROUPS, default_population(sampler="resample", jitter_cv=0.0)
    )
    # the derived Vm0, kp1, u2ss agree with the table to its printed digits; the kidney's
    # rates are the engine's (the table has none), from each patient's weight and height, as
    # is the glucose below which Fsnc falls. The splayed kidney loses a trace of glucose at
    # the basal glucose, which the steady state's basal uptake Vm0 gives up: at most 2% of it
    engine_own = (P.gfr, P.tmg, P.renal_splay, P.g_brain)
    uva = [k for k in range(len(PARAM_NAMES)) if k not in engine_own + (P.Vm0,)]
    np.testing.assert_allclose(c.params[:, uva], ref.params[c.source][:, uva], rtol=1e-9)
    vm0 = c.params[:, P.Vm0] / ref.params[c.source, P.Vm0]
    assert (vm0 < 1.0).all() and (vm0 > 0.98).all()
    assert (ref.params[:, list(engine_own)] == 0.0).all()
    assert (c.params[:, P.g_brain] == BRAIN_UPTAKE_FALLS_BELOW_MG_DL).all()
    for i in range(len(c)):
        gfr, tmg = kidney_rates(c.params[i, P.BW], c.traits[i, T.height_m], TMG_MG_PER_MIN_173)
        assert c.params[i, P.gfr] == gfr and c.params[i, P.tmg] == tmg
    # with the sharp kidney (0.13.0's), no glucose is lost below TmG / GFR: Vm0 is the table's
    sharp = population_settings(
        parse_config(
            {
                "mechanisms": {"renal_splay": False},
                "cohort": {"sampler": "resample", "jitter_cv": 0.0},
            }
        )
    )
    c0 = sample_cohort(5, np.arange(40), GROUPS, sharp)
    np.testing.assert_allclose(c0.params[:, P.Vm0], ref.params[c0.source, P.Vm0], rtol=1e-9)


def test_kidney_rates_scale_with_body_surface_and_switch_off():
    """GFR and TmG per 1.73 m^2 of surface are the adult's at every age (Hogg 2003), so per kg
    a child's are higher; `mechanisms.kidney_glycosuria = false` leaves them 0 (UVA/Padova's
    renal form alone)."""
    c = sample_cohort(3, np.arange(300), GROUPS, MVLN)
    surface = np.sqrt(100.0 * c.traits[:, T.height_m] * c.params[:, P.BW] / 3600.0)
    np.testing.assert_allclose(c.params[:, P.gfr] * c.params[:, P.BW] / surface, 1.2 / 1.73)
    np.testing.assert_allclose(c.params[:, P.tmg] * c.params[:, P.BW] / surface, 262.0 / 1.73)
    child = c.params[c.group == "child", P.gfr].mean()
    adult = c.params[c.group == "adult", P.gfr].mean()
    assert child > 1.3 * adult
    off = parse_config({"mechanisms": {"kidney_glycosuria": False}})
    c0 = sample_cohort(3, np.arange(300), GROUPS, population_settings(off))
    assert (c0.params[:, [P.gfr, P.tmg, P.renal_splay]] == 0.0).all()
    # and Vm0, which the steady state solves with the kidney's trace of basal glycosuria
    own = (P.gfr, P.tmg, P.renal_splay, P.Vm0)
    uva = [k for k in range(len(PARAM_NAMES)) if k not in own]
    np.testing.assert_array_equal(c0.params[:, uva], c.params[:, uva])


def test_renal_splay_switch_gives_the_healthy_sharp_kidney_and_nothing_else():
    """`mechanisms.renal_splay = false` restores 0.13.0's kidney: TmG 375 mg/min per 1.73 m^2
    (DeFronzo 2012) with a sharp threshold (renal_splay 0); on, T1D's 262 (Johansen 1984) with
    a splay of RENAL_SPLAY_MG_DL. Every other parameter is as drawn but the steady state's Vm0
    (the splayed kidney's trace of basal glycosuria)."""
    c = sample_cohort(3, np.arange(200), GROUPS, MVLN)
    assert (c.params[:, P.renal_splay] == RENAL_SPLAY_MG_DL).all()
    off = parse_config({"mechanisms": {"renal_splay": False}})
    c0 = sample_cohort(3, np.arange(200), GROUPS, population_settings(off))
    assert (c0.params[:, P.renal_splay] == 0.0).all()
    np.testing.assert_allclose(c0.params[:, P.tmg] / c.params[:, P.tmg], 375.0 / 262.0)
    rest = [k for k in range(len(PARAM_NAMES)) if k not in (P.tmg, P.renal_splay, P.Vm0)]
    np.testing.assert_array_equal(c0.params[:, rest], c.params[:, rest])


def test_brain_uptake_switch_sets_the_threshold_and_nothing_else():
    """`mechanisms.brain_uptake_in_lows = false` leaves g_brain 0 (UVA/Padova's constant
    Fsnc) and every other parameter as drawn with it on."""
    c = sample_cohort(3, np.arange(200), GROUPS, MVLN)
    assert (c.params[:, P.g_brain] == BRAIN_UPTAKE_FALLS_BELOW_MG_DL).all()
    off = parse_config({"mechanisms": {"brain_uptake_in_lows": False}})
    c0 = sample_cohort(3, np.arange(200), GROUPS, population_settings(off))
    assert (c0.params[:, P.g_brain] == 0.0).all()
    rest = [k for k in range(len(PARAM_NAMES)) if k != P.g_brain]
    np.testing.assert_array_equal(c0.params[:, rest], c.params[:, rest])


@pytest.mark.parametrize("pop", [MVLN, RESAMPLE], ids=["mvlognormal", "resample"])
def test_sampled_patients_are_stably_integrable(pop):
    """No sampled rate reaches the 1-minute step's stability limit: the meal absorption rate
    kabs, whose fitted tail reached 4.98/min (issue 17: those patients stopped on day 0), and
    the liver's insulin clearance m1 + m30 stay below 2/min."""
    from engine.population.cohort import STABLE_RATE_PER_MIN

    c = sample_cohort(20261127, np.arange(20000), GROUPS, pop)
    assert c.params[:, P.kabs].max() < STABLE_RATE_PER_MIN
    assert (c.params[:, P.m1] + c.params[:, P.m30]).max() < STABLE_RATE_PER_MIN


def test_youths_eat_about_what_the_survey_gives_against_adults():
    """What We Eat in America (NHANES 2013-2014): boys eat 0.90 (6-11 years) and 0.99
    (12-19) of men's carbohydrate. The meal multiplier of children (7-13) and adolescents
    (13-20) is near those, whatever their weight; (weight / 75)^0.6 had given 0.5-0.6."""
    c = sample_cohort(5, np.arange(3000), GROUPS, MVLN)
    group = np.asarray(c.group)
    age = c.traits[:, T.age0]
    appetite = c.traits[:, T.carb_appetite]
    adults = np.median(appetite[group == "adult"])
    children = np.median(appetite[(group == "child") & (age < 11.0)])
    teens = np.median(appetite[(group == "adolescent") & (age >= 15.0)])
    assert 0.85 <= children <= 0.95
    assert 0.93 <= teens <= 1.05
    assert 0.9 <= adults <= 1.1
    # heavier children of the same age eat more
    kids = (group == "child") & (age < 11.0)
    weight = c.traits[kids, T.bmi0] * c.traits[kids, T.height_m] ** 2
    assert np.corrcoef(weight, appetite[kids])[0, 1] > 0.3
    # lifestyle.youth_meals = false: the weight-only scaling of before 0.8.0, for every age
    weight_only = population_settings(parse_config({"lifestyle": {"youth_meals": False}}))
    old = sample_cohort(5, np.arange(3000), GROUPS, weight_only)
    assert np.array_equal(old.traits[group == "adult"], c.traits[group == "adult"], equal_nan=True)
    assert np.median(old.traits[(group == "child") & (age < 11.0), T.carb_appetite]) < 0.7
