"""Automated insulin delivery controllers (docs/model.md §3b), numba: each is called every CGM
sample for every patient on a controller, with the controller signature below, and returns the
basal rate to run until the next sample and a bolus to give now. The engine's pump
(engine/life/aid.py) applies the safety layers around any controller, built-in or plug-in.

The controller signature (the one a plug-in, `therapy.controller = "package.module:function"`,
implements; docs/controllers.md):

    controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)
        -> (basal_u_per_h, bolus_u)

- cgm: float64[N_CGM_HISTORY], the last readings N_CGM_HISTORY x the sample interval apart,
  oldest first, the newest last; NaN where there was no reading (sensor warm-up, signal loss).
  The pump calls the controller only when the newest reading is valid.
- iob_u: insulin on board (U) of everything the pump delivered (basal and boluses), and
  activity_u_per_h: the rate at which it is acting (U/h), from a two-compartment model with
  the peak at settings[CS.insulin_peak_min] (at a steady basal r U/h both equal r: IOB = 2 r
  tp / 60, activity = r).
- carbs_g: carbohydrate announced (bolused) since the last call.
- minute: minute of the day (0-1439).
- settings: float64[N_CONTROLLER_SETTINGS], the patient's pump settings now (CS below): the
  programmed basal, correction factor and carbohydrate ratio after the clinic's titration, the
  target (raised while exercise mode is on), the recent daily dose, the pump's limits, then
  the controller's own tuning CS.p0 .. CS.p7 from `therapy.controller_settings`.
- state: float64[N_CONTROLLER_STATE], the controller's own memory, zero at the start except
  state[STATE_SENSITIVITY] = NaN. A controller that estimates the patient's insulin resistance
  relative to the programmed settings (1 = as programmed, 1.2 = 20% more insulin needed)
  writes it there; the results keep its daily mean as `aid_sensitivity_ratio`.

Built-in controllers (written from their published descriptions; no code copied):
- KIND_PID: the Medtronic 670G's structure, PID with insulin feedback (Steil et al., Diabetes
  55:3344, 2006; Steil et al., J Clin Endocrinol Metab 96:1402, 2011), hybrid closed loop.
- KIND_OREF: an oref0-style algorithm from OpenAPS's published documentation (eventual glucose
  from insulin and carbohydrate activity, temporary basal rates, micro-boluses, autosens).
"""

import math

import numba as nb
from numba import types
from numba.extending import overload

from ..model.layout import index_family

N_CGM_HISTORY = 36  # 3 hours of 5-minute readings
N_CONTROLLER_STATE = 16
N_TUNING = 8
STATE_SENSITIVITY = 0

KIND_NONE = 0  # a pump run by its programmed basal (sensor-augmented pump)
KIND_PID = 1
KIND_OREF = 2
KIND_PLUGIN = 3
BUILTIN_KINDS = {"none": KIND_NONE, "pid": KIND_PID, "oref": KIND_OREF}

CS = index_family(
    "ControllerSetting",
    (
        "kind",
        "basal_u_per_h",
        "isf",
        "cr",
        "target",
        "tdd_u",
        "max_basal_u_per_h",
        "max_iob_u",
        "insulin_peak_min",
        "interval_min",
        "weight_kg",
        *(f"p{k}" for k in range(N_TUNING)),
    ),
)
N_CONTROLLER_SETTINGS = len(CS)

