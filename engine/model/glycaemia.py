"""Glycaemic metrics: the daily variables' declaration, and their computation from a day's
per-minute accumulators; the glycaemic indices (ADAG, GMI, eGDR, LBGI/HBGI), each written
once. Targets and thresholds: Battelino et al., Diabetes Care 42:1593 (2019).
"""

import math

import numba as nb
import numpy as np

from .layout import Quantities, index_family

# Thresholds of the international consensus on time in ranges (Battelino et al. 2019), mg/dL.
LOW_54 = 54.0
LOW_70 = 70.0
HIGH_180 = 180.0
HIGH_250 = 250.0
# A CGM hypoglycaemia event: >= 15 consecutive minutes below 70 mg/dL; it ends after >= 15
# consecutive minutes at or above 70 (Battelino et al. 2019, table 3).
HYPO_EVENT_MIN = 15
# ADAG regression of mean glucose on HbA1c: eAG (mg/dL) = 28.7 A1c (%) - 46.7
# (Nathan et al., Diabetes Care 31:1473, 2008)
ADAG_SLOPE = 28.7
ADAG_INTERCEPT = 46.7
# Blood glucose risk: the symmetrising transformation f(BG) = 1.509 ((ln BG)^1.084 - 5.381),
# BG in mg/dL, zero at 112.5 mg/dL, and risk r = 10 f^2 (Kovatchev et al., Diabetes Care
# 20:1655, 1997); LBGI and HBGI are the means of r over readings with f < 0 and f > 0, the
# other counting zero (CGM form: Clarke & Kovatchev, Diabetes Technol Ther 11:S45, 2009).
RISK_SCALE = 1.509
RISK_EXPONENT = 1.084
RISK_SHIFT = 5.381
RISK_FACTOR = 10.0


def risk_transform_exact(bg: float) -> float:
    """Kovatchev's f(BG), BG in mg/dL, computed from the formula (libm's log and pow)."""
    return RISK_SCALE * (math.log(bg) ** RISK_EXPONENT - RISK_SHIFT)


# The kernel reads f from tables at knots 1/32 mg/dL apart below 40 mg/dL, 1/4 up to 600 and 4
# up to 5000 (the integrable range), interpolated linearly: a log and a pow per CGM reading
# cost 8% of the kernel's throughput (benchmarks/results/revisions-20261202T022352Z.json), the
# tables ~1%. The risk from the tables is within 4e-4 of the formula's from 20 to 600 mg/dL
# (risk ~0-60), 7e-4 above (risk ~60-230) and 3e-4 relative below 20
# (tests/unit/model/test_glycaemia.py). Knots
# are computed with Python's math (libm), as the kernel's other transcendentals are.
RISK_KNOTS = ((1.0, 40.0, 32.0), (40.0, 600.0, 4.0), (600.0, 5000.0, 0.25))  # from, to, 1/step
RISK_F_LOW, RISK_F_MID, RISK_F_HIGH = (
    np.array([risk_transform_exact(lo + k / per) for k in range(int((hi - lo) * per) + 1)])
    for lo, hi, per in RISK_KNOTS
)

