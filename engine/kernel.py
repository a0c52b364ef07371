"""The population stepper: patients x days x minutes, reduced in place to daily aggregates.

Each patient is independent: its minutes feed per-day accumulators; at midnight the slow
model (`model/slow.py`) advances the insulin-resistance mechanisms one day and hands the fast
model new multipliers for the next. Only traced patients keep 5-minute samples. Patients go
through in groups of LANES (lanes.py): each minute every patient of the group makes its own
decisions, then one vectorised RK4 step advances them all. Compiled with nogil so dask's
threads run blocks in parallel; block size, thread count and a patient's lane cannot change a
result.

The sampled UVA/Padova parameters describe a typical person with type 1 diabetes; the fast
model sees each patient's multipliers relative to that typical person (s_p / REFERENCE_SP, ...),
so obesity, genetic risk or puberty make a patient more resistant than the sampled parameters
from the first day on. Day 0 runs with the reference multipliers; after it the fast-relaxing
slow states are set to equilibrium with that day's life. The results report the absolute
multipliers (1 = lean, healthy, normoglycaemic).
"""
import math

import numba as nb
import numpy as np

from . import sensor
from .behaviour import (B_DIET_DAY, B_DIET_FAT, B_DIET_SUGAR, B_DIET_SURPLUS,
                        B_HYPO_THRESHOLD, B_HYPO_TREAT_G, B_HYPO_WAIT_MIN, B_ILLNESS_APPETITE,
                        EAT_RATE_G_PER_MIN, MINUTES_PER_DAY, bolus_decision, exercise_session,
                        illness_severity, plan_meals, stress_episode)
from .metrics import (A_BASAL, A_BELOW70, A_BOLUS, A_CARBS, A_EXERCISE_DOSE, A_EXERCISE_MIN,
                      A_HYPER, A_HYPO, A_INSULIN, A_N, A_RESCUE, A_SUM, A_URINE_MG, D_BMI, D_EGDR,
                      D_EXERCISE_MIN, D_FAT_MASS, D_FFA, D_GLUT4, D_GMI, D_HBA1C, D_ILLNESS,
                      D_INFLAMMATION, D_MEAN_INSULIN, D_OXIDATIVE, D_RECEPTOR, D_RESCUE_G,
                      D_SI_HEPATIC, D_SI_PERIPHERAL, D_TONE, D_VISCERAL, D_WAIST, N_ACC, N_DAILY,
                      accumulate_glucose, finish_day, track_hypo_event)
from .model import acute, slow
from .lanes import (IN_CARBS_MG, IN_DBAR, IN_ECR, IN_GZW, IN_INSULIN_PMOL, IN_SH, IN_SP,
                    IN_VM0F, LANES, N_INPUTS, W_SIZE, lane_params, lane_state, rk4_lanes,
                    set_input, set_lane_state, set_param, state_value)
from .model.fast import renal_excretion, state_tuple, update_meal_size
from .model.params import (MG_PER_G, N_PARAMS, P_BW, P_CF, P_CR, P_VG, P_VI, PMOL_PER_U, X_GP,
                           X_GS, X_IP)
from .therapy import (FASTING_WINDOW, N_TITRATION_ACC, TA_BELOW70, TA_DAYS, TA_FASTING_N,
                      TA_FASTING_SUM, TA_N, TA_SUM, TH_CARB_COUNTING, TH_DIA_MIN, TH_DOSE_SCALE,
                      TH_INITIAL_DOSE, TH_RATIOS_FROM_TDD, TH_SICK_DAY_EXTRA, TH_TITRATE_DAYS,
                      basal_rate_u_per_min, meal_bolus_u, ratios_from_tdd, titrate)
from .traits import (T_CARB_APPETITE, T_ENERGY_SURPLUS, T_FAT0, T_FAT_SHARE, T_HEIGHT_M,
                     T_HR_REST, T_HTN, T_PAL, T_SESSION_HR, T_SESSION_MIN, T_SESSIONS_PER_WEEK,
                     T_SUGAR_SHARE, T_AGE0)

STATUS_OK = 0
STATUS_NONFINITE = 1   # glucose non-finite, absurd or exhausted (<= 0); patient stopped
BG_ABSURD_MG_DL = 5000.0
BG_EXHAUSTED_MG_DL = 1.0   # below this the fixed-step integration has lost the patient

