"""Acute, within-day modifiers of the fast model (docs/model.md §1, extensions), pure numba:
exercise states, the per-patient time-of-day sensitivity pattern, the dawn phenomenon, and
acute counter-regulation during stress and illness episodes, and the counter-regulatory
response to hypoglycaemia.
"""

import math

import numba as nb

from .traits import T

# --- exercise: Breton, JDST 2:1 (2008); Dalla Man et al., JDST 3:56 (2009) --------------------
# Uid = [Vm0 (1 + beta Y) + Vmx (1 + alpha Z W) X] Gt / (Km0 (1 - gamma Z W X) + Gt)
# dY = -(Y - dHR)/T_HR; dZ = -(f(Y)/T_in + 1/T_ex) Z + f(Y); f(Y) = (Y/(a HRb))^n/(1 + ...)
# W = integral of (HR - HRb) over the session. We follow Dalla Man 2009's published constants
# (the LoopInsighT1 and simglucose-exercise forks use the same values).
EX_ALPHA = 3e-4  # 1/(bpm min)
EX_BETA = 0.01  # 1/bpm
EX_GAMMA = 1e-7  # 1/(bpm min pmol/L)
EX_A = 0.1
EX_N = 4.0
EX_T_HR = 5.0  # min
EX_T_IN = 1.0  # min
EX_T_EX = 600.0  # min: the ~10 h post-exercise memory
_DECAY_Y = math.exp(-1.0 / EX_T_HR)
_DECAY_Z_REST = math.exp(-1.0 / EX_T_EX)
# Below this r/z the activation r = (Y / (a HRb))^n cannot change Z's update in double precision:
# then f = r exactly, rate rounds to 1/T_ex, target = f/rate < 2^-66 z/(1 - 2^-50) is under half an
# ulp of z and of z e^(-rate), so target + (z - target) e^(-rate) == z * _DECAY_Z_REST bit for bit.
# Y decays for ~2.5 days after a session before it underflows to 0; this skips the pow and exp
# of nearly every minute of that tail.
_R_NEGLIGIBLE_PER_Z = 2.0**-66 / EX_T_EX
# energy: net MET - 1 ~ 9 x (share of heart-rate reserve), %HRR ~ %VO2R (Swain & Leutholtz,
# Med Sci Sports Exerc 29:410, 1997) with ~120 bpm reserve and ~10 MET capacity: 1 MET per 13.3 bpm
BPM_PER_MET = 13.3


@nb.njit(cache=True, nogil=True, inline="always")
def exercise_kcal(bpm_minutes, weight_kg):
    """Net energy (kcal) of exercise worth `bpm_minutes` of heart-rate excess:
    (MET - 1) x kg x hours."""
    return bpm_minutes / BPM_PER_MET * weight_kg / 60.0


# --- acute counter-regulation -----------------------------------------------------------------
# Stress (hours): adrenaline and cortisol raise production and cut uptake; illness (days):
# calibrated so that insulin need rises 10-20% of the total daily dose (ISPAD 2022 sick-day
# guidance; a calibration target).
STRESS_KP1 = 0.25
STRESS_SP = 0.20
ILLNESS_KP1 = 0.20
ILLNESS_SP = 0.25

# --- dawn phenomenon (Perriello et al., Diabetologia 34:21, 1991) -----------------------------
DAWN_RISE = (180, 420)  # rises 03:00 -> 07:00
DAWN_FALL = (480, 600)  # holds to 08:00, gone by 10:00


@nb.njit(cache=True, nogil=True, inline="always")
def exercise_step(y, z, w, hr_excess, hr_rest):
    """Advance (Y, Z, W) by one minute with the heart-rate excess held constant; Y and Z use
    their exact solutions over the minute."""
    y_new = hr_excess + (y - hr_excess) * _DECAY_Y
    q = y / (EX_A * hr_rest)
    q2 = q * q
    if y > 0.0 and not (q2 * q2 < _R_NEGLIGIBLE_PER_Z * z and z > 1e-200):
        r = q**EX_N
        f = r / (1.0 + r)
        rate = f / EX_T_IN + 1.0 / EX_T_EX
        target = f / rate
        z = target + (z - target) * math.exp(-rate)
    else:
        z *= _DECAY_Z_REST
    return y_new, z, w + hr_excess


@nb.njit(cache=True, nogil=True)
def fill_time_of_day(tr, on_tod, on_dawn, tod, dawn):
    """Per-minute tables for one patient: tod[m] multiplies Vmx (a cosine of mean 1 peaking at
    the patient's own hour: Hinshaw et al., Diabetes 62:2223, 2013), dawn[m] multiplies kp1."""
    amp = tr[T.tod_amplitude] if on_tod else 0.0
    peak = tr[T.tod_peak_h]
    d_amp = tr[T.dawn_amplitude] if on_dawn else 0.0
    for m in range(tod.shape[0]):
        tod[m] = 1.0 + amp * math.cos(2.0 * math.pi * (m / 60.0 - peak) / 24.0)
        if m < DAWN_RISE[0] or m >= DAWN_FALL[1]:
            bump = 0.0
        elif m < DAWN_RISE[1]:
            bump = 0.5 - 0.5 * math.cos(
                math.pi * (m - DAWN_RISE[0]) / (DAWN_RISE[1] - DAWN_RISE[0])
            )
        elif m < DAWN_FALL[0]:
            bump = 1.0
        else:
            bump = 0.5 + 0.5 * math.cos(
                math.pi * (m - DAWN_FALL[0]) / (DAWN_FALL[1] - DAWN_FALL[0])
            )
        dawn[m] = 1.0 + d_amp * bump


# --- counter-regulation in hypoglycaemia ----------------------------------------------------
# With glucagon's response lost in T1D, adrenaline raises glucose production in a low
# (Cryer, NEJM 369:362, 2013). Its glycaemic threshold is ~65 mg/dL (Schwartz et al., JCI
# 79:777, 1987: 3.6-3.8 mmol/L) and lower after recent lows or with impaired awareness
# (Dagogo-Jack et al., JCI 91:819, 1993: ~2.8 mmol/L, 50 mg/dL). UVA/Padova S2008 has no
# counter-regulation (S2013 added glucagon's, Dalla Man et al., JDST 8:26, 2014); here the
# production drive rises linearly below the threshold, by HYPO_CR_GAIN at zero glucose.
# HYPO_CR_GAIN (x1.8 production drive at 40 mg/dL) is a modelling choice, checked against the
# DCCT severe-hypoglycaemia rates (t1dmc validate; docs/model.md §1).
HYPO_CR_THRESHOLD_MG_DL = 65.0
HYPO_CR_THRESHOLD_UNAWARE_MG_DL = 50.0
HYPO_CR_GAIN = 2.0


@nb.njit(cache=True, nogil=True, inline="always")
def hypo_counterregulation(bg, unaware):
    """Factor (>= 1) on the glucose production drive kp1 at blood glucose `bg` mg/dL."""
    threshold = HYPO_CR_THRESHOLD_UNAWARE_MG_DL if unaware else HYPO_CR_THRESHOLD_MG_DL
    if bg >= threshold:
        return 1.0
    return 1.0 + HYPO_CR_GAIN * (threshold - bg) / threshold