# Daily variables written per (scenario, patient, day): name, units, long_name.
DAILY = Quantities(
    "Daily",
    (
        ("glucose_mean", "mg/dL", "mean blood glucose over the day"),
        ("glucose_cv", "%", "coefficient of variation of blood glucose over the day"),
        ("tir", "%", "time in range 70-180 mg/dL"),
        ("tbr70", "%", "time below 70 mg/dL"),
        ("tbr54", "%", "time below 54 mg/dL"),
        ("tar180", "%", "time above 180 mg/dL"),
        ("tar250", "%", "time above 250 mg/dL"),
        ("hypo_events", "1", "hypoglycaemia events started (>= 15 min below 70 mg/dL)"),
        (
            "severe_hypo_events",
            "1",
            "severe hypoglycaemia: below 40 mg/dL long enough to need assistance (glucagon)",
        ),
        (
            "dka_events",
            "1",
            "ketoacidosis admissions (proxy: 6 h above 300 mg/dL within a day of a missed basal)",
        ),
        (
            "hyperglycaemia_admissions",
            "1",
            "admissions for a hyperglycaemic crisis (6 h above 500 mg/dL)",
        ),
        ("tdd", "U", "total daily insulin dose"),
        ("tdd_per_kg", "U/kg", "total daily insulin dose per kg body weight"),
        ("basal_u", "U", "basal insulin delivered"),
        ("bolus_u", "U", "bolus insulin delivered"),
        ("carbs_g", "g", "carbohydrate eaten"),
        ("weight_kg", "kg", "body weight"),
        ("bmi", "kg/m2", "body-mass index"),
        ("height", "m", "height (children and adolescents grow: CDC 2000 charts)"),
        ("bmi_sds", "1", "BMI-for-age SDS, CDC 2000 (under 20 years; NaN for adults)"),
        ("fat_mass_kg", "kg", "fat mass"),
        ("visceral_fat_kg", "kg", "visceral fat mass"),
        ("waist_cm", "cm", "waist circumference"),
        ("ffa", "mmol/L", "day-mean plasma free fatty acids"),
        ("inflammation", "1", "inflammation index (1 = none)"),
        ("oxidative_stress", "1", "oxidative stress index (1 = none)"),
        ("glut4_efficiency", "1", "GLUT4 translocation efficiency (1 = healthy)"),
        ("receptor_density", "1", "insulin receptor density (1 = no insulin)"),
        ("counterreg_tone", "1", "chronic counter-regulatory tone (1 = none)"),
        ("si_peripheral", "1", "peripheral insulin sensitivity multiplier s_p (1 = lean healthy)"),
        ("si_hepatic", "1", "hepatic insulin sensitivity multiplier s_h (1 = lean healthy)"),
        ("hba1c", "%", "HbA1c from red-cell-weighted mean glucose (ADAG)"),
        ("gmi", "%", "glucose management indicator over the last 14 days"),
        ("egdr", "mg/kg/min", "estimated glucose disposal rate (Williams 2000)"),
        ("rescue_carbs_g", "g", "carbohydrate eaten to treat hypoglycaemia"),
        (
            "intake_kcal",
            "kcal",
            "energy eaten: meals, snacks, rescue carbohydrate and appetite's answer to weight lost",
        ),
        ("glycosuria_g", "g", "glucose lost in urine"),
        ("exercise_min", "min", "minutes of exercise"),
        ("illness", "1", "illness severity (0 = well)"),
        ("mean_insulin", "pmol/L", "day-mean peripheral plasma insulin"),
        ("lbgi", "1", "low blood glucose index of the day's CGM readings (Kovatchev)"),
        ("hbgi", "1", "high blood glucose index of the day's CGM readings (Kovatchev)"),
        (
            "closed_loop_pct",
            "%",
            "share of the day's CGM samples at which a controller set the insulin (0: none)",
        ),
        (
            "suspend_min",
            "min",
            "minutes the pump delivered no basal (controller or suspend-before-low)",
        ),
        ("auto_bolus_u", "U", "automatic boluses given by the controller (part of bolus_u)"),
        (
            "aid_sensitivity_ratio",
            "1",
            "the controller's own estimate of insulin need relative to the pump's settings "
            "(autosens; day mean; NaN where the controller has none)",
        ),
        ("set_failures", "1", "infusion-set failures started"),
        ("sensor_gap_min", "min", "minutes without CGM readings (sensor warm-up, signal loss)"),
        # what trials report: time in ranges by the CGM's readings, sensor error included
        ("cgm_tir", "%", "share of the day's CGM readings in 70-180 mg/dL"),
        ("cgm_tbr70", "%", "share of the day's CGM readings below 70 mg/dL"),
    ),
)
DAILY_VARIABLES = DAILY.rows
# daily variables that are NaN where undefined (BMI SDS: adults), every other is finite
UNDEFINED_AS_NAN = ("bmi_sds", "aid_sensitivity_ratio")
DAILY_NAMES = DAILY.names
N_DAILY = len(DAILY)
D = DAILY.index  # out[D.hba1c]

