"""The insulin pump around a controller (docs/model.md §3b), numba: the sensor's gaps, the
controller's call at each CGM sample, the safety layers real systems have, and the devices'
events (sensor warm-ups and signal loss, infusion-set failures, exercise mode), drawn from the
counter-based generator. Called by engine/sim/patient.py for patients whose therapy runs a
pump programme (`sap`) or a controller (`aid_*`, a plug-in); the others never enter here.

Safety layers, applied to any controller's answer, built-in or plug-in (as a pump's firmware
does, whatever algorithm proposes a dose):
- no valid reading (warm-up, signal loss) or a non-finite answer: the programmed basal, no
  automatic bolus (the 670G's and Control-IQ's fallback to the pump's programme);
- the basal rate within 0 .. max_basal_factor x the programmed rate (OpenAPS's maximum
  temporary basal, the lowest of 3 x the profile's highest rate and 4 x the current one: 3 x
  with one programmed rate a day; a pump's maximum basal);
- automatic boluses only while the insulin on board above the programme's stays below
  max_iob (OpenAPS max_iob), and within the maximum bolus;
- suspend before low: no insulin while the reading, or its 30-minute linear projection, is
  below the suspend threshold (predictive low-glucose suspend: Forlenza et al., Diabetes Care
  41:2155, 2018, 80 mg/dL predicted within 30 minutes).
"""

import math

import numba as nb

from ..model import rng
from ..model.layout import index_family
from ..model.params import MINUTES_PER_DAY
from .controllers import (
    CS,
    KIND_NONE,
    N_CGM_HISTORY,
    N_CONTROLLER_STATE,
    N_TUNING,
    STATE_SENSITIVITY,
    basal_steady_state_u,
    call_controller,
    cgm_slope_per_sample,
)

# the run's pump settings (engine.batch.translate.aid_settings)
AID = index_family(
    "Pump",
    (
        "on",  # 1: the therapy runs a pump programme or a controller (sap, aid_*, plug-in)
        "aid_users_only",  # 1 (delivery = mix): only for patients with the uses_aid trait
        "kind",  # controllers.KIND_*
        "target",
        "max_basal_factor",
        "max_iob_per_kg",
        "suspend_before_low",
        "suspend_threshold",
        "insulin_peak_min",
        "insulin_decay_per_min",  # exp(-1 / insulin_peak_min), taken once for the whole run
        "exercise_mode_share",
        "exercise_target",
        "sensor_session_days",
        "sensor_warmup_min",
        "sensor_gaps_per_day",
        "sensor_gap_min",
        "set_change_days",
        "set_failure_share",
        "set_failure_loss",
        *(f"p{k}" for k in range(N_TUNING)),
    ),
)
N_AID = len(AID)
STREAM_DEVICE = rng.STREAM_DEVICE
# draws of the devices' stream, per day
DRAW_WARMUP, DRAW_GAP, DRAW_GAP_AT, DRAW_GAP_LEN, DRAW_FAIL, DRAW_FAIL_AT, DRAW_EX_MODE = range(7)
SET_CHANGE_MIN = 10 * 60  # sets are changed at 10:00 on their day
EXERCISE_MODE_LEAD_MIN = 60  # exercise mode is switched on an hour before (ISPAD 2022 ch. 14)
SUSPEND_HORIZON_MIN = 30.0
# a failed set is noticed and changed after 2 h above 250 mg/dL (pump education: unexplained
# high glucose that a correction does not bring down means changing the set; ISPAD 2022 ch. 9)
SET_NOTICED_AFTER_HIGH_MIN = 120
# the daily dose a controller sees: an average of the last days (the 670G adapts on 2-6 days of
# delivery history: Messer et al., Diabetes Care 41:789, 2018), as 1/6 per day
TDD_AVERAGE_DAYS = 6.0


@nb.njit(cache=True, nogil=True)
def runs_for(aid, uses_aid):
    """Whether a patient's pump is modelled: every patient's under a pump therapy, only the
    AID users' (trait uses_aid, cohort.aid_share) in a mix of therapies."""
    if aid[AID.on] == 0.0:
        return False
    return aid[AID.aid_users_only] == 0.0 or uses_aid > 0.5


