"""The schema of a run (pydantic), TOML loading, and errors that name the field.

Every field has a default except where a run cannot guess (none today), bounds that say what
is allowed, and unknown fields are refused so a typo never passes silently.
"""

import re
import tomllib
import types
import typing
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from ..model.params import MINUTES_PER_DAY
from ..model.slow import MECHANISMS
from ..population.reference import GROUPS

PATIENT_DAYS_PER_TASK = 1_000_000


class ConfigError(ValueError):
    """A config that cannot run; the message names the field, the value and what is allowed."""


def _wants_number(annotation) -> bool:
    """Whether a field of this type takes a number and not a boolean: pydantic takes true and
    false for numbers as 1 and 0, so `carb_count_cv = true` ran as 1.0."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return bool not in args and any(a in (int, float) for a in args)
    return False


def _located_error(line_errors) -> ValidationError:
    """pydantic's ValidationError for an assignment, each error at its place in the config."""
    return ValidationError.from_exception_data("RunConfig", line_errors)


def _locate(value, loc: tuple) -> None:
    """Tell `value` (a section, or a list of them) and the sections inside it where they sit."""
    if isinstance(value, _Section):
        value._loc = loc
        for name in type(value).model_fields:
            _locate(getattr(value, name), (*loc, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _locate(item, (*loc, i))


class _Section(BaseModel):
    # allow_inf_nan=False: a nan failed the bounds with "should be less than or equal to 1"
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    # where this section sits in its RunConfig, e.g. ("run",) or ("meals", 0): an assignment's
    # error names the field as the file's would (run.days, not days)
    _loc: tuple = PrivateAttr(default=())

    def __setattr__(self, name, value):
        if name.startswith("_"):
            return super().__setattr__(name, value)
        if name not in type(self).model_fields:
            raise _located_error(
                [{"type": "extra_forbidden", "loc": (*self._loc, name), "input": value}]
            )
        before = self.__dict__[name]
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            # a section's own check (model_validator) runs after pydantic has set the value
            self.__dict__[name] = before
            raise _located_error(
                [
                    {k: e[k] for k in ("type", "input", "ctx") if k in e}
                    | {"loc": (*self._loc, *e["loc"])}
                    for e in err.errors()
                ]
            ) from None
        _locate(getattr(self, name), (*self._loc, name))

    @field_validator("*", mode="before")
    @classmethod
    def _number_not_boolean(cls, value, info):
        if isinstance(value, bool):
            field = cls.model_fields.get(info.field_name)
            if field is not None and _wants_number(field.annotation):
                raise ValueError(f"a number is needed here, not {str(value).lower()}")
        return value


class RunSection(_Section):
    name: str = Field("t1dmc run", description="label stored in the results")
    seed: int = Field(20261127, ge=0, lt=2**64, description="seed of the counter-based generator")
    n_patients: int = Field(1000, ge=1, le=100_000_000, description="patients per scenario")
    days: int = Field(30, ge=1, le=36_500, description="simulated days")
    integrator: Literal["rk4", "midpoint"] = Field(
        "rk4",
        description=(
            "rk4: classical Runge-Kutta at 1 min, validated against simglucose; midpoint: "
            "second order, half the derivative evaluations, faster and less exact (its error "
            "against rk4: benchmarks/integrator_error.py)"
        ),
    )


class CohortSection(_Section):
    groups: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: {"adult": 1.0},
        description="relative weights of the reference groups (adolescent, adult, child)",
    )
    sampler: Literal["mvlognormal", "resample"] = Field(
        "mvlognormal",
        description=(
            "mvlognormal: a multivariate log-normal fitted to each group's reference patients; "
            "resample: a reference patient with log-normal jitter (jitter_cv)"
        ),
    )
    jitter_cv: float = Field(
        0.10,
        ge=0.0,
        le=0.5,
        description=(
            "sampler = resample: coefficient of variation of the log-normal jitter applied to "
            "each kinetic parameter of the resampled reference patient"
        ),
    )
    bmi_scale: float = Field(
        1.0,
        ge=0.5,
        le=2.0,
        description=(
            "multiplies the BMI drawn for every group (1: US adults with T1D, NHIS 2016-21; "
            "youths, SEARCH 2001-04)"
        ),
    )
    youth_bmi: Literal["charts", "group_lognormal"] = Field(
        "charts",
        description=(
            "under 20, BMI from the CDC 2000 BMI-for-age chart at an SDS fitted to SEARCH's "
            "youths with T1D (charts); group_lognormal: every BMI drawn as before 0.12.0, to "
            "reproduce older runs (youths log-normal around one median a group, 11% of them "
            "below SDS -2; the ceiling at 60, not 55)"
        ),
    )
    dawn_prevalence: float = Field(
        0.89,
        ge=0.0,
        le=1.0,
        description=("share of patients with a dawn phenomenon (Perriello 1991: 89%)"),
    )
    dawn_amplitude: float = Field(
        0.095,
        ge=0.0,
        le=2.0,
        description=(
            "mean rise of the glucose production drive (kp1) at dawn, among those with one "
            "(calibrated to +19.4% insulin need 02:40 -> 06:40)"
        ),
    )
    cgm_share: float = Field(
        0.30,
        ge=0.0,
        le=1.0,
        description="share wearing a CGM (T1D Exchange 2016-18: 30%); used by therapy.mix",
    )
    pump_share: float = Field(
        0.63,
        ge=0.0,
        le=1.0,
        description="share on an insulin pump (T1D Exchange 2016-18: 63%); used by therapy.mix",
    )
    aid_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description=(
            "share on automated insulin delivery (therapy.controller), drawn among the "
            "patients with a pump and a CGM, at most pump_share x cgm_share; used by "
            "therapy.mix (T1D Exchange 2016-18, which real_world is calibrated to: ~0; "
            "T1DX-QI, children up to 6: 48%)"
        ),
    )
    hypo_unaware_share: float = Field(
        0.20,
        ge=0.0,
        le=1.0,
        description="share with impaired awareness of hypoglycaemia (Geddes 2008: 19.6%)",
    )
    time_of_day_amplitude: float = Field(
        0.20,
        ge=0.0,
        le=0.9,
        description=(
            "largest amplitude of the individual daily sensitivity pattern (uniform 0..this)"
        ),
    )

    @model_validator(mode="after")
    def _aid_within_devices(self):
        # AID users are drawn among the patients with both a pump and a CGM (drawn
        # independently), so that a patient's devices do not depend on aid_share
        both = self.pump_share * self.cgm_share
        if self.aid_share > both + 1e-12:
            raise ValueError(
                f"aid_share = {self.aid_share}: more than the share with both a pump and a CGM, "
                f"pump_share x cgm_share = {self.pump_share} x {self.cgm_share} = {both:.4g} "
                "(AID users are drawn among them)"
            )
        return self

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, v):
        unknown = sorted(set(v) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown group {unknown[0]!r}; allowed: {', '.join(GROUPS)}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one group needs a positive weight")
        return v


class MealSlot(_Section):
    name: str = "meal"
    time_h: float = Field(..., ge=0.0, lt=24.0, description="habitual time, hours after midnight")
    time_sd_min: float = Field(30.0, ge=0.0, le=240.0, description="SD of the time, minutes")
    carbs_g: float = Field(..., gt=0.0, le=300.0, description="mean carbohydrate, g")
    carbs_cv: float = Field(0.25, ge=0.0, le=1.0, description="CV of the amount (log-normal)")
    probability: float = Field(1.0, ge=0.0, le=1.0, description="chance it is eaten on a day")


def _default_meals():
    # simglucose's S1 scenario times and sizes (45 g 07:00, 70 g 12:00, 80 g 18:00) plus an
    # afternoon snack on half of the days.
    return [
        MealSlot(name="breakfast", time_h=7.0, carbs_g=45.0),
        MealSlot(name="lunch", time_h=12.0, carbs_g=70.0),
        MealSlot(name="dinner", time_h=18.0, carbs_g=80.0),
        MealSlot(name="snack", time_h=15.5, carbs_g=20.0, probability=0.5),
    ]


def _with_preset(data, selector: str, default: str, presets: dict):
    """A section's input with the fields of the preset its `selector` names filled in under
    the fields given (an unknown or ill-typed selector is left for validation to refuse)."""
    if isinstance(data, dict):
        name = data.get(selector, default)
        preset = presets.get(name, {}) if isinstance(name, str) else {}
        data = {**preset, **data}
    return data


LIFESTYLE_PROFILES = {
    "default": {},
    "sedentary_high_fat": {
        "fat_share": 0.42,
        "sugar_share": 0.17,
        "energy_surplus": 0.05,
        "activity_pal": 1.4,
        "sessions_per_week": 0.3,
        "sleep_h": 6.3,
    },
    "active": {
        "fat_share": 0.30,
        "sugar_share": 0.07,
        "energy_surplus": 0.0,
        "activity_pal": 1.75,
        "sessions_per_week": 4.0,
        "session_min": 50.0,
        "session_hr_excess": 60.0,
    },
}


class LifestyleSection(_Section):
    """Population means of each patient's lifestyle; each patient draws around them."""

    profile: Literal["default", "sedentary_high_fat", "active"] = Field(
        "default", description="preset of the fields below; a field given here overrides it"
    )
    fat_share: float = Field(0.35, ge=0.1, le=0.7, description="fat share of dietary energy")
    sugar_share: float = Field(0.11, ge=0.0, le=0.5, description="added-sugar share of energy")
    energy_surplus: float = Field(
        0.0,
        ge=-0.3,
        le=0.3,
        description=("habitual intake above the energy balance at the start (fraction)"),
    )
    activity_pal: float = Field(
        1.55,
        ge=1.2,
        le=2.4,
        description=("physical activity level outside exercise sessions (x resting expenditure)"),
    )
    sessions_per_week: float = Field(1.5, ge=0.0, le=7.0, description="exercise sessions a week")
    session_min: float = Field(45.0, ge=10.0, le=240.0, description="session length, minutes")
    session_hr_excess: float = Field(
        50.0, ge=10.0, le=120.0, description=("heart rate above rest during a session, bpm")
    )
    sleep_h: float = Field(7.0, ge=4.0, le=10.0, description="habitual sleep, hours")
    chronic_stress: float = Field(0.2, gt=0.0, lt=1.0, description="mean chronic stress, 0-1")
    adherence: float = Field(
        0.9, gt=0.0, lt=1.0, description=("mean share of boluses given on time")
    )
    youth_meals: bool = Field(
        True,
        description="under 20, meals scale around the median weight for age times 0.90-0.99 "
        "of an adult's (NHANES 2013-14); off: (weight / 75 kg)^0.6 at every age",
    )
    adolescent_adherence_dip: float = Field(
        1.0,
        ge=0.0,
        le=4.0,
        description=(
            "lower adherence at 13-20 years, logit units (1: 38% miss >= 15% of boluses, "
            "Olinder 2009)"
        ),
    )
    advice_adherence_correlation: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description=(
            "correlation (of normal scores) between a patient's bolus adherence and their "
            "chance of following a clinic visit's advice; 0: independent (no source gives it: "
            "a knob for sensitivity analyses, docs/model.md §5)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data):
        return _with_preset(data, "profile", "default", LIFESTYLE_PROFILES)


class GeneticsSection(_Section):
    family_history_prob: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description=("share with a first-degree relative with type 2 diabetes"),
    )
    polygenic_shift: float = Field(
        0.0,
        ge=-3.0,
        le=3.0,
        description=("mean of the polygenic type 2 risk score, SD units (0: general population)"),
    )


class ProgrammeChange(_Section):
    start_day: int = Field(..., ge=0, description="first day of the exercise programme")
    sessions_per_week: float = Field(3.0, ge=0.0, le=7.0)
    session_min: float = Field(45.0, ge=10.0, le=240.0)
    session_hr_excess: float = Field(50.0, ge=10.0, le=120.0)


class DietChange(_Section):
    start_day: int = Field(..., ge=0, description="first day of the new diet")
    fat_share: float = Field(0.30, ge=0.1, le=0.7)
    sugar_share: float = Field(0.07, ge=0.0, le=0.5)
    energy_surplus: float = Field(0.0, ge=-0.3, le=0.3)


BEHAVIOUR_PROFILES = {
    # people in everyday care: some snacks go unbolused, and missed boluses cluster on days
    # (the day's lapse risk is concentrated on a share of days)
    "real_world": {
        "unannounced_snacks_per_day": 0.5,
        "lapse_day_share": 0.35,
        "basal_omissions_per_year": 3.0,
        # lows are over-treated: 32 +- 24 g carbohydrate per low where 15-20 g is advised
        # (Savard et al., Can J Diabetes 40:318, 2016, 121 adults, food records)
        "hypo_treatment_g": 32.0,
        "hypo_treatment_cv": 0.75,
        # finger-stick users measure at about two thirds of their meal boluses: adolescents on
        # pumps checked 2.4 times a day for 3.8 boluses (those missing >= 15% of boluses) and
        # 3.6 for 5.3 (the others) (Olinder et al., Pediatr Diabetes 10:142, 2009)
        "meal_check_share": 0.65,
    },
    # trial participants (DCCT): trained, followed monthly; lapses independent, every snack
    # counted
    "trial": {
        "unannounced_snacks_per_day": 0.0,
        "lapse_day_share": 1.0,
        "basal_omissions_per_year": 0.0,
        # the advised 15 g, every time (trial participants are taught the rule of 15)
        "hypo_treatment_g": 15.0,
        "hypo_treatment_cv": 0.0,
        # the DCCT's participants measured before every meal (intensive arm: at least 4 a day)
        "meal_check_share": 1.0,
    },
}


# the behaviour profile that "auto" means under each therapy preset: the DCCT arms are trials,
# and simglucose's rule is for side-by-side runs with simglucose, which has no such behaviour
TRIAL_THERAPIES = ("intensive", "conventional", "simglucose_basal_bolus")


def auto_behaviour_profile(therapy_kind: str) -> str:
    return "trial" if therapy_kind in TRIAL_THERAPIES else "real_world"


class BehaviourSection(_Section):
    profile: Literal["auto", "real_world", "trial"] = Field(
        "auto",
        description=(
            "preset of the fields below (a field given here overrides it); auto: trial under "
            "intensive, conventional and simglucose_basal_bolus, real_world otherwise"
        ),
    )
    carb_count_cv: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description=(
            "carbohydrate-counting error, CV of a multiplicative log-normal (20-30% typical)"
        ),
    )
    miss_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description=(
            "of the boluses not given on time (1 - adherence), the share missed (the rest late)"
        ),
    )
    late_bolus_min: int = Field(30, ge=1, le=240, description="delay of a late bolus, minutes")
    hypo_threshold_mg_dl: float = Field(
        70.0, ge=40.0, le=100.0, description=("CGM reading that triggers hypoglycaemia treatment")
    )
    hypo_treatment_g: float = Field(
        15.0, ge=0.0, le=60.0, description=("rescue carbohydrate per treatment, mean (0: none)")
    )
    hypo_treatment_cv: float = Field(
        0.0,
        ge=0.0,
        le=1.5,
        description=(
            "spread of the amount from low to low (CV of a log-normal; 0: always the mean)"
        ),
    )
    hypo_treatment_by_weight: bool = Field(
        True,
        description=("under 50 kg the amount is scaled by weight (children: 0.3 g/kg, ISPAD 2022)"),
    )
    hypo_wait_min: int = Field(15, ge=1, le=120, description="wait before treating again")
    unannounced_snacks_per_day: float = Field(
        0.5, ge=0.0, le=6.0, description="snacks a day eaten without a bolus (Poisson mean)"
    )
    snack_g: float = Field(20.0, gt=0.0, le=100.0, description="mean carbohydrate of such a snack")
    lapse_day_share: float = Field(
        0.35,
        gt=0.0,
        le=1.0,
        description=(
            "missed and late boluses fall on this share of days (1: independent meal by meal)"
        ),
    )
    basal_omissions_per_year: float = Field(
        3.0,
        ge=0.0,
        le=52.0,
        description=(
            "basal doses missed a year: a forgotten injection (a day) or failed infusion set (8 h)"
        ),
    )
    meal_check_share: float = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description=(
            "finger-stick users measure glucose at this share of meals: only then is the bolus "
            "corrected and a low found (CGM users see every meal's)"
        ),
    )
    assist_delay_min: int = Field(
        30,
        ge=1,
        le=240,
        description=(
            "minutes below 40 mg/dL before someone gives glucagon (a severe hypoglycaemia)"
        ),
    )
    exercise: bool = Field(True, description="exercise sessions happen")
    programme: ProgrammeChange | None = Field(None, description="an exercise programme from a day")
    diet_change: DietChange | None = Field(None, description="a new diet from a day")

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data):
        # "auto" is resolved by RunConfig, which knows the therapy; alone it means real_world
        if isinstance(data, dict) and data.get("profile", "auto") == "auto":
            return {**BEHAVIOUR_PROFILES["real_world"], **data}
        return _with_preset(data, "profile", "real_world", BEHAVIOUR_PROFILES)


