"""Therapy (docs/model.md §3), numba: basal, meal bolus with insulin on board, and titration.

Two rules:
- RULE_SIMGLUCOSE: simglucose's basal-bolus controller, for side-by-side runs with it:
  basal = u2ss BW / 6000 U/min; bolus = carbs / CR + (G > 150)(G - target) / CF.
- RULE_CALCULATOR: a bolus calculator, bolus = estimated carbs / ratio + correction above
  target less insulin on board, rounded down to the delivery increment (pen 0.5 U, pump
  0.05 U, or under the real-world mix each patient's own); with `carb_counting` off the meal
  dose is fixed from the slot's habitual size (DCCT conventional: no counting, supplemental
  insulin only above 250 mg/dL). Basal and bolus strength are titrated every `titrate_days`
  toward targets for fasting glucose, mean glucose (HbA1c) and time below range, within caps
  on each step and on the total change; under `real_world` a visit's advice is followed with
  the patient's own probability, and the prescription starts mis-set (misset_factors).

The presets `real_world`, `intensive`, `conventional` and `simglucose_basal_bolus` are values
of these settings (engine/batch/config.py).
"""

import math

import numba as nb

from ..model import rng
from ..model.layout import index_family
from ..model.params import PMOL_PER_U, P
from .behaviour import absorption_z

RULE_SIMGLUCOSE = 0
RULE_CALCULATOR = 1
SIMGLUCOSE_CORRECTION_THRESHOLD = 150.0  # mg/dL, simglucose BBController

TH = index_family(
    "Therapy",
    (
        "rule",
        "target",
        "correction_threshold",
        "correct",
        "use_iob",
        "dia_min",
        "carb_counting",
        "initial_dose",
        "titrate_days",
        "step",
        "fasting_target",
        "mean_target",
        "tbr_limit",
        "cap_low",
        "cap_high",
        "dose_scale",
        "increment_u",
        "sick_day_extra",
        "ratios_from_tdd",
        "cf_from_cr",
        "high_alert",
        "delivery_mix",
        "detection",
        "dose_error_sd",
        "dose_error_bias",
        "follow_advice",
        "severe_cut",
        "sick_day_rules",
        "max_bolus_per_kg",
        "basal_absorption_cv",
        "rapid_absorption_cv",
        "rise_kept",
    ),
)
# how lows are noticed (TH.detection)
DETECT_CGM = 0
DETECT_SYMPTOMS = 1
DETECT_MIX = 2
INCREMENT_PUMP_U = 0.05  # pump bolus increment
INCREMENT_PEN_U = 0.5  # half-unit pen
N_THERAPY = len(TH)
# titration accumulators kept by the kernel over an interval
TA = index_family(
    "TitrationAcc",
    ("fasting_sum", "fasting_n", "sum", "n", "below70", "days", "dose_per_kg"),
)
# Titration raises no dose once the daily dose averages 2 U/kg: beyond the pubertal peak of
# about 1.0-1.25 U/kg/day (Kerouz et al., Diabetes Care 18:1051, 1995), a dose that makes a
# clinic look for a cause rather than add insulin (DCCT excluded patients above 2 U/kg/day).
# Without it an adolescent sampled very resistant was titrated to 3 U/kg/day (issue 17).
DOSE_CEILING_U_PER_KG = 2.0
N_TITRATION_ACC = len(TA)
FASTING_WINDOW = (300, 420)  # 05:00-07:00, minutes after midnight


@nb.njit(cache=True, nogil=True, inline="always")
def basal_rate_u_per_min(p):
    """The patient's steady-state basal rate (U/min) at its current weight."""
    return p[P.u2ss] * p[P.BW] / PMOL_PER_U


# Total-daily-dose rules (Walsh & Roberts, Pumping Insulin; ADA Standards of Care): basal is
# about half of the total daily dose; carbohydrate ratio 500/TDD g/U, correction 1800/TDD mg/dL/U.
BASAL_SHARE_OF_TDD = 0.5
RULE_500 = 500.0
RULE_1800 = 1800.0


# The correction factor a clinic prescribes with a carbohydrate ratio: both rules divide the
# same daily dose, so CF = CR x 1800/500 = 3.6 CR (mg/dL per U, CR in g/U); for the reference
# patients it is 0.85 (0.51-1.85) of 1800 over their own daily insulin. simglucose's table
# (Quest.csv) gives factors 2.5x smaller than 1800/TDI (medians: children 2.5, adolescents
# 2.4, adults 2.9): a correction by them at the peak of an unbolused 1 g/kg meal leaves 29 of
# the 30 reference patients below 70 mg/dL (mean nadirs 18, 41 and 37 mg/dL); by 3.6 CR, 43,
# 82 and 97 (scripts/correction_nadir.py; docs/model.md §3). Children go low with either.
CF_PER_CR = RULE_1800 / RULE_500


