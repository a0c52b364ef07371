"""A patient's day (docs/model.md §3): meals, carbohydrate counting, missed and late boluses,
exercise sessions, stress and illness episodes; all numba, all from the counter-based
generator keyed by (seed, patient), so a patient lives the same life in every scenario unless
the scenario changes that behaviour.

Streams: MEALS (slot presence, time, amount), BOLUS (counting error, missed/late), EXERCISE
(session today, its time), EPISODES (stress and illness). Each draw's counter is (day, index),
so adding a kind of draw never shifts another.
"""

import math

import numba as nb
import numpy as np

from ..model import rng
from ..model.layout import index_family
from ..model.params import MINUTES_PER_DAY
from ..model.traits import T

EAT_RATE_G_PER_MIN = 5.0  # simglucose's T1DPatient.EAT_RATE (docs/model.md §1: meals at 5 g/min)
DRAWS_PER_SLOT = 3  # presence, time, amount
DRAWS_PER_BOLUS = 3  # counting error, missed/late, (spare)

# Behaviour settings vector (from the config's [behaviour] and [episodes]).
B = index_family(
    "Behaviour",
    (
        "count_cv",
        "miss_share",
        "late_min",
        "hypo_threshold",
        "hypo_treat_g",
        "hypo_wait_min",
        "stress_per_week",
        "stress_hours",
        "stress_severity",
        "illness_per_year",
        "illness_days",
        "illness_severity",
        "illness_appetite",
        "programme_day",
        "programme_sessions",
        "programme_min",
        "programme_hr",
        "diet_day",
        "diet_fat",
        "diet_sugar",
        "diet_surplus",
        "exercise_on",
        "stress_on",
        "illness_on",
        "force_ill_from",
        "force_ill_to",
        "force_exercise_day",
    ),
)
N_BEHAVIOUR = len(B)
MAX_ILLNESS_DAYS = 14


@nb.njit(cache=True, nogil=True)
def plan_meals(
    seed,
    patient_id,
    day,
    slot_time_min,
    slot_time_sd_min,
    slot_carbs_g,
    slot_carbs_cv,
    slot_probability,
    scale,
    meal_minute,
    meal_grams,
    meal_slot,
):
    """Fill meal_minute/meal_grams/meal_slot with the day's meals sorted by minute; return
    their count. `scale` multiplies every amount (the patient's appetite, illness)."""
    n = 0
    for s in range(slot_time_min.shape[0]):
        base = s * DRAWS_PER_SLOT
        if rng.uniform(seed, patient_id, day, rng.STREAM_MEALS, base) >= slot_probability[s]:
            continue
        z_time = rng.normal(seed, patient_id, day, rng.STREAM_MEALS, base + 1)
        minute = int(math.floor(slot_time_min[s] + slot_time_sd_min[s] * z_time + 0.5))
        minute = min(max(minute, 0), MINUTES_PER_DAY - 1)
        cv = slot_carbs_cv[s]
        sigma2 = math.log1p(cv * cv)
        z_amount = rng.normal(seed, patient_id, day, rng.STREAM_MEALS, base + 2)
        grams = scale * slot_carbs_g[s] * math.exp(math.sqrt(sigma2) * z_amount - 0.5 * sigma2)
        # insertion keeps the list sorted by minute (slots are few)
        j = n
        while j > 0 and meal_minute[j - 1] > minute:
            meal_minute[j] = meal_minute[j - 1]
            meal_grams[j] = meal_grams[j - 1]
            meal_slot[j] = meal_slot[j - 1]
            j -= 1
        meal_minute[j] = minute
        meal_grams[j] = grams
        meal_slot[j] = s
        n += 1
    return n


