"""Therapy (MODEL.md §4), numba: basal, meal bolus with insulin on board, and titration.

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

from ..model.params import P_BW, P_U2SS, PMOL_PER_U

RULE_SIMGLUCOSE = 0
RULE_CALCULATOR = 1
SIMGLUCOSE_CORRECTION_THRESHOLD = 150.0  # mg/dL, simglucose BBController

(TH_RULE, TH_TARGET, TH_CORRECTION_THRESHOLD, TH_CORRECT, TH_USE_IOB, TH_DIA_MIN,
 TH_CARB_COUNTING, TH_INITIAL_DOSE, TH_TITRATE_DAYS, TH_STEP, TH_FASTING_TARGET,
 TH_MEAN_TARGET, TH_TBR_LIMIT, TH_CAP_LOW, TH_CAP_HIGH, TH_DOSE_SCALE, TH_INCREMENT_U,
 TH_SICK_DAY_EXTRA, TH_RATIOS_FROM_TDD) = range(19)
N_THERAPY = 19
# titration accumulators kept by the kernel over an interval
(TA_FASTING_SUM, TA_FASTING_N, TA_SUM, TA_N, TA_BELOW70, TA_DAYS) = range(6)
N_TITRATION_ACC = 6
FASTING_WINDOW = (300, 420)   # 05:00-07:00, minutes after midnight


@nb.njit(cache=True, nogil=True, inline="always")
def basal_rate_u_per_min(p):
    """The patient's steady-state basal rate (U/min) at its current weight."""
    return p[P_U2SS] * p[P_BW] / PMOL_PER_U


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
    if th[TH_RULE] == RULE_SIMGLUCOSE:
        bolus = carbs_est_g / cr
        if cgm > SIMGLUCOSE_CORRECTION_THRESHOLD:
            bolus += (cgm - th[TH_TARGET]) / cf
        return bolus
    bolus = bolus_factor * carbs_est_g / cr
    if th[TH_CORRECT] != 0.0 and cgm > th[TH_CORRECTION_THRESHOLD]:
        correction = bolus_factor * (cgm - th[TH_TARGET]) / cf
        if th[TH_USE_IOB] != 0.0:
            correction -= iob_u
        if correction > 0.0:
            bolus += correction
    return round_down(max(bolus, 0.0), th[TH_INCREMENT_U])


@nb.njit(cache=True, nogil=True)
def titrate(basal_f, bolus_f, acc, th):
    """New (basal factor, bolus factor) after an interval whose accumulators are `acc`.
    Hypoglycaemia first: time below 70 over the limit lowers both; otherwise fasting glucose
    moves basal and mean glucose moves bolus strength, one step at a time, within the caps
    (relative to the starting prescription)."""
    step = th[TH_STEP]
    tbr = 100.0 * acc[TA_BELOW70] / max(acc[TA_N], 1.0)
    if tbr > th[TH_TBR_LIMIT]:
        basal_f *= 1.0 - step
        bolus_f *= 1.0 - step
    else:
        if acc[TA_FASTING_N] > 0.0:
            fasting = acc[TA_FASTING_SUM] / acc[TA_FASTING_N]
            if fasting > th[TH_FASTING_TARGET] + 10.0:
                basal_f *= 1.0 + step
            elif fasting < th[TH_FASTING_TARGET] - 20.0:
                basal_f *= 1.0 - step
        mean = acc[TA_SUM] / max(acc[TA_N], 1.0)
        if mean > th[TH_MEAN_TARGET] + 10.0:
            bolus_f *= 1.0 + step
        elif mean < th[TH_MEAN_TARGET] - 25.0:
            bolus_f *= 1.0 - step
    basal_f = min(max(basal_f, th[TH_CAP_LOW]), th[TH_CAP_HIGH])
    bolus_f = min(max(bolus_f, th[TH_CAP_LOW]), th[TH_CAP_HIGH])
    return basal_f, bolus_f
