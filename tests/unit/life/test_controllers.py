"""The built-in controllers and the pump's safety layers (engine/life/controllers.py, aid.py):
each rule tested on its own numbers."""

import math

import numpy as np
import pytest

from engine.life import aid, controllers
from engine.life.aid import AID
from engine.life.controllers import CS, N_CGM_HISTORY, STATE_SENSITIVITY


def settings(kind, basal_h=1.0, target=120.0, tdd=40.0, isf=50.0, cr=10.0, tuning=None):
    s = np.zeros(controllers.N_CONTROLLER_SETTINGS)
    s[CS.kind] = kind
    s[CS.basal_u_per_h] = basal_h
    s[CS.isf] = isf
    s[CS.cr] = cr
    s[CS.target] = target
    s[CS.tdd_u] = tdd
    s[CS.max_basal_u_per_h] = 4.0 * basal_h
    s[CS.max_iob_u] = 8.0
    s[CS.insulin_peak_min] = 75.0
    s[CS.interval_min] = 5.0
    s[CS.weight_kg] = 70.0
    name = {controllers.KIND_PID: "pid", controllers.KIND_OREF: "oref"}.get(kind, "none")
    for k, row in enumerate(controllers.TUNING[name]):
        s[CS.p0 + k] = (tuning or {}).get(row[0], row[1])
    return s


def flat(value):
    return np.full(N_CGM_HISTORY, float(value))


def state():
    s = np.zeros(controllers.N_CONTROLLER_STATE)
    s[STATE_SENSITIVITY] = math.nan
    return s


def steady_iob(basal_h, peak=75.0):
    """IOB and activity of a steady basal (two compartments of time constant `peak`)."""
    return 2.0 * basal_h / 60.0 * peak, basal_h


def test_pid_at_target_and_steady_delivers_the_programme():
    s = settings(controllers.KIND_PID)
    iob, act = steady_iob(1.0)
    rate, bolus = controllers.pid_controller(flat(120.0), iob, act, 0.0, 600, s, state())
    assert rate == pytest.approx(1.0, abs=1e-12) and bolus == 0.0


def test_pid_raises_delivery_above_target_and_insulin_feedback_holds_it_back():
    s = settings(controllers.KIND_PID)
    iob, act = steady_iob(1.0)
    high, _ = controllers.pid_controller(flat(220.0), iob, act, 0.0, 600, s, state())
    # K_P = 60 x 40 / (1500 x 90) U/h per mg/dL; 100 mg/dL above target, with the
    # integral's first step and the feedback's (1 + gamma)
    kp = 60.0 * 40.0 / (1500.0 * 90.0)
    integral = 1.0 + kp * 100.0 * 5.0 / 450.0
    assert high == pytest.approx(1.5 * (kp * 100.0 + integral) - 0.5 * act)
    fed_back, _ = controllers.pid_controller(flat(220.0), iob, 3.0, 0.0, 600, s, state())
    assert fed_back == pytest.approx(high - 0.5 * (3.0 - act))
    rising = np.linspace(180.0, 220.0, N_CGM_HISTORY)
    with_slope, _ = controllers.pid_controller(rising, iob, act, 0.0, 600, s, state())
    assert with_slope > high  # the derivative term


def test_pid_uses_its_night_integral_time():
    s = settings(controllers.KIND_PID)
    iob, act = steady_iob(1.0)
    day_state, night_state = state(), state()
    controllers.pid_controller(flat(220.0), iob, act, 0.0, 600, s, day_state)
    controllers.pid_controller(flat(220.0), iob, act, 0.0, 60, s, night_state)
    assert night_state[2] - 1.0 == pytest.approx(3.0 * (day_state[2] - 1.0))  # 450 / 150


def test_oref_zero_temp_below_its_threshold():
    s = settings(controllers.KIND_OREF, target=110.0)
    iob, act = steady_iob(1.0)
    # threshold = 110 - 0.5 x (110 - 40) = 75 mg/dL
    assert controllers.oref_controller(flat(74.0), iob, act, 0.0, 600, s, state()) == (0.0, 0.0)
    rate, _ = controllers.oref_controller(flat(110.0), iob, act, 0.0, 600, s, state())
    assert rate == pytest.approx(1.0, rel=1e-9)


