"""One patient's life around the fast model: the day's plan, each minute's decisions, the
accumulators after each step and the day's end, written once and shared by every backend.

The CPU kernel (kernel.py) runs a group of LANES patients, one lane each, and steps them with
one vectorised RK4; the CUDA kernel (cuda_kernel.py) runs one patient per thread with one lane.
Both call these functions on lane j of the same arrays, so the physiology, the behaviour and
the therapy exist once. Per-lane scalars live in two small tables, `lf[j, F_*]` (floats) and
`li[j, I_*]` (integers and flags), so a lane's whole state is a row and the functions need no
per-backend storage. The functions touch no global output: what a day produces goes to the
lane's row of `out` (O_*), and the caller writes it where its results live. They use numpy's
error model, as numba-cuda does on the device: a division by zero gives inf or NaN (and stops
that patient) rather than raising, on both backends.
"""
import math

import numba as nb

from ..life import sensor
from ..life.behaviour import B_DIET_DAY, B_DIET_FAT, B_DIET_SUGAR, B_DIET_SURPLUS, B_HYPO_THRESHOLD, B_HYPO_TREAT_G, B_HYPO_WAIT_MIN, B_ILLNESS_APPETITE, EAT_RATE_G_PER_MIN, MINUTES_PER_DAY, bolus_decision, exercise_session, illness_severity, plan_meals, stress_episode
from ..model.glycaemia import A_BASAL, A_BELOW70, A_BOLUS, A_CARBS, A_EXERCISE_DOSE, A_EXERCISE_MIN, A_HYPER, A_HYPO, A_INSULIN, A_N, A_RESCUE, A_SUM, A_URINE_MG, D_BMI, D_EGDR, D_EXERCISE_MIN, D_FAT_MASS, D_FFA, D_GLUT4, D_GMI, D_HBA1C, D_ILLNESS, D_INFLAMMATION, D_MEAN_INSULIN, D_OXIDATIVE, D_RECEPTOR, D_RESCUE_G, D_SI_HEPATIC, D_SI_PERIPHERAL, D_TONE, D_VISCERAL, D_WAIST, N_ACC, N_DAILY, accumulate_glucose, finish_day, track_hypo_event
from ..model import acute, slow
from ..model.fast import renal_excretion, update_meal_size
from ..model.params import MG_PER_G, P_BW, P_CF, P_CR, P_VG, P_VI, PMOL_PER_U, X_GP, X_GS, X_IP
from ..life.therapy import FASTING_WINDOW, N_TITRATION_ACC, TA_BELOW70, TA_DAYS, TA_FASTING_N, TA_FASTING_SUM, TA_N, TA_SUM, TH_CARB_COUNTING, TH_DIA_MIN, TH_DOSE_SCALE, TH_INITIAL_DOSE, TH_RATIOS_FROM_TDD, TH_SICK_DAY_EXTRA, TH_TITRATE_DAYS, basal_rate_u_per_min, meal_bolus_u, ratios_from_tdd, titrate
from ..model.traits import T_AGE0, T_CARB_APPETITE, T_ENERGY_SURPLUS, T_FAT0, T_FAT_SHARE, T_HEIGHT_M, T_HR_REST, T_HTN, T_PAL, T_SESSION_HR, T_SESSION_MIN, T_SESSIONS_PER_WEEK, T_SUGAR_SHARE

STATUS_OK = 0
STATUS_NONFINITE = 1   # glucose non-finite, absurd or exhausted (<= 0); patient stopped
BG_ABSURD_MG_DL = 5000.0
BG_EXHAUSTED_MG_DL = 1.0   # below this the fixed-step integration has lost the patient

# switches beyond the mechanisms (indices after slow.N_MECH in the `switches` vector)
SW_DAWN = slow.N_MECH
SW_TIME_OF_DAY = slow.N_MECH + 1
SW_WEIGHT_FEEDBACK = slow.N_MECH + 2
SW_MIDPOINT = slow.N_MECH + 3      # 1: the optional midpoint integrator instead of RK4
N_SWITCHES = slow.N_MECH + 4