# Per-minute accumulators of one day.
A = index_family(
    "Accumulator",
    (
        "n",
        "sum",
        "sumsq",
        "below54",
        "below70",
        "in_range",
        "above180",
        "above250",
        "hypo",
        "basal",
        "bolus",
        "carbs",
        "insulin",
        "hyper",
        "urine_mg",
        "rescue",
        "exercise_min",
        "exercise_dose",
        "cgm_n",  # CGM readings, and the sums of their low and high risk
        "cgm_low_risk",
        "cgm_high_risk",
        "cgm_below70",  # CGM readings below 70 mg/dL, and in 70-180
        "cgm_in_range",
        "severe",
        "dka",
        "crisis",
        "pump_samples",  # the pump's CGM samples, and those in closed loop
        "closed_samples",
        "suspend_min",
        "auto_bolus",
        "estimate_sum",  # the controller's sensitivity estimates and their count
        "estimate_n",
        "set_failures",
        "gap_min",
    ),
)
N_ACC = len(A)


@nb.njit(cache=True, nogil=True, inline="always")
def accumulate_glucose(acc, j, bg):
    """Add one minute's glucose `bg` to row j of the accumulators acc[lane, A_*]."""
    acc[j, A.n] += 1.0
    acc[j, A.sum] += bg
    acc[j, A.sumsq] += bg * bg
    if bg < LOW_54:
        acc[j, A.below54] += 1.0
    if bg < LOW_70:
        acc[j, A.below70] += 1.0
    elif bg <= HIGH_180:
        acc[j, A.in_range] += 1.0
    else:
        acc[j, A.above180] += 1.0
        if bg > HIGH_250:
            acc[j, A.above250] += 1.0


@nb.njit(cache=True, nogil=True, inline="always")
def risk_transform(bg):
    """Kovatchev's f(BG) from the knot tables (RISK_KNOTS), linearly interpolated. A sensor's
    readings (40-400 mg/dL) take the inlined path; the rest a call."""
    mid = RISK_KNOTS[1]
    # the table named once: numba-cuda gives each mention of a global array its own copy in
    # the kernel's 64 KiB of constant memory (ptxas: "too much global constant data", seen on
    # an H200 with RISK_F_MID three times over)
    table = RISK_F_MID
    x = (bg - mid[0]) * mid[2]
    if 0.0 <= x < table.shape[0] - 1:
        k = int(x)
        return table[k] + (table[k + 1] - table[k]) * (x - k)
    return _risk_transform_outer(bg)


@nb.njit(cache=True, nogil=True)
def _risk_transform_outer(bg):
    """f(BG) below 40 and from 600 mg/dL."""
    low, _, high = RISK_KNOTS
    if bg < low[1]:
        x, table = (bg - low[0]) * low[2], RISK_F_LOW
    else:
        x, table = (bg - high[0]) * high[2], RISK_F_HIGH
    k = min(max(int(x), 0), table.shape[0] - 2)
    return table[k] + (table[k + 1] - table[k]) * (x - k)


@nb.njit(cache=True, nogil=True, inline="always")
def accumulate_cgm_risk(acc, j, cgm):
    """Add one CGM reading's low or high risk, and its range, to row j of the accumulators."""
    f = risk_transform(cgm)
    risk = RISK_FACTOR * f * f
    acc[j, A.cgm_n] += 1.0
    if f < 0.0:
        acc[j, A.cgm_low_risk] += risk
    else:
        acc[j, A.cgm_high_risk] += risk
    if cgm < LOW_70:
        acc[j, A.cgm_below70] += 1.0
    elif cgm <= HIGH_180:
        acc[j, A.cgm_in_range] += 1.0


