"""Patients of a population run (MODEL.md §7): physiology and traits.

Two samplers of the UVA/Padova parameters:
- "mvlognormal" (default): for each age group, a multivariate log-normal fitted to that group's
  ten reference patients (mean and covariance of the log parameters; the covariance of ten
  points in ~25 dimensions is singular, so it is shrunk halfway towards its diagonal, the
  standard Ledoit-Wolf-style remedy, which keeps the fitted variances and correlations' sign);
- "resample": a reference patient of the group with log-normal jitter of its kinetic
  parameters (closest to simglucose's thirty).
Either way the basal steady state (Vm0, kp1, u2ss, basal states) is recomputed for each draw and
non-physiological draws are rejected and redrawn. Then the traits of MODEL.md §2-4 are drawn.
A patient is a pure function of (seed, patient id): every draw comes from the counter-based
generator (streams COHORT and TRAITS, day 0).
"""
from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np

from ..model import rng
from ..model.params import N_PARAMS, N_STATES, PARAM_NAMES, P_B, P_BW, P_D, P_EGPB, P_FSNC, P_GB, P_IB, P_K1, P_K2, P_KA1, P_KA2, P_KD, P_KE1, P_KE2, P_KM0, P_KMAX, P_KMIN, P_KP1, P_KP2, P_KP3, P_M1, P_M2, P_M30, P_M4, P_U2SS, P_VG, P_VI, P_VM0, P_VMX, X_GP, X_GS, X_GT, X_I1, X_ID, X_IL, X_IP, X_ISC1, X_ISC2
from .reference import GROUPS, reference_patients
from ..model import traits as T
from ..model.slow import initial_body

# Parameters jittered around the source patient (multiplicative log-normal, mean-preserving).
# The basal quantities Vm0, kp1 and u2ss and the initial states are then derived from the
# steady state, so every sampled patient starts at rest at its basal glucose Gb.
JITTERED = ("BW", "kabs", "kmax", "kmin", "Vmx", "Km0", "k1", "k2", "p2u", "ki", "kp2", "kp3",
            "ka1", "ka2", "kd", "ksc", "m1", "m2", "m4", "m30", "CR", "CF")
JITTERED_INDEX = np.array([PARAM_NAMES.index(n) for n in JITTERED], dtype=np.int64)
MAX_REDRAWS = 200


@nb.njit(cache=True, nogil=True)
def basal_steady_state(p, x_out):
    """Set p's Vm0, kp1, u2ss and the basal states x_out from Gb, EGPb and the kinetic
    parameters (UVA/Padova S2008 at rest: every derivative zero with no meal, X = 0,
    Id = I1 = Ib). Returns False if the parameters admit no physiological steady state."""
    gpb = p[P_GB] * p[P_VG]
    renal = p[P_KE1] * (gpb - p[P_KE2]) if gpb > p[P_KE2] else 0.0
    # dGp = 0: EGPb - Fsnc - E - k1 Gp + k2 Gt = 0
    gtb = (p[P_FSNC] - p[P_EGPB] + renal + p[P_K1] * gpb) / p[P_K2]
    if not (gtb > 0.0):
        return False
    # dGt = 0 with X = 0: Vm0 Gt / (Km0 + Gt) = k1 Gp - k2 Gt
    uptake = p[P_K1] * gpb - p[P_K2] * gtb
    vm0 = uptake * (p[P_KM0] + gtb) / gtb
    if not (vm0 > 0.0):
        return False
    ipb = p[P_IB] * p[P_VI]
    ilb = p[P_M2] * ipb / (p[P_M1] + p[P_M30])
    u2ss = (p[P_M2] + p[P_M4]) * ipb - p[P_M1] * ilb
    if not (u2ss > 0.0):
        return False
    kp1 = p[P_EGPB] + p[P_KP2] * gpb + p[P_KP3] * p[P_IB]
    isc1 = u2ss / (p[P_KA1] + p[P_KD])
    isc2 = p[P_KD] * isc1 / p[P_KA2]
    p[P_VM0] = vm0
    p[P_KP1] = kp1
    p[P_U2SS] = u2ss
    for j in range(N_STATES):
        x_out[j] = 0.0
    x_out[X_GP] = gpb
    x_out[X_GT] = gtb
    x_out[X_IP] = ipb
    x_out[X_I1] = p[P_IB]
    x_out[X_ID] = p[P_IB]
    x_out[X_IL] = ilb
    x_out[X_ISC1] = isc1
    x_out[X_ISC2] = isc2
    x_out[X_GS] = gpb
    return p[P_KMIN] < p[P_KMAX]