class EpisodesSection(_Section):
    stress: bool = Field(True, description="acute stress episodes happen")
    stress_per_week: float = Field(
        1.0, ge=0.0, le=7.0, description=("episodes a week at no chronic stress (up to 3x with it)")
    )
    stress_hours: float = Field(3.0, ge=0.5, le=16.0, description="mean length, hours")
    stress_severity: float = Field(0.5, ge=0.0, le=1.0, description="mean severity, 0-1")
    illness: bool = Field(True, description="illness episodes happen")
    illness_per_year: float = Field(2.0, ge=0.0, le=52.0, description="illnesses a year")
    illness_days: float = Field(4.0, ge=1.0, le=7.0, description="mean length, days")
    illness_severity: float = Field(0.6, ge=0.0, le=1.0, description="mean severity, 0-1")
    illness_appetite: float = Field(
        0.3, ge=0.0, le=0.9, description=("share of intake lost at severity 1")
    )


# one switch per mechanism, derived from its declaration (engine/model/slow.py MECHANISMS),
# then the fast-model extensions; the kernel's switch vector (engine/sim/patient.py SW) holds
# each by name (translate.switch_settings), except kidney_glycosuria, renal_splay and
# brain_uptake_in_lows, which act when the patients are drawn (translate.population_settings)
MechanismsSection = create_model(
    "MechanismsSection",
    __base__=_Section,
    __doc__="Switch each mechanism of insulin resistance (docs/model.md §2) and fast-model "
    "extension.",
    **{name: (bool, Field(True, description=what)) for name, what in MECHANISMS},
    dawn=(bool, Field(True, description="dawn phenomenon")),
    time_of_day=(bool, Field(True, description="individual daily sensitivity pattern")),
    weight_feedback=(bool, Field(True, description="body weight feeds the fast model daily")),
    growth=(
        bool,
        Field(True, description="children and adolescents grow on their CDC 2000 centiles"),
    ),
    hypo_counterregulation=(
        bool,
        Field(True, description="adrenaline raises glucose production in a low"),
    ),
    appetite_feedback=(
        bool,
        Field(True, description="intake rises ~100 kcal/day per kg of weight lost"),
    ),
    kidney_glycosuria=(
        bool,
        Field(
            True,
            description="urinary glucose above TmG is GFR x glucose - TmG; off: UVA/Padova's "
            "linear form alone",
        ),
    ),
    renal_splay=(
        bool,
        Field(
            True,
            description="with kidney_glycosuria, the kidney of T1D (Johansen 1984): TmG 262 "
            "mg/min per 1.73 m2 and a threshold that splays over 20 mg/dL; off: a sharp threshold "
            "at the healthy TmG of 375 (before 0.14.0)",
        ),
    ),
    brain_uptake_in_lows=(
        bool,
        Field(
            True,
            description="insulin-independent uptake (Fsnc, mostly the brain's) falls in "
            "proportion to glucose below 45 mg/dL; off: UVA/Padova's constant Fsnc",
        ),
    ),
    resting_constant=(
        bool,
        Field(
            True,
            description="resting expenditure has Hall's constant term, fitted to Schofield's "
            "basal rate (sets the level of intake); off: the fat and lean terms alone",
        ),
    ),
)


