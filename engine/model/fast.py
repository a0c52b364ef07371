"""Fast physiology: the UVA/Padova S2008 model (Dalla Man et al., IEEE TBME 54:1740, 2007) in
the form distributed with simglucose 0.2.11, as pure numba functions.

Units are simglucose's: carbohydrate ingestion `d_mg` in mg/min, subcutaneous insulin
`u_pmol` in pmol/kg/min, states as in `params.py`. Inputs are constant over each 1-minute step.

Where insulin resistance acts (docs/model.md §1), multipliers enter as arguments, 1 meaning none:
`s_p` scales Vmx (peripheral insulin-dependent uptake), `s_h` scales kp3 (hepatic insulin
action), `e_cr` scales kp1 (glucose production drive).
"""

import math

import numba as nb
import numpy as np

from .params import MG_PER_G, P, X

DT_MIN = 1.0  # RK4 step, minutes (docs/model.md)


@nb.njit(cache=True, nogil=True, inline="always")
def meal_shape(dbar, b, c):
    """Constants of the gastric-emptying curve for a meal of `dbar` mg, computed once per
    minute (the meal size is constant over a step): the slopes alpha = 5/(2 D (1 - b)) and
    beta = 5/(2 D c) and the break points b D and c D. dbar <= 0 means no meal (kgut = kmax)."""
    if dbar <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    return 5.0 / (2.0 * dbar * (1.0 - b)), 5.0 / (2.0 * dbar * c), b * dbar, c * dbar


@nb.njit(cache=True, nogil=True, inline="always")
def gastric_exponents(qsto, alpha, beta, b_dbar, c_dbar):
    """The exponents 2 alpha (q - bD) and 2 beta (q - cD) of gastric_emptying_rate, clipped
    at +-80, where tanh is +-1 to double precision."""
    return (
        min(max(2.0 * alpha * (qsto - b_dbar), -80.0), 80.0),
        min(max(2.0 * beta * (qsto - c_dbar), -80.0), 80.0),
    )


@nb.njit(cache=True, nogil=True, inline="always")
def gastric_rate_from_exponentials(ea, eb, kmax, kmin, alpha):
    """kgut from ea, eb = the exponentials of gastric_exponents (see gastric_emptying_rate)."""
    if alpha == 0.0:
        return kmax
    return kmin + (kmax - kmin) * (1.0 + (ea - eb) / ((ea + 1.0) * (eb + 1.0)))


@nb.njit(cache=True, nogil=True, inline="always")
def gastric_emptying_rate(qsto, kmax, kmin, alpha, beta, b_dbar, c_dbar):
    """kgut (1/min): fast when the stomach is full or nearly empty, slow in between
    (Dalla Man et al. 2006, Comput Methods Programs Biomed 83:89):
    kmin + (kmax - kmin)/2 [tanh(alpha (q - bD)) - tanh(beta (q - cD)) + 2].
    The difference of the two tanh's is taken through one exp each and one division,
    tanh(a) - tanh(b) = 2 (e^2a - e^2b) / ((e^2a + 1)(e^2b + 1)), several times cheaper than
    two libm tanh calls and equal to them within 1e-15."""
    if alpha == 0.0:
        return kmax
    xa, xb = gastric_exponents(qsto, alpha, beta, b_dbar, c_dbar)
    return gastric_rate_from_exponentials(math.exp(xa), math.exp(xb), kmax, kmin, alpha)


# The kidney's glucose handling, per 1.73 m^2 of body surface. GFR ~120 ml/min (DeFronzo et
# al., Diabetes Obes Metab 14(S1):5, 2012); normalised to surface, GFR reaches adult values by
# about 2 years (Hogg et al., Pediatrics 111:1416, 2003, K/DOQI). The tubular reabsorption
# maximum TmG measured in 23 people with T1D, 0.93-1.98 mmol/min (Johansen et al., Diabetologia
# 26:180, 1984): the range's middle, 1.46 mmol/min (262 mg/min). Until 0.14.0 (and with
# mechanisms.renal_splay off) the healthy adult's ~375 mg/min (DeFronzo 2012), which with a
# sharp threshold put the first glycosuria at 312 mg/dL where Johansen's patients began between
# 6.0 and 14.3 mmol/L (108-257 mg/dL). TmG is scaled by surface like GFR (no paediatric figure
# found).
GFR_DL_PER_MIN_173 = 1.20  # dL/min per 1.73 m^2
TMG_MG_PER_MIN_173 = 262.0  # mg/min per 1.73 m^2
TMG_HEALTHY_MG_PER_MIN_173 = 375.0  # mg/min per 1.73 m^2


