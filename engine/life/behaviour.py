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
DRAWS_PER_BOLUS = 3  # counting error, missed/late, absorption of the bolus

# Behaviour settings vector (from the config's [behaviour] and [episodes]).
B = index_family(
    "Behaviour",
    (
        "count_cv",
        "miss_share",
        "late_min",
        "hypo_threshold",
        "hypo_treat_g",
        "hypo_treat_cv",
        "hypo_treat_by_weight",
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
        "snacks_per_day",
        "snack_g",
        "lapse_day_share",
        "assist_delay_min",
        "basal_omissions_per_year",
        "meal_check_share",
    ),
)
N_BEHAVIOUR = len(B)
MAX_ILLNESS_DAYS = 14
MAX_SNACKS_PER_DAY = 6
SNACK_SLOT = -1  # meal_slot of an unannounced snack: no bolus
SNACK_CV = 0.4  # spread of an unannounced snack's carbohydrate (log-normal)
SNACK_WINDOW_MIN = (9 * 60, 22 * 60)  # snacks between 09:00 and 22:00
SNACK_DRAWS = 1000  # counter index of the snack draws in the MEALS stream, past any slot's
LAPSE_DAY_DRAW = 1000  # counter index of the day's lapse draw in the BOLUS stream
OMISSION_DRAW = 1001  # and of the day's missed-basal draws (whether, when: 1001, 1002)
BASAL_ABSORPTION_DRAW = 1003  # and of the day's basal absorption
MEAL_CHECK_DRAWS = 1100  # and of each slot's glucose check: 1100 + slot


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
    snacks_per_day,
    snack_g,
    meal_minute,
    meal_grams,
    meal_slot,
):
    """Fill meal_minute/meal_grams/meal_slot with the day's meals sorted by minute; return
    their count. `scale` multiplies every amount (the patient's appetite, illness). Besides
    the slots, a Poisson number (mean `snacks_per_day`) of unannounced snacks of mean
    `snack_g`, slot SNACK_SLOT: eaten without a bolus."""
    n = 0
    n_snacks = 0
    if snacks_per_day > 0.0:
        n_snacks = _poisson(
            rng.uniform(seed, patient_id, day, rng.STREAM_MEALS, SNACK_DRAWS), snacks_per_day
        )
    for k in range(n_snacks):
        base = SNACK_DRAWS + 1 + 2 * k
        u = rng.uniform(seed, patient_id, day, rng.STREAM_MEALS, base)
        minute = SNACK_WINDOW_MIN[0] + int(u * (SNACK_WINDOW_MIN[1] - SNACK_WINDOW_MIN[0]))
        z = rng.normal(seed, patient_id, day, rng.STREAM_MEALS, base + 1)
        grams = scale * snack_g * rng.mean_one_lognormal(SNACK_CV, z)
        n = _insert_meal(n, minute, grams, SNACK_SLOT, meal_minute, meal_grams, meal_slot)
    for s in range(slot_time_min.shape[0]):
        base = s * DRAWS_PER_SLOT
        if rng.uniform(seed, patient_id, day, rng.STREAM_MEALS, base) >= slot_probability[s]:
            continue
        z_time = rng.normal(seed, patient_id, day, rng.STREAM_MEALS, base + 1)
        minute = int(math.floor(slot_time_min[s] + slot_time_sd_min[s] * z_time + 0.5))
        minute = min(max(minute, 0), MINUTES_PER_DAY - 1)
        z_amount = rng.normal(seed, patient_id, day, rng.STREAM_MEALS, base + 2)
        grams = scale * slot_carbs_g[s] * rng.mean_one_lognormal(slot_carbs_cv[s], z_amount)
        n = _insert_meal(n, minute, grams, s, meal_minute, meal_grams, meal_slot)
    return n