THERAPY_PRESETS = {
    # simglucose's BBController: full basal, counted carbs / CR, correction above 150 mg/dL
    "simglucose_basal_bolus": dict(
        delivery="pump",
        target_mg_dl=140.0,
        correction_threshold_mg_dl=150.0,
        correct=True,
        use_iob=False,
        dia_h=4.0,
        carb_counting=True,
        initial_dose=1.0,
        titrate_days=0,
        step=0.0,
        fasting_target_mg_dl=120.0,
        hba1c_target=7.0,
        tbr_limit_pct=4.0,
        cap_low=1.0,
        cap_high=1.0,
        sick_day_extra=0.0,
        hypo_detection="cgm",
        dose_error_sd=0.0,
        dose_error_bias=0.0,
        follow_advice=False,
        severe_hypo_cut=0.0,
        sick_day_rules=False,
        basal_absorption_cv=0.0,
        rapid_absorption_cv=0.0,
    ),
    # DCCT conventional (DCCT Research Group, NEJM 329:977, 1993): one or two injections a day,
    # fixed doses, no counting; supplemental insulin only when glucose is high, changes only at
    # quarterly visits for symptoms; no CGM: lows noticed by symptoms. The supplement's
    # threshold and target (above 300 toward 250 mg/dL) are calibrated to the arm's severe
    # hypoglycaemia, 18.7 per 100 patient-years: above 250 toward 200 gave 38 in adults
    "conventional": dict(
        delivery="mdi",
        target_mg_dl=250.0,
        correction_threshold_mg_dl=300.0,
        correct=True,
        use_iob=False,
        dia_h=4.0,
        carb_counting=False,
        initial_dose=0.65,
        titrate_days=90,
        step=0.05,
        fasting_target_mg_dl=200.0,
        hba1c_target=9.5,
        tbr_limit_pct=4.0,
        cap_low=0.5,
        cap_high=2.0,
        sick_day_extra=0.0,
        hypo_detection="symptoms",
        dose_error_sd=0.0,
        dose_error_bias=0.0,
        follow_advice=False,
        severe_hypo_cut=0.1,
        sick_day_rules=True,
        basal_absorption_cv=0.30,
        rapid_absorption_cv=0.15,
    ),
    # DCCT intensive: carbohydrate counting, corrections with insulin on board, weekly
    # self-titration to fasting 70-120 mg/dL and HbA1c < 7%
    "intensive": dict(
        delivery="pump",
        target_mg_dl=110.0,
        correction_threshold_mg_dl=130.0,
        correct=True,
        use_iob=True,
        dia_h=4.0,
        carb_counting=True,
        initial_dose=1.0,
        titrate_days=7,
        step=0.05,
        fasting_target_mg_dl=120.0,
        hba1c_target=7.2,
        tbr_limit_pct=4.0,
        cap_low=0.4,
        cap_high=3.0,
        sick_day_extra=0.15,
        hypo_detection="symptoms",
        dose_error_sd=0.0,
        dose_error_bias=0.0,
        follow_advice=False,
        severe_hypo_cut=0.1,
        sick_day_rules=True,
        basal_absorption_cv=0.30,
        rapid_absorption_cv=0.15,
    ),
    # everyday care (T1D Exchange 2016-18, Foster et al. 2019): pumps or pens and CGM or
    # finger-sticks per patient (cohort shares), basal and ratios mis-set per patient, doses
    # changed at quarterly clinic visits (ADA Standards of Care: visits every 3 months) by
    # 10%, advice followed with the patient's own probability
    "real_world": dict(
        delivery="mix",
        # the correction factor a clinic sets with the CR (the 1800 and 500 rules), not
        # simglucose's, 2.5x stronger (engine/life/therapy.py CF_PER_CR); CGM users answer
        # the high alert at 250 mg/dL (engine/life/events.py)
        ratios="reference_cr",
        cgm_high_alert_mg_dl=250.0,
        target_mg_dl=120.0,
        correction_threshold_mg_dl=150.0,
        correct=True,
        use_iob=True,
        dia_h=4.0,
        carb_counting=True,
        initial_dose=1.0,
        titrate_days=91,
        step=0.10,
        fasting_target_mg_dl=130.0,
        hba1c_target=7.0,
        tbr_limit_pct=4.0,
        cap_low=0.4,
        cap_high=3.0,
        sick_day_extra=0.10,
        hypo_detection="mix",
        dose_error_sd=0.20,
        # calibrated to the registry's HbA1c in children and adults (docs/model.md §3): 0.40
        # until 0.9.1; with the rules' correction factor and the high alert (0.10.0), 0.40
        # gave 8.73% and 8.21%, 0.33 8.47% and 7.96%, 0.28 8.27% and 7.79% (1,200 x 365);
        # with finger-stick users checking at 65% of meals (0.11.0), 0.28 gave 8.39% and
        # 7.85%, 0.22 8.16% and 7.65%: 0.25; with T1D's splayed kidney (0.14.0), 0.25 gave
        # 7.87% and 7.53%, 0.32 8.11% and 7.76% (3,000 x 365), 0.34 8.21% and 7.84% (1,200 x
        # 365): 0.34
        dose_error_bias=0.34,
        follow_advice=True,
        severe_hypo_cut=0.1,
        sick_day_rules=True,
        basal_absorption_cv=0.30,
        rapid_absorption_cv=0.15,
    ),
}
for _preset in THERAPY_PRESETS.values():
    _preset.update(controller="none", device_events=False)
