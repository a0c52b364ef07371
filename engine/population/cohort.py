"""Patients of a population run (docs/model.md §4): physiology and traits.

Two samplers of the UVA/Padova parameters:
- "mvlognormal" (default): for each age group, a multivariate log-normal fitted to that group's
  ten reference patients (mean and covariance of the log parameters; the covariance of ten
  points in ~25 dimensions is singular, so it is shrunk halfway towards its diagonal, the
  standard Ledoit-Wolf-style remedy, which keeps the fitted variances and correlations' sign);
- "resample": a reference patient of the group with log-normal jitter of its kinetic
  parameters (closest to simglucose's thirty).
Either way the basal steady state (Vm0, kp1, u2ss, basal states) is recomputed for each draw and
non-physiological draws are rejected and redrawn. Then the traits of docs/model.md §2-§3 are drawn.
A patient is a pure function of (seed, patient id): every draw comes from the counter-based
generator (streams COHORT and TRAITS, day 0).
"""

import math
from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np

from ..model import growth, rng
from ..model.fast import (
    BRAIN_UPTAKE_FALLS_BELOW_MG_DL,
    RENAL_SPLAY_MG_DL,
    TMG_HEALTHY_MG_PER_MIN_173,
    TMG_MG_PER_MIN_173,
    kidney_rates,
    renal_excretion,
)
from ..model.layout import index_family
from ..model.params import N_PARAMS, N_STATES, PARAM_NAMES, P, X
from ..model.slow import initial_body
from ..model.traits import N_TRAITS, T
from .reference import GROUPS, reference_patients

# Parameters jittered around the source patient (multiplicative log-normal, mean-preserving).
# The basal quantities Vm0, kp1 and u2ss and the initial states are then derived from the
# steady state, so every sampled patient starts at rest at its basal glucose Gb.
JITTERED = (
    "BW",
    "kabs",
    "kmax",
    "kmin",
    "Vmx",
    "Km0",
    "k1",
    "k2",
    "p2u",
    "ki",
    "kp2",
    "kp3",
    "ka1",
    "ka2",
    "kd",
    "ksc",
    "m1",
    "m2",
    "m4",
    "m30",
    "CR",
    "CF",
)
JITTERED_INDEX = np.array([PARAM_NAMES.index(n) for n in JITTERED], dtype=np.int64)
MAX_REDRAWS = 200


@nb.njit(cache=True, nogil=True)
def basal_steady_state(p, x_out):
    """Set p's Vm0, kp1, u2ss and the basal states x_out from Gb, EGPb and the kinetic
    parameters (UVA/Padova S2008 at rest: every derivative zero with no meal, X = 0,
    Id = I1 = Ib). Returns False if the parameters admit no physiological steady state."""
    gpb = p[P.Gb] * p[P.Vg]
    renal = renal_excretion(gpb, p)
    # dGp = 0: EGPb - Fsnc - E - k1 Gp + k2 Gt = 0
    gtb = (p[P.Fsnc] - p[P.EGPb] + renal + p[P.k1] * gpb) / p[P.k2]
    if not (gtb > 0.0):
        return False
    # dGt = 0 with X = 0: Vm0 Gt / (Km0 + Gt) = k1 Gp - k2 Gt
    uptake = p[P.k1] * gpb - p[P.k2] * gtb
    vm0 = uptake * (p[P.Km0] + gtb) / gtb
    if not (vm0 > 0.0):
        return False
    ipb = p[P.Ib] * p[P.Vi]
    ilb = p[P.m2] * ipb / (p[P.m1] + p[P.m30])
    u2ss = (p[P.m2] + p[P.m4]) * ipb - p[P.m1] * ilb
    if not (u2ss > 0.0):
        return False
    kp1 = p[P.EGPb] + p[P.kp2] * gpb + p[P.kp3] * p[P.Ib]
    isc1 = u2ss / (p[P.ka1] + p[P.kd])
    isc2 = p[P.kd] * isc1 / p[P.ka2]
    p[P.Vm0] = vm0
    p[P.kp1] = kp1
    p[P.u2ss] = u2ss
    for j in range(N_STATES):
        x_out[j] = 0.0
    x_out[X.Gp] = gpb
    x_out[X.Gt] = gtb
    x_out[X.Ip] = ipb
    x_out[X.I1] = p[P.Ib]
    x_out[X.Id] = p[P.Ib]
    x_out[X.Il] = ilb
    x_out[X.Isc1] = isc1
    x_out[X.Isc2] = isc2
    x_out[X.Gs] = gpb
    return p[P.kmin] < p[P.kmax]