@nb.njit(cache=True, nogil=True)
def ratios_from_tdd(basal_u_per_day):
    """(carbohydrate ratio g/U, correction factor mg/dL/U) from the 500 and 1800 rules, the
    total daily dose estimated from the basal dose."""
    tdd = basal_u_per_day / BASAL_SHARE_OF_TDD
    return RULE_500 / tdd, RULE_1800 / tdd


@nb.njit(cache=True, nogil=True, inline="always")
def round_down(units, increment):
    if increment <= 0.0:
        return units
    return math.floor(units / increment + 1e-9) * increment


@nb.njit(cache=True, nogil=True)
def meal_bolus_u(carbs_est_g, cgm, checked, iob_u, cr, cf, bolus_factor, th, increment_u):
    """Units for a meal of `carbs_est_g` (estimated, or habitual when not counting) announced
    at CGM reading `cgm`, with `iob_u` units of bolus insulin still on board, rounded down to
    the patient's delivery increment. Without a glucose check (`checked` false: a finger-stick
    user who did not measure) the bolus covers the carbohydrate alone, with no correction."""
    if th[TH.rule] == RULE_SIMGLUCOSE:
        bolus = carbs_est_g / cr
        if checked and cgm > SIMGLUCOSE_CORRECTION_THRESHOLD:
            bolus += (cgm - th[TH.target]) / cf
        return bolus
    bolus = bolus_factor * carbs_est_g / cr
    if checked and th[TH.correct] != 0.0 and cgm > th[TH.correction_threshold]:
        correction = correction_u(cgm, iob_u, cf, bolus_factor, th)
        if correction > 0.0:
            bolus += correction
    return round_down(max(bolus, 0.0), increment_u)


@nb.njit(cache=True, nogil=True, inline="always")
def correction_u(cgm, iob_u, cf, bolus_factor, th):
    """The calculator's correction at CGM reading `cgm`: (cgm - target) / cf at the bolus
    strength, less the insulin on board under use_iob (negative when that is more)."""
    correction = bolus_factor * (cgm - th[TH.target]) / cf
    if th[TH.use_iob] != 0.0:
        correction -= iob_u
    return correction


# The largest single bolus a patient gives (TH.max_bolus_per_kg), like a pump's maximum-bolus
# setting (commonly set near the largest usual meal bolus; defaults 10-25 U): the presets use
# 0.3 U/kg, about 20 U at 70 kg. Without it a correction from a very high reading with a small
# correction factor reached 77 U in a 52 kg adult under `conventional`, who then stopped, and
# simglucose's rule gave 50 U meal boluses to a patient with a small carbohydrate ratio
# (issue 17). simglucose itself has no cap: its rule here differs only above the cap.
MAX_BOLUS_U_PER_KG = 0.3


@nb.njit(cache=True, nogil=True)
def capped_bolus_u(units, bw_kg, th):
    """A bolus within the maximum bolus (none when TH.max_bolus_per_kg is 0)."""
    cap = th[TH.max_bolus_per_kg]
    if cap <= 0.0:
        return units
    return min(units, cap * bw_kg)


@nb.njit(cache=True, nogil=True)
def delivery_increment_u(th, uses_pump):
    """The patient's bolus increment (U): the preset's, or under the real-world mix their own
    device's."""
    if th[TH.delivery_mix] != 0.0:
        return INCREMENT_PUMP_U if uses_pump > 0.5 else INCREMENT_PEN_U
    return th[TH.increment_u]


@nb.njit(cache=True, nogil=True)
def detects_by_cgm(th, uses_cgm):
    """Whether the patient notices lows by a CGM alarm (else by symptoms)."""
    mode = th[TH.detection]
    if mode == DETECT_MIX:
        return uses_cgm > 0.5
    return mode == DETECT_CGM