# Sensor-augmented pump (the comparator arm of the AID trials, e.g. Brown et al., NEJM
# 381:1707, 2019): everyday care on a pump with a CGM, the devices with their events, no
# automation. The AID presets add a controller to it (hybrid closed loop: meals bolused).
THERAPY_PRESETS["sap"] = {
    **THERAPY_PRESETS["real_world"],
    "delivery": "pump",
    "hypo_detection": "cgm",
    "device_events": True,
}
# Each controller's published tuning, the rest calibrated to its trial (engine.analysis.validate
# row_aid_trials; docs/model.md §3b), on the trial-like population, 128 patients x 120 days:
# - aid_pid: the 670G's fixed Auto Mode target, 120 mg/dL (Medtronic; Steil 2006). The 670G
#   limits Auto Mode's delivery to a maximum derived from recent doses (Medtronic's "Safe
#   Basal" and delivery limits); at 4 x the programme (the pump's usual maximum basal) time in
#   range rose 19 points against the pivotal trial's 5.5, at 1.5 x 6.6 points (1.75 x: 10.8).
# - aid_oref: OpenAPS's defaults (temporary basals, no micro-boluses, autosens 0.7-1.2) at a
#   target of 110 mg/dL, near the 112.5 mg/dL Control-IQ treats to (Brown 2019). Its ISF is
#   the patient's correction factor: since 0.10.0 the rules' (CF = 3.6 CR), 2.5 times
#   simglucose's, and with the comparator calibrated again (200 patients a scenario): time in
#   range +10.8 points against Brown's +11 (9 to 14), at 120 +8.4, at 130 +5.7. Until 0.9.1,
#   with simglucose's factors, 130 gave +11.8, 120 +14.3, 110 with micro-boluses +17.8.
#   Its maximum temporary basal is OpenAPS's, the lowest of the pump's maximum, 3 x the
#   profile's highest basal rate (max_daily_safety_multiplier) and 4 x the current
#   one (current_basal_safety_multiplier): with the one programmed rate a day of the model, 3 x.
#   At 4 x (0.6.0) the high temporary basals after evening lows brought more lows between
#   02:00 and 07:00 than the pump alone had.
# These are the controllers' defaults (CONTROLLER_DEFAULTS), so that the AID users of a mix
# (cohort.aid_share) get the same tuning as the presets.
CONTROLLER_DEFAULTS = {
    "pid": {"aid_target_mg_dl": 120.0, "max_basal_factor": 1.5},
    "oref": {"aid_target_mg_dl": 110.0, "max_basal_factor": 3.0},
}
# a plug-in's: the 670G's target and OpenAPS's maximum temporary basal (3 x, as oref's)
PLUGIN_DEFAULTS = {"aid_target_mg_dl": 120.0, "max_basal_factor": 3.0}
THERAPY_PRESETS["aid_pid"] = {
    **THERAPY_PRESETS["sap"],
    "controller": "pid",
    **CONTROLLER_DEFAULTS["pid"],
}
THERAPY_PRESETS["aid_oref"] = {
    **THERAPY_PRESETS["sap"],
    "controller": "oref",
    **CONTROLLER_DEFAULTS["oref"],
}
# a plug-in controller: "package.module:function"
PLUGIN_CONTROLLER = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
)


