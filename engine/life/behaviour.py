"""A patient's day (MODEL.md §3): meals, carbohydrate counting, missed and late boluses,
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
from ..model.traits import T_ADHERENCE, T_CHRONIC_STRESS, T_SESSION_HR, T_SESSION_MIN, T_SESSION_TIME_H, T_SESSIONS_PER_WEEK

EAT_RATE_G_PER_MIN = 5.0   # simglucose's T1DPatient.EAT_RATE (MODEL.md §1: meals at 5 g/min)
MINUTES_PER_DAY = 1440
DRAWS_PER_SLOT = 3         # presence, time, amount
DRAWS_PER_BOLUS = 3        # counting error, missed/late, (spare)

# Behaviour settings vector (from the config's [behaviour] and [episodes]).
(B_COUNT_CV, B_MISS_SHARE, B_LATE_MIN, B_HYPO_THRESHOLD, B_HYPO_TREAT_G, B_HYPO_WAIT_MIN,
 B_STRESS_PER_WEEK, B_STRESS_HOURS, B_STRESS_SEVERITY, B_ILLNESS_PER_YEAR, B_ILLNESS_DAYS,
 B_ILLNESS_SEVERITY, B_ILLNESS_APPETITE, B_PROGRAMME_DAY, B_PROGRAMME_SESSIONS,
 B_PROGRAMME_MIN, B_PROGRAMME_HR, B_DIET_DAY, B_DIET_FAT, B_DIET_SUGAR, B_DIET_SURPLUS,
 B_EXERCISE_ON, B_STRESS_ON, B_ILLNESS_ON, B_FORCE_ILL_FROM, B_FORCE_ILL_TO,
 B_FORCE_EXERCISE_DAY) = range(27)
N_BEHAVIOUR = 27
MAX_ILLNESS_DAYS = 14


@nb.njit(cache=True, nogil=True)
def plan_meals(seed, patient_id, day, slot_time_min, slot_time_sd_min, slot_carbs_g,
               slot_carbs_cv, slot_probability, scale, meal_minute, meal_grams, meal_slot):
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
    meal of `slot` today. Counting error is multiplicative log-normal of CV B_COUNT_CV
    (Brazeau et al., Diabetes Res Clin Pract 99:19, 2013: ~20-30% error); a bolus is skipped or
    late with probability 1 - adherence, split by B_MISS_SHARE."""
    base = slot * DRAWS_PER_BOLUS
    cv = beh[B_COUNT_CV]
    factor = 1.0
    if cv > 0.0:
        s2 = math.log1p(cv * cv)
        z = rng.normal(seed, patient_id, day, rng.STREAM_BOLUS, base)
        factor = math.exp(math.sqrt(s2) * z - 0.5 * s2)
    u = rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, base + 1)
    lapse = 1.0 - tr[T_ADHERENCE]
    if u < lapse * beh[B_MISS_SHARE]:
        return factor, 0, False
    if u < lapse:
        return factor, int(beh[B_LATE_MIN]), True
    return factor, 0, True


@nb.njit(cache=True, nogil=True)
def exercise_session(seed, patient_id, day, tr, beh):
    """(start minute, duration min, heart-rate excess bpm) of today's session; start -1: none.
    From B_PROGRAMME_DAY on, the programme's frequency, duration and intensity replace the
    patient's habits."""
    if beh[B_EXERCISE_ON] == 0.0:
        return -1, 0, 0.0
    sessions = tr[T_SESSIONS_PER_WEEK]
    duration = tr[T_SESSION_MIN]
    hr = tr[T_SESSION_HR]
    if beh[B_PROGRAMME_DAY] >= 0.0 and day >= beh[B_PROGRAMME_DAY]:
        sessions = beh[B_PROGRAMME_SESSIONS]
        duration = beh[B_PROGRAMME_MIN]
        hr = beh[B_PROGRAMME_HR]
    forced = day == beh[B_FORCE_EXERCISE_DAY]
    if not forced and rng.uniform(seed, patient_id, day, rng.STREAM_EXERCISE, 0) >= sessions / 7.0:
        return -1, 0, 0.0
    z = 0.0 if forced else rng.normal(seed, patient_id, day, rng.STREAM_EXERCISE, 1)
    start = int(tr[T_SESSION_TIME_H] * 60.0 + 45.0 * z)
    start = min(max(start, 0), MINUTES_PER_DAY - 1)
    return start, int(duration), hr


@nb.njit(cache=True, nogil=True)
def stress_episode(seed, patient_id, day, tr, beh):
    """(start minute, duration min, severity 0-1) of today's acute stress; start -1: none.
    Frequency rises with the chronic-stress trait (up to 3x)."""
    if beh[B_STRESS_ON] == 0.0:
        return -1, 0, 0.0
    rate = beh[B_STRESS_PER_WEEK] * (1.0 + 2.0 * tr[T_CHRONIC_STRESS]) / 7.0
    if rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 0) >= rate:
        return -1, 0, 0.0
    start = int(rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 1) * (16 * 60)) + 7 * 60
    hours = beh[B_STRESS_HOURS] * (0.5 + rng.uniform(seed, patient_id, day, rng.STREAM_EPISODES, 2))
    severity = beh[B_STRESS_SEVERITY] * (0.5 + rng.uniform(seed, patient_id, day,
                                                            rng.STREAM_EPISODES, 3))
    return start, int(hours * 60.0), min(severity, 1.0)


@nb.njit(cache=True, nogil=True)
def illness_severity(seed, patient_id, day, beh):
    """Severity (0 = well) of an illness on `day`: an illness starts on a day with probability
    rate/365 and lasts 1..MAX_ILLNESS_DAYS days. A pure function of (seed, patient, day):
    the days before are re-drawn rather than remembered, so any day can be computed alone."""
    if beh[B_FORCE_ILL_FROM] >= 0.0 and beh[B_FORCE_ILL_FROM] <= day < beh[B_FORCE_ILL_TO]:
        return beh[B_ILLNESS_SEVERITY]
    if beh[B_ILLNESS_ON] == 0.0 or beh[B_ILLNESS_PER_YEAR] <= 0.0:
        return 0.0
    p_start = beh[B_ILLNESS_PER_YEAR] / 365.0
    for back in range(MAX_ILLNESS_DAYS):
        start = day - back
        if start < 0:
            break
        if rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 8) < p_start:
            u = rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 9)
            length = 1 + int(2.0 * beh[B_ILLNESS_DAYS] * u)   # mean ~ B_ILLNESS_DAYS
            if back < min(length, MAX_ILLNESS_DAYS):
                v = rng.uniform(seed, patient_id, start, rng.STREAM_EPISODES, 10)
                return beh[B_ILLNESS_SEVERITY] * (0.5 + v)
    return 0.0


def default_behaviour() -> np.ndarray:
    b = np.zeros(N_BEHAVIOUR)
    b[B_PROGRAMME_DAY] = b[B_DIET_DAY] = b[B_FORCE_ILL_FROM] = b[B_FORCE_ILL_TO] = -1.0
    b[B_FORCE_EXERCISE_DAY] = -1.0
    return b