@nb.njit(cache=True, nogil=True)
def basal_insulin_need(p, s_h, e_cr):
    """Steady plasma insulin (pmol/L) holding glucose at the patient's basal Gb with the
    production drive scaled by e_cr and hepatic action by s_h (the quantity a glucose clamp
    measures, as in Perriello 1991). Bisection on I: dGp = dGt = 0 with X = I - Ib."""
    gpb = p[P.Gb] * p[P.Vg]
    renal = renal_excretion(gpb, p)
    lo, hi = 0.0, 50.0 * p[P.Ib]
    for _ in range(100):
        ins = 0.5 * (lo + hi)
        egp = max(p[P.kp1] * e_cr - p[P.kp2] * gpb - p[P.kp3] * s_h * ins, 0.0)
        gt = (p[P.Fsnc] + renal + p[P.k1] * gpb - egp) / p[P.k2]
        uptake = (p[P.Vm0] + p[P.Vmx] * (ins - p[P.Ib])) * gt / (p[P.Km0] + gt)
        if uptake < p[P.k1] * gpb - p[P.k2] * gt:
            lo = ins
        else:
            hi = ins
    return 0.5 * (lo + hi)


# Parameters drawn by the samplers; the basal quantities Vm0, kp1, u2ss and the initial states
# are then derived from the steady state. Constants of the reference (ke1, ke2, Fsnc, f) stay.
FITTED = (
    "kabs",
    "kmax",
    "kmin",
    "b",
    "d",
    "Vg",
    "Vi",
    "Vmx",
    "Km0",
    "k1",
    "k2",
    "p2u",
    "m1",
    "m2",
    "m4",
    "m30",
    "ki",
    "kp2",
    "kp3",
    "kd",
    "ksc",
    "ka1",
    "ka2",
    "Ib",
    "Gb",
    "EGPb",
    "CR",
    "CF",
)
FITTED_INDEX = np.array([PARAM_NAMES.index(n) for n in FITTED], dtype=np.int64)
SHRINKAGE = 0.5
TRUNCATE_SD = 3.0
SAMPLERS = ("mvlognormal", "resample")

