"""Fast physiology: the UVA/Padova S2008 model (Dalla Man et al., IEEE TBME 54:1740, 2007) in
the form distributed with simglucose 0.2.11, as pure numba functions.

Units are simglucose's: carbohydrate ingestion `d_mg` in mg/min, subcutaneous insulin
`u_pmol` in pmol/kg/min, states as in `params.py`. Inputs are constant over each 1-minute step.

Where insulin resistance acts (MODEL.md §1), multipliers enter as arguments, 1 meaning none:
`s_p` scales Vmx (peripheral insulin-dependent uptake), `s_h` scales kp3 (hepatic insulin
action), `e_cr` scales kp1 (glucose production drive).
"""
import math


import numba as nb
import numpy as np

from .params import (
    MG_PER_G, N_STATES, P_B, P_D, P_F, P_FSNC, P_IB, P_K1, P_K2, P_KA1, P_KA2, P_KABS, P_KD, P_KE1,
    P_KE2, P_KI, P_KM0, P_KMAX, P_KMIN, P_KP1, P_KP2, P_KP3, P_KSC, P_M1, P_M2, P_M30, P_M4,
    P_P2U, P_BW, P_VI, P_VM0, P_VMX, X_GP, X_GS, X_GT, X_I1, X_ID, X_IL, X_IP, X_ISC1,
    X_ISC2, X_QGUT, X_QSTO1, X_QSTO2, X_X,
)

DT_MIN = 1.0  # RK4 step, minutes (MODEL.md §0)
# masses that cannot be negative: the stomach and gut, and the states the reference guards
NON_NEGATIVE_STATES = (X_QSTO1, X_QSTO2, X_QGUT, X_GP, X_GT, X_IP, X_IL, X_ISC1, X_ISC2, X_GS)


@nb.njit(cache=True, nogil=True, inline="always")
def meal_shape(dbar, b, c):
    """Constants of the gastric-emptying curve for a meal of `dbar` mg, computed once per
    minute (the meal size is constant over a step): the slopes alpha = 5/(2 D (1 - b)) and
    beta = 5/(2 D c) and the break points b D and c D. dbar <= 0 means no meal (kgut = kmax)."""
    if dbar <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    return 5.0 / (2.0 * dbar * (1.0 - b)), 5.0 / (2.0 * dbar * c), b * dbar, c * dbar


@nb.njit(cache=True, nogil=True, inline="always")
def gastric_emptying_rate(qsto, kmax, kmin, alpha, beta, b_dbar, c_dbar):
    """kgut (1/min): fast when the stomach is full or nearly empty, slow in between
    (Dalla Man et al. 2006, Comput Methods Programs Biomed 83:89):
    kmin + (kmax - kmin)/2 [tanh(alpha (q - bD)) - tanh(beta (q - cD)) + 2].
    The difference of the two tanh's is taken through one exp each and one division,
    tanh(a) - tanh(b) = 2 (e^2a - e^2b) / ((e^2a + 1)(e^2b + 1)), several times cheaper than
    two libm tanh calls and equal to them within 1e-15. Arguments are clipped at |2a| <= 80,
    where tanh is +-1 to double precision."""
    if alpha == 0.0:
        return kmax
    ea = math.exp(min(max(2.0 * alpha * (qsto - b_dbar), -80.0), 80.0))
    eb = math.exp(min(max(2.0 * beta * (qsto - c_dbar), -80.0), 80.0))
    return kmin + (kmax - kmin) * (1.0 + (ea - eb) / ((ea + 1.0) * (eb + 1.0)))