class TherapySection(_Section):
    """A preset (`kind`) whose settings any field given here overrides."""

    kind: Literal[
        "real_world",
        "intensive",
        "conventional",
        "simglucose_basal_bolus",
        "sap",
        "aid_pid",
        "aid_oref",
    ] = Field(
        "real_world",
        description=(
            "therapy preset; sap: sensor-augmented pump, aid_pid / aid_oref: hybrid closed "
            "loop with the built-in PID or oref0-style controller"
        ),
    )
    delivery: Literal["pump", "mdi", "mix"] = Field(
        "mix",
        description=(
            "pump (0.05 U increments), multiple daily injections (pens, 0.5 U), or mix: each "
            "patient's own (cohort.pump_share)"
        ),
    )
    target_mg_dl: float = Field(110.0, ge=70.0, le=250.0, description="correction target")
    correction_threshold_mg_dl: float = Field(
        130.0, ge=70.0, le=400.0, description=("corrections only above this CGM reading")
    )
    correct: bool = Field(True, description="add a correction to meal boluses")
    use_iob: bool = Field(True, description="subtract insulin on board from corrections")
    dia_h: float = Field(4.0, ge=1.0, le=8.0, description="duration of insulin action, hours")
    carb_counting: bool = Field(
        True, description=("dose for the estimated carbohydrate (else a fixed dose per meal slot)")
    )
    initial_dose: float = Field(
        1.0,
        gt=0.0,
        le=3.0,
        description=("starting basal and ratios relative to the patient's steady state and CR/CF"),
    )
    titrate_days: int = Field(7, ge=0, le=365, description="titration interval (0: never)")
    step: float = Field(0.05, ge=0.0, le=0.5, description="relative change per titration")
    fasting_target_mg_dl: float = Field(
        120.0,
        ge=70.0,
        le=300.0,
        description=("fasting (05:00-07:00) glucose that basal is titrated to"),
    )
    hba1c_target: float = Field(
        7.2,
        ge=5.0,
        le=12.0,
        description=("HbA1c that bolus strength is titrated to (as mean glucose, ADAG)"),
    )
    tbr_limit_pct: float = Field(
        4.0, ge=0.0, le=100.0, description=("time below 70 mg/dL above which both doses are cut")
    )
    cap_low: float = Field(0.4, gt=0.0, le=1.0, description="lowest dose relative to start")
    cap_high: float = Field(3.0, ge=1.0, le=10.0, description="highest dose relative to start")
    sick_day_extra: float = Field(
        0.15, ge=0.0, le=1.0, description=("extra basal on ill days (ISPAD 2022: +10-20%)")
    )
    dose_scale: float = Field(
        1.0,
        gt=0.0,
        le=10.0,
        description=("multiplies every dose delivered (for insulin-need experiments)"),
    )
    ratios: Literal["reference", "reference_cr", "tdd_rules"] = Field(
        "reference",
        description=(
            "carbohydrate ratio and correction factor: the patient's sampled CR/CF (the reference "
            "table); the sampled CR with CF = 1800/500 x CR (the rules' CF for that CR); or "
            "500/TDD and 1800/TDD with TDD = 2 x basal"
        ),
    )
    cgm_high_alert_mg_dl: float = Field(
        0.0,
        ge=0.0,
        le=400.0,
        description=(
            "CGM users (not on a controller) give the usual correction less insulin on board "
            "after an hour awake above this reading, again every 3 h (0: no high alert; "
            "else 180-400)"
        ),
    )

    @field_validator("cgm_high_alert_mg_dl")
    @classmethod
    def _high_alert(cls, v):
        # level 1 hyperglycaemia begins at 180 mg/dL (Battelino et al., Diabetes Care 42:1593,
        # 2019); an alert below it would correct the rise after every meal
        if 0.0 < v < 180.0:
            raise ValueError(f"{v:g}: 0 (no high alert) or 180-400 mg/dL")
        return v

    hypo_detection: Literal["cgm", "symptoms", "mix"] = Field(
        "mix",
        description=(
            "how lows are noticed: a CGM alarm confirmed by a finger-stick; symptoms (awake "
            "only, lower when unaware); or mix: each patient's own (cohort.cgm_share)"
        ),
    )
    dose_error_sd: float = Field(
        0.20,
        ge=0.0,
        le=1.0,
        description="log-SD of each patient's mis-set basal and ratios (0: set right)",
    )
    dose_error_bias: float = Field(
        0.34,
        ge=-1.0,
        le=1.0,
        description=(
            "under-dosing of the prescriptions, log units: median basal exp(-bias), median "
            "ratios exp(bias)"
        ),
    )
    follow_advice: bool = Field(
        True,
        description="a titration is applied with the patient's advice_follow probability",
    )
    dose_rise_kept: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description=(
            "chance that a visit's advice to raise the basal, or the bolus doses, is kept "
            "(each apart; cuts are always kept): below 1 a reluctance to raise doses, for "
            "sensitivity analyses (no source gives its size in type 1 diabetes)"
        ),
    )
    severe_hypo_cut: float = Field(
        0.1,
        ge=0.0,
        le=0.5,
        description="both doses cut by this share at once after a severe hypoglycaemia",
    )
    max_bolus_u_per_kg: float = Field(
        0.3,
        ge=0.0,
        le=2.0,
        description="largest single bolus, U/kg, like a pump's maximum bolus (0: no cap)",
    )
    sick_day_rules: bool = Field(
        True,
        description=(
            "above 250 mg/dL for 2 h: a correction of 10% of the daily dose every 3 h (ISPAD 2022)"
        ),
    )
    basal_absorption_cv: float = Field(
        0.30,
        ge=0.0,
        le=1.0,
        description=(
            "day-to-day CV of an injected long-acting basal's absorption (Heise 2004: "
            "glargine 33%, NPH 28%, detemir 14%); 0: the same every day"
        ),
    )
    rapid_absorption_cv: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description=(
            "CV of a rapid-acting or soluble insulin's action from one meal's bolus to the "
            "next, and of a pump's basal from day to day (Heinemann 1998: 15-16%); 0: none"
        ),
    )
    controller: str = Field(
        "none",
        description=(
            "automated insulin delivery: none, pid (Steil's PID with insulin feedback), oref "
            '(oref0-style), or a plug-in "package.module:function" (docs/controllers.md)'
        ),
    )
    controller_settings: dict[str, float] = Field(
        default_factory=dict,
        description="the controller's tuning by name (docs/controllers.md lists each's)",
    )
    device_events: bool = Field(
        False,
        description=(
            "pump and sensor as devices with their events: sensor warm-ups and signal loss, "
            "infusion-set failures, exercise mode (always on with a controller)"
        ),
    )
    aid_target_mg_dl: float = Field(
        120.0,
        ge=80.0,
        le=200.0,
        description=(
            "the controller's glucose target (default: its calibrated one, pid 120, oref 110, "
            "a plug-in 120)"
        ),
    )
    max_basal_factor: float = Field(
        3.0,
        ge=1.0,
        le=10.0,
        description=(
            "highest basal rate, x the programmed rate (default: pid 1.5, calibrated to the "
            "670G trial; oref and plug-ins 3, OpenAPS's cap with one basal rate a day)"
        ),
    )
    max_iob_u_per_kg: float = Field(
        0.12,
        ge=0.0,
        le=1.0,
        description=(
            "automatic boluses only while insulin on board above the programme's is below "
            "this (OpenAPS max_iob; 0.12 U/kg is about 8 U at 70 kg)"
        ),
    )
    suspend_before_low: bool = Field(
        True,
        description="with a controller: no insulin while CGM or its 30-min projection is low",
    )
    suspend_threshold_mg_dl: float = Field(
        80.0,
        ge=50.0,
        le=120.0,
        description="suspend-before-low threshold (Basal-IQ: 80 mg/dL within 30 min)",
    )
    insulin_peak_min: float = Field(
        75.0,
        ge=35.0,
        le=120.0,
        description="peak of the pump's insulin-on-board curve (OpenAPS rapid-acting: 75)",
    )
    exercise_mode_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="share of exercise sessions with exercise mode (raised target) on",
    )
    exercise_target_mg_dl: float = Field(
        150.0, ge=80.0, le=250.0, description="target in exercise mode (670G temp target 150)"
    )
    sensor_session_days: int = Field(
        10, ge=0, le=30, description="days per sensor, each starting with a warm-up (Dexcom G6: 10)"
    )
    sensor_warmup_min: int = Field(
        120, ge=0, le=2880, description="minutes without readings after insertion (G6: 2 h)"
    )
    # with the 2-hour warm-ups, one signal loss of 90 minutes a day on average leaves the
    # controller in charge ~92% of the time: the iDCL trial's 92% (Brown 2019) and the real
    # world's 94% (Breton & Kovatchev, DT&T 23:601, 2021; 96.8% of users had >= 75% CGM data)
    sensor_gaps_per_day: float = Field(
        1.0, ge=0.0, le=1.0, description="chance of a signal loss on a day"
    )
    sensor_gap_min: float = Field(
        90.0, ge=5.0, le=720.0, description="mean length of a signal loss, minutes (exponential)"
    )
    set_change_days: int = Field(
        3, ge=0, le=7, description="infusion set changed every this many days (2-3 advised)"
    )
    set_failure_share: float = Field(
        0.10,
        ge=0.0,
        le=1.0,
        description=(
            "share of infusion sets that fail before their change (up to 20% of set changes "
            "are unplanned; T1D Exchange: 41% of pump users report a failure a month)"
        ),
    )
    set_failure_loss: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="share of the pump's insulin lost while a set has failed (occlusion)",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        # the preset's fields, then the named controller's calibrated tuning over them, then
        # the fields given: aid_pid with controller = "oref" runs oref at oref's tuning
        full = _with_preset(data, "kind", "real_world", THERAPY_PRESETS)
        if isinstance(full, dict) and isinstance(full.get("controller"), str):
            name = full["controller"]
            defaults = CONTROLLER_DEFAULTS.get(name, PLUGIN_DEFAULTS if name != "none" else {})
            full = {**full, **defaults, **data}
        return full

    @model_validator(mode="after")
    def _controller_known(self):
        from ..life.controllers import TUNING, tuning_values

        name = self.controller
        if name in TUNING:
            tuning_values(TUNING[name], self.controller_settings, f"controller {name!r}")
        elif not PLUGIN_CONTROLLER.match(name):
            raise ValueError(
                f'controller = {name!r}: not none, pid, oref or a plug-in "package.module:function"'
            )
        if self.controller != "none" and self.delivery == "mdi":
            raise ValueError(
                f'controller = {name!r} needs delivery = "pump", or "mix" for the AID users of '
                f"cohort.aid_share (delivery = {self.delivery!r})"
            )
        if self.device_events and self.delivery == "mdi":
            raise ValueError(
                "device_events = true (infusion-set failures, sensor gaps: a pump's, as in "
                f'kind = "sap") needs delivery = "pump" or "mix", not {self.delivery!r}'
            )
        return self

    def runs_pump(self) -> bool:
        """Whether the pump is modelled as a device (engine/life/aid.py): a controller or
        device_events."""
        return self.controller != "none" or self.device_events


