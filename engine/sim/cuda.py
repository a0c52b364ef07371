"""The CUDA kernel of cuda_driver.py: one thread per patient, running patient.py's lane
functions on lane 0 of its own local arrays around model/fast.py's rk4_step. Imported only
through cuda_driver._kernel(), which checks numba-cuda first."""

import types

import numba as nb
import numpy as np
from numba import cuda

from ..life.aid import N_AID
from ..life.behaviour import MINUTES_PER_DAY, N_BEHAVIOUR
from ..life.controllers import N_CGM_HISTORY, N_CONTROLLER_SETTINGS, N_CONTROLLER_STATE
from ..life.sensor import N_SENSOR
from ..life.therapy import N_THERAPY, N_TITRATION_ACC
from ..model.fast import midpoint_step, rk4_step, state_tuple
from ..model.glycaemia import N_ACC, N_DAILY
from ..model.params import N_PARAMS, N_STATES, P
from ..model.slow import GMI_DAYS, N_AGG, N_MECH, N_SLOW
from ..model.traits import N_TRAITS
from ..runtime import register_cache_locator
from .bundles import LaneTables, RunSettings
from .outputs import STATUS_NONFINITE, STATUS_OK
from .patient import (
    LI,
    MAX_MEALS_PER_DAY,
    MAX_PENDING,
    N_LANE_F,
    N_LANE_I,
    N_OUT,
    N_SWITCHES,
    O_LOG_PHI,
    SW,
    lane_after_step,
    lane_end_of_day,
    lane_minute,
    lane_plan_day,
    lane_start,
    run_constants,
)

try:  # numba-cuda's own cache machinery; before the kernel below is decorated
    from numba.cuda.core import caching as _cuda_caching

    register_cache_locator(_cuda_caching)
except ImportError:
    pass

MAX_MEAL_SLOTS = 16  # config.RunConfig.meals allows at most 16
# the run's controller: 0, the built-ins; plugin_kernel binds a plug-in's function here
CONTROLLER = 0
f8 = nb.float64
i8 = nb.int64


@cuda.jit(device=True, inline=True)
def _copy(src, dst, n):
    """dst[:n] = src[:n], device memory to a local array (a CUDA device function, so that under
    the simulator it runs in Python and may read device arrays, which @njit code may not)."""
    for k in range(n):
        dst[k] = src[k]