def test_oref_high_glucose_gets_a_micro_bolus_or_a_high_temp():
    iob, act = steady_iob(1.0)
    smb = settings(controllers.KIND_OREF, target=110.0, tuning={"smb": 1.0})
    rate, bolus = controllers.oref_controller(flat(250.0), iob, act, 0.0, 600, smb, state())
    # half the insulin required, at most 30 minutes of basal, in 0.05 U steps
    assert bolus == pytest.approx(0.5) and rate == pytest.approx(1.0)
    temp = settings(controllers.KIND_OREF, target=110.0, tuning={"smb": 0.0})
    rate, bolus = controllers.oref_controller(flat(250.0), iob, act, 0.0, 600, temp, state())
    insulin_req = min((250.0 - 110.0) / 50.0, 8.0)
    assert bolus == 0.0 and rate == pytest.approx(1.0 + 2.0 * insulin_req)


def test_oref_autosens_stays_within_its_bounds_and_sees_resistance():
    s = settings(controllers.KIND_OREF, target=110.0)
    st = state()
    iob, act = steady_iob(1.0)
    rising = np.linspace(100.0, 100.0 + 2.0 * N_CGM_HISTORY, N_CGM_HISTORY)  # +2 mg/dL/5 min
    for _ in range(2000):  # about a week of samples, glucose rising without carbohydrate
        controllers.oref_controller(rising, iob, act, 0.0, 600, s, st)
    assert 1.0 < st[STATE_SENSITIVITY] <= 1.2
    assert st[STATE_SENSITIVITY] == pytest.approx(1.2)  # clamped at autosens_max


def pump_settings(**over):
    a = np.zeros(aid.N_AID)
    a[AID.on] = 1.0
    a[AID.suspend_before_low] = 1.0
    a[AID.suspend_threshold] = 80.0
    a[AID.insulin_peak_min] = 75.0
    for k, v in over.items():
        a[getattr(AID, k)] = v
    return a


def sample(reading, valid=True, kind=controllers.KIND_PID, history=None, iob=None, pump=None):
    s = settings(kind)
    h = flat(reading) if history is None else history.copy()
    i, act = steady_iob(1.0) if iob is None else (iob, 1.0)
    return aid.controller_sample(
        0,
        h,
        s,
        state(),
        reading,
        valid,
        i,
        act,
        0.0,
        600,
        pump if pump is not None else pump_settings(),
    )


def test_no_reading_falls_back_to_the_programmed_basal():
    rate, bolus, closed, _ = sample(250.0, valid=False)
    assert rate == pytest.approx(1.0 / 60.0) and bolus == 0.0 and not closed


def test_a_pump_without_a_controller_runs_its_programme():
    rate, bolus, closed, est = sample(250.0, kind=controllers.KIND_NONE)
    assert rate == pytest.approx(1.0 / 60.0) and not closed and math.isnan(est)


def test_basal_is_capped_at_the_maximum_and_suspended_before_a_low():
    rate, _, closed, _ = sample(400.0)
    assert closed and rate == pytest.approx(4.0 / 60.0)  # max basal 4 x 1 U/h
    falling = np.linspace(200.0, 100.0, N_CGM_HISTORY)  # projected below 80 in 30 minutes
    falling[-3:] = [110.0, 100.0, 90.0]
    rate, bolus, closed, _ = sample(90.0, history=falling)
    assert closed and rate == 0.0 and bolus == 0.0


def test_automatic_boluses_stop_at_the_insulin_on_board_limit():
    # with 20 U on board above the programme, no automatic bolus and no more than the programme
    rate, bolus, _, _ = sample(250.0, kind=controllers.KIND_OREF, iob=20.0)
    assert bolus == 0.0 and rate <= 1.0 / 60.0 + 1e-12
