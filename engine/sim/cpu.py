"""The population stepper: patients x days x minutes, reduced in place to daily aggregates.

Each patient is independent: its minutes feed per-day accumulators; at midnight the slow
model (`model/slow.py`) advances the insulin-resistance mechanisms one day and hands the fast
model new multipliers for the next. Only traced patients keep 5-minute samples. Patients go
through in groups of LANES (lanes.py): each minute every patient of the group makes its own
decisions (patient.py, shared with the CUDA backend), then one vectorised RK4 (or midpoint)
step advances them all. Compiled with nogil so dask's threads run blocks in parallel; block
size, thread count and a patient's lane cannot change a result.

The sampled UVA/Padova parameters describe a typical person with type 1 diabetes; the fast
model sees each patient's multipliers relative to that typical person (s_p / REFERENCE_SP, ...),
so obesity, genetic risk or puberty make a patient more resistant than the sampled parameters
from the first day on. Day 0 runs with the reference multipliers; after it the fast-relaxing
slow states are set to equilibrium with that day's life. The results report the absolute
multipliers (1 = lean, healthy, normoglycaemic).
"""
import numba as nb
import numpy as np

from ..life.behaviour import MINUTES_PER_DAY
from .lanes import IN, LANES, N_INPUTS, W_SIZE, lane_params, lane_state, midpoint_lanes, rk4_lanes, set_input, set_lane_state, set_param
from ..model.glycaemia import N_ACC, N_DAILY
from ..model import slow
from ..model.fast import state_tuple
from ..model.params import N_PARAMS, P
from .patient import LF, LI, MAX_MEALS_PER_DAY, MAX_PENDING, N_LANE_F, N_LANE_I, N_OUT, N_SWITCHES, O_LOG_PHI, STATUS_NONFINITE, STATUS_OK, SW, lane_after_step, lane_end_of_day, lane_minute, lane_plan_day, lane_start, run_constants
from ..life.therapy import N_TITRATION_ACC
from ..model.layout import index_family

__all__ = ["simulate_block", "allocate_outputs", "TRACE", "N_TRACE", "N_SWITCHES", "SW",
           "STATUS_OK", "STATUS_NONFINITE"]

# trace variables, in the order of the kernel's trace array
TRACE = index_family("Trace", ("bg", "cgm", "insulin", "carbs", "si"))
N_TRACE = len(TRACE)
@nb.njit(cache=True, nogil=True)
def simulate_block(params, x0, traits, patient_ids, seed, n_days, meal_slots, therapy,
                   behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                   trace_interval_min, daily, log_phi_out, status, traces):
    """Simulate `n_days` for each patient row of `params`/`x0`/`traits`.

    meal_slots: (5, n_slots) rows time_min, time_sd_min, carbs_g, carbs_cv, probability.
    therapy, behaviour, switches: settings vectors (therapy.TH_*, behaviour.B_*, slow.K_* and
    SW_*). trace_slot[i]: row of `traces` for patient i, or -1 when not traced.
    Writes daily[D_*, i, day], log_phi_out[K_*, i, day] (each mechanism's log factor of s_p),
    status[i, day] and traces[TRACE_*, slot, sample]. NaN marks days after a failure.
    Patients run in groups of LANES (see lanes.py); a group's result does not depend on its
    neighbours."""
    L = LANES
    # every group's scratch, allocated once per block
    w = np.empty(W_SIZE)
    lf = np.empty((L, N_LANE_F))
    li = np.empty((L, N_LANE_I), dtype=np.int64)
    meal_minute = np.empty((L, MAX_MEALS_PER_DAY), dtype=np.int64)
    meal_grams = np.empty((L, MAX_MEALS_PER_DAY))
    meal_slot = np.empty((L, MAX_MEALS_PER_DAY), dtype=np.int64)
    pend_minute = np.empty((L, MAX_PENDING), dtype=np.int64)
    pend_units = np.empty((L, MAX_PENDING))
    acc = np.empty((L, N_ACC))
    agg = np.empty(slow.N_AGG)
    st = np.empty((L, slow.N_SLOW))
    log_phi = np.empty((L, slow.N_MECH))
    tacc = np.empty((L, N_TITRATION_ACC))
    gmi_ring = np.empty((L, slow.GMI_DAYS))
    tod = np.empty((L, MINUTES_PER_DAY))
    dawn = np.empty((L, MINUTES_PER_DAY))
    tr = np.empty((L, traits.shape[1]))
    out = np.empty((L, N_OUT))
    row = np.empty(L, dtype=np.int64)
    slot = np.empty(L, dtype=np.int64)
    trace_in = np.empty(L, dtype=np.int64)
    sample = np.empty(L, dtype=np.int64)
    failed_today = np.empty(L, dtype=np.bool_)
    for first in range(0, params.shape[0], LANES):
        simulate_group(params, x0, traits, patient_ids, first,
                       min(LANES, params.shape[0] - first), seed, n_days, meal_slots, therapy,
                       behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                       trace_interval_min, daily, log_phi_out, status, traces, w, lf, li,
                       meal_minute, meal_grams, meal_slot, pend_minute, pend_units, acc, agg, st,
                       log_phi, tacc, gmi_ring, tod, dawn, tr, out, row, slot, trace_in, sample,
                       failed_today)