@nb.njit(cache=True, nogil=True)
def kidney_rates(weight_kg, height_m, tmg_per_173):
    """(gfr dL/kg/min, tmg mg/kg/min) of a body: the adult constants (TmG `tmg_per_173` mg/min
    per 1.73 m^2) scaled by its surface area (Mosteller, NEJM 317:1098, 1987:
    sqrt(height cm x weight kg / 3600)), per kg."""
    surface = math.sqrt(100.0 * height_m * weight_kg / 3600.0) / 1.73
    return (
        GFR_DL_PER_MIN_173 * surface / weight_kg,
        tmg_per_173 * surface / weight_kg,
    )


# The titration curve's splay: nephrons' thresholds differ, so glycosuria rises smoothly
# around TmG / GFR. Spread logistically with scale w, the expected excess is
# w softplus((G - TmG/GFR) / w), which grows e-fold every w mg/dL below TmG / GFR. In Johansen
# et al.'s 23 patients (above) excretion rose from its first trace to 1.1 mmol per 20 min
# (~10 mg/min, about 50-fold) over 1.1-7.6 mmol/L, the middle 4.35 mmol/L (78 mg/dL):
# w = 78 / ln 50 = 20 mg/dL. With TmG above, the first trace (0.2 mg/min) comes at ~120 mg/dL
# and 10 mg/min at ~205 mg/dL in an adult; 7 mg/min at 11 mmol/L, inside the 25-163 umol/min
# (4.5-29 mg/min) measured there in T2D (Wolf et al., Horm Metab Res 41:600, 2009). Checked
# against a day's glycosuria in docs/model.md §1 (DapaDream's placebo day: 49 +- 23 g at 50%
# time in range; Biester et al., Diabetes Obes Metab 23:599, 2021).
RENAL_SPLAY_MG_DL = 20.0  # mg/dL

# softplus(x) = ln(1 + e^x), tabled on [-12, 0] every 1/16 and read by linear interpolation
# (error < 2e-4; 0 below -12, within 1e-5), and softplus(x) = x + softplus(-x) above 0: exp and
# log1p at every derivative evaluation cost the kernel a fifth of its throughput. float32 (7
# digits, far below the interpolation's error): the GPU kernel holds the table three times in
# its constant memory, which it had 7.6 kB of left (docs/performance.md, GPU)
_SOFTPLUS_LO = -12.0
_SOFTPLUS_PER_UNIT = 16.0
_SOFTPLUS_TABLE = np.log1p(np.exp(np.arange(193) / _SOFTPLUS_PER_UNIT + _SOFTPLUS_LO)).astype(
    np.float32
)


@nb.njit(cache=True, nogil=True)
def _softplus_at_most_zero(x):
    """softplus(x) for x <= 0 from _SOFTPLUS_TABLE. The table's only mention, in a function
    of its own: a GPU kernel holds a copy of a global array for each mention in its constant
    memory (docs/performance.md, GPU); it still holds one for each of the three kernel
    functions that reach this one (rk4_step, midpoint_step, lane_after_step)."""
    u = (x - _SOFTPLUS_LO) * _SOFTPLUS_PER_UNIT
    if not (u > 0.0):
        return 0.0
    k = min(int(u), _SOFTPLUS_TABLE.shape[0] - 2)
    return _SOFTPLUS_TABLE[k] + (u - k) * (_SOFTPLUS_TABLE[k + 1] - _SOFTPLUS_TABLE[k])


@nb.njit(cache=True, nogil=True, inline="always")
def softplus(x):
    """ln(1 + e^x) from the table; NaN stays NaN."""
    if x != x:
        return x
    if x > 0.0:
        return x + _softplus_at_most_zero(-x)
    return _softplus_at_most_zero(x)


