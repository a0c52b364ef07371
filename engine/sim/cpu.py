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

from collections import namedtuple

import numba as nb
import numpy as np

from ..life.behaviour import MINUTES_PER_DAY
from ..model import slow
from ..model.fast import state_tuple
from ..model.glycaemia import N_DAILY
from ..model.params import N_PARAMS, P
from .bundles import Outputs, allocate_lane_tables
from .lanes import (
    IN,
    LANES,
    N_INPUTS,
    W_SIZE,
    lane_params,
    lane_state,
    midpoint_lanes,
    rk4_lanes,
    set_input,
    set_lane_state,
    set_param,
)
from .outputs import N_TRACE, STATUS_NONFINITE, STATUS_OK, TRACE
from .patient import (
    LF,
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

__all__ = [
    "simulate_block",
    "allocate_outputs",
    "TRACE",
    "N_TRACE",
    "N_SWITCHES",
    "SW",
    "STATUS_OK",
    "STATUS_NONFINITE",
]

# the CPU driver's per-lane bookkeeping beside the lane tables: the patient row of each lane,
# its trace slot, minutes left in its current trace sample, that sample, and a failure today
GroupRows = namedtuple("GroupRows", "row slot trace_in sample failed_today")


@nb.njit(cache=True, nogil=True)
def simulate_block(rows, run, outs):
    """Simulate run.n_days for each patient of `rows` (PatientRows), writing `outs` (Outputs;
    engine/sim/bundles.py).

    run.meal_slots: (5, n_slots) rows time_min, time_sd_min, carbs_g, carbs_cv, probability.
    run.therapy, run.behaviour, run.switches: settings vectors (TH, B, SW index families).
    rows.trace_slot[i]: row of outs.traces for patient i, or -1 when not traced.
    Writes outs.daily[D.<name>, i, day], outs.log_phi[K.<name>, i, day] (each mechanism's log
    factor of s_p), outs.status[i, day] and outs.traces[TRACE.<name>, slot, sample]. NaN marks
    days after a failure. Patients run in groups of LANES (see lanes.py); a group's result
    does not depend on its neighbours."""
    L = LANES
    # every group's scratch, allocated once per block
    w = np.empty(W_SIZE)
    t = allocate_lane_tables(
        L, N_LANE_F, N_LANE_I, rows.traits.shape[1], N_OUT, MAX_MEALS_PER_DAY, MAX_PENDING
    )
    g = GroupRows(
        np.empty(L, dtype=np.int64),
        np.empty(L, dtype=np.int64),
        np.empty(L, dtype=np.int64),
        np.empty(L, dtype=np.int64),
        np.empty(L, dtype=np.bool_),
    )
    n = rows.params.shape[0]
    for first in range(0, n, LANES):
        simulate_group(rows, run, outs, first, min(LANES, n - first), w, t, g)


# No reference counting in the group loop (_nrt=False): every array arrives from
# simulate_block, and the inlined lane functions would otherwise pay an atomic increment and
# decrement per array argument per lane-minute (measured: half the throughput).
@nb.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def simulate_group(rows, run, outs, first, n_lanes, w, t, g):
    """Patients first .. first + n_lanes - 1 (n_lanes <= LANES), day by day and minute by
    minute, in the scratch arrays of simulate_block. Each minute: every lane's own decisions
    (patient.lane_minute), then one vectorised RK4 step of all lanes, then the accumulators
    that need the new state. Lanes beyond n_lanes repeat the first patient and are never
    read."""
    params, x0, traits, patient_ids, trace_slot = (
        rows.params,
        rows.x0,
        rows.traits,
        rows.patient_ids,
        rows.trace_slot,
    )
    daily, log_phi_out, status, traces = outs.daily, outs.log_phi, outs.status, outs.traces
    n_days, trace_interval_min = run.n_days, run.trace_interval_min
    lf, li, acc = t.lf, t.li, t.acc
    row, slot, trace_in, sample, failed_today = (
        g.row,
        g.slot,
        g.trace_in,
        g.sample,
        g.failed_today,
    )
    L = LANES
    for k in range(W_SIZE):
        w[k] = 0.0
    for j in range(L):
        slot[j] = -1
        trace_in[j] = 0
        sample[j] = -1
        failed_today[j] = False
    rc = run_constants(run)
    midpoint = run.switches[SW.midpoint] != 0.0
    for j in range(L):
        i = first + (j if j < n_lanes else 0)
        row[j] = i
        for k in range(N_PARAMS):
            set_param(w, j, k, params[i, k])
        x = state_tuple(x0[i])
        set_lane_state(w, j, x)
        lane_start(j, params[i], x, traits[i], patient_ids[i], run, rc, t)
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
                _write_failed_day(daily, log_phi_out, status, row[j], day)
            else:
                lane_plan_day(j, day, run, rc, t)
        # the day's minutes: every lane's decisions, one vector step, the accumulators
        for m in range(MINUTES_PER_DAY):
            for j in range(n_lanes):
                if li[j, LI.failed]:
                    continue
                alive, carbs_mg, insulin, dbar, s_p, s_h, e_cr, vm0_f, gzw = lane_minute(
                    j, m, day, lane_state(w, j), run, rc, t
                )
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
                _write_failed_day(daily, log_phi_out, status, i, day)
                if slot[j] >= 0:
                    start = day * MINUTES_PER_DAY // trace_interval_min
                    for v in range(N_TRACE):
                        for s in range(start, traces.shape[2]):
                            traces[v, slot[j], s] = np.nan
                continue
            if li[j, LI.failed]:
                continue
            bw = lane_end_of_day(j, day, run, t, li[j, LI.n_pend])
            set_param(w, j, P.BW, bw)
            _write_day(j, t, daily, log_phi_out, status, i, day)


@nb.njit(cache=True, nogil=True, inline="always")
def _record_trace(traces, sl, start_sample, sample, lf, j):
    """A traced patient's minute: glucose, CGM and s_p at the first minute of each sample;
    insulin and carbohydrate summed over the sample."""
    if start_sample:
        traces[TRACE.bg, sl, sample] = lf[j, LF.bg]
        traces[TRACE.cgm, sl, sample] = lf[j, LF.cgm]
        traces[TRACE.insulin, sl, sample] = 0.0
        traces[TRACE.carbs, sl, sample] = 0.0
        traces[TRACE.si_effective, sl, sample] = lf[j, LF.s_p]
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


# A finished day into the outputs at [:, patient, day]. (The CUDA kernel writes day-major in
# its own loop: under numba's simulator an @njit function cannot take device arrays.)
@nb.njit(cache=True, nogil=True, inline="always")
def _write_day(j, t, daily, log_phi, status, i, day):
    """Lane j's finished day (t.out: the daily variables, then each mechanism's log factor)."""
    for v in range(N_DAILY):
        daily[v, i, day] = t.out[j, v]
    for k in range(slow.N_MECH):
        log_phi[k, i, day] = t.out[j, O_LOG_PHI + k]
    status[i, day] = STATUS_OK


@nb.njit(cache=True, nogil=True, inline="always")
def _write_failed_day(daily, log_phi, status, i, day):
    """A day of a stopped patient: NaN and the status flag."""
    for v in range(N_DAILY):
        daily[v, i, day] = np.nan
    for k in range(slow.N_MECH):
        log_phi[k, i, day] = np.nan
    status[i, day] = STATUS_NONFINITE


def allocate_outputs(n_patients: int, n_days: int, n_traced: int, trace_interval_min: int):
    n_samples = n_days * MINUTES_PER_DAY // trace_interval_min
    daily = np.empty((N_DAILY, n_patients, n_days))
    log_phi = np.empty((slow.N_MECH, n_patients, n_days))
    status = np.zeros((n_patients, n_days), dtype=np.int8)
    traces = np.full((N_TRACE, n_traced, n_samples), np.nan, dtype=np.float32)
    return Outputs(daily, log_phi, status, traces)