MAX_MEALS_PER_DAY = 32
MAX_PENDING = 16
HYPER_THRESHOLD = slow.GLUCOTOX_THRESHOLD

# lf[j, F_*]: a lane's floating-point state
(F_INV_VG, F_INV_VI, F_BW, F_TO_PMOL_PER_KG, F_BASAL0_U, F_CR, F_CF, F_BASAL_F, F_BOLUS_F,
 F_APPETITE, F_NONCARB_KCAL, F_SP_REL, F_SH_REL, F_ECR_REL, F_PLANNED_G, F_PREV_CARBS,
 F_DBAR_START, F_EATEN_G, F_IOB, F_EX_Y, F_EX_Z, F_EX_W, F_CGM, F_NOISE_E, F_ERR_PREV,
 F_ERR_NEXT, F_ILL, F_EX_HR, F_ST_SEV, F_SP_DAY, F_ECR_DAY, F_BASAL_U, F_BG, F_INSULIN_U,
 F_CARBS_G, F_S_P) = range(36)
N_LANE_F = 36
# li[j, I_*]: a lane's integers and flags
(I_PID, I_EATING, I_N_PEND, I_RESCUE_WAIT, I_KNOT, I_KNOT_IN, I_CGM_IN, I_RUN_BELOW,
 I_RUN_ABOVE, I_IN_EVENT, I_FAILED, I_N_MEALS, I_NEXT_MEAL, I_EX_START, I_EX_LEN, I_ST_START,
 I_ST_LEN) = range(17)
N_LANE_I = 17
# out[j, O_*]: a finished day, the daily variables then each mechanism's log factor of s_p
O_LOG_PHI = N_DAILY
N_OUT = N_DAILY + slow.N_MECH


