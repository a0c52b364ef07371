"""The population stepper: patients x days x minutes, reduced in place to daily aggregates.

No minute-level array exists for the whole population: each patient's minutes feed per-day
accumulators, and only the traced patients keep 5-minute samples. The kernel is a plain loop
over patients (each patient independent), compiled with nogil so dask's threads run blocks in
parallel; block size and thread count cannot change a result.
"""
import numba as nb
import numpy as np

from . import sensor
from .behaviour import EAT_RATE_G_PER_MIN, MINUTES_PER_DAY, plan_meals
from .metrics import (A_BASAL, A_BOLUS, A_CARBS, A_HYPO, N_ACC, N_DAILY, accumulate_glucose,
                      finish_day, track_hypo_event)
from .model.fast import rk4_step, state_tuple, update_meal_size
from .model.params import MG_PER_G, P_BW, P_VG, PMOL_PER_U, X_GS
from .therapy import basal_rate_u_per_min, meal_bolus_u

STATUS_OK = 0
STATUS_NONFINITE = 1   # integration produced a non-finite or absurd glucose; patient stopped
BG_ABSURD_MG_DL = 5000.0

# trace variables, in the order of the kernel's trace array
TRACE_BG, TRACE_CGM, TRACE_INSULIN, TRACE_CARBS = range(4)
N_TRACE = 4
MAX_MEALS_PER_DAY = 32


@nb.njit(cache=True, nogil=True)
def simulate_block(params, x0, patient_ids, seed, n_days, meal_slots, target_bg, sensor_params,
                   cgm_interval_min, trace_slot, trace_interval_min, daily, status, traces):
    """Simulate `n_days` for each patient row of `params`/`x0`.

    meal_slots: (5, n_slots) rows time_min, time_sd_min, carbs_g, carbs_cv, probability.
    trace_slot[i]: row of `traces` for patient i, or -1 when not traced.
    Writes daily[D_*, i, day] (float64), status[i, day] (int8) and
    traces[TRACE_*, slot, sample] (float32). NaN marks days after a failure."""
    meal_minute = np.empty(MAX_MEALS_PER_DAY, dtype=np.int64)
    meal_grams = np.empty(MAX_MEALS_PER_DAY)
    acc = np.empty(N_ACC)
    for i in range(params.shape[0]):
        p = params[i]
        pid = patient_ids[i]
        x = state_tuple(x0[i])
        bw = p[P_BW]
        inv_vg = 1.0 / p[P_VG]
        to_pmol_per_kg = PMOL_PER_U / bw
        basal_u = basal_rate_u_per_min(p)
        slot = trace_slot[i]
        # meal bookkeeping (carried across midnight: a late dinner finishes the next day)
        planned_g = 0.0
        prev_carbs = 0.0
        dbar_start = x[0] + x[1]
        eaten_g = 0.0
        eating = False
        # sensor: error-model knots every NOISE_KNOT_MIN, readings every cgm_interval_min;
        # countdowns rather than t % n, whose integer divisions cost more than they look
        has_noise = sensor_params[sensor.S_KIND] != sensor.SENSOR_NONE
        cgm = x[X_GS] * inv_vg
        noise_e = 0.0
        err_prev = 0.0
        err_next = 0.0
        knot = 0
        if has_noise:
            noise_e, err_next = sensor.next_knot(seed, pid, 0, 0.0, sensor_params)
            knot = 1
        knot_in = 0
        cgm_in = 0
        trace_in = 0
        sample = -1
        # hypoglycaemia event detector
        run_below = 0
        run_above = 0
        in_event = False
        failed = False
        for day in range(n_days):
            if failed:
                for v in range(N_DAILY):
                    daily[v, i, day] = np.nan
                status[i, day] = STATUS_NONFINITE
                continue
            n_meals = plan_meals(seed, pid, day, meal_slots[0], meal_slots[1], meal_slots[2],
                                 meal_slots[3], meal_slots[4], meal_minute, meal_grams)
            next_meal = 0
            for a in range(N_ACC):
                acc[a] = 0.0
            for m in range(MINUTES_PER_DAY):
                bg = x[X_GS] * inv_vg
                if not (bg < BG_ABSURD_MG_DL and bg == bg):
                    failed = True
                    break
                if has_noise:
                    if knot_in == 0:
                        err_prev = err_next
                        noise_e, err_next = sensor.next_knot(seed, pid, knot, noise_e,
                                                             sensor_params)
                        knot += 1
                        knot_in = sensor.NOISE_KNOT_MIN
                    knot_in -= 1
                if cgm_in == 0:
                    since_knot = sensor.NOISE_KNOT_MIN - 1 - knot_in
                    cgm = sensor.reading(
                        bg, err_prev + (err_next - err_prev) * since_knot / sensor.NOISE_KNOT_MIN,
                        sensor_params)
                    cgm_in = cgm_interval_min
                cgm_in -= 1
                accumulate_glucose(acc, bg)
                run_below, run_above, in_event, started = track_hypo_event(
                    bg, run_below, run_above, in_event)
                acc[A_HYPO] += started
                # behaviour and therapy: meals announced this minute, eaten at 5 g/min
                bolus_u = 0.0
                while next_meal < n_meals and meal_minute[next_meal] == m:
                    planned_g += meal_grams[next_meal]
                    bolus_u += meal_bolus_u(p, meal_grams[next_meal], cgm, target_bg)
                    next_meal += 1
                carbs = planned_g if planned_g < EAT_RATE_G_PER_MIN else EAT_RATE_G_PER_MIN
                planned_g -= carbs
                dbar_start, eaten_g, eating, dbar = update_meal_size(
                    carbs, prev_carbs, x, dbar_start, eaten_g, eating)
                prev_carbs = carbs
                insulin_u = basal_u + bolus_u
                x = rk4_step(x, p, carbs * MG_PER_G, insulin_u * to_pmol_per_kg, dbar,
                             1.0, 1.0, 1.0)
                acc[A_BASAL] += basal_u
                acc[A_BOLUS] += bolus_u
                acc[A_CARBS] += carbs
                if slot >= 0:
                    if trace_in == 0:
                        sample += 1
                        traces[TRACE_BG, slot, sample] = bg
                        traces[TRACE_CGM, slot, sample] = cgm
                        traces[TRACE_INSULIN, slot, sample] = 0.0
                        traces[TRACE_CARBS, slot, sample] = 0.0
                        trace_in = trace_interval_min
                    trace_in -= 1
                    traces[TRACE_INSULIN, slot, sample] += insulin_u
                    traces[TRACE_CARBS, slot, sample] += carbs
            if failed:
                for v in range(N_DAILY):
                    daily[v, i, day] = np.nan
                status[i, day] = STATUS_NONFINITE
                if slot >= 0:
                    start = day * MINUTES_PER_DAY // trace_interval_min
                    for v in range(N_TRACE):
                        for s in range(start, traces.shape[2]):
                            traces[v, slot, s] = np.nan
                continue
            finish_day(acc, bw, daily, i, day)
            status[i, day] = STATUS_OK


def allocate_outputs(n_patients: int, n_days: int, n_traced: int, trace_interval_min: int):
    n_samples = n_days * MINUTES_PER_DAY // trace_interval_min
    daily = np.empty((N_DAILY, n_patients, n_days))
    status = np.zeros((n_patients, n_days), dtype=np.int8)
    traces = np.full((N_TRACE, n_traced, n_samples), np.nan, dtype=np.float32)
    return daily, status, traces
