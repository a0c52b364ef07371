"""Therapy (docs/model.md §3), numba: basal, meal bolus with insulin on board, and titration.

Two rules:
- RULE_SIMGLUCOSE: simglucose's basal-bolus controller, for side-by-side runs with it:
  basal = u2ss BW / 6000 U/min; bolus = carbs / CR + (G > 150)(G - target) / CF.
- RULE_CALCULATOR: a bolus calculator, bolus = estimated carbs / ratio + correction above
  target less insulin on board, rounded down to the delivery increment (pen 0.5 U, pump
  0.05 U); with `carb_counting` off the meal dose is fixed from the slot's habitual size
  (DCCT conventional: no counting, no corrections). Basal and bolus strength are titrated
  every `titrate_days` toward targets for fasting glucose, mean glucose (HbA1c) and time
  below range, within caps on each step and on the total change.

The presets `conventional` and `intensive` are values of these settings (config.py).
"""

import math

import numba as nb

from ..model.layout import index_family
from ..model.params import PMOL_PER_U, P

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
    ),
)
N_THERAPY = len(TH)
# titration accumulators kept by the kernel over an interval
TA = index_family("TitrationAcc", ("fasting_sum", "fasting_n", "sum", "n", "below70", "days"))
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
def meal_bolus_u(carbs_est_g, cgm, iob_u, cr, cf, bolus_factor, th):
    """Units for a meal of `carbs_est_g` (estimated, or habitual when not counting) announced
    at CGM reading `cgm`, with `iob_u` units of bolus insulin still on board."""
    if th[TH.rule] == RULE_SIMGLUCOSE:
        bolus = carbs_est_g / cr
        if cgm > SIMGLUCOSE_CORRECTION_THRESHOLD:
            bolus += (cgm - th[TH.target]) / cf
        return bolus
    bolus = bolus_factor * carbs_est_g / cr
    if th[TH.correct] != 0.0 and cgm > th[TH.correction_threshold]:
        correction = bolus_factor * (cgm - th[TH.target]) / cf
        if th[TH.use_iob] != 0.0:
            correction -= iob_u
        if correction > 0.0:
            bolus += correction
    return round_down(max(bolus, 0.0), th[TH.increment_u])


@nb.njit(cache=True, nogil=True)
def titrate(basal_f, bolus_f, acc, th):
    """New (basal factor, bolus factor) after an interval whose accumulators are `acc`.
    Hypoglycaemia first: time below 70 over the limit lowers both; otherwise fasting glucose
    moves basal and mean glucose moves bolus strength, one step at a time, within the caps
    (relative to the starting prescription)."""
    step = th[TH.step]
    tbr = 100.0 * acc[TA.below70] / max(acc[TA.n], 1.0)
    if tbr > th[TH.tbr_limit]:
        basal_f *= 1.0 - step
        bolus_f *= 1.0 - step
    else:
        if acc[TA.fasting_n] > 0.0:
            fasting = acc[TA.fasting_sum] / acc[TA.fasting_n]
            if fasting > th[TH.fasting_target] + 10.0:
                basal_f *= 1.0 + step
            elif fasting < th[TH.fasting_target] - 20.0:
                basal_f *= 1.0 - step
        mean = acc[TA.sum] / max(acc[TA.n], 1.0)
        if mean > th[TH.mean_target] + 10.0:
            bolus_f *= 1.0 + step
        elif mean < th[TH.mean_target] - 25.0:
            bolus_f *= 1.0 - step
    basal_f = min(max(basal_f, th[TH.cap_low]), th[TH.cap_high])
    bolus_f = min(max(bolus_f, th[TH.cap_low]), th[TH.cap_high])
    return basal_f, bolus_f
