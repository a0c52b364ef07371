"""One patient's life around the fast model: the day's plan, each minute's decisions, the
accumulators after each step and the day's end, written once and shared by every backend.

The CPU kernel (kernel.py) runs a group of LANES patients, one lane each, and steps them with
one vectorised RK4; the CUDA kernel (cuda_kernel.py) runs one patient per thread with one lane.
Both call these functions on lane j of the same arrays, so the physiology, the behaviour and
the therapy exist once. Per-lane scalars live in two small tables, `lf[j, LF.<name>]` (floats) and
`li[j, LI.<name>]` (integers and flags), so a lane's whole state is a row and the functions need no
per-backend storage. The functions touch no global output: what a day produces goes to the
lane's row of `out` (O_*), and the caller writes it where its results live. They use numpy's
error model, as numba-cuda does on the device: a division by zero gives inf or NaN (and stops
that patient) rather than raising, on both backends.
"""

import math

import numba as nb

from ..life import aid, events, sensor
from ..life.behaviour import (
    EAT_RATE_G_PER_MIN,
    MINUTES_PER_DAY,
    SNACK_SLOT,
    B,
    absorption_z,
    basal_omission_minute,
    bolus_decision,
    exercise_session,
    illness_severity,
    meal_checked,
    plan_meals,
    stress_episode,
)
from ..life.controllers import CS
from ..life.therapy import (
    BASAL_SHARE_OF_TDD,
    CF_PER_CR,
    FASTING_WINDOW,
    INCREMENT_PEN_U,
    INCREMENT_PUMP_U,
    N_TITRATION_ACC,
    TA,
    TH,
    absorption_factor,
    after_severe_hypo,
    basal_rate_u_per_min,
    bolus_absorption,
    capped_bolus_u,
    correction_u,
    delivery_increment_u,
    detects_by_cgm,
    meal_bolus_u,
    misset_factors,
    ratios_from_tdd,
    round_down,
    titrate,
)
from ..model import acute, growth, rng, slow
from ..model.fast import renal_excretion, update_meal_size
from ..model.glycaemia import (
    N_ACC,
    N_DAILY,
    A,
    D,
    accumulate_cgm_risk,
    accumulate_glucose,
    egdr,
    finish_day,
    gmi_from_mean,
    hba1c_from_eag,
    track_hypo_event,
)
from ..model.layout import index_family
from ..model.params import MG_PER_G, PMOL_PER_U, P, X
from ..model.traits import T
from .bundles import RunConstants

BG_ABSURD_MG_DL = 5000.0
BG_EXHAUSTED_MG_DL = 1.0  # below this the fixed-step integration has lost the patient

# the kernel's switches: each mechanism (config [mechanisms]), then the other model options;
# translated from the config by engine.batch.translate.switch_settings
SW = index_family(
    "Switch",
    (
        *slow.MECHANISM_NAMES,
        "dawn",
        "time_of_day",
        "weight_feedback",
        "growth",
        "hypo_counterregulation",
        "appetite_feedback",
        "resting_constant",
        "midpoint",
    ),
)  # midpoint: 1 = the midpoint integrator, not RK4
N_SWITCHES = len(SW)

MAX_MEALS_PER_DAY = 32
MAX_PENDING = 16
HYPER_THRESHOLD = slow.GLUCOTOX_THRESHOLD

# lf[j, LF.<name>]: a lane's floating-point state
LF = index_family(
    "LaneFloat",
    (
        "inv_vg",
        "inv_vi",
        "bw",
        "to_pmol_per_kg",
        "basal0_u",
        "cr",
        "cf",
        "basal_f",
        "bolus_f",
        "appetite",
        "noncarb_kcal",
        "sp_rel",
        "sh_rel",
        "ecr_rel",
        "planned_g",
        "prev_carbs",
        "dbar_start",
        "eaten_g",
        "iob",
        "ex_y",
        "ex_z",
        "ex_w",
        "cgm",
        "noise_e",
        "err_prev",
        "err_next",
        "ill",
        "ex_hr",
        "st_sev",
        "sp_day",
        "ecr_day",
        "basal_u",
        "bg",
        "insulin_u",
        "carbs_g",
        "s_p",
        "increment_u",
        "height_z",
        "bmi_z",
        "aid_rate",  # the pump's basal rate until the next CGM sample, U/min
        "aid_c1",  # the pump's insulin-on-board model, two compartments (U)
        "aid_c2",
        "aid_carbs",  # carbohydrate announced since the controller's last call (g)
        "tdd_avg",  # the recent daily dose the controller sees (U/day)
        "ref_weight",  # the weight appetite defends: the start's, plus growth (kg)
        "habit_urine_g",  # the glycosuria the patient lived with before the run (g/day)
        "ree_constant",  # Hall's constant term of resting expenditure (kcal/day)
        "basal_abs",  # today's absorption factor of the basal insulin
        "bolus_abs",  # the absorption factor of boluses since the last meal's
    ),
)
N_LANE_F = len(LF)
# li[j, LI.<name>]: a lane's integers and flags
LI = index_family(
    "LaneInt",
    (
        "pid",
        "eating",
        "n_pend",
        "rescue_wait",
        "knot",
        "knot_in",
        "cgm_in",
        "run_below",
        "run_above",
        "in_event",
        "failed",
        "n_meals",
        "next_meal",
        "ex_start",
        "ex_len",
        "st_start",
        "st_len",
        "by_cgm",
        "severe_run",
        "in_severe",
        "glucagon_left",
        "high_run",
        "dka_run",
        "crisis_run",
        "admitted",
        "omit_start",
        "omit_left",
        "deficit_left",
        "aid",  # 1: the therapy runs a pump programme or a controller (engine/life/aid.py)
        "warm_at",  # today's sensor warm-up start minute, or -1
        "gap_at",  # today's signal loss start minute, or -1
        "gap_len",
        "gap_left",  # minutes left without CGM readings
        "change_today",  # 1: the infusion set is changed today at aid.SET_CHANGE_MIN
        "new_fail_in",  # the new set fails this many minutes after its change, or -1
        "fail_in",  # minutes until the current set fails, or -1
        "set_failed",
        "ex_mode",  # exercise mode (a raised target) around today's session
        "alert_run",  # minutes awake with the CGM above therapy.cgm_high_alert_mg_dl
    ),
)
N_LANE_I = len(LI)
# out[j, O_*]: a finished day, the daily variables then each mechanism's log factor of s_p
O_LOG_PHI = N_DAILY
N_OUT = N_DAILY + slow.N_MECH