@nb.njit(cache=True, nogil=True)
def bolus_decision(seed, patient_id, day, slot, tr, beh):
    """(estimated/actual carbohydrate factor, delay in minutes, given) for the bolus of the
    meal of `slot` today. Counting error is multiplicative log-normal of CV B.count_cv
    (Brazeau et al., Diabetes Res Clin Pract 99:19, 2013: ~20-30% error); a bolus is skipped or
    late with probability 1 - adherence, split by B.miss_share."""
    base = slot * DRAWS_PER_BOLUS
    cv = beh[B.count_cv]
    factor = 1.0
    if cv > 0.0:
        s2 = math.log1p(cv * cv)
        z = rng.normal(seed, patient_id, day, rng.STREAM_BOLUS, base)
        factor = math.exp(math.sqrt(s2) * z - 0.5 * s2)
    u = rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, base + 1)
    lapse = 1.0 - tr[T.adherence]
    if u < lapse * beh[B.miss_share]:
        return factor, 0, False
    if u < lapse:
        return factor, int(beh[B.late_min]), True
    return factor, 0, True


@nb.njit(cache=True, nogil=True)
def exercise_session(seed, patient_id, day, tr, beh):
    """(start minute, duration min, heart-rate excess bpm) of today's session; start -1: none.
    From B.programme_day on, the programme's frequency, duration and intensity replace the
    patient's habits."""
    if beh[B.exercise_on] == 0.0:
        return -1, 0, 0.0
    sessions = tr[T.sessions_per_week]
    duration = tr[T.session_min]
    hr = tr[T.session_hr_excess]
    if beh[B.programme_day] >= 0.0 and day >= beh[B.programme_day]:
        sessions = beh[B.programme_sessions]
        duration = beh[B.programme_min]
        hr = beh[B.programme_hr]
    forced = day == beh[B.force_exercise_day]
    if not forced and rng.uniform(seed, patient_id, day, rng.STREAM_EXERCISE, 0) >= sessions / 7.0:
        return -1, 0, 0.0
    z = 0.0 if forced else rng.normal(seed, patient_id, day, rng.STREAM_EXERCISE, 1)
    start = int(tr[T.session_time_h] * 60.0 + 45.0 * z)
    start = min(max(start, 0), MINUTES_PER_DAY - 1)
    return start, int(duration), hr


@nb.njit(cache=True, nogil=True)
def stress_episode(seed, patient_id, day, tr, beh):
    """(start minute, duration min, severity 0-1) of today's acute stress; start -1: none.
    Frequency rises with the chronic-stress trait (up to 3x)."""
    if beh[B.stress_on] == 0.0:
        return -1, 0, 0.0
    rate = beh[B.stress_per_week] * (1.0 + 2.0 * tr[T.chronic_stress]) / 7.0
    if rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 0) >= rate:
        return -1, 0, 0.0
    start = int(rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 1) * (16 * 60)) + 7 * 60
    hours = beh[B.stress_hours] * (0.5 + rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 2))
    severity = beh[B.stress_severity] * (
        0.5 + rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 3)
    )
    return start, int(hours * 60.0), min(severity, 1.0)


@nb.njit(cache=True, nogil=True)
def illness_severity(seed, patient_id, day, beh):
    """Severity (0 = well) of an illness on `day`: an illness starts on a day with probability
    rate/365 and lasts 1..MAX_ILLNESS_DAYS days. A pure function of (seed, patient, day):
    the days before are re-drawn rather than remembered, so any day can be computed alone."""
    if beh[B.force_ill_from] >= 0.0 and beh[B.force_ill_from] <= day < beh[B.force_ill_to]:
        return beh[B.illness_severity]
    if beh[B.illness_on] == 0.0 or beh[B.illness_per_year] <= 0.0:
        return 0.0
    p_start = beh[B.illness_per_year] / 365.0
    for back in range(MAX_ILLNESS_DAYS):
        start = day - back
        if start < 0:
            break
        if rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 8) < p_start:
            u = rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 9)
            length = 1 + int(2.0 * beh[B.illness_days] * u)  # mean ~ B.illness_days
            if back < min(length, MAX_ILLNESS_DAYS):
                v = rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 10)
                return beh[B.illness_severity] * (0.5 + v)
    return 0.0


def default_behaviour() -> np.ndarray:
    b = np.zeros(N_BEHAVIOUR)
    b[B.programme_day] = b[B.diet_day] = b[B.force_ill_from] = b[B.force_ill_to] = -1.0
    b[B.force_exercise_day] = -1.0
    return b
