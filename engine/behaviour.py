"""A patient's day: when meals are announced and how large they are (numba).

Meal slots (e.g. breakfast, lunch, dinner, a snack) each have a probability of being eaten on a
given day, a habitual time with a normal jitter, and a log-normal amount. All draws come from the
counter-based generator, stream STREAM_MEALS, counter (day, slot-draw index): the same patient
eats the same meals whatever else changes.
"""
import math

import numba as nb

from . import rng

EAT_RATE_G_PER_MIN = 5.0   # simglucose's T1DPatient.EAT_RATE (MODEL.md §1: meals at 5 g/min)
MINUTES_PER_DAY = 1440
DRAWS_PER_SLOT = 3         # presence, time, amount


@nb.njit(cache=True, nogil=True)
def plan_meals(seed, patient_id, day, slot_time_min, slot_time_sd_min, slot_carbs_g,
               slot_carbs_cv, slot_probability, meal_minute, meal_grams):
    """Fill meal_minute/meal_grams with the day's meals sorted by minute; return their count."""
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
        grams = slot_carbs_g[s] * math.exp(math.sqrt(sigma2) * z_amount - 0.5 * sigma2)
        # insertion keeps the list sorted by minute (slots are few)
        j = n
        while j > 0 and meal_minute[j - 1] > minute:
            meal_minute[j] = meal_minute[j - 1]
            meal_grams[j] = meal_grams[j - 1]
            j -= 1
        meal_minute[j] = minute
        meal_grams[j] = grams
        n += 1
    return n