@nb.njit(cache=True, nogil=True, error_model="numpy")
def habitual_intake_kcal(fat, lean, ree_constant, tr, habitual_carbs_g):
    """(intake kcal/day, of which not carbohydrate): the energy balance at the start, raised
    by the patient's habitual surplus; carbohydrate is what the meals give."""
    session_kcal = acute.exercise_kcal(tr[T.session_hr_excess] * tr[T.session_min], fat + lean)
    exercise = session_kcal * tr[T.sessions_per_week] / 7.0
    resting = ree_constant + slow.resting_expenditure(fat, lean)
    balance = (tr[T.activity_pal] * resting + exercise) / (1.0 - slow.TEF)
    intake = balance * (1.0 + tr[T.energy_surplus])
    carbs_kcal = slow.KCAL_PER_G_GLUCOSE * habitual_carbs_g
    return intake, max(intake - carbs_kcal, 0.2 * intake)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def run_constants(run):
    """RunConstants from the run's settings: habitual carbohydrate per day at appetite 1 (g),
    IOB decay per minute, dose scale, sensor noise on."""
    meal_slots, therapy, sensor_params = run.meal_slots, run.therapy, run.sensor_params
    habitual_carbs_g = 0.0
    for s in range(meal_slots.shape[1]):
        habitual_carbs_g += meal_slots[2, s] * meal_slots[4, s]
    # unannounced snacks are part of what the patient habitually eats (unbolused, not extra
    # energy): the energy balance at the start counts them. Rescue carbohydrate is not
    # counted: eating for lows is the path from insulin to weight (Carlson 1993; DCCT 2001).
    habitual_carbs_g += run.behaviour[B.snacks_per_day] * run.behaviour[B.snack_g]
    iob_decay = math.exp(-3.0 / therapy[TH.dia_min]) if therapy[TH.dia_min] > 0.0 else 0.0
    return RunConstants(
        habitual_carbs_g,
        iob_decay,
        therapy[TH.dose_scale],
        sensor_params[sensor.SN.kind] != sensor.SENSOR_NONE,
    )


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_start(j, p, x, traits, pid, run, rc, t):
    """Lane j takes the patient with parameter row `p`, initial state tuple `x`, traits row
    `traits` and id `pid`: its therapy, time-of-day tables, body composition and sensor.
    run: RunSettings, rc: RunConstants, t: LaneTables (engine/sim/bundles.py)."""
    seed, therapy, on, sensor_params = run.seed, run.therapy, run.switches, run.sensor_params
    habitual_carbs_g, has_noise = rc.habitual_carbs_g, rc.has_noise
    lf, li, tr, st, tacc, tod, dawn = t.lf, t.li, t.tr, t.st, t.tacc, t.tod, t.dawn
    for k in range(N_LANE_F):
        lf[j, k] = 0.0
    for k in range(N_LANE_I):
        li[j, k] = 0
    for k in range(N_TITRATION_ACC):
        tacc[j, k] = 0.0
    for k in range(traits.shape[0]):
        tr[j, k] = traits[k]
    li[j, LI.pid] = pid
    lf[j, LF.inv_vg] = 1.0 / p[P.Vg]
    lf[j, LF.inv_vi] = 1.0 / p[P.Vi]
    lf[j, LF.bw] = p[P.BW]
    lf[j, LF.ref_weight] = p[P.BW]
    # a scenario may say what glycosuria the patient lived with before the run (the DCCT's
    # arms entered from the same care); NaN: the run's own first two weeks (lane_end_of_day)
    prior = traits[T.prior_glycosuria_g]
    lf[j, LF.habit_urine_g] = prior if prior == prior else 0.0
    lf[j, LF.to_pmol_per_kg] = PMOL_PER_U / p[P.BW]
    # the prescription: the patient's needs, mis-set per patient (TH.dose_error_sd)
    basal_err, ratio_err = misset_factors(therapy, traits[T.basal_error_z], traits[T.ratio_error_z])
    lf[j, LF.basal0_u] = basal_rate_u_per_min(p) * therapy[TH.initial_dose] * basal_err
    lf[j, LF.cr] = p[P.CR] * ratio_err
    lf[j, LF.cf] = p[P.CF] * ratio_err
    if therapy[TH.cf_from_cr] != 0.0:
        lf[j, LF.cf] = lf[j, LF.cr] * CF_PER_CR
    if therapy[TH.ratios_from_tdd] != 0.0:
        lf[j, LF.cr], lf[j, LF.cf] = ratios_from_tdd(lf[j, LF.basal0_u] * MINUTES_PER_DAY)
    lf[j, LF.increment_u] = delivery_increment_u(therapy, traits[T.uses_pump])
    if growth.grows(traits[T.age0]):
        male, age0 = traits[T.sex_male], traits[T.age0]
        lf[j, LF.height_z] = min(max(growth.height_sds(traits[T.height_m], male, age0), -4.0), 4.0)
        lf[j, LF.bmi_z] = min(max(growth.bmi_sds(traits[T.bmi0], male, age0), -4.0), 4.0)
    li[j, LI.by_cgm] = detects_by_cgm(therapy, traits[T.uses_cgm])
    if aid.runs_for(run.aid, traits[T.uses_aid]):
        if run.aid[aid.AID.aid_users_only] != 0.0:
            li[j, LI.by_cgm] = 1  # an AID user of a mix wears a CGM, whatever hypo_detection
        li[j, LI.aid] = 1
        aid.start(
            t.ctl_set[j], t.cgm_hist[j], t.ctl_state[j], run.aid, p[P.BW], run.cgm_interval_min
        )
        lf[j, LF.tdd_avg] = lf[j, LF.basal0_u] * MINUTES_PER_DAY / BASAL_SHARE_OF_TDD
        li[j, LI.fail_in] = -1
    for k in (LF.basal_f, LF.bolus_f, LF.sp_rel, LF.sh_rel, LF.ecr_rel, LF.sp_day, LF.ecr_day):
        lf[j, k] = 1.0
    lf[j, LF.basal_abs] = lf[j, LF.bolus_abs] = 1.0
    li[j, LI.ex_start] = -1
    li[j, LI.st_start] = -1
    li[j, LI.omit_start] = -1
    acute.fill_time_of_day(tr[j], on[SW.time_of_day] != 0.0, on[SW.dawn] != 0.0, tod[j], dawn[j])
    # slow states: body composition from the traits; the rest set after day 0
    st[j, slow.S.fat] = tr[j, T.fat_mass0]
    st[j, slow.S.lean] = p[P.BW] - tr[j, T.fat_mass0]
    for k in range(slow.S.visceral, slow.N_SLOW):
        st[j, k] = 1.0
    st[j, slow.S.exercise] = 0.0
    lf[j, LF.appetite] = tr[j, T.carb_appetite]
    if on[SW.resting_constant] != 0.0:
        lf[j, LF.ree_constant] = slow.resting_constant_kcal(
            traits[T.age0], traits[T.sex_male], st[j, slow.S.fat], st[j, slow.S.lean]
        )
    _, lf[j, LF.noncarb_kcal] = habitual_intake_kcal(
        st[j, slow.S.fat],
        st[j, slow.S.lean],
        lf[j, LF.ree_constant],
        tr[j],
        lf[j, LF.appetite] * habitual_carbs_g,
    )
    # meal bookkeeping (carried across midnight: a late dinner finishes the next day)
    lf[j, LF.dbar_start] = x[0] + x[1]
    # sensor: error-model knots every NOISE_KNOT_MIN, readings every cgm_interval_min;
    # countdowns rather than t % n, whose integer divisions cost more than they look
    lf[j, LF.cgm] = x[X.Gs] * lf[j, LF.inv_vg]
    if has_noise:
        lf[j, LF.noise_e], lf[j, LF.err_next] = sensor.next_knot(seed, pid, 0, 0.0, sensor_params)
        li[j, LI.knot] = 1


