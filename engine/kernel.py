"""The population stepper: patients x days x minutes, reduced in place to daily aggregates.

Each patient is independent: its minutes feed per-day accumulators; at midnight the slow
model (`model/slow.py`) advances the insulin-resistance mechanisms one day and hands the fast
model new multipliers for the next. Only traced patients keep 5-minute samples. The kernel is
a plain loop over patients, compiled with nogil so dask's threads run blocks in parallel;
block size and thread count cannot change a result.

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
from .model.fast import renal_excretion, rk4_step, state_tuple, update_meal_size
from .model.params import MG_PER_G, P_BW, P_CF, P_CR, P_VG, P_VI, PMOL_PER_U, X_GP, X_GS, X_IP
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
    status[i, day] and traces[TRACE_*, slot, sample]. NaN marks days after a failure."""
    n_slots = meal_slots.shape[1]
    meal_minute = np.empty(MAX_MEALS_PER_DAY, dtype=np.int64)
    meal_grams = np.empty(MAX_MEALS_PER_DAY)
    meal_slot = np.empty(MAX_MEALS_PER_DAY, dtype=np.int64)
    pend_minute = np.empty(MAX_PENDING, dtype=np.int64)
    pend_units = np.empty(MAX_PENDING)
    acc = np.empty(N_ACC)
    agg = np.empty(slow.N_AGG)
    st = np.empty(slow.N_SLOW)
    log_phi = np.empty(slow.N_MECH)
    tacc = np.empty(N_TITRATION_ACC)
    gmi_ring = np.empty(slow.GMI_DAYS)
    tod = np.empty(MINUTES_PER_DAY)
    dawn = np.empty(MINUTES_PER_DAY)
    on = switches
    habitual_slot_g = 0.0
    for s in range(n_slots):
        habitual_slot_g += meal_slots[2, s] * meal_slots[4, s]
    iob_decay = math.exp(-3.0 / therapy[TH_DIA_MIN]) if therapy[TH_DIA_MIN] > 0.0 else 0.0
    dose_scale = therapy[TH_DOSE_SCALE]
    for i in range(params.shape[0]):
        p = params[i].copy()
        tr = traits[i].copy()
        pid = patient_ids[i]
        x = state_tuple(x0[i])
        inv_vg = 1.0 / p[P_VG]
        inv_vi = 1.0 / p[P_VI]
        bw = p[P_BW]
        to_pmol_per_kg = PMOL_PER_U / bw
        basal0_u = basal_rate_u_per_min(p) * therapy[TH_INITIAL_DOSE]
        cr = p[P_CR]
        cf = p[P_CF]
        if therapy[TH_RATIOS_FROM_TDD] != 0.0:
            cr, cf = ratios_from_tdd(basal0_u * MINUTES_PER_DAY)
        basal_f = 1.0
        bolus_f = 1.0
        for a in range(N_TITRATION_ACC):
            tacc[a] = 0.0
        slot = trace_slot[i]
        acute.fill_time_of_day(tr, on[SW_TIME_OF_DAY] != 0.0, on[SW_DAWN] != 0.0, tod, dawn)
        # slow states: body composition from the traits; the rest set after day 0
        st[slow.S_FAT] = tr[T_FAT0]
        st[slow.S_LEAN] = bw - tr[T_FAT0]
        for k in range(slow.S_VISCERAL, slow.N_SLOW):
            st[k] = 1.0
        st[slow.S_EXERCISE] = 0.0
        appetite = tr[T_CARB_APPETITE]
        intake_kcal, noncarb_kcal = habitual_intake_kcal(st[slow.S_FAT], st[slow.S_LEAN], tr,
                                                         appetite * habitual_slot_g)
        sp_rel = 1.0
        sh_rel = 1.0
        ecr_rel = 1.0
        # meal bookkeeping (carried across midnight: a late dinner finishes the next day)
        planned_g = 0.0
        prev_carbs = 0.0
        dbar_start = x[0] + x[1]
        eaten_g = 0.0
        eating = False
        n_pend = 0
        iob = 0.0
        rescue_wait = 0
        ex_y = 0.0
        ex_z = 0.0
        ex_w = 0.0
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
        run_below = 0
        run_above = 0
        in_event = False
        failed = False
        for day in range(n_days):
            if failed:
                _mark_failed(daily, log_phi_out, status, i, day)
                continue
            age = tr[T_AGE0] + day / 365.25
            if day == behaviour[B_DIET_DAY]:
                tr[T_FAT_SHARE] = behaviour[B_DIET_FAT]
                tr[T_SUGAR_SHARE] = behaviour[B_DIET_SUGAR]
                tr[T_ENERGY_SURPLUS] = behaviour[B_DIET_SURPLUS]
                intake_kcal, noncarb_kcal = habitual_intake_kcal(
                    st[slow.S_FAT], st[slow.S_LEAN], tr, appetite * habitual_slot_g)
            ill = illness_severity(seed, pid, day, behaviour)
            day_appetite = appetite * (1.0 - behaviour[B_ILLNESS_APPETITE] * ill)
            n_meals = plan_meals(seed, pid, day, meal_slots[0], meal_slots[1], meal_slots[2],
                                 meal_slots[3], meal_slots[4], day_appetite, meal_minute,
                                 meal_grams, meal_slot)
            next_meal = 0
            ex_start, ex_len, ex_hr = exercise_session(seed, pid, day, tr, behaviour)
            st_start, st_len, st_sev = stress_episode(seed, pid, day, tr, behaviour)
            sp_day = sp_rel / (1.0 + acute.ILLNESS_SP * ill)
            ecr_day = ecr_rel * (1.0 + acute.ILLNESS_KP1 * ill)
            sick_extra = 1.0 + therapy[TH_SICK_DAY_EXTRA] * (ill > 0.0)
            basal_u = basal0_u * basal_f * sick_extra
            for a in range(N_ACC):
                acc[a] = 0.0
            for m in range(MINUTES_PER_DAY):
                bg = x[X_GS] * inv_vg
                if not (BG_EXHAUSTED_MG_DL < bg < BG_ABSURD_MG_DL):   # also false for NaN
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
                if FASTING_WINDOW[0] <= m < FASTING_WINDOW[1]:
                    tacc[TA_FASTING_SUM] += bg
                    tacc[TA_FASTING_N] += 1.0
                # meals announced this minute (eaten at 5 g/min) and their boluses
                bolus_u = 0.0
                while next_meal < n_meals and meal_minute[next_meal] == m:
                    grams = meal_grams[next_meal]
                    s = meal_slot[next_meal]
                    planned_g += grams
                    factor, delay, given = bolus_decision(seed, pid, day, s, tr, behaviour)
                    if given:
                        if therapy[TH_CARB_COUNTING] != 0.0:
                            estimate = grams * factor
                        else:
                            estimate = meal_slots[2, s] * appetite
                        units = meal_bolus_u(estimate, cgm, iob, cr, cf, bolus_f, therapy)
                        if delay == 0:
                            bolus_u += units
                        elif n_pend < MAX_PENDING:
                            pend_minute[n_pend] = m + delay
                            pend_units[n_pend] = units
                            n_pend += 1
                    next_meal += 1
                k = 0
                while k < n_pend:
                    if pend_minute[k] == m:
                        bolus_u += pend_units[k]
                        n_pend -= 1
                        pend_minute[k] = pend_minute[n_pend]
                        pend_units[k] = pend_units[n_pend]
                    else:
                        k += 1
                # hypoglycaemia treated with rescue carbohydrate, no bolus, when the CGM alarm
                # is confirmed by a finger-stick (the blood glucose)
                if rescue_wait > 0:
                    rescue_wait -= 1
                elif (behaviour[B_HYPO_TREAT_G] > 0.0 and cgm < behaviour[B_HYPO_THRESHOLD]
                      and bg < behaviour[B_HYPO_THRESHOLD]):
                    planned_g += behaviour[B_HYPO_TREAT_G]
                    acc[A_RESCUE] += behaviour[B_HYPO_TREAT_G]
                    rescue_wait = int(behaviour[B_HYPO_WAIT_MIN])
                carbs = planned_g if planned_g < EAT_RATE_G_PER_MIN else EAT_RATE_G_PER_MIN
                planned_g -= carbs
                dbar_start, eaten_g, eating, dbar = update_meal_size(
                    carbs, prev_carbs, x, dbar_start, eaten_g, eating)
                prev_carbs = carbs
                bolus_u *= dose_scale
                insulin_u = basal_u * dose_scale + bolus_u
                iob = iob * iob_decay + bolus_u
                # acute modifiers: exercise, stress, time of day, dawn
                s_p = sp_day * tod[m]
                e_cr = ecr_day * dawn[m]
                vm0_f = 1.0
                gzw = 0.0
                hr_ex = ex_hr if ex_start <= m < ex_start + ex_len else 0.0
                if m == ex_start:
                    ex_w = 0.0
                if hr_ex > 0.0 or ex_y > 1e-9 or ex_z > 1e-12:
                    ex_y, ex_z, ex_w = acute.exercise_step(ex_y, ex_z, ex_w, hr_ex, tr[T_HR_REST])
                    vm0_f = 1.0 + acute.EX_BETA * ex_y
                    s_p *= 1.0 + acute.EX_ALPHA * ex_z * ex_w
                    gzw = acute.EX_GAMMA * ex_z * ex_w
                    if hr_ex > 0.0:
                        acc[A_EXERCISE_MIN] += 1.0
                        acc[A_EXERCISE_DOSE] += hr_ex / 3600.0
                if st_start <= m < st_start + st_len:
                    s_p /= 1.0 + acute.STRESS_SP * st_sev
                    e_cr *= 1.0 + acute.STRESS_KP1 * st_sev
                x = rk4_step(x, p, carbs * MG_PER_G, insulin_u * to_pmol_per_kg, dbar,
                             s_p, sh_rel, e_cr, vm0_f, gzw)
                acc[A_BASAL] += basal_u * dose_scale
                acc[A_BOLUS] += bolus_u
                acc[A_CARBS] += carbs
                acc[A_INSULIN] += x[X_IP] * inv_vi
                if bg > HYPER_THRESHOLD:
                    acc[A_HYPER] += bg - HYPER_THRESHOLD
                acc[A_URINE_MG] += renal_excretion(x[X_GP], p) * bw
                if slot >= 0:
                    if trace_in == 0:
                        sample += 1
                        traces[TRACE_BG, slot, sample] = bg
                        traces[TRACE_CGM, slot, sample] = cgm
                        traces[TRACE_INSULIN, slot, sample] = 0.0
                        traces[TRACE_CARBS, slot, sample] = 0.0
                        traces[TRACE_SI, slot, sample] = s_p
                        trace_in = trace_interval_min
                    trace_in -= 1
                    traces[TRACE_INSULIN, slot, sample] += insulin_u
                    traces[TRACE_CARBS, slot, sample] += carbs
            if failed:
                _mark_failed(daily, log_phi_out, status, i, day)
                if slot >= 0:
                    start = day * MINUTES_PER_DAY // trace_interval_min
                    for v in range(N_TRACE):
                        for s in range(start, traces.shape[2]):
                            traces[v, slot, s] = np.nan
                continue
            for k in range(n_pend):
                pend_minute[k] -= MINUTES_PER_DAY
            finish_day(acc, st[slow.S_FAT] + st[slow.S_LEAN], daily, i, day)
            # --- the slow step: today's aggregates -> tomorrow's multipliers ---
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
            sp_rel = s_p_abs / slow.REFERENCE_SP
            sh_rel = s_h_abs / slow.REFERENCE_SH
            ecr_rel = e_cr_abs / slow.REFERENCE_ECR
            weight = st[slow.S_FAT] + st[slow.S_LEAN]
            if on[SW_WEIGHT_FEEDBACK] != 0.0:
                bw = weight
                p[P_BW] = bw
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
            # --- titration at the end of each interval ---
            tacc[TA_SUM] += acc[A_SUM]
            tacc[TA_N] += acc[A_N]
            tacc[TA_BELOW70] += acc[A_BELOW70]
            tacc[TA_DAYS] += 1.0
            if therapy[TH_TITRATE_DAYS] > 0.0 and tacc[TA_DAYS] >= therapy[TH_TITRATE_DAYS]:
                basal_f, bolus_f = titrate(basal_f, bolus_f, tacc, therapy)
                for a in range(N_TITRATION_ACC):
                    tacc[a] = 0.0


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
