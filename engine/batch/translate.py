"""The config as the kernels' arrays: the one place a RunConfig is translated, so kernels
never see pydantic and orchestration never does per-patient arithmetic. Each vector is indexed
by its index family (TH, B, SW, SN, POP); `kernel_inputs` gathers them for a run."""

import math
from dataclasses import dataclass

import numpy as np

from ..life import aid, behaviour, controllers, therapy
from ..life.behaviour import B
from ..life.sensor import N_SENSOR, SENSOR_JOHNSON_SU, SENSOR_NONE, SN
from ..life.therapy import TH
from ..model.glycaemia import eag_from_hba1c
from ..model.traits import T
from ..population.cohort import N_POP, POP, SAMPLERS
from ..population.reference import sensor_models
from ..sim.patient import N_SWITCHES, SW
from .config import RunConfig, parse_config

INCREMENT_U = {"pump": therapy.INCREMENT_PUMP_U, "mdi": therapy.INCREMENT_PEN_U, "mix": 0.0}
DETECTION = {
    "cgm": therapy.DETECT_CGM,
    "symptoms": therapy.DETECT_SYMPTOMS,
    "mix": therapy.DETECT_MIX,
}


def therapy_settings(cfg: RunConfig) -> np.ndarray:
    t = cfg.therapy
    th = np.zeros(therapy.N_THERAPY)
    th[TH.rule] = (
        therapy.RULE_SIMGLUCOSE if t.kind == "simglucose_basal_bolus" else therapy.RULE_CALCULATOR
    )
    th[TH.target] = t.target_mg_dl
    th[TH.correction_threshold] = t.correction_threshold_mg_dl
    th[TH.correct] = float(t.correct)
    th[TH.use_iob] = float(t.use_iob)
    th[TH.dia_min] = t.dia_h * 60.0
    th[TH.carb_counting] = float(t.carb_counting)
    th[TH.initial_dose] = t.initial_dose
    th[TH.titrate_days] = t.titrate_days
    th[TH.step] = t.step
    th[TH.fasting_target] = t.fasting_target_mg_dl
    th[TH.mean_target] = eag_from_hba1c(t.hba1c_target)
    th[TH.tbr_limit] = t.tbr_limit_pct
    th[TH.cap_low] = t.cap_low
    th[TH.cap_high] = t.cap_high
    th[TH.dose_scale] = t.dose_scale
    th[TH.increment_u] = 0.0 if t.kind == "simglucose_basal_bolus" else INCREMENT_U[t.delivery]
    th[TH.sick_day_extra] = t.sick_day_extra
    th[TH.ratios_from_tdd] = float(t.ratios == "tdd_rules")
    th[TH.cf_from_cr] = float(t.ratios == "reference_cr")
    # simglucose's rule has no corrections outside meals
    th[TH.high_alert] = 0.0 if t.kind == "simglucose_basal_bolus" else t.cgm_high_alert_mg_dl
    th[TH.delivery_mix] = float(t.delivery == "mix" and t.kind != "simglucose_basal_bolus")
    th[TH.detection] = DETECTION[t.hypo_detection]
    th[TH.dose_error_sd] = t.dose_error_sd
    th[TH.dose_error_bias] = t.dose_error_bias
    th[TH.follow_advice] = float(t.follow_advice)
    th[TH.rise_kept] = t.dose_rise_kept
    th[TH.severe_cut] = t.severe_hypo_cut
    th[TH.sick_day_rules] = float(t.sick_day_rules)
    th[TH.max_bolus_per_kg] = t.max_bolus_u_per_kg
    th[TH.basal_absorption_cv] = t.basal_absorption_cv
    th[TH.rapid_absorption_cv] = t.rapid_absorption_cv
    return th


def aid_settings(cfg: RunConfig) -> np.ndarray:
    """The pump's settings vector (engine/life/aid.py AID); a built-in controller's tuning in
    p0.. in its table's order, defaults filled in. A plug-in's tuning is placed when the run
    starts (engine/batch/plugins.py), where its table is read: nothing is imported here."""
    t = cfg.therapy
    a = np.zeros(aid.N_AID)
    A = aid.AID
    a[A.on] = float(t.runs_pump())
    a[A.aid_users_only] = float(t.delivery == "mix")
    a[A.kind] = controllers.BUILTIN_KINDS.get(t.controller, controllers.KIND_PLUGIN)
    a[A.target] = t.aid_target_mg_dl
    a[A.max_basal_factor] = t.max_basal_factor
    a[A.max_iob_per_kg] = t.max_iob_u_per_kg
    a[A.suspend_before_low] = float(t.suspend_before_low)
    a[A.suspend_threshold] = t.suspend_threshold_mg_dl
    a[A.insulin_peak_min] = t.insulin_peak_min
    a[A.insulin_decay_per_min] = math.exp(-1.0 / t.insulin_peak_min)
    a[A.exercise_mode_share] = t.exercise_mode_share
    a[A.exercise_target] = t.exercise_target_mg_dl
    a[A.sensor_session_days] = t.sensor_session_days
    a[A.sensor_warmup_min] = t.sensor_warmup_min
    a[A.sensor_gaps_per_day] = t.sensor_gaps_per_day
    a[A.sensor_gap_min] = t.sensor_gap_min
    a[A.set_change_days] = t.set_change_days
    a[A.set_failure_share] = t.set_failure_share
    a[A.set_failure_loss] = t.set_failure_loss
    for k, (name, default, *_rest) in enumerate(controllers.TUNING.get(t.controller, ())):
        a[A.p0 + k] = t.controller_settings.get(name, default)
    return a