# No reference counting in the group loop (_nrt=False): every array arrives from
# simulate_block, and the inlined lane functions would otherwise pay an atomic increment and
# decrement per array argument per lane-minute (measured: half the throughput).
@nb.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def simulate_group(params, x0, traits, patient_ids, first, n_lanes, seed, n_days, meal_slots,
                   therapy, behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                   trace_interval_min, daily, log_phi_out, status, traces, w, lf, li,
                   meal_minute, meal_grams, meal_slot, pend_minute, pend_units, acc, agg, st,
                   log_phi, tacc, gmi_ring, tod, dawn, tr, out, row, slot, trace_in, sample,
                   failed_today):
    """Patients first .. first + n_lanes - 1 (n_lanes <= LANES), day by day and minute by
    minute, in the scratch arrays of simulate_block. Each minute: every lane's own decisions
    (patient.lane_minute), then one vectorised RK4 step of all lanes, then the accumulators
    that need the new state. Lanes beyond n_lanes repeat the first patient and are never
    read."""
    L = LANES
    for k in range(W_SIZE):
        w[k] = 0.0
    for j in range(L):
        slot[j] = -1
        trace_in[j] = 0
        sample[j] = -1
        failed_today[j] = False
    habitual_slot_g, iob_decay, dose_scale, has_noise = run_constants(meal_slots, therapy,
                                                                      sensor_params)
    midpoint = switches[SW.midpoint] != 0.0
    for j in range(L):
        i = first + (j if j < n_lanes else 0)
        row[j] = i
        for k in range(N_PARAMS):
            set_param(w, j, k, params[i, k])
        x = state_tuple(x0[i])
        set_lane_state(w, j, x)
        lane_start(j, params[i], x, traits[i], patient_ids[i], seed, therapy, switches,
                   sensor_params, habitual_slot_g, has_noise, lf, li, tr, st, tacc, tod, dawn)
        if j < n_lanes:
            slot[j] = trace_slot[i]
        else:
            _idle_lane(w, j, x0[i])
    for day in range(n_days):
        # re-park idle lanes daily: their insulin states decay towards denormals, which would
        # slow every vector step of the group
        for j in range(n_lanes, L):
            _idle_lane(w, j, x0[row[j]])
        for j in range(n_lanes):
            if li[j, LI.failed]:
                _idle_lane(w, j, x0[row[j]])
                _mark_failed(daily, log_phi_out, status, row[j], day)
            else:
                lane_plan_day(j, day, seed, meal_slots, therapy, behaviour, habitual_slot_g, lf,
                              li, tr, st, acc, meal_minute, meal_grams, meal_slot)
        # the day's minutes: every lane's decisions, one vector step, the accumulators
        for m in range(MINUTES_PER_DAY):
            for j in range(n_lanes):
                if li[j, LI.failed]:
                    continue
                alive, carbs_mg, insulin, dbar, s_p, s_h, e_cr, vm0_f, gzw = lane_minute(
                    j, m, day, lane_state(w, j), seed, meal_slots, therapy, behaviour,
                    sensor_params, cgm_interval_min, iob_decay, dose_scale, has_noise, lf, li,
                    tr, acc, tacc, meal_minute, meal_grams, meal_slot, pend_minute, pend_units,
                    tod, dawn)
                if not alive:
                    failed_today[j] = True
                    _idle_lane(w, j, x0[row[j]])
                    continue
                set_input(w, j, IN.carbs_mg, carbs_mg)
                set_input(w, j, IN.insulin_pmol, insulin)
                set_input(w, j, IN.dbar, dbar)
                set_input(w, j, IN.sp, s_p)
                set_input(w, j, IN.sh, s_h)
                set_input(w, j, IN.ecr, e_cr)
                set_input(w, j, IN.vm0f, vm0_f)
                set_input(w, j, IN.gzw, gzw)
                if slot[j] >= 0:
                    start_sample = trace_in[j] == 0
                    if start_sample:
                        sample[j] += 1
                        trace_in[j] = trace_interval_min
                    trace_in[j] -= 1
                    _record_trace(traces, slot[j], start_sample, sample[j], lf, j)
            if midpoint:
                midpoint_lanes(w)
            else:
                rk4_lanes(w)
            for j in range(n_lanes):
                if not li[j, LI.failed]:
                    lane_after_step(j, lane_state(w, j), lane_params(w, j), lf, acc)
        # each lane's day: metrics, the slow step, titration
        for j in range(n_lanes):
            i = row[j]
            if failed_today[j]:
                failed_today[j] = False
                _mark_failed(daily, log_phi_out, status, i, day)
                if slot[j] >= 0:
                    start = day * MINUTES_PER_DAY // trace_interval_min
                    for v in range(N_TRACE):
                        for s in range(start, traces.shape[2]):
                            traces[v, slot[j], s] = np.nan
                continue
            if li[j, LI.failed]:
                continue
            bw = lane_end_of_day(j, day, therapy, behaviour, switches, lf, tr, st, acc, tacc,
                                 gmi_ring, log_phi, agg, pend_minute, li[j, LI.n_pend], out)
            set_param(w, j, P.BW, bw)
            for v in range(N_DAILY):
                daily[v, i, day] = out[j, v]
            for k in range(slow.N_MECH):
                log_phi_out[k, i, day] = out[j, O_LOG_PHI + k]
            status[i, day] = STATUS_OK