@cuda.jit(cache=True)
def population_kernel(
    params,
    x0,
    traits,
    patient_ids,
    seed,
    n_days,
    meal_slots,
    n_slots,
    therapy,
    behaviour,
    switches,
    sensor_params,
    cgm_interval_min,
    pump_settings,
    daily,
    log_phi_out,
    status,
):
    tid = cuda.grid(1)
    if tid >= params.shape[0]:
        return
    # the run's settings and this patient's rows, in local memory (shapes must be names
    # bound at module level: numba-cuda does not take slow.N_AGG as a constant)
    slots_all = cuda.local.array((5, MAX_MEAL_SLOTS), f8)
    for r in range(5):
        _copy(meal_slots[r], slots_all[r], n_slots)
    slots = slots_all[:, :n_slots]
    th = cuda.local.array(N_THERAPY, f8)
    _copy(therapy, th, N_THERAPY)
    beh = cuda.local.array(N_BEHAVIOUR, f8)
    _copy(behaviour, beh, N_BEHAVIOUR)
    on = cuda.local.array(N_SWITCHES, f8)
    _copy(switches, on, N_SWITCHES)
    sp = cuda.local.array(N_SENSOR, f8)
    _copy(sensor_params, sp, N_SENSOR)
    pump = cuda.local.array(N_AID, f8)
    _copy(pump_settings, pump, N_AID)
    p = cuda.local.array(N_PARAMS, f8)
    _copy(params[tid], p, N_PARAMS)
    x_row = cuda.local.array(N_STATES, f8)
    _copy(x0[tid], x_row, N_STATES)
    trait_row = cuda.local.array(N_TRAITS, f8)
    _copy(traits[tid], trait_row, N_TRAITS)
    # one lane's tables (lane 0 of patient.py's arrays), the fields of bundles.LaneTables
    t = LaneTables(
        lf=cuda.local.array((1, N_LANE_F), f8),
        li=cuda.local.array((1, N_LANE_I), i8),
        tr=cuda.local.array((1, N_TRAITS), f8),
        st=cuda.local.array((1, N_SLOW), f8),
        acc=cuda.local.array((1, N_ACC), f8),
        tacc=cuda.local.array((1, N_TITRATION_ACC), f8),
        meal_minute=cuda.local.array((1, MAX_MEALS_PER_DAY), i8),
        meal_grams=cuda.local.array((1, MAX_MEALS_PER_DAY), f8),
        meal_slot=cuda.local.array((1, MAX_MEALS_PER_DAY), i8),
        pend_minute=cuda.local.array((1, MAX_PENDING), i8),
        pend_units=cuda.local.array((1, MAX_PENDING), f8),
        tod=cuda.local.array((1, MINUTES_PER_DAY), f8),
        dawn=cuda.local.array((1, MINUTES_PER_DAY), f8),
        gmi_ring=cuda.local.array((1, GMI_DAYS), f8),
        log_phi=cuda.local.array((1, N_MECH), f8),
        out=cuda.local.array((1, N_OUT), f8),
        agg=cuda.local.array(N_AGG, f8),
        cgm_hist=cuda.local.array((1, N_CGM_HISTORY), f8),
        ctl_set=cuda.local.array((1, N_CONTROLLER_SETTINGS), f8),
        ctl_state=cuda.local.array((1, N_CONTROLLER_STATE), f8),
    )
    run = RunSettings(seed, n_days, slots, th, beh, on, sp, cgm_interval_min, 0, CONTROLLER, pump)
    rc = run_constants(run)
    li = t.li
    x = state_tuple(x_row)
    lane_start(0, p, x, trait_row, patient_ids[tid], run, rc, t)
    for day in range(n_days):
        if li[0, LI.failed] == 0:
            lane_plan_day(0, day, run, rc, t)
            for m in range(MINUTES_PER_DAY):
                alive, carbs_mg, insulin, dbar, s_p, s_h, e_cr, vm0_f, gzw = lane_minute(
                    0, m, day, x, run, rc, t
                )
                if not alive:
                    break
                if on[SW.midpoint] != 0.0:
                    x = midpoint_step(x, p, carbs_mg, insulin, dbar, s_p, s_h, e_cr, vm0_f, gzw)
                else:
                    x = rk4_step(x, p, carbs_mg, insulin, dbar, s_p, s_h, e_cr, vm0_f, gzw)
                lane_after_step(0, x, p, t.lf, t.acc)
        # the day's write, as cpu._write_day does, here in the kernel: under
        # numba's CUDA simulator an @njit function cannot take device arrays
        if li[0, LI.failed] != 0:
            for v in range(N_DAILY):
                daily[v, day, tid] = np.nan
            for k in range(N_MECH):
                log_phi_out[k, day, tid] = np.nan
            status[day, tid] = STATUS_NONFINITE
            continue
        p[P.BW] = lane_end_of_day(0, day, run, t, li[0, LI.n_pend])
        for v in range(N_DAILY):
            daily[v, day, tid] = t.out[0, v]
        for k in range(N_MECH):
            log_phi_out[k, day, tid] = t.out[0, O_LOG_PHI + k]
        status[day, tid] = STATUS_OK


def plugin_kernel(controller):
    """population_kernel with a plug-in controller (a jitted function) in CONTROLLER's place:
    the same code under a copy of this module's globals, since numba-cuda takes no function
    as a kernel argument. Compiled on its first launch, once per plug-in and process; not
    cached on disk (its globals are not this module's)."""
    fn = getattr(population_kernel, "py_func", None) or population_kernel.fn  # simulator: fn
    bound = dict(fn.__globals__, CONTROLLER=controller)
    clone = types.FunctionType(fn.__code__, bound, fn.__name__, fn.__defaults__, fn.__closure__)
    return cuda.jit(clone)