@nb.njit(cache=True, nogil=True, inline="always")
def renal_excretion(gp, p):
    """Glucose lost in urine (mg/kg/min) at plasma glucose mass `gp`."""
    return p[P_KE1] * (gp - p[P_KE2]) if gp > p[P_KE2] else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def derivatives(x, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, dx):
    """dx/dt of the 13 states into `dx`. `p` is one patient's parameter row, `meal` the
    tuple of `meal_shape`."""
    qsto1 = x[X_QSTO1]
    qsto2 = x[X_QSTO2]
    qgut = x[X_QGUT]
    gp = x[X_GP]
    gt = x[X_GT]
    ip = x[X_IP]
    kmax = p[P_KMAX]
    kabs = p[P_KABS]

    kgut = gastric_emptying_rate(qsto1 + qsto2, kmax, p[P_KMIN], meal[0], meal[1], meal[2],
                                 meal[3])
    dx[X_QSTO1] = -kmax * qsto1 + d_mg
    dx[X_QSTO2] = kmax * qsto1 - kgut * qsto2
    dx[X_QGUT] = kgut * qsto2 - kabs * qgut
    ra = p[P_F] * kabs * qgut / p[P_BW]

    egp = p[P_KP1] * e_cr - p[P_KP2] * gp - p[P_KP3] * s_h * x[X_ID]
    if egp < 0.0:
        egp = 0.0
    renal = renal_excretion(gp, p)
    k1 = p[P_K1]
    k2 = p[P_K2]
    dgp = egp + ra - p[P_FSNC] - renal - k1 * gp + k2 * gt
    dx[X_GP] = dgp if gp >= 0.0 else 0.0

    uid = (p[P_VM0] + p[P_VMX] * s_p * x[X_X]) * gt / (p[P_KM0] + gt)
    dgt = -uid + k1 * gp - k2 * gt
    dx[X_GT] = dgt if gt >= 0.0 else 0.0

    m1 = p[P_M1]
    m2 = p[P_M2]
    ka1 = p[P_KA1]
    ka2 = p[P_KA2]
    isc1 = x[X_ISC1]
    isc2 = x[X_ISC2]
    il = x[X_IL]
    dip = -(m2 + p[P_M4]) * ip + m1 * il + ka1 * isc1 + ka2 * isc2
    dx[X_IP] = dip if ip >= 0.0 else 0.0
    plasma_insulin = ip / p[P_VI]  # pmol/L

    p2u = p[P_P2U]
    dx[X_X] = -p2u * x[X_X] + p2u * (plasma_insulin - p[P_IB])
    ki = p[P_KI]
    dx[X_I1] = -ki * (x[X_I1] - plasma_insulin)
    dx[X_ID] = -ki * (x[X_ID] - x[X_I1])

    dil = -(m1 + p[P_M30]) * il + m2 * ip
    dx[X_IL] = dil if il >= 0.0 else 0.0

    kd = p[P_KD]
    disc1 = u_pmol - (ka1 + kd) * isc1
    dx[X_ISC1] = disc1 if isc1 >= 0.0 else 0.0
    disc2 = kd * isc1 - ka2 * isc2
    dx[X_ISC2] = disc2 if isc2 >= 0.0 else 0.0

    ksc = p[P_KSC]
    dgs = -ksc * x[X_GS] + ksc * gp
    dx[X_GS] = dgs if x[X_GS] >= 0.0 else 0.0


def new_workspace():
    """Scratch space for `rk4_step`: 5 rows of N_STATES (k1..k4 and the stage state)."""
    return np.empty((5, N_STATES))


@nb.njit(cache=True, nogil=True, inline="always")
def rk4_step(x, p, d_mg, u_pmol, dbar, s_p, s_h, e_cr, work):
    """Advance `x` in place by one classical RK4 step of DT_MIN with inputs held constant."""
    k1 = work[0]
    k2 = work[1]
    k3 = work[2]
    k4 = work[3]
    xs = work[4]
    h = DT_MIN
    meal = meal_shape(dbar, p[P_B], p[P_D])
    derivatives(x, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, k1)
    for j in range(N_STATES):
        xs[j] = x[j] + 0.5 * h * k1[j]
    derivatives(xs, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, k2)
    for j in range(N_STATES):
        xs[j] = x[j] + 0.5 * h * k2[j]
    derivatives(xs, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, k3)
    for j in range(N_STATES):
        xs[j] = x[j] + h * k3[j]
    derivatives(xs, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, k4)
    for j in range(N_STATES):
        x[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
    # The reference stops a mass from falling once it is negative, which an adaptive solver
    # keeps at ~0; a fixed 1-min step can overshoot below zero under extreme insulin, so the
    # masses are projected back to zero (never active on physiological trajectories).
    for j in NON_NEGATIVE_STATES:
        if x[j] < 0.0:
            x[j] = 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def update_meal_size(carbs_g, prev_carbs_g, x, dbar_start, eaten_g, eating):
    """The reference's meal bookkeeping for the gastric-emptying meal size (mg).

    When eating starts after a pause, the meal size restarts from the glucose then in the
    stomach; every gram eaten while the meal lasts is added. Returns the new
    (dbar_start, eaten_g, eating) and the meal size in mg to use for this minute."""
    if carbs_g > 0.0 and prev_carbs_g <= 0.0:
        dbar_start = x[X_QSTO1] + x[X_QSTO2]
        eaten_g = 0.0
        eating = True
    if eating:
        eaten_g += carbs_g
    if carbs_g <= 0.0 and prev_carbs_g > 0.0:
        eating = False
    return dbar_start, eaten_g, eating, dbar_start + eaten_g * MG_PER_G