def behaviour_settings(cfg: RunConfig) -> np.ndarray:
    b = behaviour.default_behaviour()
    beh, ep = cfg.behaviour, cfg.episodes
    b[B.count_cv] = beh.carb_count_cv
    b[B.miss_share] = beh.miss_share
    b[B.late_min] = beh.late_bolus_min
    b[B.hypo_threshold] = beh.hypo_threshold_mg_dl
    b[B.hypo_treat_g] = beh.hypo_treatment_g
    b[B.hypo_treat_cv] = beh.hypo_treatment_cv
    b[B.hypo_treat_by_weight] = float(beh.hypo_treatment_by_weight)
    b[B.hypo_wait_min] = beh.hypo_wait_min
    b[B.snacks_per_day] = beh.unannounced_snacks_per_day
    b[B.snack_g] = beh.snack_g
    b[B.lapse_day_share] = beh.lapse_day_share
    b[B.assist_delay_min] = beh.assist_delay_min
    b[B.basal_omissions_per_year] = beh.basal_omissions_per_year
    b[B.meal_check_share] = beh.meal_check_share
    b[B.exercise_on] = float(beh.exercise)
    if beh.programme is not None:
        pr = beh.programme
        b[B.programme_day] = pr.start_day
        b[B.programme_sessions] = pr.sessions_per_week
        b[B.programme_min] = pr.session_min
        b[B.programme_hr] = pr.session_hr_excess
    if beh.diet_change is not None:
        dc = beh.diet_change
        b[B.diet_day] = dc.start_day
        b[B.diet_fat] = dc.fat_share
        b[B.diet_sugar] = dc.sugar_share
        b[B.diet_surplus] = dc.energy_surplus
    b[B.stress_on] = float(ep.stress)
    b[B.stress_per_week] = ep.stress_per_week
    b[B.stress_hours] = ep.stress_hours
    b[B.stress_severity] = ep.stress_severity
    b[B.illness_on] = float(ep.illness)
    b[B.illness_per_year] = ep.illness_per_year
    b[B.illness_days] = ep.illness_days
    b[B.illness_severity] = ep.illness_severity
    b[B.illness_appetite] = ep.illness_appetite
    return b


def switch_settings(cfg: RunConfig) -> np.ndarray:
    m = cfg.mechanisms
    sw = np.zeros(N_SWITCHES)
    for k, name in enumerate(SW._fields):  # the mechanisms, dawn, time_of_day, ...
        on = cfg.run.integrator == "midpoint" if name == "midpoint" else getattr(m, name)
        sw[k] = float(on)
    return sw


def default_population(**cohort) -> np.ndarray:
    """The population vector of the default config, with [cohort] fields overridden."""
    return population_settings(parse_config({"cohort": cohort}))


def population_settings(cfg) -> np.ndarray:
    """The population vector (POP.<name>) of a RunConfig."""
    life, gen, coh = cfg.lifestyle, cfg.genetics, cfg.cohort
    pop = np.zeros(N_POP)
    pop[POP.family_history] = gen.family_history_prob
    pop[POP.prs_shift] = gen.polygenic_shift
    pop[POP.fat_share] = life.fat_share
    pop[POP.sugar_share] = life.sugar_share
    pop[POP.surplus] = life.energy_surplus
    pop[POP.sessions] = life.sessions_per_week
    pop[POP.session_min] = life.session_min
    pop[POP.session_hr] = life.session_hr_excess
    pop[POP.pal] = life.activity_pal
    pop[POP.sleep_h] = life.sleep_h
    pop[POP.stress] = life.chronic_stress
    pop[POP.adherence] = life.adherence
    pop[POP.adolescent_adherence_dip] = life.adolescent_adherence_dip
    pop[POP.advice_adherence_rho] = life.advice_adherence_correlation
    pop[POP.youth_meals] = float(life.youth_meals)
    pop[POP.cgm_share] = coh.cgm_share
    pop[POP.pump_share] = coh.pump_share
    pop[POP.aid_share] = coh.aid_share
    pop[POP.unaware_share] = coh.hypo_unaware_share
    pop[POP.dawn_prevalence] = coh.dawn_prevalence
    pop[POP.dawn_mean] = coh.dawn_amplitude
    pop[POP.tod_max] = coh.time_of_day_amplitude
    pop[POP.bmi_scale] = coh.bmi_scale
    pop[POP.youth_bmi_charts] = float(coh.youth_bmi == "charts")
    pop[POP.sampler] = float(SAMPLERS.index(coh.sampler))
    pop[POP.jitter_sigma] = np.sqrt(np.log1p(coh.jitter_cv**2))
    pop[POP.kidney] = float(cfg.mechanisms.kidney_glycosuria)
    pop[POP.splay] = float(cfg.mechanisms.renal_splay)
    pop[POP.brain] = float(cfg.mechanisms.brain_uptake_in_lows)
    return pop