@nb.njit(cache=True, nogil=True, error_model="numpy")
def habitual_intake_kcal(fat, lean, tr, habitual_carbs_g):
    """(intake kcal/day, of which not carbohydrate): the energy balance at the start, raised
    by the patient's habitual surplus; carbohydrate is what the meals give."""
    session_kcal = acute.exercise_kcal(tr[T_SESSION_HR] * tr[T_SESSION_MIN], fat + lean)
    exercise = session_kcal * tr[T_SESSIONS_PER_WEEK] / 7.0
    balance = (tr[T_PAL] * slow.resting_expenditure(fat, lean) + exercise) / (1.0 - slow.TEF)
    intake = balance * (1.0 + tr[T_ENERGY_SURPLUS])
    carbs_kcal = slow.KCAL_PER_G_GLUCOSE * habitual_carbs_g
    return intake, max(intake - carbs_kcal, 0.2 * intake)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def run_constants(meal_slots, therapy, sensor_params):
    """(habitual carbohydrate per day at appetite 1 g, IOB decay per minute, dose scale,
    sensor noise on) from the run's settings."""
    habitual_slot_g = 0.0
    for s in range(meal_slots.shape[1]):
        habitual_slot_g += meal_slots[2, s] * meal_slots[4, s]
    iob_decay = math.exp(-3.0 / therapy[TH_DIA_MIN]) if therapy[TH_DIA_MIN] > 0.0 else 0.0
    return (habitual_slot_g, iob_decay, therapy[TH_DOSE_SCALE],
            sensor_params[sensor.S_KIND] != sensor.SENSOR_NONE)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_start(j, p, x, traits, pid, seed, therapy, on, sensor_params, habitual_slot_g,
               has_noise, lf, li, tr, st, tacc, tod, dawn):
    """Lane j takes the patient with parameter row `p`, initial state tuple `x`, traits row
    `traits` and id `pid`: its therapy, time-of-day tables, body composition and sensor."""
    for k in range(N_LANE_F):
        lf[j, k] = 0.0
    for k in range(N_LANE_I):
        li[j, k] = 0
    for k in range(N_TITRATION_ACC):
        tacc[j, k] = 0.0
    for k in range(traits.shape[0]):
        tr[j, k] = traits[k]
    li[j, I_PID] = pid
    lf[j, F_INV_VG] = 1.0 / p[P_VG]
    lf[j, F_INV_VI] = 1.0 / p[P_VI]
    lf[j, F_BW] = p[P_BW]
    lf[j, F_TO_PMOL_PER_KG] = PMOL_PER_U / p[P_BW]
    lf[j, F_BASAL0_U] = basal_rate_u_per_min(p) * therapy[TH_INITIAL_DOSE]
    lf[j, F_CR] = p[P_CR]
    lf[j, F_CF] = p[P_CF]
    if therapy[TH_RATIOS_FROM_TDD] != 0.0:
        lf[j, F_CR], lf[j, F_CF] = ratios_from_tdd(lf[j, F_BASAL0_U] * MINUTES_PER_DAY)
    for k in (F_BASAL_F, F_BOLUS_F, F_SP_REL, F_SH_REL, F_ECR_REL, F_SP_DAY, F_ECR_DAY):
        lf[j, k] = 1.0
    li[j, I_EX_START] = -1
    li[j, I_ST_START] = -1
    acute.fill_time_of_day(tr[j], on[SW_TIME_OF_DAY] != 0.0, on[SW_DAWN] != 0.0, tod[j],
                           dawn[j])
    # slow states: body composition from the traits; the rest set after day 0
    st[j, slow.S_FAT] = tr[j, T_FAT0]
    st[j, slow.S_LEAN] = p[P_BW] - tr[j, T_FAT0]
    for k in range(slow.S_VISCERAL, slow.N_SLOW):
        st[j, k] = 1.0
    st[j, slow.S_EXERCISE] = 0.0
    lf[j, F_APPETITE] = tr[j, T_CARB_APPETITE]
    _, lf[j, F_NONCARB_KCAL] = habitual_intake_kcal(
        st[j, slow.S_FAT], st[j, slow.S_LEAN], tr[j], lf[j, F_APPETITE] * habitual_slot_g)
    # meal bookkeeping (carried across midnight: a late dinner finishes the next day)
    lf[j, F_DBAR_START] = x[0] + x[1]
    # sensor: error-model knots every NOISE_KNOT_MIN, readings every cgm_interval_min;
    # countdowns rather than t % n, whose integer divisions cost more than they look
    lf[j, F_CGM] = x[X_GS] * lf[j, F_INV_VG]
    if has_noise:
        lf[j, F_NOISE_E], lf[j, F_ERR_NEXT] = sensor.next_knot(seed, pid, 0, 0.0, sensor_params)
        li[j, I_KNOT] = 1


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_plan_day(j, day, seed, meal_slots, therapy, behaviour, habitual_slot_g, lf, li, tr,
                  st, acc, meal_minute, meal_grams, meal_slot):
    """Lane j's plan for `day`: diet change, illness, meals, exercise and stress; the day's
    sensitivities and basal rate; empty accumulators."""
    pid = li[j, I_PID]
    trj = tr[j]
    if day == behaviour[B_DIET_DAY]:
        trj[T_FAT_SHARE] = behaviour[B_DIET_FAT]
        trj[T_SUGAR_SHARE] = behaviour[B_DIET_SUGAR]
        trj[T_ENERGY_SURPLUS] = behaviour[B_DIET_SURPLUS]
        _, lf[j, F_NONCARB_KCAL] = habitual_intake_kcal(
            st[j, slow.S_FAT], st[j, slow.S_LEAN], trj, lf[j, F_APPETITE] * habitual_slot_g)
    ill = illness_severity(seed, pid, day, behaviour)
    lf[j, F_ILL] = ill
    day_appetite = lf[j, F_APPETITE] * (1.0 - behaviour[B_ILLNESS_APPETITE] * ill)
    li[j, I_N_MEALS] = plan_meals(seed, pid, day, meal_slots[0], meal_slots[1], meal_slots[2],
                                  meal_slots[3], meal_slots[4], day_appetite, meal_minute[j],
                                  meal_grams[j], meal_slot[j])
    li[j, I_NEXT_MEAL] = 0
    li[j, I_EX_START], li[j, I_EX_LEN], lf[j, F_EX_HR] = exercise_session(seed, pid, day, trj,
                                                                         behaviour)
    li[j, I_ST_START], li[j, I_ST_LEN], lf[j, F_ST_SEV] = stress_episode(seed, pid, day, trj,
                                                                        behaviour)
    lf[j, F_SP_DAY] = lf[j, F_SP_REL] / (1.0 + acute.ILLNESS_SP * ill)
    lf[j, F_ECR_DAY] = lf[j, F_ECR_REL] * (1.0 + acute.ILLNESS_KP1 * ill)
    sick_extra = 1.0 + therapy[TH_SICK_DAY_EXTRA] * (ill > 0.0)
    lf[j, F_BASAL_U] = lf[j, F_BASAL0_U] * lf[j, F_BASAL_F] * sick_extra
    for a in range(N_ACC):
        acc[j, a] = 0.0


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def lane_minute(j, m, day, x, seed, meal_slots, therapy, behaviour, sensor_params,
                cgm_interval_min, iob_decay, dose_scale, has_noise, lf, li, tr, acc, tacc,
                meal_minute, meal_grams, meal_slot, pend_minute, pend_units, tod, dawn):
    """Lane j's decisions at minute m of `day` from its state tuple `x`: sensor, meals,
    boluses, rescue carbohydrate, exercise, stress. Returns (alive, and the inputs of
    rk4_step: carbs mg/min, insulin pmol/kg/min, meal size mg, s_p, s_h, e_cr, vm0 factor,
    gamma Z W). Not alive: glucose left the integrable range; li[j, I_FAILED] is set and
    the patient stops. The minute's glucose, CGM, insulin, carbohydrate and s_p stay in lf."""
    pid = li[j, I_PID]
    bgj = x[X_GS] * lf[j, F_INV_VG]
    lf[j, F_BG] = bgj
    if not (BG_EXHAUSTED_MG_DL < bgj < BG_ABSURD_MG_DL):   # also false for NaN
        li[j, I_FAILED] = 1
        return False, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0
    if has_noise:
        if li[j, I_KNOT_IN] == 0:
            lf[j, F_ERR_PREV] = lf[j, F_ERR_NEXT]
            lf[j, F_NOISE_E], lf[j, F_ERR_NEXT] = sensor.next_knot(
                seed, pid, li[j, I_KNOT], lf[j, F_NOISE_E], sensor_params)
            li[j, I_KNOT] += 1
            li[j, I_KNOT_IN] = sensor.NOISE_KNOT_MIN
        li[j, I_KNOT_IN] -= 1
    if li[j, I_CGM_IN] == 0:
        since_knot = sensor.NOISE_KNOT_MIN - 1 - li[j, I_KNOT_IN]
        lf[j, F_CGM] = sensor.reading(
            bgj, lf[j, F_ERR_PREV] + (lf[j, F_ERR_NEXT] - lf[j, F_ERR_PREV]) * since_knot
            / sensor.NOISE_KNOT_MIN, sensor_params)
        li[j, I_CGM_IN] = cgm_interval_min
    li[j, I_CGM_IN] -= 1
    cgm = lf[j, F_CGM]
    # 2-D indexing, not a row view: a view per lane-minute costs two atomic reference-count
    # updates
    accumulate_glucose(acc, j, bgj)
    run_below, run_above, in_event, started = track_hypo_event(
        bgj, li[j, I_RUN_BELOW], li[j, I_RUN_ABOVE], li[j, I_IN_EVENT] != 0)
    li[j, I_RUN_BELOW] = run_below
    li[j, I_RUN_ABOVE] = run_above
    li[j, I_IN_EVENT] = in_event
    acc[j, A_HYPO] += started
    if FASTING_WINDOW[0] <= m < FASTING_WINDOW[1]:
        tacc[j, TA_FASTING_SUM] += bgj
        tacc[j, TA_FASTING_N] += 1.0
    # meals announced this minute (eaten at 5 g/min) and their boluses
    bolus_u = 0.0
    while li[j, I_NEXT_MEAL] < li[j, I_N_MEALS] and meal_minute[j, li[j, I_NEXT_MEAL]] == m:
        nm = li[j, I_NEXT_MEAL]
        grams = meal_grams[j, nm]
        s = meal_slot[j, nm]
        lf[j, F_PLANNED_G] += grams
        factor, delay, given = bolus_decision(seed, pid, day, s, tr[j], behaviour)
        if given:
            if therapy[TH_CARB_COUNTING] != 0.0:
                estimate = grams * factor
            else:
                estimate = meal_slots[2, s] * lf[j, F_APPETITE]
            units = meal_bolus_u(estimate, cgm, lf[j, F_IOB], lf[j, F_CR], lf[j, F_CF],
                                 lf[j, F_BOLUS_F], therapy)
            if delay == 0:
                bolus_u += units
            elif li[j, I_N_PEND] < MAX_PENDING:
                pend_minute[j, li[j, I_N_PEND]] = m + delay
                pend_units[j, li[j, I_N_PEND]] = units
                li[j, I_N_PEND] += 1
        li[j, I_NEXT_MEAL] = nm + 1
    k = 0
    while k < li[j, I_N_PEND]:
        if pend_minute[j, k] == m:
            bolus_u += pend_units[j, k]
            last = li[j, I_N_PEND] - 1
            li[j, I_N_PEND] = last
            pend_minute[j, k] = pend_minute[j, last]
            pend_units[j, k] = pend_units[j, last]
        else:
            k += 1
    # hypoglycaemia treated with rescue carbohydrate, no bolus, when the CGM alarm is
    # confirmed by a finger-stick (the blood glucose)
    if li[j, I_RESCUE_WAIT] > 0:
        li[j, I_RESCUE_WAIT] -= 1
    elif (behaviour[B_HYPO_TREAT_G] > 0.0 and cgm < behaviour[B_HYPO_THRESHOLD]
          and bgj < behaviour[B_HYPO_THRESHOLD]):
        lf[j, F_PLANNED_G] += behaviour[B_HYPO_TREAT_G]
        acc[j, A_RESCUE] += behaviour[B_HYPO_TREAT_G]
        li[j, I_RESCUE_WAIT] = int(behaviour[B_HYPO_WAIT_MIN])
    planned = lf[j, F_PLANNED_G]
    carbs = planned if planned < EAT_RATE_G_PER_MIN else EAT_RATE_G_PER_MIN
    lf[j, F_PLANNED_G] = planned - carbs
    dbar_start, eaten_g, eating, dbar = update_meal_size(
        carbs, lf[j, F_PREV_CARBS], x, lf[j, F_DBAR_START], lf[j, F_EATEN_G],
        li[j, I_EATING] != 0)
    lf[j, F_DBAR_START] = dbar_start
    lf[j, F_EATEN_G] = eaten_g
    li[j, I_EATING] = eating
    lf[j, F_PREV_CARBS] = carbs
    bolus_u *= dose_scale
    basal_u = lf[j, F_BASAL_U] * dose_scale
    insulin_u = basal_u + bolus_u
    lf[j, F_IOB] = lf[j, F_IOB] * iob_decay + bolus_u
    # acute modifiers: exercise, stress, time of day, dawn
    s_p = lf[j, F_SP_DAY] * tod[j, m]
    e_cr = lf[j, F_ECR_DAY] * dawn[j, m]
    vm0_f = 1.0
    gzw = 0.0
    ex_start = li[j, I_EX_START]
    hr_ex = lf[j, F_EX_HR] if ex_start <= m < ex_start + li[j, I_EX_LEN] else 0.0
    if m == ex_start:
        lf[j, F_EX_W] = 0.0
    if hr_ex > 0.0 or lf[j, F_EX_Y] > 1e-9 or lf[j, F_EX_Z] > 1e-12:
        ex_y, ex_z, ex_w = acute.exercise_step(lf[j, F_EX_Y], lf[j, F_EX_Z], lf[j, F_EX_W],
                                               hr_ex, tr[j, T_HR_REST])
        lf[j, F_EX_Y] = ex_y
        lf[j, F_EX_Z] = ex_z
        lf[j, F_EX_W] = ex_w
        vm0_f = 1.0 + acute.EX_BETA * ex_y
        s_p *= 1.0 + acute.EX_ALPHA * ex_z * ex_w
        gzw = acute.EX_GAMMA * ex_z * ex_w
        if hr_ex > 0.0:
            acc[j, A_EXERCISE_MIN] += 1.0
            acc[j, A_EXERCISE_DOSE] += hr_ex / 3600.0
    st_start = li[j, I_ST_START]
    if st_start <= m < st_start + li[j, I_ST_LEN]:
        s_p /= 1.0 + acute.STRESS_SP * lf[j, F_ST_SEV]
        e_cr *= 1.0 + acute.STRESS_KP1 * lf[j, F_ST_SEV]
    acc[j, A_BASAL] += basal_u
    acc[j, A_BOLUS] += bolus_u
    acc[j, A_CARBS] += carbs
    lf[j, F_INSULIN_U] = insulin_u
    lf[j, F_CARBS_G] = carbs
    lf[j, F_S_P] = s_p
    return (True, carbs * MG_PER_G, insulin_u * lf[j, F_TO_PMOL_PER_KG], dbar, s_p,
            lf[j, F_SH_REL], e_cr, vm0_f, gzw)