# Population settings vector (config [lifestyle], [genetics], [population]).
POP = index_family(
    "PopulationSetting",
    (
        "family_history",
        "prs_shift",
        "fat_share",
        "sugar_share",
        "surplus",
        "sessions",
        "session_min",
        "session_hr",
        "pal",
        "sleep_h",
        "stress",
        "adherence",
        "dawn_prevalence",
        "dawn_mean",
        "tod_max",
        "bmi_scale",
        "sampler",
        "jitter_sigma",
        "cgm_share",
        "pump_share",
        "unaware_share",
        "adolescent_adherence_dip",
        "advice_adherence_rho",
        "aid_share",
        "kidney",  # 1: the kidney's glycosuria (fast.renal_excretion); 0: UVA/Padova's alone
        "splay",  # 1: T1D's TmG and splay (fast.RENAL_SPLAY_MG_DL); 0: healthy TmG, sharp
        "brain",  # 1: Fsnc falls below fast.BRAIN_UPTAKE_FALLS_BELOW_MG_DL; 0: constant
        "youth_meals",  # 1: youths' meals from the survey (below); 0: (weight / 75)^0.6 for all
        "youth_bmi_charts",  # 1: youths' BMI from the CDC charts (below); 0: before 0.12.0
    ),
)
N_POP = len(POP)
# Group age ranges (years) of the reference patients' groups; BMI of US adults with T1D
# (NHIS 2016-21: mean 27.6, 34% overweight, 28% obese) as a log-normal of median 26.6 and
# log-SD 0.205, which puts 28% at >= 30 and 62% at >= 25. Under 20 (children, adolescents)
# BMI is drawn from the CDC 2000 BMI-for-age chart at an SDS of normal mean
# YOUTH_BMI_SDS_MEAN and SD YOUTH_BMI_SDS_SD, the normal through SEARCH's youths with T1D
# (Liu et al., Pediatr Diabetes 11:4, 2010; 3-19 years): 12.6% obese (>= 95th percentile,
# SDS 1.645) and 22.1% + 12.6% = 34.7% at or above the 85th (SDS 1.036). Until 0.12.0 a
# log-normal around a median per group (16.5 and 20.5) put 11% of youths below SDS -2 (the
# chart: 2.3%) and 0.7% above +2, 4.6% of children at the floor of 13: children who then lost
# weight crossed the BMI guard of 12 (4 of 33,000 in a year under real_world, an H200 run).
AGE_RANGE = {"adolescent": (13.0, 20.0), "adult": (20.0, 70.0), "child": (7.0, 13.0)}
# (cohort.youth_bmi = "group_lognormal" keeps the old draw, to reproduce older runs)
BMI_MEDIAN = {"adolescent": 20.5, "adult": 26.6, "child": 16.5}
BMI_LOG_SD = {"adolescent": 0.17, "adult": 0.205, "child": 0.14}
YOUTH_BMI_SDS_MEAN = 0.72
YOUTH_BMI_SDS_SD = 0.81
BMI_SAMPLED_MAX = 55.0


@nb.njit(cache=True, nogil=True, inline="always")
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


@nb.njit(cache=True, nogil=True, inline="always")
def _advice_follow(rho, adherence_z, u, z_own):
    """The chance of following a visit's advice, uniform 0-1: independent of adherence at
    rho 0 (u itself, so runs are unchanged), else the normal score rho x adherence's own
    (its z) + sqrt(1 - rho^2) x the patient's own, mapped back to 0-1."""
    if rho == 0.0:
        return u
    score = rho * adherence_z + math.sqrt(1.0 - rho * rho) * z_own
    return 0.5 * math.erfc(-score / math.sqrt(2.0))


@nb.njit(cache=True, nogil=True, inline="always")
def _logit(p):
    return np.log(p / (1.0 - p))


# The fastest linear decay a fixed 1-minute step integrates stably: 2/min for the midpoint
# integrator (|1 - h + h^2/2| <= 1), 2.785/min for RK4. The model's fastest rates are the gut's
# absorption kabs (reference patients 0.021-1.23/min, but the fitted log-normal's tail passed
# 4.9/min: issue 17, 5 of 3,000 patients stopped on day 0) and the liver's insulin clearance
# m1 + m30 (reference up to 1.1/min); the other rates are below 0.7/min.
STABLE_RATE_PER_MIN = 2.0


@nb.njit(cache=True, nogil=True, inline="always")
def stably_integrable(p):
    """Whether both integrators at 1 minute are stable for parameter row p."""
    return p[P.kabs] < STABLE_RATE_PER_MIN and p[P.m1] + p[P.m30] < STABLE_RATE_PER_MIN