# Each built-in's tuning, (name, default, low, high, description) in the order of CS.p0.. .
PID_TUNING = (
    # K_P is set from the daily dose (Panteleon et al., Diabetes 55:1995, 2006: gain relative
    # to TDD), here by the 1500 rule: an error held for the derivative time T_D delivers the
    # correction the correction factor 1500/TDD asks for, K_P = 60 TDD / (1500 T_D) U/h per
    # mg/dL. T_I and T_D by day and night and gamma are the values usually quoted for
    # Medtronic's external PID (Steil 2006, 2011); the full texts were not at hand to check.
    ("gain", 1.0, 0.1, 5.0, "multiplier on the gain K_P = 60 TDD / (1500 T_D,day)"),
    ("ti_day_min", 450.0, 30.0, 2000.0, "integral time by day, minutes"),
    ("ti_night_min", 150.0, 30.0, 2000.0, "integral time 22:00-06:00, minutes"),
    ("td_day_min", 90.0, 1.0, 300.0, "derivative time by day, minutes"),
    ("td_night_min", 60.0, 0.0, 300.0, "derivative time at night, minutes"),
    ("gamma", 0.5, 0.0, 1.0, "insulin feedback gain (Steil 2011)"),
)
OREF_TUNING = (
    (
        "smb",
        0.0,
        0.0,
        1.0,
        "micro-boluses on (1) or temporary basal rates only (0, OpenAPS's default)",
    ),
    ("autosens_min", 0.7, 0.3, 1.0, "lowest autosens ratio (OpenAPS default 0.7)"),
    ("autosens_max", 1.2, 1.0, 3.0, "highest autosens ratio (OpenAPS default 1.2)"),
    ("smb_basal_minutes", 30.0, 0.0, 120.0, "largest micro-bolus, minutes of basal (OpenAPS 30)"),
    ("min_carb_impact", 8.0, 0.0, 30.0, "least carbohydrate impact, mg/dL per 5 min (OpenAPS 8)"),
    ("autosens_hours", 24.0, 4.0, 96.0, "memory of autosens's deviation average, hours"),
)
TUNING = {"none": (), "pid": PID_TUNING, "oref": OREF_TUNING}


def tuning_values(rows, settings: dict, owner: str, field: str = "controller_settings") -> list:
    """A controller's tuning in the order of its `rows` (name, default, low, high,
    description), defaults filled in; ValueError naming `field`.<setting> when a setting is
    not one of the rows or lies outside its range. Used for the built-ins (config) and the
    plug-ins (engine/batch/plugins.py) alike."""
    table = {row[0]: row for row in rows}
    for key, value in settings.items():
        if key not in table:
            allowed = ", ".join(table) or "none"
            raise ValueError(f"{field}.{key}: not a setting of {owner} (its settings: {allowed})")
        _, _, low, high, _ = table[key]
        if not low <= value <= high:
            raise ValueError(f"{field}.{key} = {value}: outside {low}..{high} for {owner}")
    return [float(settings.get(row[0], row[1])) for row in rows]


# the PID's nights for its integral and derivative times (Steil 2006: 22:00-06:00 with a
# shorter integral time, so that overnight errors are corrected before morning)
NIGHT_FROM_MIN = 22 * 60
NIGHT_TO_MIN = 6 * 60
RULE_1500 = 1500.0
PUMP_INCREMENT_U = 0.05
# oref0 predicts 4 hours in 5-minute steps; its minimum predicted glucose counts from 90 minutes
# (insulin peak + 30 min), its guard (the low-glucose suspend) over the whole curve
PREDICTION_STEPS = 48
MIN_PREDICTION_STEP = 18
DEVIATION_FADE_PER_STEP = 1.0 / 12.0  # the deviation fades out over an hour of 5-minute steps


@nb.njit(cache=True, nogil=True, inline="always")
def basal_steady_state_u(basal_u_per_h, peak_min):
    """Insulin in each compartment of the pump's insulin model at a steady basal (U): the
    programme's own insulin on board is twice this."""
    return basal_u_per_h / 60.0 * peak_min


@nb.njit(cache=True, nogil=True, inline="always")
def cgm_slope_per_sample(cgm):
    """Least-squares slope of the last three readings, mg/dL per sample interval, or 0 when
    one is missing."""
    n = cgm.shape[0]
    a, b, c = cgm[n - 3], cgm[n - 2], cgm[n - 1]
    if not (a == a and b == b and c == c):
        return 0.0
    return 0.5 * (c - a)