@nb.njit(cache=True, nogil=True)
def basal_insulin_need(p, s_h, e_cr):
    """Steady plasma insulin (pmol/L) holding glucose at the patient's basal Gb with the
    production drive scaled by e_cr and hepatic action by s_h (the quantity a glucose clamp
    measures, as in Perriello 1991). Bisection on I: dGp = dGt = 0 with X = I - Ib."""
    gpb = p[P_GB] * p[P_VG]
    renal = p[P_KE1] * (gpb - p[P_KE2]) if gpb > p[P_KE2] else 0.0
    lo, hi = 0.0, 50.0 * p[P_IB]
    for _ in range(100):
        ins = 0.5 * (lo + hi)
        egp = max(p[P_KP1] * e_cr - p[P_KP2] * gpb - p[P_KP3] * s_h * ins, 0.0)
        gt = (p[P_FSNC] + renal + p[P_K1] * gpb - egp) / p[P_K2]
        uptake = (p[P_VM0] + p[P_VMX] * (ins - p[P_IB])) * gt / (p[P_KM0] + gt)
        if uptake < p[P_K1] * gpb - p[P_K2] * gt:
            lo = ins
        else:
            hi = ins
    return 0.5 * (lo + hi)


# Parameters drawn by the samplers; the basal quantities Vm0, kp1, u2ss and the initial states
# are then derived from the steady state. Constants of the reference (ke1, ke2, Fsnc, f) stay.
FITTED = ("kabs", "kmax", "kmin", "b", "d", "Vg", "Vi", "Vmx", "Km0", "k1", "k2", "p2u", "m1",
          "m2", "m4", "m30", "ki", "kp2", "kp3", "kd", "ksc", "ka1", "ka2", "Ib", "Gb", "EGPb",
          "CR", "CF")
FITTED_INDEX = np.array([PARAM_NAMES.index(n) for n in FITTED], dtype=np.int64)
SHRINKAGE = 0.5
TRUNCATE_SD = 3.0
SAMPLERS = ("mvlognormal", "resample")

# Population settings vector (config [lifestyle], [genetics], [population]).
(POP_FAMILY_HISTORY, POP_PRS_SHIFT, POP_FAT_SHARE, POP_SUGAR_SHARE, POP_SURPLUS, POP_SESSIONS,
 POP_SESSION_MIN, POP_SESSION_HR, POP_PAL, POP_SLEEP_H, POP_STRESS, POP_ADHERENCE,
 POP_DAWN_PREVALENCE, POP_DAWN_MEAN, POP_TOD_MAX, POP_BMI_SCALE, POP_SAMPLER,
 POP_JITTER_SIGMA) = range(18)
N_POP = 18

# Group age ranges (years) of the reference patients' groups; BMI of US adults with T1D
# (NHIS 2016-21: mean 27.6, 34% overweight, 28% obese) as a log-normal of median 26.6 and
# log-SD 0.205, which puts 28% at >= 30 and 62% at >= 25; children and adolescents: CDC
# median BMI-for-age around 16.5 at 7-12 and 20.5 at 13-19 years.
AGE_RANGE = {"adolescent": (13.0, 20.0), "adult": (20.0, 70.0), "child": (7.0, 13.0)}
BMI_MEDIAN = {"adolescent": 20.5, "adult": 26.6, "child": 16.5}
BMI_LOG_SD = {"adolescent": 0.17, "adult": 0.205, "child": 0.14}


@nb.njit(cache=True, nogil=True, inline="always")
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


@nb.njit(cache=True, nogil=True, inline="always")
def _logit(p):
    return np.log(p / (1.0 - p))