@nb.njit(cache=True, nogil=True, inline="always")
def _on_pump(j, lf):
    """Whether the patient's insulin comes from a pump (its bolus increment; simglucose's rule,
    with none, counts as one)."""
    return lf[j, LF.increment_u] < INCREMENT_PEN_U


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_plan_day(j, day, run, rc, t):
    """Lane j's plan for `day`: diet change, illness, meals, exercise and stress; the day's
    sensitivities and basal rate; empty accumulators."""
    seed, meal_slots, therapy, behaviour = run.seed, run.meal_slots, run.therapy, run.behaviour
    habitual_carbs_g = rc.habitual_carbs_g
    lf, li, tr, st, acc = t.lf, t.li, t.tr, t.st, t.acc
    meal_minute, meal_grams, meal_slot = t.meal_minute, t.meal_grams, t.meal_slot
    pid = li[j, LI.pid]
    trj = tr[j]
    if day == behaviour[B.diet_day]:
        trj[T.diet_fat_share] = behaviour[B.diet_fat]
        trj[T.diet_sugar_share] = behaviour[B.diet_sugar]
        trj[T.energy_surplus] = behaviour[B.diet_surplus]
        _, lf[j, LF.noncarb_kcal] = habitual_intake_kcal(
            st[j, slow.S.fat],
            st[j, slow.S.lean],
            lf[j, LF.ree_constant],
            trj,
            lf[j, LF.appetite] * habitual_carbs_g,
        )
    ill = illness_severity(seed, pid, day, behaviour)
    lf[j, LF.ill] = ill
    day_appetite = lf[j, LF.appetite] * (1.0 - behaviour[B.illness_appetite] * ill)
    li[j, LI.n_meals] = plan_meals(
        seed,
        pid,
        day,
        meal_slots[0],
        meal_slots[1],
        meal_slots[2],
        meal_slots[3],
        meal_slots[4],
        day_appetite,
        behaviour[B.snacks_per_day],
        behaviour[B.snack_g],
        meal_minute[j],
        meal_grams[j],
        meal_slot[j],
    )
    li[j, LI.next_meal] = 0
    li[j, LI.ex_start], li[j, LI.ex_len], lf[j, LF.ex_hr] = exercise_session(
        seed, pid, day, trj, behaviour
    )
    li[j, LI.st_start], li[j, LI.st_len], lf[j, LF.st_sev] = stress_episode(
        seed, pid, day, trj, behaviour
    )
    li[j, LI.omit_start] = basal_omission_minute(seed, pid, day, behaviour)
    lf[j, LF.sp_day] = lf[j, LF.sp_rel] / (1.0 + acute.ILLNESS_SP * ill)
    lf[j, LF.ecr_day] = lf[j, LF.ecr_rel] * (1.0 + acute.ILLNESS_KP1 * ill)
    sick_extra = 1.0 + therapy[TH.sick_day_extra] * (ill > 0.0)
    lf[j, LF.basal_u] = lf[j, LF.basal0_u] * lf[j, LF.basal_f] * sick_extra
    # a pump's basal is rapid-acting insulin; a pen's, a long-acting one
    on_pump = _on_pump(j, lf)
    basal_cv = therapy[TH.rapid_absorption_cv] if on_pump else therapy[TH.basal_absorption_cv]
    if basal_cv > 0.0:
        lf[j, LF.basal_abs] = absorption_factor(basal_cv, absorption_z(seed, pid, day, -1))
    if li[j, LI.aid] != 0:
        warm_at, gap_at, gap_len, change_today, new_fail_in, ex_mode = aid.plan_day(
            seed, pid, day, run.aid, li[j, LI.ex_start]
        )
        li[j, LI.warm_at] = warm_at
        li[j, LI.gap_at] = gap_at
        li[j, LI.gap_len] = gap_len
        li[j, LI.change_today] = change_today
        li[j, LI.new_fail_in] = new_fail_in
        li[j, LI.ex_mode] = ex_mode
        if day == 0:
            lf[j, LF.aid_rate] = lf[j, LF.basal_u]
    for a in range(N_ACC):
        acc[j, a] = 0.0


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def lane_minute(j, m, day, x, run, rc, t):
    """Lane j's decisions at minute m of `day` from its state tuple `x`: sensor, meals,
    boluses, rescue carbohydrate, exercise, stress. Returns (alive, and the inputs of
    rk4_step: carbs mg/min, insulin pmol/kg/min, meal size mg, s_p, s_h, e_cr, vm0 factor,
    gamma Z W). Not alive: glucose left the integrable range; li[j, LI.failed] is set and
    the patient stops. The minute's glucose, CGM, insulin, carbohydrate and s_p stay in lf.
    The steps below are inlined: one function's machine code, split for reading."""
    lf, li, acc = t.lf, t.li, t.acc
    bgj = x[X.Gs] * lf[j, LF.inv_vg]
    lf[j, LF.bg] = bgj
    if not (BG_EXHAUSTED_MG_DL < bgj < BG_ABSURD_MG_DL):  # also false for NaN
        li[j, LI.failed] = 1
        return False, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0
    cgm = _sense(j, m, bgj, run, rc, t)
    bolus_u, meal_now = _meal_boluses(j, m, day, cgm, run, t)
    _rescue_carbs(j, m, day, bgj, cgm, meal_now, run, t)
    extra_u, iv_u, ecr_f = _acute_events(j, m, day, bgj, cgm, run, t)
    bolus_u += extra_u
    planned = lf[j, LF.planned_g]
    carbs = planned if planned < EAT_RATE_G_PER_MIN else EAT_RATE_G_PER_MIN
    lf[j, LF.planned_g] = planned - carbs
    dbar_start, eaten_g, eating, dbar = update_meal_size(
        carbs,
        lf[j, LF.prev_carbs],
        x,
        lf[j, LF.dbar_start],
        lf[j, LF.eaten_g],
        li[j, LI.eating] != 0,
    )
    lf[j, LF.dbar_start] = dbar_start
    lf[j, LF.eaten_g] = eaten_g
    li[j, LI.eating] = eating
    lf[j, LF.prev_carbs] = carbs
    bolus_u *= rc.dose_scale
    if m == li[j, LI.omit_start]:
        li[j, LI.omit_left] = events.OMITTED_PUMP_MIN if _on_pump(j, lf) else events.OMITTED_PEN_MIN
        li[j, LI.deficit_left] = events.DEFICIT_MIN
    absorbed = 1.0
    if li[j, LI.aid] != 0:
        basal_u, bolus_u, absorbed = _pump_minute(j, m, cgm, bolus_u, run, rc, t)
    else:
        basal_u = lf[j, LF.basal_u] * rc.dose_scale
    if li[j, LI.omit_left] > 0:
        li[j, LI.omit_left] -= 1
        basal_u *= 0.0 if _on_pump(j, lf) else events.OMITTED_PEN_SHARE_LEFT
    # intravenous insulin in hospital reaches the plasma but is not the patient's own dose:
    # it is left out of the daily dose (tdd, basal_u)
    delivered_u = (basal_u + bolus_u) * absorbed + iv_u
    # what the depot gives the plasma differs from day to day and injection to injection
    insulin_u = (basal_u * lf[j, LF.basal_abs] + bolus_u * lf[j, LF.bolus_abs]) * absorbed + iv_u
    lf[j, LF.iob] = lf[j, LF.iob] * rc.iob_decay + bolus_u
    s_p, e_cr, vm0_f, gzw = _acute_modifiers(j, m, t)
    e_cr *= ecr_f
    if run.switches[SW.hypo_counterregulation] != 0.0:
        e_cr *= acute.hypo_counterregulation(bgj, t.tr[j, T.hypo_unaware] > 0.5)
    acc[j, A.basal] += basal_u
    acc[j, A.bolus] += bolus_u
    acc[j, A.carbs] += carbs
    lf[j, LF.insulin_u] = delivered_u  # the trace's `insulin`: what was given
    lf[j, LF.carbs_g] = carbs
    lf[j, LF.s_p] = s_p
    return (
        True,
        carbs * MG_PER_G,
        insulin_u * lf[j, LF.to_pmol_per_kg],
        dbar,
        s_p,
        lf[j, LF.sh_rel],
        e_cr,
        vm0_f,
        gzw,
    )


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sense(j, m, bgj, run, rc, t):
    """The minute's sensor (noise knots, a CGM reading every run.cgm_interval_min) and the
    glucose accumulators; returns the CGM value the patient sees."""
    lf, li, acc, tacc = t.lf, t.li, t.acc, t.tacc
    sensor_params = run.sensor_params
    if rc.has_noise:
        if li[j, LI.knot_in] == 0:
            lf[j, LF.err_prev] = lf[j, LF.err_next]
            lf[j, LF.noise_e], lf[j, LF.err_next] = sensor.next_knot(
                run.seed, li[j, LI.pid], li[j, LI.knot], lf[j, LF.noise_e], sensor_params
            )
            li[j, LI.knot] += 1
            li[j, LI.knot_in] = sensor.NOISE_KNOT_MIN
        li[j, LI.knot_in] -= 1
    if li[j, LI.cgm_in] == 0:
        since_knot = sensor.NOISE_KNOT_MIN - 1 - li[j, LI.knot_in]
        lf[j, LF.cgm] = sensor.reading(
            bgj,
            lf[j, LF.err_prev]
            + (lf[j, LF.err_next] - lf[j, LF.err_prev]) * since_knot / sensor.NOISE_KNOT_MIN,
            sensor_params,
        )
        accumulate_cgm_risk(acc, j, lf[j, LF.cgm])
        li[j, LI.cgm_in] = run.cgm_interval_min
    li[j, LI.cgm_in] -= 1
    # 2-D indexing, not a row view: a view per lane-minute costs two atomic reference-count
    # updates
    accumulate_glucose(acc, j, bgj)
    run_below, run_above, in_event, started = track_hypo_event(
        bgj, li[j, LI.run_below], li[j, LI.run_above], li[j, LI.in_event] != 0
    )
    li[j, LI.run_below] = run_below
    li[j, LI.run_above] = run_above
    li[j, LI.in_event] = in_event
    acc[j, A.hypo] += started
    if FASTING_WINDOW[0] <= m < FASTING_WINDOW[1]:
        tacc[j, TA.fasting_sum] += bgj
        tacc[j, TA.fasting_n] += 1.0
    return lf[j, LF.cgm]


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _meal_boluses(j, m, day, cgm, run, t):
    """Meals announced this minute (eaten at 5 g/min), their boluses now or later, and the
    delayed boluses due now; returns (the units given this minute, whether glucose was
    checked at a meal announced now, its bolus given or not: at every meal with a CGM, at
    behaviour.meal_check_share of them with finger-sticks). Unannounced snacks get none."""
    lf, li, tr = t.lf, t.li, t.tr
    meal_minute, meal_grams, meal_slot = t.meal_minute, t.meal_grams, t.meal_slot
    pend_minute, pend_units = t.pend_minute, t.pend_units
    therapy = run.therapy
    pid = li[j, LI.pid]
    bolus_u = 0.0
    meal_now = False
    while li[j, LI.next_meal] < li[j, LI.n_meals] and meal_minute[j, li[j, LI.next_meal]] == m:
        nm = li[j, LI.next_meal]
        grams = meal_grams[j, nm]
        s = meal_slot[j, nm]
        lf[j, LF.planned_g] += grams
        li[j, LI.next_meal] = nm + 1
        if s == SNACK_SLOT:
            continue
        checked = li[j, LI.by_cgm] != 0 or meal_checked(run.seed, pid, day, s, run.behaviour)
        meal_now = meal_now or checked
        factor, delay, given = bolus_decision(run.seed, pid, day, s, tr[j], run.behaviour)
        if given:
            if therapy[TH.rapid_absorption_cv] > 0.0:
                lf[j, LF.bolus_abs] = bolus_absorption(run.seed, pid, day, s, therapy)
            if therapy[TH.carb_counting] != 0.0:
                estimate = grams * factor
            else:
                estimate = run.meal_slots[2, s] * lf[j, LF.appetite]
            units = meal_bolus_u(
                estimate,
                cgm,
                checked,
                lf[j, LF.iob],
                lf[j, LF.cr],
                lf[j, LF.cf],
                lf[j, LF.bolus_f],
                therapy,
                lf[j, LF.increment_u],
            )
            units = capped_bolus_u(units, lf[j, LF.bw], therapy)
            lf[j, LF.aid_carbs] += estimate
            if delay == 0:
                bolus_u += units
            elif li[j, LI.n_pend] < MAX_PENDING:
                pend_minute[j, li[j, LI.n_pend]] = m + delay
                pend_units[j, li[j, LI.n_pend]] = units
                li[j, LI.n_pend] += 1
    k = 0
    while k < li[j, LI.n_pend]:
        if pend_minute[j, k] == m:
            bolus_u += pend_units[j, k]
            last = li[j, LI.n_pend] - 1
            li[j, LI.n_pend] = last
            pend_minute[j, k] = pend_minute[j, last]
            pend_units[j, k] = pend_units[j, last]
        else:
            k += 1
    return bolus_u, meal_now


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pump_minute(j, m, cgm, meal_bolus_u, run, rc, t):
    """A minute of the pump (engine/life/aid.py): the sensor's gaps, the infusion set, the
    controller at each CGM sample. Returns (basal U, bolus U: the meal boluses and any
    automatic one, the share of the pump's insulin that reaches the body)."""
    lf, li, acc, settings = t.lf, t.li, t.acc, run.aid
    AP = aid.AID
    if m == li[j, LI.warm_at]:
        li[j, LI.gap_left] = max(li[j, LI.gap_left], int(settings[AP.sensor_warmup_min]))
    if m == li[j, LI.gap_at]:
        li[j, LI.gap_left] = max(li[j, LI.gap_left], li[j, LI.gap_len])
    valid = li[j, LI.gap_left] == 0
    if not valid:
        li[j, LI.gap_left] -= 1
        acc[j, A.gap_min] += 1.0
    if li[j, LI.change_today] != 0 and m == aid.SET_CHANGE_MIN:
        li[j, LI.set_failed] = 0
        li[j, LI.fail_in] = li[j, LI.new_fail_in]
    if li[j, LI.fail_in] >= 0:
        if li[j, LI.fail_in] == 0:
            li[j, LI.set_failed] = 1
            acc[j, A.set_failures] += 1.0
        li[j, LI.fail_in] -= 1
    if li[j, LI.set_failed] != 0 and li[j, LI.high_run] >= aid.SET_NOTICED_AFTER_HIGH_MIN:
        li[j, LI.set_failed] = 0  # noticed: the set is changed
    auto_u = 0.0
    peak = settings[AP.insulin_peak_min]
    if li[j, LI.cgm_in] == run.cgm_interval_min - 1:  # a reading this minute
        cs = t.ctl_set[j]
        basal_h = lf[j, LF.basal_u] * 60.0
        cs[CS.basal_u_per_h] = basal_h
        cs[CS.isf] = lf[j, LF.cf] / lf[j, LF.bolus_f]
        cs[CS.cr] = lf[j, LF.cr] / lf[j, LF.bolus_f]
        ex_start = li[j, LI.ex_start]
        exercising = (
            li[j, LI.ex_mode] != 0
            and ex_start - aid.EXERCISE_MODE_LEAD_MIN <= m < ex_start + li[j, LI.ex_len]
        )
        cs[CS.target] = settings[AP.exercise_target] if exercising else settings[AP.target]
        cs[CS.tdd_u] = lf[j, LF.tdd_avg]
        cs[CS.max_basal_u_per_h] = settings[AP.max_basal_factor] * basal_h
        cs[CS.max_iob_u] = settings[AP.max_iob_per_kg] * lf[j, LF.bw]
        cs[CS.weight_kg] = lf[j, LF.bw]  # children grow, everyone's weight moves
        c2 = lf[j, LF.aid_c2]
        rate, auto_u, closed, estimate = aid.controller_sample(
            run.controller,
            t.cgm_hist[j],
            cs,
            t.ctl_state[j],
            cgm,
            valid,
            lf[j, LF.aid_c1] + c2 + meal_bolus_u,
            c2 / peak * 60.0,
            lf[j, LF.aid_carbs],
            m,
            settings,
        )
        auto_u = capped_bolus_u(round_down(auto_u, INCREMENT_PUMP_U), lf[j, LF.bw], run.therapy)
        lf[j, LF.aid_carbs] = 0.0
        lf[j, LF.aid_rate] = rate
        acc[j, A.pump_samples] += 1.0
        if closed:
            acc[j, A.closed_samples] += 1.0
        if estimate == estimate:
            acc[j, A.estimate_sum] += estimate
            acc[j, A.estimate_n] += 1.0
    basal_u = lf[j, LF.aid_rate] * rc.dose_scale
    if lf[j, LF.aid_rate] == 0.0:
        acc[j, A.suspend_min] += 1.0
    auto_u *= rc.dose_scale
    acc[j, A.auto_bolus] += auto_u
    bolus_u = meal_bolus_u + auto_u
    lf[j, LF.aid_c1], lf[j, LF.aid_c2] = aid.insulin_model_step(
        lf[j, LF.aid_c1],
        lf[j, LF.aid_c2],
        basal_u + bolus_u,
        peak,
        settings[AP.insulin_decay_per_min],
    )
    absorbed = 1.0 - settings[AP.set_failure_loss] if li[j, LI.set_failed] != 0 else 1.0
    return basal_u, bolus_u, absorbed


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rescue_carbs(j, m, day, bgj, cgm, meal_now, run, t):
    """Hypoglycaemia treated with rescue carbohydrate, no bolus, once the patient notices it
    (events.notices_low: a confirmed CGM alarm, or symptoms or a pre-meal finger-stick). The
    amount varies from low to low (log-normal, mean hypo_treat_g, less for a child) when
    hypo_treat_cv > 0."""
    lf, li, acc, tr = t.lf, t.li, t.acc, t.tr
    behaviour = run.behaviour
    if li[j, LI.rescue_wait] > 0:
        li[j, LI.rescue_wait] -= 1
    elif behaviour[B.hypo_treat_g] > 0.0 and events.notices_low(
        li[j, LI.by_cgm] != 0,
        tr[j, T.hypo_unaware] > 0.5,
        m,
        bgj,
        cgm,
        behaviour[B.hypo_threshold],
        meal_now,
    ):
        z = 0.0
        if behaviour[B.hypo_treat_cv] > 0.0:
            z = rng.normal(run.seed, li[j, LI.pid], day, rng.STREAM_RESCUE, m)
        grams = events.rescue_amount_g(
            behaviour[B.hypo_treat_g],
            behaviour[B.hypo_treat_cv],
            z,
            lf[j, LF.bw],
            behaviour[B.hypo_treat_by_weight] != 0.0,
        )
        lf[j, LF.planned_g] += grams
        acc[j, A.rescue] += grams
        li[j, LI.rescue_wait] = int(behaviour[B.hypo_wait_min])


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _acute_events(j, m, day, bgj, cgm, run, t):
    """Severe hypoglycaemia (glucagon, a dose cut), a CGM's high alert, sick-day corrections
    and ketoacidosis (admission, intravenous insulin): engine/life/events.py. Returns
    (correction units now, intravenous units this minute, factor on the production drive
    e_cr)."""
    lf, li, acc, tr = t.lf, t.li, t.acc, t.tr
    therapy = run.therapy
    extra_u = 0.0
    iv_u = 0.0
    ecr_f = 1.0
    run_min, in_severe, started = events.severe_hypo_step(
        bgj, li[j, LI.severe_run], li[j, LI.in_severe] != 0, run.behaviour[B.assist_delay_min]
    )
    li[j, LI.severe_run] = run_min
    li[j, LI.in_severe] = in_severe
    if started:
        acc[j, A.severe] += 1.0
        li[j, LI.glucagon_left] = events.GLUCAGON_MIN
        basal_f, lf[j, LF.bolus_f] = after_severe_hypo(
            lf[j, LF.basal_f], lf[j, LF.bolus_f], therapy
        )
        _change_basal_now(j, basal_f, lf)
    if li[j, LI.glucagon_left] > 0:
        li[j, LI.glucagon_left] -= 1
        ecr_f = events.GLUCAGON_EGP_FACTOR
    if bgj > events.KETONE_CHECK_MG_DL:
        li[j, LI.high_run] += 1
        if therapy[TH.sick_day_rules] != 0.0 and events.sick_day_due(li[j, LI.high_run]):
            u = rng.uniform(run.seed, li[j, LI.pid], day, rng.STREAM_THERAPY, 1 + m)
            if u < tr[j, T.adherence]:
                li[j, LI.omit_left] = 0
                li[j, LI.deficit_left] = 0
                extra_u = round_down(
                    events.sick_day_units(lf[j, LF.basal_u]), lf[j, LF.increment_u]
                )
    else:
        li[j, LI.high_run] = 0
    alert = therapy[TH.high_alert]
    if alert > 0.0 and therapy[TH.correct] != 0.0 and li[j, LI.by_cgm] != 0 and li[j, LI.aid] == 0:
        if cgm > alert and not events.asleep(m):
            li[j, LI.alert_run] += 1
            if events.high_alert_due(li[j, LI.alert_run]):
                u = rng.uniform(
                    run.seed, li[j, LI.pid], day, rng.STREAM_THERAPY, 1 + MINUTES_PER_DAY + m
                )
                if u < tr[j, T.adherence]:
                    extra_u += _alert_correction_u(j, cgm, therapy, lf)
        else:
            li[j, LI.alert_run] = 0
    if li[j, LI.deficit_left] > 0:
        li[j, LI.deficit_left] -= 1
    deficient = li[j, LI.deficit_left] > 0
    _admission_rule(
        j, bgj > events.DKA_MG_DL and deficient, LI.dka_run, events.DKA_AFTER_MIN, A.dka, t
    )
    _admission_rule(
        j, bgj > events.CRISIS_MG_DL, LI.crisis_run, events.CRISIS_AFTER_MIN, A.crisis, t
    )
    if li[j, LI.admitted] != 0:
        if bgj < events.DISCHARGE_MG_DL:
            li[j, LI.admitted] = 0
            _change_basal_now(
                j, min(lf[j, LF.basal_f] * (1.0 + therapy[TH.step]), therapy[TH.cap_high]), lf
            )
        else:
            iv_u = events.iv_insulin_u_per_min(lf[j, LF.bw])
    return extra_u, iv_u, ecr_f


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _alert_correction_u(j, cgm, therapy, lf):
    """A high alert's correction: the meal bolus's correction term alone
    (therapy.correction_u), rounded and capped as a bolus; none when it is not positive."""
    units = correction_u(cgm, lf[j, LF.iob], lf[j, LF.cf], lf[j, LF.bolus_f], therapy)
    if units <= 0.0:
        return 0.0
    return capped_bolus_u(round_down(units, lf[j, LF.increment_u]), lf[j, LF.bw], therapy)


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _change_basal_now(j, basal_f, lf):
    """A new basal factor from this minute on: today's basal rate (basal0 x factor x the
    sick-day extra, set by lane_plan_day) scales with it."""
    lf[j, LF.basal_u] *= basal_f / lf[j, LF.basal_f]
    lf[j, LF.basal_f] = basal_f


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _admission_rule(j, over, run_col, after_min, acc_col, t):
    """An admission rule's minute: `over` (glucose beyond the rule's limit) for `after_min`
    minutes without a break admits the patient (if not already in hospital) and counts the
    event in acc[j, acc_col]; the run is kept in li[j, run_col]."""
    li = t.li
    if over:
        li[j, run_col] += 1
        if li[j, run_col] == after_min and li[j, LI.admitted] == 0:
            li[j, LI.admitted] = 1
            t.acc[j, acc_col] += 1.0
    else:
        li[j, run_col] = 0


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _acute_modifiers(j, m, t):
    """The minute's acute modifiers: time of day, dawn, exercise and stress. Returns (s_p,
    e_cr, vm0 factor, gamma Z W)."""
    lf, li, tr, acc = t.lf, t.li, t.tr, t.acc
    s_p = lf[j, LF.sp_day] * t.tod[j, m]
    e_cr = lf[j, LF.ecr_day] * t.dawn[j, m]
    vm0_f = 1.0
    gzw = 0.0
    ex_start = li[j, LI.ex_start]
    hr_ex = lf[j, LF.ex_hr] if ex_start <= m < ex_start + li[j, LI.ex_len] else 0.0
    if m == ex_start:
        lf[j, LF.ex_w] = 0.0
    if hr_ex > 0.0 or lf[j, LF.ex_y] > 1e-9 or lf[j, LF.ex_z] > 1e-12:
        ex_y, ex_z, ex_w = acute.exercise_step(
            lf[j, LF.ex_y], lf[j, LF.ex_z], lf[j, LF.ex_w], hr_ex, tr[j, T.heart_rate_rest]
        )
        lf[j, LF.ex_y] = ex_y
        lf[j, LF.ex_z] = ex_z
        lf[j, LF.ex_w] = ex_w
        vm0_f = 1.0 + acute.EX_BETA * ex_y
        s_p *= 1.0 + acute.EX_ALPHA * ex_z * ex_w
        gzw = acute.EX_GAMMA * ex_z * ex_w
        if hr_ex > 0.0:
            acc[j, A.exercise_min] += 1.0
            acc[j, A.exercise_dose] += hr_ex / 3600.0
    st_start = li[j, LI.st_start]
    if st_start <= m < st_start + li[j, LI.st_len]:
        s_p /= 1.0 + acute.STRESS_SP * lf[j, LF.st_sev]
        e_cr *= 1.0 + acute.STRESS_KP1 * lf[j, LF.st_sev]
    return s_p, e_cr, vm0_f, gzw