class SensorSection(_Section):
    kind: Literal["none", "johnson_su"] = Field(
        "johnson_su", description="noise-free CGM or Breton & Kovatchev 2008 Johnson-SU noise"
    )
    model: Literal["Dexcom", "GuardianRT", "Navigator"] = Field(
        "Dexcom", description="noise parameters from simglucose's sensor table"
    )
    interval_min: int = Field(5, ge=1, le=60, description="CGM sample interval, minutes")


class OutputSection(_Section):
    traced: int | list[int] | None = Field(
        None,
        description=(
            "patients whose traces are kept: a count (the first ids) or a list of ids; "
            "default: the first 10 (or all, if fewer)"
        ),
    )
    trace_interval_min: int = Field(5, ge=1, le=60, description="trace sample interval")

    @field_validator("traced")
    @classmethod
    def _traced(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            raise ValueError("must be >= 0")
        if isinstance(v, list):
            if any(i < 0 for i in v):
                raise ValueError("patient ids are >= 0")
            if len(set(v)) != len(v):
                raise ValueError("patient ids must be distinct")
        return v


class ExecutionSection(_Section):
    block_size: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description=(
            "patients per task and per zarr shard; 0 picks it: at least 16 tasks when there "
            "are enough patients, at least 64 patients and at most ~1,000,000 patient-days a "
            "task (backend cuda: ~8 million patient-days)"
        ),
    )
    workers: int = Field(
        0, ge=0, le=4096, description="threads on the local machine; 0 = all cores"
    )
    backend: Literal["cpu", "cuda"] = Field(
        "cpu",
        description=(
            "cpu: numba on the cores; cuda: numba.cuda on an NVIDIA GPU, one thread per patient "
            "(needs the [cuda] extra; local runs then use two workers: one task writes while "
            "the next runs on the GPU)"
        ),
    )