@nb.njit(cache=True, nogil=True)
def pid_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    """Steil's PID with insulin feedback. PID(n) = P + I + D with P = K_P e, I accumulating
    K_P e dt / T_I from the programmed basal, D = K_P T_D dG/dt; delivery
    u = (1 + gamma) PID - gamma Ip_hat, where Ip_hat is the plasma-insulin estimate as a
    delivery rate (here the activity of the pump's insulin, U/h): at steady state u = PID.
    Meals are bolused by the patient (hybrid); the bolus raises Ip_hat and so holds back
    the basal after it."""
    dt = settings[CS.interval_min]
    g = cgm[cgm.shape[0] - 1]
    e = g - settings[CS.target]
    kp = settings[CS.p0] * 60.0 * settings[CS.tdd_u] / (RULE_1500 * settings[CS.p3])
    night = minute >= NIGHT_FROM_MIN or minute < NIGHT_TO_MIN
    ti = settings[CS.p2] if night else settings[CS.p1]
    td = settings[CS.p4] if night else settings[CS.p3]
    if state[1] == 0.0:  # first call: the integral starts at the programmed basal
        state[1] = 1.0
        state[2] = settings[CS.basal_u_per_h]
    integral = state[2] + kp * e * dt / ti
    integral = min(max(integral, 0.0), settings[CS.max_basal_u_per_h])
    state[2] = integral
    slope = cgm_slope_per_sample(cgm) / dt
    pid = kp * e + integral + kp * td * slope
    gamma = settings[CS.p5]
    rate = (1.0 + gamma) * pid - gamma * activity_u_per_h
    return max(rate, 0.0), 0.0