@nb.njit(cache=True, nogil=True, inline="always")
def renal_excretion(gp, p):
    """Glucose lost in urine (mg/kg/min) at plasma glucose mass `gp`: the larger of
    UVA/Padova's linear form ke1 (Gp - ke2) and the kidney's, the filtered load less the
    reabsorption maximum, GFR G - TmG (DeFronzo et al., Diabetes Obes Metab 14(S1):5, 2012),
    with the threshold's splay of width p[P.renal_splay] mg/dL (RENAL_SPLAY_MG_DL; 0: a
    sharp threshold). UVA/Padova's form underestimates the kidney's 10-15x at 500-1,000 mg/dL
    and about 6x on days of 40-60% time in range (docs/model.md §1). gfr = tmg = 0 (the reference
    patients) leaves UVA/Padova's form alone."""
    uva = p[P.ke1] * (gp - p[P.ke2]) if gp > p[P.ke2] else 0.0
    excess = p[P.gfr] * gp / p[P.Vg] - p[P.tmg]
    scale = p[P.gfr] * p[P.renal_splay]
    kidney = scale * softplus(excess / scale) if scale > 0.0 else excess
    return kidney if kidney > uva else uva


# Below about 2.5 mmol/L the brain's glucose supply falls short of its use: brain glucose
# uptake was intact at 2.5 mmol/L only after 56 h of recurrent hypoglycaemia, and fell from
# 3.6 mmol/L before it (Boyle et al., PNAS 91:9352, 1994); in T1D it was intact at 3.0 mmol/L
# in the best-controlled third and 30% lower in the others (Boyle, Diabetologia 40(S2):S69,
# 1997); whole-brain glucose metabolism fell between 3.3 and 2.5 mmol/L (Diabetes 66:2964,
# 2017). UVA/Padova's insulin-independent uptake Fsnc (mostly the brain's) is constant at any
# glucose, so a deep low drains plasma glucose past zero. Below BRAIN_UPTAKE_FALLS_BELOW it
# falls in proportion to glucose, the form Hovorka et al. give their F01 below 4.5 mmol/L
# (Physiol Meas 25:905, 2004); 2.5 mmol/L, the lowest level measured intact, leaves every low
# above it as UVA/Padova's.
BRAIN_UPTAKE_FALLS_BELOW_MG_DL = 45.0


@nb.njit(cache=True, nogil=True, inline="always")
def insulin_independent_uptake(gp, p):
    """Fsnc (mg/kg/min) at plasma glucose mass `gp`: constant, or, where p[P.g_brain] > 0,
    in proportion to glucose below g_brain mg/dL. g_brain = 0 (the reference patients)
    keeps UVA/Padova's constant."""
    g_limit = p[P.g_brain] * p[P.Vg]
    if 0.0 < g_limit and gp < g_limit:
        return p[P.Fsnc] * max(gp, 0.0) / g_limit
    return p[P.Fsnc]


@nb.njit(cache=True, nogil=True, inline="always")
def derivatives(x, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw):
    """dx/dt of the 13 states. `x` is the state tuple, `p` one patient's parameter row,
    `meal` the tuple of `meal_shape`. Exercise (Dalla Man et al., JDST 3:56, 2009, the form of
    docs/model.md §1) enters as `vm0_f` = 1 + beta Y (insulin-independent uptake) and
    `gzw` = gamma Z W (Km0 lowered in proportion to insulin action); its Vmx gain
    1 + alpha Z W is folded into `s_p` by the caller. States travel as tuples, not arrays:
    values in registers cannot alias the parameter row, so the compiler keeps parameters
    loaded across stages."""
    kgut = gastric_emptying_rate(
        x[0] + x[1], p[P.kmax], p[P.kmin], meal[0], meal[1], meal[2], meal[3]
    )
    return derivatives_at_kgut(x, p, kgut, d_mg, u_pmol, s_p, s_h, e_cr, vm0_f, gzw)