@nb.njit(cache=True, nogil=True)
def start(lane_settings, history, state, aid, weight_kg, interval_min):
    """A patient's pump at the start: empty history, fresh controller state, the run's
    tuning in the settings row."""
    for k in range(N_CGM_HISTORY):
        history[k] = math.nan
    for k in range(N_CONTROLLER_STATE):
        state[k] = 0.0
    state[STATE_SENSITIVITY] = math.nan
    lane_settings[CS.kind] = aid[AID.kind]
    lane_settings[CS.target] = aid[AID.target]
    lane_settings[CS.insulin_peak_min] = aid[AID.insulin_peak_min]
    lane_settings[CS.interval_min] = interval_min
    lane_settings[CS.weight_kg] = weight_kg
    for k in range(N_TUNING):
        lane_settings[CS.p0 + k] = aid[AID.p0 + k]


@nb.njit(cache=True, nogil=True)
def plan_day(seed, pid, day, aid, exercise_start):
    """The day's device events: (warm-up start minute or -1, signal-loss start minute or -1,
    its length, 1 if the infusion set is changed today, minutes after that change until the
    new set fails or -1, 1 if exercise mode is used around today's session)."""
    warm_at = -1
    session = int(aid[AID.sensor_session_days])
    if session > 0 and (day + pid) % session == 0:
        warm_at = int(rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_WARMUP) * MINUTES_PER_DAY)
    gap_at = -1
    gap_len = 0
    if rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_GAP) < aid[AID.sensor_gaps_per_day]:
        gap_at = int(rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_GAP_AT) * MINUTES_PER_DAY)
        # exponential lengths with the configured mean, at least one sample
        u = rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_GAP_LEN)
        gap_len = max(int(-aid[AID.sensor_gap_min] * math.log(1.0 - u)), 5)
    fail_in = -1
    every = int(aid[AID.set_change_days])
    change_today = every > 0 and (day + pid) % every == 0
    if change_today:
        if rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_FAIL) < aid[AID.set_failure_share]:
            u = rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_FAIL_AT)
            fail_in = int(u * every * MINUTES_PER_DAY)
    ex_mode = exercise_start >= 0 and (
        rng.uniform(seed, pid, day, STREAM_DEVICE, DRAW_EX_MODE) < aid[AID.exercise_mode_share]
    )
    return warm_at, gap_at, gap_len, int(change_today), fail_in, int(ex_mode)


@nb.njit(cache=True, nogil=True, inline="always")
def insulin_model_step(c1, c2, delivered_u, peak_min, d):
    """One minute of the pump's insulin-on-board model: two compartments in series, each
    with time constant `peak_min` (activity peaks at `peak_min`, as OpenAPS's rapid-acting
    curve at 75 minutes), exact for a dose given at the start of the minute; d is
    exp(-1 / peak_min) (AID.insulin_decay_per_min: an exponential a minute per patient cost
    the pump therapies a tenth of their throughput)."""
    c1 += delivered_u
    return c1 * d, (c2 + c1 / peak_min) * d


@nb.njit(cache=True, nogil=True)
def controller_sample(
    controller,
    history,
    lane_settings,
    state,
    reading,
    valid,
    iob_u,
    activity_u_per_h,
    carbs_g,
    minute,
    aid,
):
    """A CGM sample: the history shifted, the controller asked when the reading is valid, the
    safety layers applied. Returns (basal U/min until the next sample, bolus U now, in
    closed loop, the controller's sensitivity estimate or NaN)."""
    for k in range(N_CGM_HISTORY - 1):
        history[k] = history[k + 1]
    history[N_CGM_HISTORY - 1] = reading if valid else math.nan
    programmed_h = lane_settings[CS.basal_u_per_h]
    if not valid or lane_settings[CS.kind] == KIND_NONE:
        return programmed_h / 60.0, 0.0, False, math.nan
    rate_h, bolus = call_controller(
        controller, history, iob_u, activity_u_per_h, carbs_g, minute, lane_settings, state
    )
    if not (math.isfinite(rate_h) and math.isfinite(bolus)):
        return programmed_h / 60.0, 0.0, False, state[STATE_SENSITIVITY]
    rate_h = min(max(rate_h, 0.0), lane_settings[CS.max_basal_u_per_h])
    net_iob = iob_u - 2.0 * basal_steady_state_u(programmed_h, lane_settings[CS.insulin_peak_min])
    room = max(lane_settings[CS.max_iob_u] - net_iob, 0.0)
    bolus = min(max(bolus, 0.0), room)
    if room <= 0.0:
        rate_h = min(rate_h, programmed_h)
    if aid[AID.suspend_before_low] != 0.0:
        slope = cgm_slope_per_sample(history) / lane_settings[CS.interval_min]
        if min(reading, reading + SUSPEND_HORIZON_MIN * slope) < aid[AID.suspend_threshold]:
            rate_h = 0.0
            bolus = 0.0
    return rate_h / 60.0, bolus, True, state[STATE_SENSITIVITY]