@nb.njit(cache=True, nogil=True)
def oref_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    """An oref0-style algorithm (OpenAPS documentation, "Understanding the determine-basal
    logic"): predicted glucose curves from the insulin on board and the carbohydrate on board,
    a 30-minute temporary basal of basal + 2 x insulinReq, micro-boluses of half the insulin
    required (at most smb_basal_minutes of basal) and autosens, a sensitivity ratio from the
    average deviation of glucose from what insulin alone explains, outside meals.
    State: [ratio, started, carbs on board g, mean deviation mg/dL per 5 min]."""
    n = cgm.shape[0]
    interval = settings[CS.interval_min]
    steps_per_5 = 5.0 / interval
    if state[1] == 0.0:
        state[1] = 1.0
        state[STATE_SENSITIVITY] = 1.0
        state[3] = 0.0
    ratio = state[STATE_SENSITIVITY]
    isf = settings[CS.isf] / ratio
    basal_h = settings[CS.basal_u_per_h] * ratio
    target = settings[CS.target]
    tp = settings[CS.insulin_peak_min]
    bg = cgm[n - 1]
    # the change over 5 minutes: the last reading's, and the 15-minute average (OpenAPS uses
    # the smaller of delta and its short average)
    delta = bg - cgm[n - 2] if cgm[n - 2] == cgm[n - 2] else 0.0
    short = (bg - cgm[n - 4]) / 3.0 if cgm[n - 4] == cgm[n - 4] else delta
    delta *= steps_per_5
    short *= steps_per_5
    min_delta = min(delta, short)
    # insulin acting now above the programmed basal, as glucose per 5 minutes (BGI)
    net_activity_h = activity_u_per_h - settings[CS.basal_u_per_h]
    bgi = -net_activity_h / 12.0 * isf
    deviation = min_delta - bgi
    # carbohydrate on board, absorbed at the observed carbohydrate impact (at least min_ci)
    cob = state[2] + carbs_g
    ci = max(deviation, settings[CS.p4])
    absorbed = ci * settings[CS.cr] / isf / steps_per_5
    cob = max(cob - absorbed, 0.0) if cob > 0.0 else 0.0
    state[2] = cob
    # autosens: the average deviation outside meals, in an exponential memory of autosens_hours
    if cob == 0.0 and carbs_g == 0.0:
        weight = interval / (60.0 * settings[CS.p5])
        state[3] += weight * (deviation - state[3])
        basal_off = state[3] * 12.0 / settings[CS.isf]
        programmed = max(settings[CS.basal_u_per_h], 0.01)
        state[STATE_SENSITIVITY] = min(
            max(1.0 + basal_off / programmed, settings[CS.p1]), settings[CS.p2]
        )
    # net insulin on board: what remains above the programmed basal's own steady state
    steady = basal_steady_state_u(settings[CS.basal_u_per_h], tp)
    net_iob = iob_u - 2.0 * steady
    # predicted glucose 4 hours ahead in 5-minute steps, the programmed basal assumed to go on:
    # the net insulin (above the basal's steady state, r tp in each compartment) decays in its
    # two compartments; the deviation fades over an hour; carbohydrate at a falling impact
    c2 = activity_u_per_h / 60.0 * tp - steady
    c1 = iob_u - activity_u_per_h / 60.0 * tp - steady
    d = math.exp(-5.0 / tp)
    ci_total = cob * isf / settings[CS.cr]
    ci_steps = 2.0 * ci_total / ci if ci > 0.0 and cob > 0.0 else 0.0
    # the loop runs 48 times a sample for every patient on oref: no division inside it (the
    # reciprocals are taken once; a division's latency sat in each step's dependency chain)
    per_step = 5.0 / tp
    bgi_per_c2 = -per_step * isf
    carb_start, carb_fall = (ci, ci / ci_steps) if ci_steps > 0.0 else (0.0, 0.0)
    pred_iob = bg
    pred_cob = bg
    min_iob = math.inf  # the minima from 90 minutes on, where a correction could still act
    min_cob = math.inf
    guard = bg  # the lowest of the whole curve, for the low-glucose suspend
    for k in range(1, PREDICTION_STEPS + 1):
        c2 = (c2 + c1 * per_step) * d
        c1 = c1 * d
        pred_bgi = c2 * bgi_per_c2
        pred_iob += pred_bgi + deviation * max(0.0, 1.0 - k * DEVIATION_FADE_PER_STEP)
        pred_cob += pred_bgi + max(0.0, carb_start - k * carb_fall)
        guard = min(guard, pred_cob if cob > 0.0 else pred_iob)
        if k >= MIN_PREDICTION_STEP:
            min_iob = min(min_iob, pred_iob)
            min_cob = min(min_cob, pred_cob)
    eventual = bg - net_iob * isf + 6.0 * deviation
    if cob > 0.0:
        min_pred = max(min_iob, min_cob)
        eventual = max(eventual, pred_cob)
    else:
        min_pred = min_iob
    threshold = target - 0.5 * (target - 40.0)
    if bg < threshold or guard < threshold:
        return 0.0, 0.0
    if eventual < target:
        insulin_req = 2.0 * (eventual - target) / isf
        return max(basal_h + 2.0 * insulin_req, 0.0), 0.0
    insulin_req = (min(eventual, min_pred) - target) / isf
    if insulin_req <= 0.0:
        return basal_h, 0.0
    insulin_req = min(insulin_req, max(settings[CS.max_iob_u] - net_iob, 0.0))
    if settings[CS.p0] != 0.0 and (cob > 0.0 or bg > target + 40.0):
        smb = min(0.5 * insulin_req, settings[CS.p3] / 60.0 * basal_h)
        smb = math.floor(smb / PUMP_INCREMENT_U + 1e-9) * PUMP_INCREMENT_U
        return basal_h, smb
    return basal_h + 2.0 * insulin_req, 0.0


@nb.njit(cache=True, nogil=True)
def builtin_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    """The built-in controller named by settings[CS.kind]; KIND_NONE runs the programme."""
    kind = settings[CS.kind]
    if kind == KIND_PID:
        return pid_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)
    if kind == KIND_OREF:
        return oref_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)
    return settings[CS.basal_u_per_h], 0.0


def call_controller(controller, cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    """The run's controller (RunSettings.controller): an integer for the built-ins, or a
    plug-in's jitted function; resolved when the kernel compiles (overload below)."""
    if isinstance(controller, int):
        return builtin_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)
    return controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)


@overload(call_controller, jit_options={"cache": True, "nogil": True})
def _call_controller(controller, cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    if isinstance(controller, types.Integer):

        def builtin(controller, cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
            return builtin_controller(
                cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state
            )

        return builtin

    def plugin(controller, cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
        return controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state)

    return plugin