@nb.njit(cache=True, nogil=True, inline="always")
def _insert_meal(n, minute, grams, slot, meal_minute, meal_grams, meal_slot):
    """Insert a meal into the first n, kept sorted by minute (a slot after a snack at the same
    minute); return the new count."""
    j = n
    while j > 0 and meal_minute[j - 1] > minute:
        meal_minute[j] = meal_minute[j - 1]
        meal_grams[j] = meal_grams[j - 1]
        meal_slot[j] = meal_slot[j - 1]
        j -= 1
    meal_minute[j] = minute
    meal_grams[j] = grams
    meal_slot[j] = slot
    return n + 1


@nb.njit(cache=True, nogil=True)
def _poisson(u, mean):
    """A Poisson(mean) count by inversion of the uniform u, at most MAX_SNACKS_PER_DAY."""
    k = 0
    term = math.exp(-mean)
    cum = term
    while u > cum and k < MAX_SNACKS_PER_DAY:
        k += 1
        term *= mean / k
        cum += term
    return k


@nb.njit(cache=True, nogil=True)
def bolus_decision(seed, patient_id, day, slot, tr, beh):
    """(estimated/actual carbohydrate factor, delay in minutes, given) for the bolus of the
    meal of `slot` today. Counting error is multiplicative log-normal of CV B.count_cv
    (Brazeau et al., Diabetes Res Clin Pract 99:19, 2013: ~20-30% error); a bolus is skipped or
    late with probability 1 - adherence, split by B.miss_share. With B.lapse_day_share q < 1
    lapses cluster: on a share q of days (one draw per day) the lapse probability is
    (1 - adherence) / q (at most 1), on the rest 0."""
    base = slot * DRAWS_PER_BOLUS
    cv = beh[B.count_cv]
    factor = 1.0
    if cv > 0.0:
        factor = rng.mean_one_lognormal(
            cv, rng.normal(seed, patient_id, day, rng.STREAM_BOLUS, base)
        )
    u = rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, base + 1)
    lapse = 1.0 - tr[T.adherence]
    q = beh[B.lapse_day_share]
    if q < 1.0:
        if rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, LAPSE_DAY_DRAW) < q:
            lapse = min(lapse / q, 1.0)
        else:
            lapse = 0.0
    if u < lapse * beh[B.miss_share]:
        return factor, 0, False
    if u < lapse:
        return factor, int(beh[B.late_min]), True
    return factor, 0, True


@nb.njit(cache=True, nogil=True)
def meal_checked(seed, patient_id, day, slot, beh):
    """Whether a finger-stick user measures glucose at the meal of `slot` today: with
    probability B.meal_check_share, drawn apart from the bolus (a CGM user always sees it).
    A check sizes the bolus's correction and finds a low (docs/model.md §3, Behaviour)."""
    share = beh[B.meal_check_share]
    if share >= 1.0:
        return True
    return rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, MEAL_CHECK_DRAWS + slot) < share


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
    b[B.lapse_day_share] = 1.0
    b[B.meal_check_share] = 1.0
    return b


@nb.njit(cache=True, nogil=True)
def basal_omission_minute(seed, patient_id, day, beh):
    """The minute today's basal stops (a forgotten injection, a failed infusion set), or -1:
    B.basal_omissions_per_year / 365 a day."""
    rate = beh[B.basal_omissions_per_year]
    if (
        rate <= 0.0
        or rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, OMISSION_DRAW) >= rate / 365.0
    ):
        return -1
    u = rng.uniform(seed, patient_id, day, rng.STREAM_BOLUS, OMISSION_DRAW + 1)
    return int(u * MINUTES_PER_DAY)


@nb.njit(cache=True, nogil=True)
def absorption_z(seed, patient_id, day, slot):
    """The normal draw of an absorption factor (engine/life/therapy.py, absorption_factor):
    of the bolus of the meal of `slot` today, or with slot -1 of today's basal."""
    index = BASAL_ABSORPTION_DRAW if slot < 0 else slot * DRAWS_PER_BOLUS + 2
    return rng.normal(seed, patient_id, day, rng.STREAM_BOLUS, index)