@nb.njit(cache=True, nogil=True, inline="always")
def _record_trace(traces, sl, start_sample, sample, lf, j):
    """A traced patient's minute: glucose, CGM and s_p at the first minute of each sample;
    insulin and carbohydrate summed over the sample."""
    if start_sample:
        traces[TRACE.bg, sl, sample] = lf[j, LF.bg]
        traces[TRACE.cgm, sl, sample] = lf[j, LF.cgm]
        traces[TRACE.insulin, sl, sample] = 0.0
        traces[TRACE.carbs, sl, sample] = 0.0
        traces[TRACE.si, sl, sample] = lf[j, LF.s_p]
    traces[TRACE.insulin, sl, sample] += lf[j, LF.insulin_u]
    traces[TRACE.carbs, sl, sample] += lf[j, LF.carbs_g]


@nb.njit(cache=True, nogil=True, inline="always")
def _idle_lane(w, j, x0_row):
    """Park lane j (padding, or a stopped patient) at a resting state with neutral inputs, so
    its share of the vector arithmetic stays finite and cheap (no NaN, no denormals)."""
    set_lane_state(w, j, state_tuple(x0_row))
    for r in range(N_INPUTS):
        set_input(w, j, r, 0.0)
    for r in (IN.sp, IN.sh, IN.ecr, IN.vm0f):
        set_input(w, j, r, 1.0)


@nb.njit(cache=True, nogil=True)
def _mark_failed(daily, log_phi_out, status, i, day):
    for v in range(N_DAILY):
        daily[v, i, day] = np.nan
    for k in range(log_phi_out.shape[0]):
        log_phi_out[k, i, day] = np.nan
    status[i, day] = STATUS_NONFINITE


def allocate_outputs(n_patients: int, n_days: int, n_traced: int, trace_interval_min: int):
    n_samples = n_days * MINUTES_PER_DAY // trace_interval_min
    daily = np.empty((N_DAILY, n_patients, n_days))
    log_phi = np.empty((slow.N_MECH, n_patients, n_days))
    status = np.zeros((n_patients, n_days), dtype=np.int8)
    traces = np.full((N_TRACE, n_traced, n_samples), np.nan, dtype=np.float32)
    return daily, log_phi, status, traces