class Range(_Section):
    low: float = Field(..., description="lower bound")
    high: float = Field(..., description="upper bound")
    log: bool = Field(False, description="sample uniformly in log space")
    integer: bool = Field(False, description="round to an integer")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.high > self.low:
            raise ValueError(f"high = {self.high} must exceed low = {self.low}")
        if self.log and self.low <= 0:
            raise ValueError(f"log sampling needs low > 0, got {self.low}")
        return self


class SweepSection(_Section):
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description=(
            "full factorial: every combination of these fields' values (dotted config paths)"
        ),
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict,
        description=("lists of equal length that advance together (one scenario per position)"),
    )
    ranges: dict[str, Range] = Field(
        default_factory=dict, description=("fields sampled in [low, high] for `n` scenarios")
    )
    method: Literal["random", "lhs"] = Field("lhs", description="how `ranges` are sampled")
    n: int = Field(0, ge=0, le=100_000, description="scenarios drawn from `ranges`")
    common_random_numbers: bool = Field(
        True,
        description=(
            "every scenario sees the same patients living the same lives (paired comparisons); "
            "false gives each scenario its own random numbers"
        ),
    )

    @model_validator(mode="after")
    def _consistent(self):
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError(
                f"zip lists differ in length: { {k: len(v) for k, v in self.zip.items()} }"
            )
        for way, lists in (("grid", self.grid), ("zip", self.zip)):
            for name, values in lists.items():
                if not values:
                    raise ValueError(f"{way}.{name} = []: give at least one value")
        if self.ranges and self.n < 1:
            raise ValueError("ranges given: set n, the number of sampled scenarios")
        if self.n and not self.ranges:
            raise ValueError(f"n = {self.n} but no ranges to sample")
        both = set(self.grid) & set(self.zip) | (set(self.grid) | set(self.zip)) & set(self.ranges)
        if both:
            raise ValueError(f"{sorted(both)[0]}: swept in more than one way")
        return self

    def is_empty(self) -> bool:
        return not (self.grid or self.zip or self.ranges)


def _no_control_characters(value):
    # a newline in a string that reaches the sbatch script starts a new shell line there
    if isinstance(value, str) and any(
        unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in value
    ):
        raise ValueError(
            "must not contain control characters (newline, carriage return, tab, "
            "NUL, ...): they would become lines of the sbatch script"
        )
    return value


def _sbatch_option(item: str) -> str:
    _no_control_characters(item)
    if item.lstrip().startswith("#"):
        raise ValueError(
            "must be an sbatch option without '#SBATCH ' (it is added in front), e.g. '--qos=short'"
        )
    if not item.startswith("-"):
        raise ValueError("must be an sbatch option starting with '-', e.g. '--qos=short'")
    return item


# characters the shell would act on: local_directory goes unquoted onto the worker's command line
_SHELL_CHARACTERS = set(";&|<>()`'\"\\*?")


class ClusterSection(_Section):
    kind: Literal["local", "slurm"] = Field(
        "local",
        description=(
            "local: this machine; slurm: dask-jobqueue SLURMCluster (workers are SLURM jobs)"
        ),
    )
    queue: str | None = Field(None, description="SLURM partition")
    account: str | None = Field(None, description="SLURM account")
    cores: int = Field(1, ge=1, le=1024, description="cores per job")
    processes: int = Field(1, ge=1, le=1024, description="worker processes per job")
    memory: str = Field(
        "4GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$", description="memory per job, e.g. 4GB"
    )
    walltime: str = Field(
        "01:00:00", pattern=r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$", description="job time limit HH:MM:SS"
    )
    jobs: int = Field(1, ge=1, le=100_000, description="jobs to start (or the adaptive maximum)")
    adaptive: bool = Field(False, description="scale between 0 and `jobs` with the load")
    interface: str | None = Field(
        None,
        description=(
            "network interface for the scheduler and the workers, e.g. ib0 (default: the scheduler "
            "binds to this host's address on the route out, never to all interfaces)"
        ),
    )
    job_extra_directives: list[Annotated[str, AfterValidator(_sbatch_option)]] = Field(
        default_factory=list, description="extra #SBATCH lines, e.g. ['--qos=short']"
    )
    local_directory: str | None = Field(None, description="node-local scratch for workers")
    dashboard: bool = Field(
        False,
        description=(
            "opt-in: serve the dask dashboard; it binds to the submitting host's address, not to "
            "all interfaces"
        ),
    )
    tls: bool = Field(
        False,
        description=(
            "encrypt and authenticate scheduler, workers and client with temporary TLS "
            "certificates (needs cryptography: pip install 't1dmc[cluster]')"
        ),
    )

    @field_validator(
        "queue", "account", "interface", "local_directory", "memory", "walltime", mode="before"
    )
    @classmethod
    def _script_safe(cls, v):
        return _no_control_characters(v)

    @field_validator("queue", "account", "interface")
    @classmethod
    def _one_word(cls, v):
        if v is not None and (not v or any(ch.isspace() for ch in v)):
            raise ValueError(
                "must be one word without spaces: it is written unquoted into the job script"
            )
        return v

    @field_validator("local_directory")
    @classmethod
    def _plain_path(cls, v):
        if v is not None and (not v or any(ch.isspace() or ch in _SHELL_CHARACTERS for ch in v)):
            raise ValueError(
                "must be a path without spaces or shell characters "
                "(; & | < > ( ) ` ' \" \\ * ?): it goes unquoted onto the "
                "worker's command line ($VAR and ${VAR} are allowed)"
            )
        return v