@nb.njit(cache=True, nogil=True)
def _draw_physiology(seed, pid, src, g, ref_params, mean, chol, sd, pop, p_out, x_out):
    """One patient's UVA/Padova row; returns the number of redraws, or -1."""
    n_f = FITTED_INDEX.shape[0]
    z = np.empty(n_f)
    for attempt in range(MAX_REDRAWS):
        for j in range(N_PARAMS):
            p_out[j] = ref_params[src, j]
        base = 2 + attempt * n_f
        for q in range(n_f):
            z[q] = rng.normal(seed, pid, 0, rng.STREAM_COHORT, base + q)
        ok = True
        if pop[POP_SAMPLER] == 0.0:
            for q in range(n_f):
                v = mean[g, q]
                for r in range(q + 1):
                    v += chol[g, q, r] * z[r]
                if abs(v - mean[g, q]) > TRUNCATE_SD * sd[g, q] + 1e-12:
                    ok = False
                p_out[FITTED_INDEX[q]] = np.exp(v)
        else:
            s = pop[POP_JITTER_SIGMA]
            for q in range(JITTERED_INDEX.shape[0]):
                p_out[JITTERED_INDEX[q]] *= np.exp(s * z[q] - 0.5 * s * s)
        if not (0.0 < p_out[P_D] < p_out[P_B] < 1.0):
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
    bmi = bmi_median * pop[POP_BMI_SCALE] * np.exp(bmi_log_sd * z(3))
    bmi = min(max(bmi, 13.0), 60.0)
    tr[T.T_SEX_MALE] = male
    tr[T.T_AGE0] = age
    tr[T.T_HEIGHT_M] = height
    tr[T.T_BMI0] = bmi
    # hypertension rises with age and BMI (~25% of adults with T1D; a logistic of that order)
    tr[T.T_HTN] = 1.0 if u(4) < _sigmoid(-4.0 + 0.05 * age + 0.1 * (bmi - 25.0)) else 0.0
    fh = 1.0 if u(5) < pop[POP_FAMILY_HISTORY] else 0.0
    tr[T.T_FAMILY_HISTORY] = fh
    tr[T.T_PRS] = pop[POP_PRS_SHIFT] + 0.5 * fh + z(6)
    tr[T.T_CHRONIC_STRESS] = _sigmoid(_logit(pop[POP_STRESS]) + 0.8 * z(7))
    tr[T.T_ADHERENCE] = _sigmoid(_logit(pop[POP_ADHERENCE]) + 0.8 * z(8))
    tr[T.T_SLEEP_H] = min(max(pop[POP_SLEEP_H] + 0.8 * z(9), 4.0), 10.0)
    tr[T.T_FAT_SHARE] = min(max(pop[POP_FAT_SHARE] + 0.04 * z(10), 0.15), 0.6)
    tr[T.T_SUGAR_SHARE] = min(max(pop[POP_SUGAR_SHARE] + 0.03 * z(11), 0.0), 0.4)
    tr[T.T_ENERGY_SURPLUS] = pop[POP_SURPLUS] + 0.02 * z(12)
    # children eat less: meal sizes scale with body size (the configured meals are an adult's)
    tr[T.T_CARB_APPETITE] = min((bmi * height * height / 75.0) ** 0.6, 1.3) * np.exp(0.15 * z(13) - 0.01125)
    tr[T.T_PAL] = min(max(pop[POP_PAL] + 0.1 * z(14), 1.3), 2.2)
    # sessions per week: Poisson by inversion
    lam = pop[POP_SESSIONS]
    k = 0
    term = np.exp(-lam)
    cum = term
    v = u(15)
    while v > cum and k < 14:
        k += 1
        term *= lam / k
        cum += term
    tr[T.T_SESSIONS_PER_WEEK] = min(k, 7)
    tr[T.T_SESSION_MIN] = max(pop[POP_SESSION_MIN] + 10.0 * z(16), 15.0)
    tr[T.T_SESSION_HR] = max(pop[POP_SESSION_HR] + 10.0 * z(17), 15.0)
    tr[T.T_SESSION_TIME_H] = min(max(17.5 + 1.5 * z(18), 6.0), 21.0)
    tr[T.T_HR_REST] = min(max(68.0 + 8.0 * z(19), 45.0), 100.0)
    tr[T.T_TOD_AMPLITUDE] = pop[POP_TOD_MAX] * u(20)
    tr[T.T_TOD_PEAK_H] = 24.0 * u(21)
    if u(22) < pop[POP_DAWN_PREVALENCE]:
        tr[T.T_DAWN_AMPLITUDE] = pop[POP_DAWN_MEAN] * np.exp(0.4 * z(23) - 0.08)
    else:
        tr[T.T_DAWN_AMPLITUDE] = 0.0
    # Tanner stage III: girls ~12, boys ~13.5 years (Marshall & Tanner 1969, 1970)
    tr[T.T_PUBERTY_AGE] = (13.5 if male > 0.5 else 12.0) + 1.0 * z(24)
    fat, lean = initial_body(tr)
    tr[T.T_FAT0] = fat