@nb.njit(cache=True, nogil=True)
def misset_factors(th, basal_error_z, ratio_error_z):
    """(basal factor, ratio factor): how far the patient's prescription is from what they
    need, log-normal of log-SD TH.dose_error_sd; with TH.dose_error_bias b > 0 the medians
    are exp(-b) for basal and exp(b) for the ratios (under-dosing). A ratio factor above 1
    makes carbohydrate ratio and correction factor too large (boluses too small)."""
    sd = th[TH.dose_error_sd]
    b = th[TH.dose_error_bias]
    return math.exp(sd * basal_error_z - b), math.exp(sd * ratio_error_z + b)


# Day-to-day variability of subcutaneous absorption: the same dose does not give the same
# action twice. Within-subject CV of the absorbed insulin (AUC of plasma insulin over 24 h,
# four identical clamps) is 33% for glargine, 28% for NPH and 14% for detemir (Heise et al.,
# Diabetes 53:1614, 2004); of the metabolic effect of soluble insulin and insulin aspart, 10-20%
# (maximal activity 15-16%; Heinemann et al., Diabetes Care 21:1910, 1998). Each is drawn as a
# mean-one log-normal factor: an injected basal's once a day, a rapid-acting insulin's at each
# meal (it holds for every bolus until the next meal) and, for a pump's basal, once a day
# (draws: engine/life/behaviour.py, absorption_z).


@nb.njit(cache=True, nogil=True)
def absorption_factor(cv, z):
    """A mean-one log-normal factor of coefficient of variation `cv` from the normal draw z."""
    if cv <= 0.0:
        return 1.0
    return rng.mean_one_lognormal(cv, z)


@nb.njit(cache=True, nogil=True)
def bolus_absorption(seed, patient_id, day, slot, th):
    """The absorption factor of the bolus of the meal of `slot` today. Not inlined: drawn
    inside the kernel's minute, its code slowed the pump therapies by a fifth."""
    return absorption_factor(th[TH.rapid_absorption_cv], absorption_z(seed, patient_id, day, slot))


@nb.njit(cache=True, nogil=True)
def after_severe_hypo(basal_f, bolus_f, th):
    """Both doses cut by TH.severe_cut at once (ISPAD 2022 ch. 12, Abraham et al.: after a
    severe hypoglycaemia, review and reduce insulin), within the caps."""
    cut = 1.0 - th[TH.severe_cut]
    return max(basal_f * cut, th[TH.cap_low]), max(bolus_f * cut, th[TH.cap_low])


@nb.njit(cache=True, nogil=True)
def titrate(basal_f, bolus_f, acc, th):
    """New (basal factor, bolus factor) after an interval whose accumulators are `acc`, one
    step at a time within the caps (relative to the starting prescription). Basal follows
    fasting glucose; too much time below 70 lowers the boluses, and the basal too unless
    fasting glucose is high (then the lows come after meals, and cutting the basal would
    only raise the nights: a rule that cut both let labile patients' nights climb to 500
    mg/dL). Otherwise mean glucose moves bolus strength. No dose rises once the interval's
    daily dose averaged DOSE_CEILING_U_PER_KG (acc[TA.dose_per_kg] is its sum over days)."""
    step = th[TH.step]
    basal_in, bolus_in = basal_f, bolus_f
    tbr = 100.0 * acc[TA.below70] / max(acc[TA.n], 1.0)
    fasting_high = False
    fasting_low = False
    if acc[TA.fasting_n] > 0.0:
        fasting = acc[TA.fasting_sum] / acc[TA.fasting_n]
        fasting_high = fasting > th[TH.fasting_target] + 10.0
        fasting_low = fasting < th[TH.fasting_target] - 20.0
    if tbr > th[TH.tbr_limit]:
        bolus_f *= 1.0 - step
        if fasting_high:
            basal_f *= 1.0 + step
        else:
            basal_f *= 1.0 - step
    else:
        if fasting_high:
            basal_f *= 1.0 + step
        elif fasting_low:
            basal_f *= 1.0 - step
        mean = acc[TA.sum] / max(acc[TA.n], 1.0)
        if mean > th[TH.mean_target] + 10.0:
            bolus_f *= 1.0 + step
        elif mean < th[TH.mean_target] - 25.0:
            bolus_f *= 1.0 - step
    if acc[TA.dose_per_kg] >= DOSE_CEILING_U_PER_KG * max(acc[TA.days], 1.0):
        basal_f = min(basal_f, basal_in)
        bolus_f = min(bolus_f, bolus_in)
    basal_f = min(max(basal_f, th[TH.cap_low]), th[TH.cap_high])
    bolus_f = min(max(bolus_f, th[TH.cap_low]), th[TH.cap_high])
    return basal_f, bolus_f
