"""The config's sections as the kernels' settings vectors (the one place they are translated),
so kernels never see pydantic and orchestration never does per-patient arithmetic."""
import numpy as np

from ..life import behaviour

from ..life.behaviour import B
from ..life import therapy
from ..life.therapy import TH
from .config import RunConfig
from ..sim.patient import N_SWITCHES, SW
from ..model.slow import MECHANISM_NAMES

INCREMENT_U = {"pump": 0.05, "mdi": 0.5}


def mean_glucose_for_hba1c(hba1c: float) -> float:
    """ADAG eAG (mg/dL) = 28.7 A1c - 46.7 (Nathan et al. 2008)."""
    return 28.7 * hba1c - 46.7


def therapy_settings(cfg: RunConfig) -> np.ndarray:
    t = cfg.therapy
    th = np.zeros(therapy.N_THERAPY)
    th[TH.rule] = therapy.RULE_SIMGLUCOSE if t.kind == "simglucose_basal_bolus" else therapy.RULE_CALCULATOR
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
    th[TH.mean_target] = mean_glucose_for_hba1c(t.hba1c_target)
    th[TH.tbr_limit] = t.tbr_limit_pct
    th[TH.cap_low] = t.cap_low
    th[TH.cap_high] = t.cap_high
    th[TH.dose_scale] = t.dose_scale
    th[TH.increment_u] = 0.0 if t.kind == "simglucose_basal_bolus" else INCREMENT_U[t.delivery]
    th[TH.sick_day_extra] = t.sick_day_extra
    th[TH.ratios_from_tdd] = float(t.ratios == "tdd_rules")
    return th


def behaviour_settings(cfg: RunConfig) -> np.ndarray:
    b = behaviour.default_behaviour()
    beh, ep = cfg.behaviour, cfg.episodes
    b[B.count_cv] = beh.carb_count_cv
    b[B.miss_share] = beh.miss_share
    b[B.late_min] = beh.late_bolus_min
    b[B.hypo_threshold] = beh.hypo_threshold_mg_dl
    b[B.hypo_treat_g] = beh.hypo_treatment_g
    b[B.hypo_wait_min] = beh.hypo_wait_min
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
    for k, name in enumerate(MECHANISM_NAMES):
        sw[k] = float(getattr(m, name))
    sw[SW.dawn] = float(m.dawn)
    sw[SW.time_of_day] = float(m.time_of_day)
    sw[SW.weight_feedback] = float(m.weight_feedback)
    sw[SW.midpoint] = float(cfg.run.integrator == "midpoint")
    return sw