@nb.njit(cache=True, nogil=True, inline="always")
def track_hypo_event(bg, run_below, run_above, in_event):
    """Advance the event detector by one minute. Returns (run_below, run_above, in_event,
    started) where `started` is 1.0 on the minute an event is confirmed."""
    started = 0.0
    if bg < LOW_70:
        run_below += 1
        run_above = 0
        if not in_event and run_below >= HYPO_EVENT_MIN:
            in_event = True
            started = 1.0
    else:
        run_above += 1
        run_below = 0
        if in_event and run_above >= HYPO_EVENT_MIN:
            in_event = False
    return run_below, run_above, in_event, started


@nb.njit(cache=True, nogil=True)
def finish_day(acc, weight_kg, out):
    """Write the day's glucose, dose and intake metrics into out[D_*] (one lane's row)."""
    n = acc[A.n]
    mean = acc[A.sum] / n
    var = acc[A.sumsq] / n - mean * mean
    if var < 0.0:
        var = 0.0
    pct = 100.0 / n
    out[D.glucose_mean] = mean
    out[D.glucose_cv] = 100.0 * var**0.5 / mean
    out[D.tir] = acc[A.in_range] * pct
    out[D.tbr70] = acc[A.below70] * pct
    out[D.tbr54] = acc[A.below54] * pct
    out[D.tar180] = acc[A.above180] * pct
    out[D.tar250] = acc[A.above250] * pct
    out[D.hypo_events] = acc[A.hypo]
    tdd = acc[A.basal] + acc[A.bolus]
    out[D.tdd] = tdd
    out[D.tdd_per_kg] = tdd / weight_kg
    out[D.basal_u] = acc[A.basal]
    out[D.bolus_u] = acc[A.bolus]
    out[D.carbs_g] = acc[A.carbs]
    out[D.weight_kg] = weight_kg
    out[D.lbgi] = acc[A.cgm_low_risk] / acc[A.cgm_n]
    out[D.hbgi] = acc[A.cgm_high_risk] / acc[A.cgm_n]
    samples = acc[A.pump_samples]
    out[D.closed_loop_pct] = 100.0 * acc[A.closed_samples] / samples if samples > 0.0 else 0.0
    out[D.suspend_min] = acc[A.suspend_min]
    out[D.auto_bolus_u] = acc[A.auto_bolus]
    n_est = acc[A.estimate_n]
    out[D.aid_sensitivity_ratio] = acc[A.estimate_sum] / n_est if n_est > 0.0 else math.nan
    out[D.set_failures] = acc[A.set_failures]
    out[D.sensor_gap_min] = acc[A.gap_min]
    out[D.cgm_tir] = 100.0 * acc[A.cgm_in_range] / acc[A.cgm_n]
    out[D.cgm_tbr70] = 100.0 * acc[A.cgm_below70] / acc[A.cgm_n]


# --- glycaemic indices, each written once ---------------------------------------------------
@nb.njit(cache=True, nogil=True, inline="always")
def hba1c_from_eag(eag):
    """ADAG: A1c (%) = (eAG + 46.7) / 28.7 (Nathan et al., Diabetes Care 31:1473, 2008)."""
    return (eag + ADAG_INTERCEPT) / ADAG_SLOPE


def eag_from_hba1c(hba1c):
    """ADAG the other way: eAG (mg/dL) = 28.7 A1c - 46.7 (Nathan et al. 2008)."""
    return ADAG_SLOPE * hba1c - ADAG_INTERCEPT


@nb.njit(cache=True, nogil=True, inline="always")
def gmi_from_mean(mean_glucose):
    """Glucose management indicator (%), Bergenstal et al., Diabetes Care 41:2275 (2018)."""
    return 3.31 + 0.02392 * mean_glucose


@nb.njit(cache=True, nogil=True, inline="always")
def egdr(waist_cm, hypertension, hba1c):
    """Estimated glucose disposal rate (mg/kg/min), Williams et al., Diabetes 49:626 (2000)."""
    return 21.158 - 0.09 * waist_cm - 3.407 * hypertension - 0.551 * hba1c