@dataclass(frozen=True)
class KernelInputs:
    """Everything a task needs besides the patients, as plain arrays (picklable, small)."""

    seed: np.uint64
    n_days: int
    meal_slots: np.ndarray
    therapy: np.ndarray
    behaviour: np.ndarray
    switches: np.ndarray
    sensor_params: np.ndarray
    cgm_interval_min: int
    trace_interval_min: int
    group_weights: dict
    population: np.ndarray
    backend: str = "cpu"
    aid: np.ndarray | None = None
    controller: str = "none"  # a plug-in's "package.module:function", resolved when running
    controller_settings: tuple = ()  # a plug-in's tuning, (name, value) pairs
    delivery: str = "mix"  # therapy.delivery: which patients' stored uses_pump is their draw


def devices_used(inputs: KernelInputs, traits: np.ndarray) -> dict[str, np.ndarray]:
    """The devices each patient of a scenario uses (0/1 per patient), as the kernel decides
    them: the cohort's drawn traits uses_pump, uses_cgm and uses_aid are read only under the
    real-world mix; a therapy with one delivery or one way of noticing lows gives everyone
    the same. These, not the draws, are what the results store under the traits' names."""
    n = traits.shape[0]
    drawn = {k: traits[:, getattr(T, k)] > 0.5 for k in ("uses_pump", "uses_cgm", "uses_aid")}
    pump = drawn["uses_pump"] if inputs.delivery == "mix" else np.full(n, inputs.delivery == "pump")
    detection = inputs.therapy[TH.detection]
    if detection == therapy.DETECT_MIX:
        cgm = drawn["uses_cgm"].copy()
    else:
        cgm = np.full(n, detection == therapy.DETECT_CGM)
    a = inputs.aid if inputs.aid is not None else np.zeros(aid.N_AID)
    controlled = a[aid.AID.on] != 0.0 and a[aid.AID.kind] != controllers.KIND_NONE
    if not controlled:
        on_aid = np.zeros(n, bool)
    elif a[aid.AID.aid_users_only] != 0.0:
        on_aid = drawn["uses_aid"].copy()
        cgm |= on_aid  # an AID user of a mix notices lows by the CGM (engine/sim/patient.py)
    else:
        on_aid = np.ones(n, bool)
    return {"uses_pump": pump, "uses_cgm": cgm, "uses_aid": on_aid}


def kernel_inputs(cfg: RunConfig, seed: int | None = None) -> KernelInputs:
    meals = cfg.meals
    slots = np.array(
        [
            [m.time_h * 60.0 for m in meals],
            [m.time_sd_min for m in meals],
            [m.carbs_g for m in meals],
            [m.carbs_cv for m in meals],
            [m.probability for m in meals],
        ],
        dtype=np.float64,
    ).reshape(5, len(meals))
    sp = np.zeros(N_SENSOR)
    if cfg.sensor.kind == "johnson_su":
        row = sensor_models().loc[cfg.sensor.model]
        sp[SN.kind] = SENSOR_JOHNSON_SU
        sp[SN.pacf], sp[SN.gamma], sp[SN.lambda_] = row["PACF"], row["gamma"], row["lambda"]
        sp[SN.delta], sp[SN.xi], sp[SN.min], sp[SN.max] = (
            row["delta"],
            row["xi"],
            row["min"],
            row["max"],
        )
    else:
        sp[SN.kind] = SENSOR_NONE
    return KernelInputs(
        np.uint64(cfg.run.seed if seed is None else seed),
        cfg.run.days,
        slots,
        therapy_settings(cfg),
        behaviour_settings(cfg),
        switch_settings(cfg),
        sp,
        cfg.sensor.interval_min,
        cfg.output.trace_interval_min,
        dict(cfg.cohort.groups),
        population_settings(cfg),
        cfg.execution.backend,
        aid_settings(cfg),
        cfg.therapy.controller,
        tuple(sorted(cfg.therapy.controller_settings.items())),
        cfg.therapy.delivery,
    )