class RunConfig(_Section):
    run: RunSection = Field(default_factory=RunSection)
    cohort: CohortSection = Field(default_factory=CohortSection)
    meals: list[MealSlot] = Field(default_factory=_default_meals, max_length=16)
    therapy: TherapySection = Field(default_factory=lambda: TherapySection.model_validate({}))
    lifestyle: LifestyleSection = Field(default_factory=lambda: LifestyleSection.model_validate({}))
    genetics: GeneticsSection = Field(default_factory=GeneticsSection)
    behaviour: BehaviourSection = Field(default_factory=BehaviourSection)
    episodes: EpisodesSection = Field(default_factory=EpisodesSection)
    mechanisms: MechanismsSection = Field(default_factory=MechanismsSection)
    sensor: SensorSection = Field(default_factory=SensorSection)
    output: OutputSection = Field(default_factory=OutputSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    sweep: SweepSection = Field(default_factory=SweepSection)
    cluster: ClusterSection = Field(default_factory=ClusterSection)

    def model_post_init(self, context) -> None:
        _locate(self, ())

    @model_validator(mode="before")
    @classmethod
    def _auto_behaviour(cls, data):
        """behaviour.profile = "auto" takes the profile that suits the therapy preset."""
        if not isinstance(data, dict):
            return data
        beh = data.get("behaviour", {})
        therapy = data.get("therapy", {})
        if not isinstance(beh, dict) or not isinstance(therapy, dict):
            return data
        if beh.get("profile", "auto") != "auto":
            return data
        kind = therapy.get("kind", "real_world")
        profile = BEHAVIOUR_PROFILES.get(
            auto_behaviour_profile(kind) if isinstance(kind, str) else ""
        )
        if profile is None:
            return data
        return {**data, "behaviour": {**profile, **beh}}

    @model_validator(mode="after")
    def _cross_checks(self):
        n = self.run.n_patients
        traced = self.output.traced
        if isinstance(traced, int) and traced > n:
            raise ValueError(f"output.traced = {traced}: more than run.n_patients = {n}")
        if isinstance(traced, list) and any(i >= n for i in traced):
            bad = max(traced)
            raise ValueError(
                f"output.traced = {traced}: id {bad} is not below run.n_patients = {n}"
            )
        aid_share, t = self.cohort.aid_share, self.therapy
        if aid_share > 0.0 and t.delivery == "mix" and t.controller == "none":
            raise ValueError(
                f"cohort.aid_share = {aid_share}: its AID users need therapy.controller "
                '(pid, oref or a plug-in), but it is "none"'
            )
        for name in ("interval_min",):
            if MINUTES_PER_DAY % getattr(self.sensor, name):
                raise ValueError(f"sensor.{name} = {getattr(self.sensor, name)}: must divide 1440")
        if MINUTES_PER_DAY % self.output.trace_interval_min:
            raise ValueError(
                f"output.trace_interval_min = {self.output.trace_interval_min}: must divide 1440"
            )
        return self

    def to_toml(self) -> str:
        """The validated config as TOML (what a store keeps as its config_toml)."""
        return to_toml(self)

    def traced_ids(self) -> list[int]:
        t = self.output.traced
        if t is None:
            return list(range(min(10, self.run.n_patients)))
        return list(range(t)) if isinstance(t, int) else sorted(t)

    def block_size(self) -> int:
        if self.execution.block_size:
            return min(self.execution.block_size, self.run.n_patients)
        # at least 16 tasks when there are enough patients, so progress and load balance
        # stay fine-grained, each of at least 64 patients (the cuda and CPU caps below)
        n, d = self.run.n_patients, self.run.days
        if self.execution.backend == "cuda":
            # a GPU needs tens of thousands of threads per launch to be busy (an H100/H200
            # keeps ~34,000 resident at this kernel's 255 registers), and a task's daily results
            # stay on the host until written: ~8 million patient-days (~2.7 GB) per task, so
            # 266,666 patients at 30 days but 21,917 at 365 (the GPU then partly idle)
            return min(n, max(1_024, 8_000_000 // d))
        # a task writes one shard per variable (results.py): tasks of up to ~1,000,000
        # patient-days keep an 8 x 10^5 x 365 store to thousands of files (20,000 gave
        # ~450,000) at ~0.4 GB of outputs per task, about a minute on one core; runs with
        # fewer patient-days still get at least 16 tasks
        return min(n, max(64, min(PATIENT_DAYS_PER_TASK // d, -(-n // 16))))


def _model_at(loc) -> type[BaseModel]:
    """The section model that a location inside RunConfig points to."""
    model = RunConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue
        candidates = (field.annotation, *getattr(field.annotation, "__args__", ()))
        sub = [a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)]
        if not sub:
            break
        model = sub[0]
    return model


FIELD_FIRST = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*( =|:)")


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(_model_at(e["loc"][:-1]).model_fields)
            lines.append(f"{loc} = {e['input']!r}: unknown field; allowed here: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required field is missing")
        elif loc and isinstance(e["input"], dict) and FIELD_FIRST.match(msg):
            # a whole section's check (model_validator) whose message names the field: the
            # section's contents would bury it (a review saw the therapy section printed whole)
            lines.append(f"{loc}.{msg}")
        elif loc:
            lines.append(f"{loc} = {e['input']!r}: {msg}")
        else:
            lines.append(msg)
    return "invalid config:\n  " + "\n  ".join(lines)


def parse_config(data: dict) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err)) from None


def load_config(path: str | Path, overrides=()) -> RunConfig:
    """The validated config of the TOML file `path`, with `overrides` (`--set`) applied to its
    contents first (see apply_overrides)."""
    return parse_config(apply_overrides(read_config_dict(path), overrides))


def read_config_dict(path: str | Path) -> dict:
    """The contents of the TOML file `path`, not yet validated."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError as err:  # a binary file, or text in another encoding
        raise ConfigError(
            f"cannot read config {str(path)!r}: not UTF-8 text (byte "
            f"0x{err.object[err.start]:02x} at position {err.start}); a config "
            "is a TOML text file"
        ) from None
    return loads_toml(text, str(path))


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.field=value` (`--set`) as (the path of keys, the value). The path is a TOML
    dotted key (quote a key that holds dots: `sweep.grid."therapy.kind"=[...]`); the value is
    read as a TOML value (10, 0.5, true, "text", [1, 2], {adult = 1.0}), and taken as a
    plain string where it is none (`therapy.kind=intensive`)."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected section.field=value, e.g. --set run.days=10")
    try:
        node = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"--set {text!r}: {key!r} is not a field path such as run.days "
            "(section.field, dotted; quote a key holding dots)"
        ) from None
    path = []
    while isinstance(node, dict):  # one key per level: a dotted key makes nested tables
        ((name, node),) = node.items()
        path.append(name)
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a bare word: a string
    return path, parsed


def apply_overrides(data: dict, overrides) -> dict:
    """`data` (a config's contents, as read from TOML) with each override set, before
    validation, so an override is checked as the same line in the file would be (an unknown
    section or field is named by the validation error). `overrides` are `section.field=value`
    strings (parse_override) or a mapping of dotted paths to values; `data` is not changed.
    A number in the path indexes a list: `meals.0.carbs_g=50`."""
    import copy

    data = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else overrides or ()
    for item in items:
        if isinstance(item, str):
            path, value = parse_override(item)
            shown = item
        else:
            dotted, value = item
            path, _ = parse_override(f"{dotted}=0")
            shown = f"{dotted}={value!r}"
        node = data
        for depth, name in enumerate(path[:-1]):
            if isinstance(node, list):
                node = node[_list_index(node, name, path[: depth + 1], shown)]
                continue
            if name not in node:
                if path[depth + 1].isdigit():  # an index into a list the file does not give
                    raise ConfigError(
                        f"--set {shown}: {'.'.join(path[: depth + 1])} is not in the config "
                        "(its default applies); set the whole list instead"
                    )
                node[name] = {}  # a section the file leaves to its defaults
            node = node[name]
            if not isinstance(node, (dict, list)):
                where = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"--set {shown}: {where} is a value ({node!r}), not a section with fields"
                )
        if isinstance(node, list):
            node[_list_index(node, path[-1], path, shown)] = value
        else:
            node[path[-1]] = value
    return data


def _list_index(items: list, name: str, path: list, shown: str) -> int:
    if not name.isdigit() or int(name) >= len(items):
        raise ConfigError(
            f"--set {shown}: {'.'.join(path[:-1])} is a list of {len(items)}; "
            f"{name!r} is not an index 0..{len(items) - 1}"
        )
    return int(name)


def loads_toml(text: str, name: str = "<config>") -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{name}: not valid TOML: {err}") from None


def to_toml(cfg: RunConfig) -> str:
    import tomli_w

    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
