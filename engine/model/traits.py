"""Per-patient traits: who a patient is and how they live (docs/model.md §2-§4).

Kernels take a 2-D float64 array `traits[patient, T.<name>]`, one row per patient, beside the
UVA/Padova parameter rows. The sampler (`cohort.py`) draws them; the slow model, behaviour
and therapy read them. Names, units and long names are written to the results per patient.
"""

from .layout import Quantities

TRAITS = Quantities(
    "Trait",
    (
        ("sex_male", "1", "1 = male, 0 = female"),
        ("age0", "year", "age at the start of the run"),
        ("height_m", "m", "height at the start"),
        ("bmi0", "kg/m2", "body-mass index at the start"),
        ("fat_mass0", "kg", "fat mass at the start"),
        ("hypertension", "1", "1 = hypertension (enters eGDR)"),
        ("family_history_t2d", "1", "1 = a first-degree relative with type 2 diabetes"),
        ("polygenic_score", "1", "polygenic type 2 diabetes risk score, standard units"),
        ("chronic_stress", "1", "chronic stress, 0 (none) to 1 (severe)"),
        ("adherence", "1", "share of boluses given on time, 0 to 1"),
        ("sleep_h", "h", "habitual sleep per night"),
        ("diet_fat_share", "1", "fat share of dietary energy"),
        ("diet_sugar_share", "1", "added-sugar share of dietary energy"),
        ("energy_surplus", "1", "habitual intake above the energy balance at the start, fraction"),
        ("carb_appetite", "1", "multiplier on the configured meal sizes"),
        ("activity_pal", "1", "physical activity level outside exercise sessions"),
        ("sessions_per_week", "1/week", "exercise sessions per week"),
        ("session_min", "min", "exercise session duration"),
        ("session_hr_excess", "1/min", "heart-rate excess over rest during a session (bpm)"),
        ("session_time_h", "h", "habitual start of an exercise session"),
        ("heart_rate_rest", "1/min", "resting heart rate (bpm)"),
        ("tod_amplitude", "1", "amplitude of the time-of-day sensitivity pattern"),
        ("tod_peak_h", "h", "time of day of peak peripheral sensitivity"),
        ("dawn_amplitude", "1", "dawn rise of the glucose production drive (0 = no dawn)"),
        ("puberty_peak_age", "year", "age at Tanner stage III (peak pubertal resistance)"),
        (
            "uses_cgm",
            "1",
            "1 = notices lows by a CGM: the therapy's hypo_detection, under mix the draw",
        ),
        (
            "uses_pump",
            "1",
            "1 = insulin pump, 0 = pens: the therapy's delivery, under mix the draw",
        ),
        ("hypo_unaware", "1", "1 = impaired awareness of hypoglycaemia"),
        ("basal_error_z", "1", "standard-normal error of the prescribed basal (real-world)"),
        ("ratio_error_z", "1", "standard-normal error of the prescribed ratios (real-world)"),
        ("advice_follow", "1", "probability of following a clinic visit's dose advice"),
        (
            "uses_aid",
            "1",
            "1 = automated insulin delivery (a controller runs the pump), in this scenario",
        ),
        (
            "prior_glycosuria_g",
            "g/day",
            "glycosuria lived with before the run; NaN (drawn): the run's own first two weeks",
        ),
    ),
)
TRAIT_VARIABLES = TRAITS.rows
TRAIT_NAMES = TRAITS.names
N_TRAITS = len(TRAITS)
T = TRAITS.index  # traits[i, T.age0]
# traits the results do not store: age0 is the variable `age`; prior_glycosuria_g is a
# scenario's input (validate's DCCT arms), NaN in every drawn cohort (a traits array built by
# hand must hold NaN there for the default: 0 means a patient who lived with no glycosuria)
UNSTORED_TRAITS = ("age0", "prior_glycosuria_g")