@nb.njit(cache=True, nogil=True, inline="always")
def derivatives_at_kgut(x, p, kgut, d_mg, u_pmol, s_p, s_h, e_cr, vm0_f, gzw):
    """`derivatives` given the gastric emptying rate: the CPU lane kernel computes kgut's
    exponentials for all lanes in a separate loop (lanes.py)."""
    qsto1, qsto2, qgut, gp, gt, ip, x_act, i1, i_d, il, isc1, isc2, gs = x
    kmax = p[P.kmax]
    kabs = p[P.kabs]
    d_qsto1 = -kmax * qsto1 + d_mg
    d_qsto2 = kmax * qsto1 - kgut * qsto2
    d_qgut = kgut * qsto2 - kabs * qgut
    ra = p[P.f] * kabs * qgut / p[P.BW]

    egp = p[P.kp1] * e_cr - p[P.kp2] * gp - p[P.kp3] * s_h * i_d
    if egp < 0.0:
        egp = 0.0
    k1 = p[P.k1]
    k2 = p[P.k2]
    fsnc = insulin_independent_uptake(gp, p)
    d_gp = egp + ra - fsnc - renal_excretion(gp, p) - k1 * gp + k2 * gt
    km = p[P.Km0] * (1.0 - gzw * x_act)
    if km < 1e-3 * p[P.Km0]:
        km = 1e-3 * p[P.Km0]
    uid = (p[P.Vm0] * vm0_f + p[P.Vmx] * s_p * x_act) * gt / (km + gt)
    d_gt = -uid + k1 * gp - k2 * gt

    m1 = p[P.m1]
    m2 = p[P.m2]
    ka1 = p[P.ka1]
    ka2 = p[P.ka2]
    d_ip = -(m2 + p[P.m4]) * ip + m1 * il + ka1 * isc1 + ka2 * isc2
    plasma_insulin = ip / p[P.Vi]  # pmol/L
    p2u = p[P.p2u]
    d_x = -p2u * x_act + p2u * (plasma_insulin - p[P.Ib])
    ki = p[P.ki]
    d_i1 = -ki * (i1 - plasma_insulin)
    d_id = -ki * (i_d - i1)
    d_il = -(m1 + p[P.m30]) * il + m2 * ip
    kd = p[P.kd]
    d_isc1 = u_pmol - (ka1 + kd) * isc1
    d_isc2 = kd * isc1 - ka2 * isc2
    ksc = p[P.ksc]
    d_gs = -ksc * gs + ksc * gp
    # the reference freezes these masses while they are negative
    return (
        d_qsto1,
        d_qsto2,
        d_qgut,
        d_gp if gp >= 0.0 else 0.0,
        d_gt if gt >= 0.0 else 0.0,
        d_ip if ip >= 0.0 else 0.0,
        d_x,
        d_i1,
        d_id,
        d_il if il >= 0.0 else 0.0,
        d_isc1 if isc1 >= 0.0 else 0.0,
        d_isc2 if isc2 >= 0.0 else 0.0,
        d_gs if gs >= 0.0 else 0.0,
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _stage(x, k, h):
    """x + h k for 13-tuples."""
    return (
        x[0] + h * k[0],
        x[1] + h * k[1],
        x[2] + h * k[2],
        x[3] + h * k[3],
        x[4] + h * k[4],
        x[5] + h * k[5],
        x[6] + h * k[6],
        x[7] + h * k[7],
        x[8] + h * k[8],
        x[9] + h * k[9],
        x[10] + h * k[10],
        x[11] + h * k[11],
        x[12] + h * k[12],
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _nonneg(v):
    return v if v > 0.0 else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _masses_nonneg(x):
    """The masses projected back to >= 0: the reference stops a mass from falling once it is
    negative, which its adaptive solver keeps at ~0, but a fixed 1-min step can overshoot under
    extreme insulin. Never active on physiological trajectories. X, I1 and Id are signals and
    may be negative."""
    return (
        _nonneg(x[0]),
        _nonneg(x[1]),
        _nonneg(x[2]),
        _nonneg(x[3]),
        _nonneg(x[4]),
        _nonneg(x[5]),
        x[6],
        x[7],
        x[8],
        _nonneg(x[9]),
        _nonneg(x[10]),
        _nonneg(x[11]),
        _nonneg(x[12]),
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _rk4_combine(x, a, b, c, d, h):
    """x + h/6 (a + 2b + 2c + d), masses projected to >= 0."""
    w = h / 6.0
    return _masses_nonneg(
        (
            x[0] + w * (a[0] + 2.0 * b[0] + 2.0 * c[0] + d[0]),
            x[1] + w * (a[1] + 2.0 * b[1] + 2.0 * c[1] + d[1]),
            x[2] + w * (a[2] + 2.0 * b[2] + 2.0 * c[2] + d[2]),
            x[3] + w * (a[3] + 2.0 * b[3] + 2.0 * c[3] + d[3]),
            x[4] + w * (a[4] + 2.0 * b[4] + 2.0 * c[4] + d[4]),
            x[5] + w * (a[5] + 2.0 * b[5] + 2.0 * c[5] + d[5]),
            x[6] + w * (a[6] + 2.0 * b[6] + 2.0 * c[6] + d[6]),
            x[7] + w * (a[7] + 2.0 * b[7] + 2.0 * c[7] + d[7]),
            x[8] + w * (a[8] + 2.0 * b[8] + 2.0 * c[8] + d[8]),
            x[9] + w * (a[9] + 2.0 * b[9] + 2.0 * c[9] + d[9]),
            x[10] + w * (a[10] + 2.0 * b[10] + 2.0 * c[10] + d[10]),
            x[11] + w * (a[11] + 2.0 * b[11] + 2.0 * c[11] + d[11]),
            x[12] + w * (a[12] + 2.0 * b[12] + 2.0 * c[12] + d[12]),
        )
    )


@nb.njit(cache=True, nogil=True, inline="always")
def rk4_step(x, p, d_mg, u_pmol, dbar, s_p, s_h, e_cr, vm0_f, gzw):
    """The state after one classical RK4 step of DT_MIN with inputs held constant."""
    h = DT_MIN
    meal = meal_shape(dbar, p[P.b], p[P.d])
    k1 = derivatives(x, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    k2 = derivatives(_stage(x, k1, 0.5 * h), p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    k3 = derivatives(_stage(x, k2, 0.5 * h), p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    k4 = derivatives(_stage(x, k3, h), p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    return _rk4_combine(x, k1, k2, k3, k4, h)


@nb.njit(cache=True, nogil=True, inline="always")
def midpoint_step(x, p, d_mg, u_pmol, dbar, s_p, s_h, e_cr, vm0_f, gzw):
    """The state after one explicit midpoint (second-order Runge-Kutta) step of DT_MIN: half
    rk4_step's derivative evaluations. Optional (run.integrator = "midpoint"); its error against
    rk4_step is measured by benchmarks/integrator_error.py and bounded in
    tests/unit/population/test_replay.py."""
    h = DT_MIN
    meal = meal_shape(dbar, p[P.b], p[P.d])
    k1 = derivatives(x, p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    k2 = derivatives(_stage(x, k1, 0.5 * h), p, d_mg, u_pmol, meal, s_p, s_h, e_cr, vm0_f, gzw)
    return _masses_nonneg(_stage(x, k2, h))


@nb.njit(cache=True, nogil=True, inline="always")
def state_tuple(a):
    """The 13-tuple of a state array (kernels carry states as tuples)."""
    return (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12])


@nb.njit(cache=True, nogil=True, inline="always")
def update_meal_size(carbs_g, prev_carbs_g, x, dbar_start, eaten_g, eating):
    """The reference's meal bookkeeping for the gastric-emptying meal size (mg).

    When eating starts after a pause, the meal size restarts from the glucose then in the
    stomach; every gram eaten while the meal lasts is added. Returns the new
    (dbar_start, eaten_g, eating) and the meal size in mg to use for this minute."""
    if carbs_g > 0.0 and prev_carbs_g <= 0.0:
        dbar_start = x[X.Qsto1] + x[X.Qsto2]
        eaten_g = 0.0
        eating = True
    if eating:
        eaten_g += carbs_g
    if carbs_g <= 0.0 and prev_carbs_g > 0.0:
        eating = False
    return dbar_start, eaten_g, eating, dbar_start + eaten_g * MG_PER_G