@nb.njit(cache=True, nogil=True, inline="always")
def lane_after_step(j, x, p, lf, acc):
    """The accumulators that need the state after the minute's step: plasma insulin,
    hyperglycaemic exposure (of the glucose before the step) and urinary glucose."""
    acc[j, A.insulin] += x[X.Ip] * lf[j, LF.inv_vi]
    bg = lf[j, LF.bg]
    if bg > HYPER_THRESHOLD:
        acc[j, A.hyper] += bg - HYPER_THRESHOLD
    acc[j, A.urine_mg] += renal_excretion(x[X.Gp], p) * lf[j, LF.bw]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def lane_end_of_day(j, day, run, t, n_pend):
    """Lane j's day: metrics, the slow step (today's aggregates -> tomorrow's multipliers) and
    titration. Writes the day into out[j, O_*]. Returns the body weight the fast model uses
    tomorrow (kg)."""
    therapy, behaviour, on = run.therapy, run.behaviour, run.switches
    lf, tr, st, acc, tacc, gmi_ring = t.lf, t.tr, t.st, t.acc, t.tacc, t.gmi_ring
    log_phi, agg, pend_minute, out = t.log_phi, t.agg, t.pend_minute, t.out
    for k in range(n_pend):
        pend_minute[j, k] -= MINUTES_PER_DAY
    age = tr[j, T.age0] + day / 365.25
    stj = st[j]
    trj = tr[j]
    accj = acc[j]
    outj = out[j]
    finish_day(accj, stj[slow.S.fat] + stj[slow.S.lean], outj)
    n = accj[A.n]
    bw = lf[j, LF.bw]
    ill = lf[j, LF.ill]
    agg[slow.G.mean_insulin] = accj[A.insulin] / n
    agg[slow.G.hyper_exposure] = accj[A.hyper] / n
    agg[slow.G.urine_g] = accj[A.urine_mg] / 1000.0
    agg[slow.G.intake_kcal] = slow.KCAL_PER_G_GLUCOSE * accj[A.carbs] + lf[j, LF.noncarb_kcal] * (
        1.0 - behaviour[B.illness_appetite] * ill
    )
    if on[SW.appetite_feedback] != 0.0:
        prior = trj[T.prior_glycosuria_g]
        if day < slow.GMI_DAYS and prior != prior:
            # the patient has lived with this control for a while: weight is steady, below
            # the defended one by what appetite needs to replace the usual glycosuria (the
            # mean of the days so far, as for HbA1c at the start)
            lf[j, LF.habit_urine_g] += (agg[slow.G.urine_g] - lf[j, LF.habit_urine_g]) / (day + 1)
        defended = lf[j, LF.ref_weight] + slow.appetite_deficit_kg(lf[j, LF.habit_urine_g])
        agg[slow.G.intake_kcal] += slow.appetite_kcal(defended, stj[slow.S.fat] + stj[slow.S.lean])
    agg[slow.G.ree_constant_kcal] = lf[j, LF.ree_constant]
    agg[slow.G.exercise_kcal] = acute.exercise_kcal(accj[A.exercise_dose] * 3600.0, bw)
    agg[slow.G.exercise_dose] = accj[A.exercise_dose]
    agg[slow.G.mean_glucose] = accj[A.sum] / n
    if day == 0:
        slow.equilibrate(stj, agg, trj, age, on)
        for g in range(slow.GMI_DAYS):
            gmi_ring[j, g] = agg[slow.G.mean_glucose]
    else:
        slow.daily_update(stj, agg, trj, age, on, trj[T.activity_pal])
    gmi_ring[j, day % slow.GMI_DAYS] = agg[slow.G.mean_glucose]
    if day < slow.GMI_DAYS:
        # HbA1c at the start: the steady state of the days so far (up to two weeks), not of
        # day 0 alone, whose mean a start-up excursion could set to 450 mg/dL (HbA1c 17%)
        so_far = 0.0
        for g in range(day + 1):
            so_far += gmi_ring[j, g]
        stj[slow.S.eag] = so_far / (day + 1)
    if on[SW.growth] != 0.0 and growth.grows(age):
        _grow_one_day(j, age, lf, trj, stj)
    s_p_abs, s_h_abs, e_cr_abs = slow.multipliers(stj, trj, age + 1.0 / 365.25, on, log_phi[j])
    weight = stj[slow.S.fat] + stj[slow.S.lean]
    if on[SW.weight_feedback] != 0.0:
        bw = weight
        lf[j, LF.bw] = bw
        lf[j, LF.to_pmol_per_kg] = PMOL_PER_U / bw
    hba1c = hba1c_from_eag(stj[slow.S.eag])
    gmi_sum = 0.0
    for g in range(slow.GMI_DAYS):
        gmi_sum += gmi_ring[j, g]
    height = trj[T.height_m]
    bmi = weight / (height * height)
    waist = slow.waist_cm(trj, bmi, stj[slow.S.visceral], stj[slow.S.fat], age)
    outj[D.bmi] = bmi
    outj[D.height] = height
    outj[D.bmi_sds] = growth.bmi_sds(bmi, trj[T.sex_male], age + 1.0 / 365.25)
    outj[D.fat_mass_kg] = stj[slow.S.fat]
    outj[D.visceral_fat_kg] = stj[slow.S.visceral]
    outj[D.waist_cm] = waist
    outj[D.ffa] = stj[slow.S.ffa]
    outj[D.inflammation] = stj[slow.S.inflammation]
    outj[D.oxidative_stress] = stj[slow.S.ros]
    outj[D.glut4_efficiency] = stj[slow.S.glut4]
    outj[D.receptor_density] = stj[slow.S.receptor]
    outj[D.counterreg_tone] = stj[slow.S.tone]
    outj[D.si_peripheral] = s_p_abs
    outj[D.si_hepatic] = s_h_abs
    outj[D.hba1c] = hba1c
    outj[D.gmi] = gmi_from_mean(gmi_sum / slow.GMI_DAYS)
    outj[D.egdr] = egdr(waist, trj[T.hypertension], hba1c)
    outj[D.rescue_carbs_g] = accj[A.rescue]
    outj[D.intake_kcal] = agg[slow.G.intake_kcal]
    outj[D.glycosuria_g] = agg[slow.G.urine_g]
    outj[D.severe_hypo_events] = accj[A.severe]
    outj[D.dka_events] = accj[A.dka]
    outj[D.hyperglycaemia_admissions] = accj[A.crisis]
    outj[D.exercise_min] = accj[A.exercise_min]
    outj[D.illness] = ill
    outj[D.mean_insulin] = agg[slow.G.mean_insulin]
    for k in range(slow.N_MECH):
        outj[O_LOG_PHI + k] = log_phi[j, k]
    lf[j, LF.sp_rel] = s_p_abs / slow.REFERENCE_SP
    lf[j, LF.sh_rel] = s_h_abs / slow.REFERENCE_SH
    lf[j, LF.ecr_rel] = e_cr_abs / slow.REFERENCE_ECR
    # titration at the end of each interval
    tacc[j, TA.sum] += accj[A.sum]
    tacc[j, TA.n] += accj[A.n]
    tacc[j, TA.below70] += accj[A.below70]
    tacc[j, TA.days] += 1.0
    tacc[j, TA.dose_per_kg] += outj[D.tdd_per_kg]
    if t.li[j, LI.aid] != 0:
        lf[j, LF.tdd_avg] += (outj[D.tdd] - lf[j, LF.tdd_avg]) / aid.TDD_AVERAGE_DAYS
    if therapy[TH.titrate_days] > 0.0 and tacc[j, TA.days] >= therapy[TH.titrate_days]:
        # a clinic visit's advice is followed with the patient's own probability
        follows = therapy[TH.follow_advice] == 0.0 or (
            rng.uniform(run.seed, t.li[j, LI.pid], day, rng.STREAM_THERAPY, 0)
            < trj[T.advice_follow]
        )
        if follows:
            basal_f, bolus_f = titrate(lf[j, LF.basal_f], lf[j, LF.bolus_f], tacc[j], therapy)
            if therapy[TH.rise_kept] < 1.0:
                basal_f, bolus_f = _keep_rises(j, day, basal_f, bolus_f, lf, therapy, run, t)
            lf[j, LF.basal_f], lf[j, LF.bolus_f] = basal_f, bolus_f
        for a in range(N_TITRATION_ACC):
            tacc[j, a] = 0.0
    return bw