@nb.njit(cache=True, nogil=True)
def _draw_physiology(seed, pid, src, g, ref_params, mean, chol, sd, pop, kidney, p_out, x_out):
    """One patient's UVA/Padova row; returns the number of redraws, or -1. A draw that a
    fixed 1-minute step cannot integrate stably (stably_integrable) is redrawn. `kidney`
    (gfr, tmg, renal_splay) enters the basal steady state: the splayed kidney loses a trace of
    glucose at the basal glucose."""
    n_f = FITTED_INDEX.shape[0]
    z = np.empty(n_f)
    for attempt in range(MAX_REDRAWS):
        for j in range(N_PARAMS):
            p_out[j] = ref_params[src, j]
        p_out[P.gfr], p_out[P.tmg], p_out[P.renal_splay] = kidney
        base = 2 + attempt * n_f
        for q in range(n_f):
            z[q] = rng.normal(seed, pid, 0, rng.STREAM_COHORT, base + q)
        ok = True
        if pop[POP.sampler] == 0.0:
            for q in range(n_f):
                v = mean[g, q]
                for r in range(q + 1):
                    v += chol[g, q, r] * z[r]
                if abs(v - mean[g, q]) > TRUNCATE_SD * sd[g, q] + 1e-12:
                    ok = False
                p_out[FITTED_INDEX[q]] = np.exp(v)
        else:
            s = pop[POP.jitter_sigma]
            for q in range(JITTERED_INDEX.shape[0]):
                p_out[JITTERED_INDEX[q]] *= np.exp(s * z[q] - 0.5 * s * s)
        if not stably_integrable(p_out):
            ok = False
        if not (0.0 < p_out[P.d] < p_out[P.b] < 1.0):
            ok = False
        if ok and basal_steady_state(p_out, x_out):
            return attempt
    return -1