@nb.njit(cache=True, nogil=True)
def _sample(seed, patient_ids, group_cum, group_members, group_counts, ref_params, mean, chol,
            sd, age_lo, age_hi, bmi_median, bmi_log_sd, pop, params_out, x0_out, traits_out,
            source_out, group_out, redraws_out):
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
        redraws_out[i] = _draw_physiology(seed, pid, src, g, ref_params, mean, chol, sd, pop,
                                          params_out[i], x0_out[i])
        _draw_traits(seed, pid, age_lo[g], age_hi[g], bmi_median[g], bmi_log_sd[g], pop,
                     traits_out[i])
        # body weight is a trait (BMI x height^2; the model's parameters are per kg), except
        # when resampling the reference patients, who keep theirs (BMI follows from it)
        h = traits_out[i, T.T_HEIGHT_M]
        if pop[POP_SAMPLER] == 0.0:
            params_out[i, P_BW] = traits_out[i, T.T_BMI0] * h * h
        else:
            traits_out[i, T.T_BMI0] = params_out[i, P_BW] / (h * h)
            traits_out[i, T.T_FAT0] = initial_body(traits_out[i])[0]


@dataclass(frozen=True)
class Cohort:
    patient_id: np.ndarray      # (n,) int64, stable identity used as RNG key
    params: np.ndarray          # (n, N_PARAMS)
    x0: np.ndarray              # (n, 13) basal states
    traits: np.ndarray          # (n, N_TRAITS)
    source: np.ndarray          # (n,) index of the reference patient (resampled or nearest group)
    group: np.ndarray           # (n,) str

    def __len__(self):
        return self.patient_id.shape[0]

    @property
    def age_years(self) -> np.ndarray:
        return self.traits[:, T.T_AGE0]


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


def default_population(**cohort) -> np.ndarray:
    """The POP_* vector of the default config, with [cohort] fields overridden (tests, API)."""
    from ..batch.config import parse_config
    return population_settings(parse_config({"cohort": cohort}))


def population_settings(cfg) -> np.ndarray:
    """The POP_* vector of a RunConfig."""
    life, gen, coh = cfg.lifestyle, cfg.genetics, cfg.cohort
    pop = np.zeros(N_POP)
    pop[POP_FAMILY_HISTORY] = gen.family_history_prob
    pop[POP_PRS_SHIFT] = gen.polygenic_shift
    pop[POP_FAT_SHARE] = life.fat_share
    pop[POP_SUGAR_SHARE] = life.sugar_share
    pop[POP_SURPLUS] = life.energy_surplus
    pop[POP_SESSIONS] = life.sessions_per_week
    pop[POP_SESSION_MIN] = life.session_min
    pop[POP_SESSION_HR] = life.session_hr_excess
    pop[POP_PAL] = life.activity_pal
    pop[POP_SLEEP_H] = life.sleep_h
    pop[POP_STRESS] = life.chronic_stress
    pop[POP_ADHERENCE] = life.adherence
    pop[POP_DAWN_PREVALENCE] = coh.dawn_prevalence
    pop[POP_DAWN_MEAN] = coh.dawn_amplitude
    pop[POP_TOD_MAX] = coh.time_of_day_amplitude
    pop[POP_BMI_SCALE] = coh.bmi_scale
    pop[POP_SAMPLER] = float(SAMPLERS.index(coh.sampler))
    pop[POP_JITTER_SIGMA] = np.sqrt(np.log1p(coh.jitter_cv ** 2))
    return pop


def sample_cohort(seed: int, patient_ids, group_weights: dict[str, float],
                  pop: np.ndarray | None = None) -> Cohort:
    """Patients `patient_ids` of a run: a group by `group_weights`, physiology from the
    group's sampler, traits from the population settings `pop` (POP_*)."""
    if pop is None:
        pop = default_population()
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
        member_table[g, :m.size] = m
    mean, chol, sd = fit_groups(names)
    n = ids.size
    params = np.empty((n, N_PARAMS))
    x0 = np.empty((n, N_STATES))
    traits = np.empty((n, T.N_TRAITS))
    source = np.empty(n, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    redraws = np.empty(n, dtype=np.int64)
    _sample(np.uint64(seed), ids, cum, member_table, counts, ref.params, mean, chol, sd,
            np.array([AGE_RANGE[g][0] for g in names]), np.array([AGE_RANGE[g][1] for g in names]),
            np.array([BMI_MEDIAN[g] for g in names]), np.array([BMI_LOG_SD[g] for g in names]),
            np.ascontiguousarray(pop, dtype=np.float64), params, x0, traits, source, group,
            redraws)
    if (redraws < 0).any():
        bad = ids[redraws < 0][0]
        raise RuntimeError(f"patient {bad}: no physiological parameter draw in {MAX_REDRAWS} "
                           "tries; the sampler's spread is too wide")
    return Cohort(patient_id=ids, params=params, x0=x0, traits=traits, source=source,
                  group=np.array([names[g] for g in group]))