# the visit's draws of therapy.dose_rise_kept, past the minutes' (1 + 2 x MINUTES_PER_DAY)
RISE_DRAW_INDEX = 1 + 2 * MINUTES_PER_DAY


@nb.njit(cache=True, nogil=True)
def _keep_rises(j, day, basal_f, bolus_f, lf, therapy, run, t):
    """A visit's rises of the basal and of the bolus doses, each kept with chance
    TH.rise_kept (its own draw); cuts are kept."""
    pid = t.li[j, LI.pid]
    if basal_f > lf[j, LF.basal_f]:
        u = rng.uniform(run.seed, pid, day, rng.STREAM_THERAPY, RISE_DRAW_INDEX)
        if u >= therapy[TH.rise_kept]:
            basal_f = lf[j, LF.basal_f]
    if bolus_f > lf[j, LF.bolus_f]:
        u = rng.uniform(run.seed, pid, day, rng.STREAM_THERAPY, RISE_DRAW_INDEX + 1)
        if u >= therapy[TH.rise_kept]:
            bolus_f = lf[j, LF.bolus_f]
    return basal_f, bolus_f


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _grow_one_day(j, age, lf, trj, stj):
    """A day of growth on the patient's height and BMI centiles (engine/model/growth.py): the
    weight it takes is added as fat and lean in the body's proportion, and habitual intake
    rises by the new tissue's upkeep (resting expenditure x activity, with the thermic
    effect), so that growth itself leaves the energy balance as it was."""
    height, gained = growth.day_of_growth(
        lf[j, LF.height_z], lf[j, LF.bmi_z], trj[T.sex_male], age, 1.0 / 365.25
    )
    fat, lean = stj[slow.S.fat], stj[slow.S.lean]
    d_fat = gained * fat / (fat + lean)
    d_lean = gained - d_fat
    stj[slow.S.fat] = fat + d_fat
    stj[slow.S.lean] = lean + d_lean
    trj[T.height_m] = height
    lf[j, LF.ref_weight] += gained
    lf[j, LF.noncarb_kcal] += (
        trj[T.activity_pal] * slow.resting_expenditure(d_fat, d_lean) / (1.0 - slow.TEF)
    )
