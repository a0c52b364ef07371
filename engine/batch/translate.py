"""The config's sections as the kernels' settings vectors (the one place they are translated),
so kernels never see pydantic and orchestration never does per-patient arithmetic."""
import numpy as np

from ..life import behaviour as B
from ..life import therapy as TH
from .config import RunConfig
from ..sim.patient import N_SWITCHES, SW_DAWN, SW_MIDPOINT, SW_TIME_OF_DAY, SW_WEIGHT_FEEDBACK
from ..model.slow import MECHANISM_NAMES

INCREMENT_U = {"pump": 0.05, "mdi": 0.5}


def mean_glucose_for_hba1c(hba1c: float) -> float:
    """ADAG eAG (mg/dL) = 28.7 A1c - 46.7 (Nathan et al. 2008)."""
    return 28.7 * hba1c - 46.7


def therapy_settings(cfg: RunConfig) -> np.ndarray:
    t = cfg.therapy
    th = np.zeros(TH.N_THERAPY)
    th[TH.TH_RULE] = TH.RULE_SIMGLUCOSE if t.kind == "simglucose_basal_bolus" else TH.RULE_CALCULATOR
    th[TH.TH_TARGET] = t.target_mg_dl
    th[TH.TH_CORRECTION_THRESHOLD] = t.correction_threshold_mg_dl
    th[TH.TH_CORRECT] = float(t.correct)
    th[TH.TH_USE_IOB] = float(t.use_iob)
    th[TH.TH_DIA_MIN] = t.dia_h * 60.0
    th[TH.TH_CARB_COUNTING] = float(t.carb_counting)
    th[TH.TH_INITIAL_DOSE] = t.initial_dose
    th[TH.TH_TITRATE_DAYS] = t.titrate_days
    th[TH.TH_STEP] = t.step
    th[TH.TH_FASTING_TARGET] = t.fasting_target_mg_dl
    th[TH.TH_MEAN_TARGET] = mean_glucose_for_hba1c(t.hba1c_target)
    th[TH.TH_TBR_LIMIT] = t.tbr_limit_pct
    th[TH.TH_CAP_LOW] = t.cap_low
    th[TH.TH_CAP_HIGH] = t.cap_high
    th[TH.TH_DOSE_SCALE] = t.dose_scale
    th[TH.TH_INCREMENT_U] = 0.0 if t.kind == "simglucose_basal_bolus" else INCREMENT_U[t.delivery]
    th[TH.TH_SICK_DAY_EXTRA] = t.sick_day_extra
    th[TH.TH_RATIOS_FROM_TDD] = float(t.ratios == "tdd_rules")
    return th


def behaviour_settings(cfg: RunConfig) -> np.ndarray:
    b = B.default_behaviour()
    beh, ep = cfg.behaviour, cfg.episodes
    b[B.B_COUNT_CV] = beh.carb_count_cv
    b[B.B_MISS_SHARE] = beh.miss_share
    b[B.B_LATE_MIN] = beh.late_bolus_min
    b[B.B_HYPO_THRESHOLD] = beh.hypo_threshold_mg_dl
    b[B.B_HYPO_TREAT_G] = beh.hypo_treatment_g
    b[B.B_HYPO_WAIT_MIN] = beh.hypo_wait_min
    b[B.B_EXERCISE_ON] = float(beh.exercise)
    if beh.programme is not None:
        pr = beh.programme
        b[B.B_PROGRAMME_DAY] = pr.start_day
        b[B.B_PROGRAMME_SESSIONS] = pr.sessions_per_week
        b[B.B_PROGRAMME_MIN] = pr.session_min
        b[B.B_PROGRAMME_HR] = pr.session_hr_excess
    if beh.diet_change is not None:
        dc = beh.diet_change
        b[B.B_DIET_DAY] = dc.start_day
        b[B.B_DIET_FAT] = dc.fat_share
        b[B.B_DIET_SUGAR] = dc.sugar_share
        b[B.B_DIET_SURPLUS] = dc.energy_surplus
    b[B.B_STRESS_ON] = float(ep.stress)
    b[B.B_STRESS_PER_WEEK] = ep.stress_per_week
    b[B.B_STRESS_HOURS] = ep.stress_hours
    b[B.B_STRESS_SEVERITY] = ep.stress_severity
    b[B.B_ILLNESS_ON] = float(ep.illness)
    b[B.B_ILLNESS_PER_YEAR] = ep.illness_per_year
    b[B.B_ILLNESS_DAYS] = ep.illness_days
    b[B.B_ILLNESS_SEVERITY] = ep.illness_severity
    b[B.B_ILLNESS_APPETITE] = ep.illness_appetite
    return b


def switch_settings(cfg: RunConfig) -> np.ndarray:
    m = cfg.mechanisms
    sw = np.zeros(N_SWITCHES)
    for k, name in enumerate(MECHANISM_NAMES):
        sw[k] = float(getattr(m, name))
    sw[SW_DAWN] = float(m.dawn)
    sw[SW_TIME_OF_DAY] = float(m.time_of_day)
    sw[SW_WEIGHT_FEEDBACK] = float(m.weight_feedback)
    sw[SW_MIDPOINT] = float(cfg.run.integrator == "midpoint")
    return sw