@nb.njit(cache=True, nogil=True, inline="always")
def lane_after_step(j, x, p, lf, acc):
    """The accumulators that need the state after the minute's step: plasma insulin,
    hyperglycaemic exposure (of the glucose before the step) and urinary glucose."""
    acc[j, A_INSULIN] += x[X_IP] * lf[j, F_INV_VI]
    bg = lf[j, F_BG]
    if bg > HYPER_THRESHOLD:
        acc[j, A_HYPER] += bg - HYPER_THRESHOLD
    acc[j, A_URINE_MG] += renal_excretion(x[X_GP], p) * lf[j, F_BW]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_end_of_day(j, day, therapy, behaviour, on, lf, tr, st, acc, tacc, gmi_ring, log_phi,
                    agg, pend_minute, n_pend, out):
    """Lane j's day: metrics, the slow step (today's aggregates -> tomorrow's multipliers) and
    titration. Writes the day into out[j, O_*]. Returns the body weight the fast model uses
    tomorrow (kg)."""
    for k in range(n_pend):
        pend_minute[j, k] -= MINUTES_PER_DAY
    age = tr[j, T_AGE0] + day / 365.25
    stj = st[j]
    trj = tr[j]
    accj = acc[j]
    outj = out[j]
    finish_day(accj, stj[slow.S_FAT] + stj[slow.S_LEAN], outj)
    n = accj[A_N]
    bw = lf[j, F_BW]
    ill = lf[j, F_ILL]
    agg[slow.G_MEAN_INSULIN] = accj[A_INSULIN] / n
    agg[slow.G_HYPER_EXPOSURE] = accj[A_HYPER] / n
    agg[slow.G_URINE_G] = accj[A_URINE_MG] / 1000.0
    agg[slow.G_INTAKE_KCAL] = (slow.KCAL_PER_G_GLUCOSE * accj[A_CARBS] + lf[j, F_NONCARB_KCAL]
                               * (1.0 - behaviour[B_ILLNESS_APPETITE] * ill))
    agg[slow.G_EXERCISE_KCAL] = acute.exercise_kcal(accj[A_EXERCISE_DOSE] * 3600.0, bw)
    agg[slow.G_EXERCISE_DOSE] = accj[A_EXERCISE_DOSE]
    agg[slow.G_MEAN_GLUCOSE] = accj[A_SUM] / n
    if day == 0:
        slow.equilibrate(stj, agg, trj, age, on)
        for g in range(slow.GMI_DAYS):
            gmi_ring[j, g] = agg[slow.G_MEAN_GLUCOSE]
    else:
        slow.daily_update(stj, agg, trj, age, on, trj[T_PAL])
    gmi_ring[j, day % slow.GMI_DAYS] = agg[slow.G_MEAN_GLUCOSE]
    s_p_abs, s_h_abs, e_cr_abs = slow.multipliers(stj, trj, age + 1.0 / 365.25, on, log_phi[j])
    weight = stj[slow.S_FAT] + stj[slow.S_LEAN]
    if on[SW_WEIGHT_FEEDBACK] != 0.0:
        bw = weight
        lf[j, F_BW] = bw
        lf[j, F_TO_PMOL_PER_KG] = PMOL_PER_U / bw
    hba1c = slow.hba1c_from_eag(stj[slow.S_EAG])
    gmi_sum = 0.0
    for g in range(slow.GMI_DAYS):
        gmi_sum += gmi_ring[j, g]
    height = trj[T_HEIGHT_M]
    bmi = weight / (height * height)
    waist = slow.waist_cm(trj, bmi, stj[slow.S_VISCERAL], stj[slow.S_FAT], age)
    outj[D_BMI] = bmi
    outj[D_FAT_MASS] = stj[slow.S_FAT]
    outj[D_VISCERAL] = stj[slow.S_VISCERAL]
    outj[D_WAIST] = waist
    outj[D_FFA] = stj[slow.S_FFA]
    outj[D_INFLAMMATION] = stj[slow.S_INFLAMMATION]
    outj[D_OXIDATIVE] = stj[slow.S_ROS]
    outj[D_GLUT4] = stj[slow.S_GLUT4]
    outj[D_RECEPTOR] = stj[slow.S_RECEPTOR]
    outj[D_TONE] = stj[slow.S_TONE]
    outj[D_SI_PERIPHERAL] = s_p_abs
    outj[D_SI_HEPATIC] = s_h_abs
    outj[D_HBA1C] = hba1c
    outj[D_GMI] = slow.gmi_from_mean(gmi_sum / slow.GMI_DAYS)
    outj[D_EGDR] = slow.egdr(waist, trj[T_HTN], hba1c)
    outj[D_RESCUE_G] = accj[A_RESCUE]
    outj[D_EXERCISE_MIN] = accj[A_EXERCISE_MIN]
    outj[D_ILLNESS] = ill
    outj[D_MEAN_INSULIN] = agg[slow.G_MEAN_INSULIN]
    for k in range(slow.N_MECH):
        outj[O_LOG_PHI + k] = log_phi[j, k]
    lf[j, F_SP_REL] = s_p_abs / slow.REFERENCE_SP
    lf[j, F_SH_REL] = s_h_abs / slow.REFERENCE_SH
    lf[j, F_ECR_REL] = e_cr_abs / slow.REFERENCE_ECR
    # titration at the end of each interval
    tacc[j, TA_SUM] += accj[A_SUM]
    tacc[j, TA_N] += accj[A_N]
    tacc[j, TA_BELOW70] += accj[A_BELOW70]
    tacc[j, TA_DAYS] += 1.0
    if therapy[TH_TITRATE_DAYS] > 0.0 and tacc[j, TA_DAYS] >= therapy[TH_TITRATE_DAYS]:
        lf[j, F_BASAL_F], lf[j, F_BOLUS_F] = titrate(lf[j, F_BASAL_F], lf[j, F_BOLUS_F],
                                                     tacc[j], therapy)
        for a in range(N_TITRATION_ACC):
            tacc[j, a] = 0.0
    return bw