@nb.njit(cache=True, nogil=True)
def _draw_traits(seed, pid, g_age_lo, g_age_hi, bmi_median, bmi_log_sd, pop, tr):
    def u(k):
        return rng.uniform(seed, pid, 0, rng.STREAM_TRAITS, k)

    def z(k):
        return rng.normal(seed, pid, 0, rng.STREAM_TRAITS, k)

    male = 1.0 if u(0) < 0.5 else 0.0
    age = g_age_lo + (g_age_hi - g_age_lo) * u(1)
    # height: adults NHANES means (men 1.76 m, women 1.62 m, SD ~0.07); growing children
    # ~6 cm a year from 1.19 m at 7 (CDC growth charts, approximately)
    adult_h = 1.76 if male > 0.5 else 1.62
    height = min(adult_h, 0.77 + 0.06 * age) + 0.065 * z(2)
    height = min(max(height, 1.0), 2.1)
    since_0_12 = pop[POP.youth_bmi_charts] != 0.0  # cohort.youth_bmi = "charts"
    charts = since_0_12 and age < growth.GROWTH_END_YEARS
    if charts:
        sds = YOUTH_BMI_SDS_MEAN + YOUTH_BMI_SDS_SD * z(3)
        bmi = growth.bmi_at(sds, male, age) * pop[POP.bmi_scale]
    else:
        bmi = bmi_median * pop[POP.bmi_scale] * np.exp(bmi_log_sd * z(3))
    # kept inside the plausibility guards (12-60, engine/batch/plausibility.py) with room to
    # move: a ceiling at the guard's 60 let 8 of 200,000 sampled adults cross it by 0.06 in
    # their first days (an H200 run, 2026-12-04); above 55 are ~2 in 10,000 adults here
    ceiling = BMI_SAMPLED_MAX if since_0_12 else 60.0
    bmi = min(max(bmi, 13.0), ceiling)
    tr[T.sex_male] = male
    tr[T.age0] = age
    tr[T.height_m] = height
    tr[T.bmi0] = bmi
    # hypertension rises with age and BMI (~25% of adults with T1D; a logistic of that order)
    tr[T.hypertension] = 1.0 if u(4) < _sigmoid(-4.0 + 0.05 * age + 0.1 * (bmi - 25.0)) else 0.0
    fh = 1.0 if u(5) < pop[POP.family_history] else 0.0
    tr[T.family_history_t2d] = fh
    tr[T.polygenic_score] = pop[POP.prs_shift] + 0.5 * fh + z(6)
    tr[T.chronic_stress] = _sigmoid(_logit(pop[POP.stress]) + 0.8 * z(7))
    # adolescents give fewer boluses (Olinder et al., Pediatr Diabetes 10:142, 2009: 38% of
    # adolescents on pumps missed >= 15% of meal boluses): a logit shift at 13-20 years
    dip = pop[POP.adolescent_adherence_dip] if 13.0 <= age < 20.0 else 0.0
    tr[T.adherence] = _sigmoid(_logit(pop[POP.adherence]) - dip + 0.8 * z(8))
    tr[T.sleep_h] = min(max(pop[POP.sleep_h] + 0.8 * z(9), 4.0), 10.0)
    tr[T.diet_fat_share] = min(max(pop[POP.fat_share] + 0.04 * z(10), 0.15), 0.6)
    tr[T.diet_sugar_share] = min(max(pop[POP.sugar_share] + 0.03 * z(11), 0.0), 0.4)
    tr[T.energy_surplus] = pop[POP.surplus] + 0.02 * z(12)
    # the configured meals are an adult's; they scale with body size around 75 kg (an
    # assumption). Under 20 they scale around the median youth's weight for age and sex (the
    # CDC 2000 charts at the sampled SDS's median) times what youths eat against adults: US
    # boys eat 270 g carbohydrate a day at 6-11 years and 298 g at 12-19, men 286-310 g at
    # 20-59 (What We Eat in America, NHANES 2013-2014, Table 1): 0.90 and 0.99, here at the
    # bands' middles (9 and 16 years). The survey's youths were no lighter than SEARCH's
    # (obese at 2-19 years in 2013-2014: 17%, Ogden et al., JAMA 315:2292, 2016; SEARCH's
    # 12.6%), so the median sampled youth eats the survey's share. (weight / 75)^0.6 alone gave a
    # 10-year-old 0.59 of an adult's carbohydrate.
    weight = bmi * height * height
    if pop[POP.youth_meals] != 0.0 and age < growth.GROWTH_END_YEARS:
        median_sds = YOUTH_BMI_SDS_MEAN if charts else 0.0
        median = growth.bmi_at(median_sds, male, age) * growth.height_at(0.0, male, age) ** 2
        youth = 0.90 + 0.09 * min(max((age - 9.0) / 7.0, 0.0), 1.0)
        size = youth * (weight / median) ** 0.6
    else:
        size = (weight / 75.0) ** 0.6
    tr[T.carb_appetite] = min(size, 1.3) * np.exp(0.15 * z(13) - 0.01125)
    tr[T.activity_pal] = min(max(pop[POP.pal] + 0.1 * z(14), 1.3), 2.2)
    # sessions per week: Poisson by inversion
    lam = pop[POP.sessions]
    k = 0
    term = np.exp(-lam)
    cum = term
    v = u(15)
    while v > cum and k < 14:
        k += 1
        term *= lam / k
        cum += term
    tr[T.sessions_per_week] = min(k, 7)
    tr[T.session_min] = max(pop[POP.session_min] + 10.0 * z(16), 15.0)
    tr[T.session_hr_excess] = max(pop[POP.session_hr] + 10.0 * z(17), 15.0)
    tr[T.session_time_h] = min(max(17.5 + 1.5 * z(18), 6.0), 21.0)
    tr[T.heart_rate_rest] = min(max(68.0 + 8.0 * z(19), 45.0), 100.0)
    tr[T.tod_amplitude] = pop[POP.tod_max] * u(20)
    tr[T.tod_peak_h] = 24.0 * u(21)
    if u(22) < pop[POP.dawn_prevalence]:
        tr[T.dawn_amplitude] = pop[POP.dawn_mean] * np.exp(0.4 * z(23) - 0.08)
    else:
        tr[T.dawn_amplitude] = 0.0
    # Tanner stage III: girls ~12, boys ~13.5 years (Marshall & Tanner 1969, 1970)
    tr[T.puberty_peak_age] = (13.5 if male > 0.5 else 12.0) + 1.0 * z(24)
    # the therapy mix, used by the real_world therapy preset (T1D Exchange 2016-18, Foster et
    # al., Diabetes Technol Ther 21:66, 2019: 30% CGM, 63% pump); impaired awareness of
    # hypoglycaemia in ~20% (Geddes et al., Diabet Med 25:501, 2008: 19.6%)
    tr[T.uses_cgm] = 1.0 if u(25) < pop[POP.cgm_share] else 0.0
    tr[T.uses_pump] = 1.0 if u(26) < pop[POP.pump_share] else 0.0
    # automated insulin delivery (cohort.aid_share) among those with both devices, so that
    # scenarios of different aid_share hold the same people with the same devices, only the
    # controller added (aid_share <= pump_share x cgm_share, checked by the config)
    both = pop[POP.cgm_share] * pop[POP.pump_share]
    aid = tr[T.uses_cgm] * tr[T.uses_pump] > 0.5 and u(31) * both < pop[POP.aid_share]
    tr[T.uses_aid] = 1.0 if aid else 0.0
    tr[T.prior_glycosuria_g] = math.nan  # the run's own first two weeks (patient.py)
    tr[T.hypo_unaware] = 1.0 if u(27) < pop[POP.unaware_share] else 0.0
    tr[T.basal_error_z] = z(28)
    tr[T.ratio_error_z] = z(29)
    tr[T.advice_follow] = _advice_follow(pop[POP.advice_adherence_rho], z(8), u(30), z(32))
    fat, lean = initial_body(tr)
    tr[T.fat_mass0] = fat