# switches beyond the mechanisms (indices after slow.N_MECH in the `switches` vector)
SW_DAWN = slow.N_MECH
SW_TIME_OF_DAY = slow.N_MECH + 1
SW_WEIGHT_FEEDBACK = slow.N_MECH + 2
N_SWITCHES = slow.N_MECH + 3

# trace variables, in the order of the kernel's trace array
TRACE_BG, TRACE_CGM, TRACE_INSULIN, TRACE_CARBS, TRACE_SI = range(5)
N_TRACE = 5
MAX_MEALS_PER_DAY = 32
MAX_PENDING = 16
HYPER_THRESHOLD = slow.GLUCOTOX_THRESHOLD


@nb.njit(cache=True, nogil=True)
def habitual_intake_kcal(fat, lean, tr, habitual_carbs_g):
    """(intake kcal/day, of which not carbohydrate): the energy balance at the start, raised
    by the patient's habitual surplus; carbohydrate is what the meals give."""
    session_kcal = acute.exercise_kcal(tr[T_SESSION_HR] * tr[T_SESSION_MIN], fat + lean)
    exercise = session_kcal * tr[T_SESSIONS_PER_WEEK] / 7.0
    balance = (tr[T_PAL] * slow.resting_expenditure(fat, lean) + exercise) / (1.0 - slow.TEF)
    intake = balance * (1.0 + tr[T_ENERGY_SURPLUS])
    carbs_kcal = slow.KCAL_PER_G_GLUCOSE * habitual_carbs_g
    return intake, max(intake - carbs_kcal, 0.2 * intake)


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
    for first in range(0, params.shape[0], LANES):
        simulate_group(params, x0, traits, patient_ids, first,
                       min(LANES, params.shape[0] - first), seed, n_days, meal_slots, therapy,
                       behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                       trace_interval_min, daily, log_phi_out, status, traces)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def simulate_group(params, x0, traits, patient_ids, first, n_lanes, seed, n_days, meal_slots,
                   therapy, behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                   trace_interval_min, daily, log_phi_out, status, traces):
    """Patients first .. first + n_lanes - 1 (n_lanes <= LANES), day by day and minute by
    minute. Each minute: every lane's own decisions (sensor, meals, boluses, rescue,
    exercise), then one vectorised RK4 step of all lanes, then the accumulators that need the
    new state. Lanes beyond n_lanes repeat the first patient and are never read."""
    n_slots = meal_slots.shape[1]
    L = LANES
    w = np.zeros(W_SIZE)
    meal_minute = np.empty((L, MAX_MEALS_PER_DAY), dtype=np.int64)
    meal_grams = np.empty((L, MAX_MEALS_PER_DAY))
    meal_slot = np.empty((L, MAX_MEALS_PER_DAY), dtype=np.int64)
    pend_minute = np.empty((L, MAX_PENDING), dtype=np.int64)
    pend_units = np.empty((L, MAX_PENDING))
    acc = np.zeros((L, N_ACC))
    agg = np.empty(slow.N_AGG)
    st = np.empty((L, slow.N_SLOW))
    log_phi = np.empty((L, slow.N_MECH))
    tacc = np.zeros((L, N_TITRATION_ACC))
    gmi_ring = np.empty((L, slow.GMI_DAYS))
    tod = np.empty((L, MINUTES_PER_DAY))
    dawn = np.empty((L, MINUTES_PER_DAY))
    tr = np.empty((L, traits.shape[1]))
    on = switches
    habitual_slot_g = 0.0
    for s in range(n_slots):
        habitual_slot_g += meal_slots[2, s] * meal_slots[4, s]
    iob_decay = math.exp(-3.0 / therapy[TH_DIA_MIN]) if therapy[TH_DIA_MIN] > 0.0 else 0.0
    dose_scale = therapy[TH_DOSE_SCALE]
    has_noise = sensor_params[sensor.S_KIND] != sensor.SENSOR_NONE
    # per-lane state of each patient's life (one entry per lane)
    pid = np.empty(L, dtype=np.int64)
    row = np.empty(L, dtype=np.int64)
    slot = np.full(L, -1, dtype=np.int64)
    inv_vg = np.empty(L)
    inv_vi = np.empty(L)
    bw = np.empty(L)
    to_pmol_per_kg = np.empty(L)
    basal0_u = np.empty(L)
    cr = np.empty(L)
    cf = np.empty(L)
    basal_f = np.ones(L)
    bolus_f = np.ones(L)
    appetite = np.empty(L)
    noncarb_kcal = np.empty(L)
    sp_rel = np.ones(L)
    sh_rel = np.ones(L)
    ecr_rel = np.ones(L)
    planned_g = np.zeros(L)
    prev_carbs = np.zeros(L)
    dbar_start = np.empty(L)
    eaten_g = np.zeros(L)
    eating = np.zeros(L, dtype=np.bool_)
    n_pend = np.zeros(L, dtype=np.int64)
    iob = np.zeros(L)
    rescue_wait = np.zeros(L, dtype=np.int64)
    ex_y = np.zeros(L)
    ex_z = np.zeros(L)
    ex_w = np.zeros(L)
    cgm = np.empty(L)
    noise_e = np.zeros(L)
    err_prev = np.zeros(L)
    err_next = np.zeros(L)
    knot = np.zeros(L, dtype=np.int64)
    knot_in = np.zeros(L, dtype=np.int64)
    cgm_in = np.zeros(L, dtype=np.int64)
    trace_in = np.zeros(L, dtype=np.int64)
    sample = np.full(L, -1, dtype=np.int64)
    run_below = np.zeros(L, dtype=np.int64)
    run_above = np.zeros(L, dtype=np.int64)
    in_event = np.zeros(L, dtype=np.bool_)
    failed = np.zeros(L, dtype=np.bool_)
    failed_today = np.zeros(L, dtype=np.bool_)
    # per-lane plan of the current day
    ill = np.zeros(L)
    n_meals = np.zeros(L, dtype=np.int64)
    next_meal = np.zeros(L, dtype=np.int64)
    ex_start = np.full(L, -1, dtype=np.int64)
    ex_len = np.zeros(L, dtype=np.int64)
    ex_hr = np.zeros(L)
    st_start = np.full(L, -1, dtype=np.int64)
    st_len = np.zeros(L, dtype=np.int64)
    st_sev = np.zeros(L)
    sp_day = np.ones(L)
    ecr_day = np.ones(L)
    basal_u = np.zeros(L)
    bg = np.empty(L)
    for j in range(L):
        i = first + (j if j < n_lanes else 0)
        row[j] = i
        pid[j] = patient_ids[i]
        for k in range(N_PARAMS):
            set_param(w, j, k, params[i, k])
        x = state_tuple(x0[i])
        set_lane_state(w, j, x)
        for k in range(traits.shape[1]):
            tr[j, k] = traits[i, k]
        inv_vg[j] = 1.0 / params[i, P_VG]
        inv_vi[j] = 1.0 / params[i, P_VI]
        bw[j] = params[i, P_BW]
        to_pmol_per_kg[j] = PMOL_PER_U / bw[j]
        basal0_u[j] = basal_rate_u_per_min(params[i]) * therapy[TH_INITIAL_DOSE]
        cr[j] = params[i, P_CR]
        cf[j] = params[i, P_CF]
        if therapy[TH_RATIOS_FROM_TDD] != 0.0:
            cr[j], cf[j] = ratios_from_tdd(basal0_u[j] * MINUTES_PER_DAY)
        if j < n_lanes:
            slot[j] = trace_slot[i]
        acute.fill_time_of_day(tr[j], on[SW_TIME_OF_DAY] != 0.0, on[SW_DAWN] != 0.0, tod[j],
                               dawn[j])
        # slow states: body composition from the traits; the rest set after day 0
        st[j, slow.S_FAT] = tr[j, T_FAT0]
        st[j, slow.S_LEAN] = bw[j] - tr[j, T_FAT0]
        for k in range(slow.S_VISCERAL, slow.N_SLOW):
            st[j, k] = 1.0
        st[j, slow.S_EXERCISE] = 0.0
        appetite[j] = tr[j, T_CARB_APPETITE]
        _, noncarb_kcal[j] = habitual_intake_kcal(
            st[j, slow.S_FAT], st[j, slow.S_LEAN], tr[j], appetite[j] * habitual_slot_g)
        # meal bookkeeping (carried across midnight: a late dinner finishes the next day)
        dbar_start[j] = x[0] + x[1]
        # sensor: error-model knots every NOISE_KNOT_MIN, readings every cgm_interval_min;
        # countdowns rather than t % n, whose integer divisions cost more than they look
        cgm[j] = x[X_GS] * inv_vg[j]
        if has_noise:
            noise_e[j], err_next[j] = sensor.next_knot(seed, pid[j], 0, 0.0, sensor_params)
            knot[j] = 1
        if j >= n_lanes:
            _idle_lane(w, j, x0[i])
    for day in range(n_days):
        # --- each lane's plan for the day ---
        for j in range(n_lanes):
            if failed[j]:
                _mark_failed(daily, log_phi_out, status, row[j], day)
                continue
            trj = tr[j]
            if day == behaviour[B_DIET_DAY]:
                trj[T_FAT_SHARE] = behaviour[B_DIET_FAT]
                trj[T_SUGAR_SHARE] = behaviour[B_DIET_SUGAR]
                trj[T_ENERGY_SURPLUS] = behaviour[B_DIET_SURPLUS]
                _, noncarb_kcal[j] = habitual_intake_kcal(
                    st[j, slow.S_FAT], st[j, slow.S_LEAN], trj, appetite[j] * habitual_slot_g)
            ill[j] = illness_severity(seed, pid[j], day, behaviour)
            day_appetite = appetite[j] * (1.0 - behaviour[B_ILLNESS_APPETITE] * ill[j])
            n_meals[j] = plan_meals(seed, pid[j], day, meal_slots[0], meal_slots[1],
                                    meal_slots[2], meal_slots[3], meal_slots[4], day_appetite,
                                    meal_minute[j], meal_grams[j], meal_slot[j])
            next_meal[j] = 0
            ex_start[j], ex_len[j], ex_hr[j] = exercise_session(seed, pid[j], day, trj,
                                                                 behaviour)
            st_start[j], st_len[j], st_sev[j] = stress_episode(seed, pid[j], day, trj,
                                                               behaviour)
            sp_day[j] = sp_rel[j] / (1.0 + acute.ILLNESS_SP * ill[j])
            ecr_day[j] = ecr_rel[j] * (1.0 + acute.ILLNESS_KP1 * ill[j])
            sick_extra = 1.0 + therapy[TH_SICK_DAY_EXTRA] * (ill[j] > 0.0)
            basal_u[j] = basal0_u[j] * basal_f[j] * sick_extra
            for a in range(N_ACC):
                acc[j, a] = 0.0
        # --- the day's minutes: every lane's decisions, one vector step, the accumulators ---
        for m in range(MINUTES_PER_DAY):
            for j in range(n_lanes):
                if failed[j]:
                    continue
                bgj = state_value(w, j, X_GS) * inv_vg[j]
                bg[j] = bgj
                if not (BG_EXHAUSTED_MG_DL < bgj < BG_ABSURD_MG_DL):   # also false for NaN
                    failed[j] = True
                    failed_today[j] = True
                    _idle_lane(w, j, x0[row[j]])
                    continue
                if has_noise:
                    if knot_in[j] == 0:
                        err_prev[j] = err_next[j]
                        noise_e[j], err_next[j] = sensor.next_knot(seed, pid[j], knot[j],
                                                                   noise_e[j], sensor_params)
                        knot[j] += 1
                        knot_in[j] = sensor.NOISE_KNOT_MIN
                    knot_in[j] -= 1
                if cgm_in[j] == 0:
                    since_knot = sensor.NOISE_KNOT_MIN - 1 - knot_in[j]
                    cgm[j] = sensor.reading(
                        bgj, err_prev[j] + (err_next[j] - err_prev[j]) * since_knot
                        / sensor.NOISE_KNOT_MIN, sensor_params)
                    cgm_in[j] = cgm_interval_min
                cgm_in[j] -= 1
                # 2-D indexing, not a row view: a view per lane-minute costs two atomic
                # reference-count updates
                accumulate_glucose(acc, j, bgj)
                run_below[j], run_above[j], in_event[j], started = track_hypo_event(
                    bgj, run_below[j], run_above[j], in_event[j])
                acc[j, A_HYPO] += started
                if FASTING_WINDOW[0] <= m < FASTING_WINDOW[1]:
                    tacc[j, TA_FASTING_SUM] += bgj
                    tacc[j, TA_FASTING_N] += 1.0
                # meals announced this minute (eaten at 5 g/min) and their boluses
                bolus_u = 0.0
                while next_meal[j] < n_meals[j] and meal_minute[j, next_meal[j]] == m:
                    grams = meal_grams[j, next_meal[j]]
                    s = meal_slot[j, next_meal[j]]
                    planned_g[j] += grams
                    factor, delay, given = bolus_decision(seed, pid[j], day, s, tr[j],
                                                          behaviour)
                    if given:
                        if therapy[TH_CARB_COUNTING] != 0.0:
                            estimate = grams * factor
                        else:
                            estimate = meal_slots[2, s] * appetite[j]
                        units = meal_bolus_u(estimate, cgm[j], iob[j], cr[j], cf[j],
                                             bolus_f[j], therapy)
                        if delay == 0:
                            bolus_u += units
                        elif n_pend[j] < MAX_PENDING:
                            pend_minute[j, n_pend[j]] = m + delay
                            pend_units[j, n_pend[j]] = units
                            n_pend[j] += 1
                    next_meal[j] += 1
                k = 0
                while k < n_pend[j]:
                    if pend_minute[j, k] == m:
                        bolus_u += pend_units[j, k]
                        n_pend[j] -= 1
                        pend_minute[j, k] = pend_minute[j, n_pend[j]]
                        pend_units[j, k] = pend_units[j, n_pend[j]]
                    else:
                        k += 1
                # hypoglycaemia treated with rescue carbohydrate, no bolus, when the CGM alarm
                # is confirmed by a finger-stick (the blood glucose)
                if rescue_wait[j] > 0:
                    rescue_wait[j] -= 1
                elif (behaviour[B_HYPO_TREAT_G] > 0.0 and cgm[j] < behaviour[B_HYPO_THRESHOLD]
                      and bgj < behaviour[B_HYPO_THRESHOLD]):
                    planned_g[j] += behaviour[B_HYPO_TREAT_G]
                    acc[j, A_RESCUE] += behaviour[B_HYPO_TREAT_G]
                    rescue_wait[j] = int(behaviour[B_HYPO_WAIT_MIN])
                carbs = planned_g[j] if planned_g[j] < EAT_RATE_G_PER_MIN else EAT_RATE_G_PER_MIN
                planned_g[j] -= carbs
                dbar_start[j], eaten_g[j], eating[j], dbar = update_meal_size(
                    carbs, prev_carbs[j], lane_state(w, j), dbar_start[j], eaten_g[j],
                    eating[j])
                prev_carbs[j] = carbs
                bolus_u *= dose_scale
                insulin_u = basal_u[j] * dose_scale + bolus_u
                iob[j] = iob[j] * iob_decay + bolus_u
                # acute modifiers: exercise, stress, time of day, dawn
                s_p = sp_day[j] * tod[j, m]
                e_cr = ecr_day[j] * dawn[j, m]
                vm0_f = 1.0
                gzw = 0.0
                hr_ex = ex_hr[j] if ex_start[j] <= m < ex_start[j] + ex_len[j] else 0.0
                if m == ex_start[j]:
                    ex_w[j] = 0.0
                if hr_ex > 0.0 or ex_y[j] > 1e-9 or ex_z[j] > 1e-12:
                    ex_y[j], ex_z[j], ex_w[j] = acute.exercise_step(ex_y[j], ex_z[j], ex_w[j],
                                                                    hr_ex, tr[j, T_HR_REST])
                    vm0_f = 1.0 + acute.EX_BETA * ex_y[j]
                    s_p *= 1.0 + acute.EX_ALPHA * ex_z[j] * ex_w[j]
                    gzw = acute.EX_GAMMA * ex_z[j] * ex_w[j]
                    if hr_ex > 0.0:
                        acc[j, A_EXERCISE_MIN] += 1.0
                        acc[j, A_EXERCISE_DOSE] += hr_ex / 3600.0
                if st_start[j] <= m < st_start[j] + st_len[j]:
                    s_p /= 1.0 + acute.STRESS_SP * st_sev[j]
                    e_cr *= 1.0 + acute.STRESS_KP1 * st_sev[j]
                set_input(w, j, IN_CARBS_MG, carbs * MG_PER_G)
                set_input(w, j, IN_INSULIN_PMOL, insulin_u * to_pmol_per_kg[j])
                set_input(w, j, IN_DBAR, dbar)
                set_input(w, j, IN_SP, s_p)
                set_input(w, j, IN_SH, sh_rel[j])
                set_input(w, j, IN_ECR, e_cr)
                set_input(w, j, IN_VM0F, vm0_f)
                set_input(w, j, IN_GZW, gzw)
                acc[j, A_BASAL] += basal_u[j] * dose_scale
                acc[j, A_BOLUS] += bolus_u
                acc[j, A_CARBS] += carbs
                if slot[j] >= 0:
                    sl = slot[j]
                    if trace_in[j] == 0:
                        sample[j] += 1
                        traces[TRACE_BG, sl, sample[j]] = bgj
                        traces[TRACE_CGM, sl, sample[j]] = cgm[j]
                        traces[TRACE_INSULIN, sl, sample[j]] = 0.0
                        traces[TRACE_CARBS, sl, sample[j]] = 0.0
                        traces[TRACE_SI, sl, sample[j]] = s_p
                        trace_in[j] = trace_interval_min
                    trace_in[j] -= 1
                    traces[TRACE_INSULIN, sl, sample[j]] += insulin_u
                    traces[TRACE_CARBS, sl, sample[j]] += carbs
            rk4_lanes(w)
            for j in range(n_lanes):
                if failed[j]:
                    continue
                acc[j, A_INSULIN] += state_value(w, j, X_IP) * inv_vi[j]
                if bg[j] > HYPER_THRESHOLD:
                    acc[j, A_HYPER] += bg[j] - HYPER_THRESHOLD
                acc[j, A_URINE_MG] += renal_excretion(state_value(w, j, X_GP),
                                                      lane_params(w, j)) * bw[j]
        # --- each lane's day: metrics, the slow step, titration ---
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
            if failed[j]:
                continue
            for k in range(n_pend[j]):
                pend_minute[j, k] -= MINUTES_PER_DAY
            bw[j], to_pmol_per_kg[j], sp_rel[j], sh_rel[j], ecr_rel[j] = _end_of_day(
                acc[j], st[j], tr[j], gmi_ring[j], log_phi[j], agg, day, ill[j],
                noncarb_kcal[j], bw[j], to_pmol_per_kg[j], on, behaviour, daily, log_phi_out,
                status, i)
            set_param(w, j, P_BW, bw[j])
            # --- titration at the end of each interval ---
            tacc[j, TA_SUM] += acc[j, A_SUM]
            tacc[j, TA_N] += acc[j, A_N]
            tacc[j, TA_BELOW70] += acc[j, A_BELOW70]
            tacc[j, TA_DAYS] += 1.0
            if therapy[TH_TITRATE_DAYS] > 0.0 and tacc[j, TA_DAYS] >= therapy[TH_TITRATE_DAYS]:
                basal_f[j], bolus_f[j] = titrate(basal_f[j], bolus_f[j], tacc[j], therapy)
                for a in range(N_TITRATION_ACC):
                    tacc[j, a] = 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _idle_lane(w, j, x0_row):
    """Park lane j (padding, or a stopped patient) at a resting state with neutral inputs, so
    its share of the vector arithmetic stays finite and cheap (no NaN, no denormals)."""
    set_lane_state(w, j, state_tuple(x0_row))
    for r in range(N_INPUTS):
        set_input(w, j, r, 0.0)
    for r in (IN_SP, IN_SH, IN_ECR, IN_VM0F):
        set_input(w, j, r, 1.0)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _end_of_day(acc, st, tr, gmi_ring, log_phi, agg, day, ill, noncarb_kcal, bw,
                to_pmol_per_kg, on, behaviour, daily, log_phi_out, status, i):
    """One patient's day metrics and slow step: today's aggregates -> tomorrow's multipliers.
    Returns (body weight, its insulin unit factor, s_p, s_h, e_cr relative to the reference)."""
    age = tr[T_AGE0] + day / 365.25
    finish_day(acc, st[slow.S_FAT] + st[slow.S_LEAN], daily, i, day)
    n = acc[A_N]
    agg[slow.G_MEAN_INSULIN] = acc[A_INSULIN] / n
    agg[slow.G_HYPER_EXPOSURE] = acc[A_HYPER] / n
    agg[slow.G_URINE_G] = acc[A_URINE_MG] / 1000.0
    agg[slow.G_INTAKE_KCAL] = (slow.KCAL_PER_G_GLUCOSE * acc[A_CARBS]
                               + noncarb_kcal * (1.0 - behaviour[B_ILLNESS_APPETITE] * ill))
    agg[slow.G_EXERCISE_KCAL] = acute.exercise_kcal(acc[A_EXERCISE_DOSE] * 3600.0, bw)
    agg[slow.G_EXERCISE_DOSE] = acc[A_EXERCISE_DOSE]
    agg[slow.G_MEAN_GLUCOSE] = acc[A_SUM] / n
    if day == 0:
        slow.equilibrate(st, agg, tr, age, on)
        for g in range(slow.GMI_DAYS):
            gmi_ring[g] = agg[slow.G_MEAN_GLUCOSE]
    else:
        slow.daily_update(st, agg, tr, age, on, tr[T_PAL])
    gmi_ring[day % slow.GMI_DAYS] = agg[slow.G_MEAN_GLUCOSE]
    s_p_abs, s_h_abs, e_cr_abs = slow.multipliers(st, tr, age + 1.0 / 365.25, on, log_phi)
    weight = st[slow.S_FAT] + st[slow.S_LEAN]
    if on[SW_WEIGHT_FEEDBACK] != 0.0:
        bw = weight
        to_pmol_per_kg = PMOL_PER_U / bw
    hba1c = slow.hba1c_from_eag(st[slow.S_EAG])
    gmi_sum = 0.0
    for g in range(slow.GMI_DAYS):
        gmi_sum += gmi_ring[g]
    height = tr[T_HEIGHT_M]
    bmi = weight / (height * height)
    waist = slow.waist_cm(tr, bmi, st[slow.S_VISCERAL], st[slow.S_FAT], age)
    daily[D_BMI, i, day] = bmi
    daily[D_FAT_MASS, i, day] = st[slow.S_FAT]
    daily[D_VISCERAL, i, day] = st[slow.S_VISCERAL]
    daily[D_WAIST, i, day] = waist
    daily[D_FFA, i, day] = st[slow.S_FFA]
    daily[D_INFLAMMATION, i, day] = st[slow.S_INFLAMMATION]
    daily[D_OXIDATIVE, i, day] = st[slow.S_ROS]
    daily[D_GLUT4, i, day] = st[slow.S_GLUT4]
    daily[D_RECEPTOR, i, day] = st[slow.S_RECEPTOR]
    daily[D_TONE, i, day] = st[slow.S_TONE]
    daily[D_SI_PERIPHERAL, i, day] = s_p_abs
    daily[D_SI_HEPATIC, i, day] = s_h_abs
    daily[D_HBA1C, i, day] = hba1c
    daily[D_GMI, i, day] = slow.gmi_from_mean(gmi_sum / slow.GMI_DAYS)
    daily[D_EGDR, i, day] = slow.egdr(waist, tr[T_HTN], hba1c)
    daily[D_RESCUE_G, i, day] = acc[A_RESCUE]
    daily[D_EXERCISE_MIN, i, day] = acc[A_EXERCISE_MIN]
    daily[D_ILLNESS, i, day] = ill
    daily[D_MEAN_INSULIN, i, day] = agg[slow.G_MEAN_INSULIN]
    for k in range(slow.N_MECH):
        log_phi_out[k, i, day] = log_phi[k]
    status[i, day] = STATUS_OK
    return (bw, to_pmol_per_kg, s_p_abs / slow.REFERENCE_SP, s_h_abs / slow.REFERENCE_SH,
            e_cr_abs / slow.REFERENCE_ECR)


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