# the sampler's inputs per age group (row g of each), and the rows it draws per patient
GroupTables = namedtuple(
    "GroupTables",
    "cum members counts ref_params mean chol sd age_lo age_hi bmi_median bmi_log_sd",
)
Drawn = namedtuple("Drawn", "params x0 traits source group redraws")


@nb.njit(cache=True, nogil=True)
def _sample(seed, patient_ids, groups, pop, drawn):
    """Each patient's group, reference patient, physiology and traits into `drawn`."""
    group_cum, group_members, group_counts = groups.cum, groups.members, groups.counts
    ref_params, mean, chol, sd = groups.ref_params, groups.mean, groups.chol, groups.sd
    age_lo, age_hi = groups.age_lo, groups.age_hi
    bmi_median, bmi_log_sd = groups.bmi_median, groups.bmi_log_sd
    params_out, x0_out, traits_out = drawn.params, drawn.x0, drawn.traits
    source_out, group_out, redraws_out = drawn.source, drawn.group, drawn.redraws
    for i in range(patient_ids.shape[0]):
        pid = patient_ids[i]
        u = rng.uniform(seed, pid, 0, rng.STREAM_COHORT, 0)
        g = 0
        while g < group_cum.shape[0] - 1 and u > group_cum[g]:
            g += 1
        u = rng.uniform(seed, pid, 0, rng.STREAM_COHORT, 1)
        k = min(int(u * group_counts[g]), group_counts[g] - 1)
        src = group_members[g, k]
        source_out[i] = src
        group_out[i] = g
        # the traits first (their own stream: the same draws in either order), for the
        # weight and height that size the kidney, which the basal steady state needs
        _draw_traits(
            seed, pid, age_lo[g], age_hi[g], bmi_median[g], bmi_log_sd[g], pop, traits_out[i]
        )
        # body weight is a trait (BMI x height^2; the model's parameters are per kg), except
        # when resampling the reference patients, who keep theirs (BMI follows from it)
        h = traits_out[i, T.height_m]
        if pop[POP.sampler] == 0.0:
            bw = traits_out[i, T.bmi0] * h * h
        else:
            bw = ref_params[src, P.BW]
        kidney = (0.0, 0.0, 0.0)
        if pop[POP.kidney] != 0.0:
            splay = pop[POP.splay] != 0.0
            gfr, tmg = kidney_rates(
                bw, h, TMG_MG_PER_MIN_173 if splay else TMG_HEALTHY_MG_PER_MIN_173
            )
            kidney = (gfr, tmg, RENAL_SPLAY_MG_DL if splay else 0.0)
        redraws_out[i] = _draw_physiology(
            seed, pid, src, g, ref_params, mean, chol, sd, pop, kidney, params_out[i], x0_out[i]
        )
        if pop[POP.sampler] == 0.0:
            params_out[i, P.BW] = bw
        else:
            traits_out[i, T.bmi0] = params_out[i, P.BW] / (h * h)
            traits_out[i, T.fat_mass0] = initial_body(traits_out[i])[0]
        if pop[POP.brain] != 0.0:
            params_out[i, P.g_brain] = BRAIN_UPTAKE_FALLS_BELOW_MG_DL


@dataclass(frozen=True)
class Cohort:
    patient_id: np.ndarray  # (n,) int64, stable identity used as RNG key
    params: np.ndarray  # (n, N_PARAMS)
    x0: np.ndarray  # (n, 13) basal states
    traits: np.ndarray  # (n, N_TRAITS)
    source: np.ndarray  # (n,) index of the reference patient (resampled or nearest group)
    group: np.ndarray  # (n,) str

    def __len__(self):
        return self.patient_id.shape[0]

    @property
    def age_years(self) -> np.ndarray:
        return self.traits[:, T.age0]


@lru_cache(maxsize=8)
def _fit_groups_cached(names: tuple):
    return _fit_groups(list(names))


def fit_groups(names: list[str]):
    """Per group: mean, Cholesky factor and marginal SD of the log parameters (cached: every
    task of a run asks for the same groups)."""
    return _fit_groups_cached(tuple(names))


def _fit_groups(names: list[str]):
    """Per group: mean, Cholesky factor of the shrunk covariance, and marginal SD of the log
    parameters in FITTED, from that group's reference patients."""
    ref = reference_patients()
    logs = np.log(ref.params[:, FITTED_INDEX])
    n_f = FITTED_INDEX.size
    mean = np.zeros((len(names), n_f))
    chol = np.zeros((len(names), n_f, n_f))
    sd = np.zeros((len(names), n_f))
    for g, name in enumerate(names):
        rows = logs[np.array(ref.groups) == name]
        cov = np.cov(rows, rowvar=False)
        shrunk = (1.0 - SHRINKAGE) * cov + SHRINKAGE * np.diag(np.diag(cov))
        shrunk += 1e-12 * np.eye(n_f)
        mean[g] = rows.mean(axis=0)
        chol[g] = np.linalg.cholesky(shrunk)
        sd[g] = np.sqrt(np.diag(shrunk))
    return mean, chol, sd


def sample_cohort(
    seed: int, patient_ids, group_weights: dict[str, float], pop: np.ndarray
) -> Cohort:
    """Patients `patient_ids` of a run: a group by `group_weights`, physiology from the
    group's sampler, traits from the population settings `pop` (POP.<name>;
    engine.batch.translate.population_settings)."""
    ref = reference_patients()
    ids = np.ascontiguousarray(patient_ids, dtype=np.int64)
    names = [g for g in GROUPS if group_weights.get(g, 0.0) > 0.0]
    w = np.array([group_weights[g] for g in names], dtype=np.float64)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    members = [np.flatnonzero(np.array(ref.groups) == g) for g in names]
    counts = np.array([m.size for m in members], dtype=np.int64)
    member_table = np.zeros((len(names), counts.max()), dtype=np.int64)
    for g, m in enumerate(members):
        member_table[g, : m.size] = m
    mean, chol, sd = fit_groups(names)
    n = ids.size
    params = np.empty((n, N_PARAMS))
    x0 = np.empty((n, N_STATES))
    traits = np.empty((n, N_TRAITS))
    source = np.empty(n, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    redraws = np.empty(n, dtype=np.int64)
    groups = GroupTables(
        cum,
        member_table,
        counts,
        ref.params,
        mean,
        chol,
        sd,
        np.array([AGE_RANGE[g][0] for g in names]),
        np.array([AGE_RANGE[g][1] for g in names]),
        np.array([BMI_MEDIAN[g] for g in names]),
        np.array([BMI_LOG_SD[g] for g in names]),
    )
    drawn = Drawn(params, x0, traits, source, group, redraws)
    _sample(np.uint64(seed), ids, groups, np.ascontiguousarray(pop, dtype=np.float64), drawn)
    if (redraws < 0).any():
        bad = ids[redraws < 0][0]
        raise RuntimeError(
            f"patient {bad}: no physiological parameter draw in {MAX_REDRAWS} "
            "tries; the sampler's spread is too wide"
        )
    return Cohort(
        patient_id=ids,
        params=params,
        x0=x0,
        traits=traits,
        source=source,
        group=np.array([names[g] for g in group]),
    )
