"""Acute events at the edges of control (docs/model.md §3): noticing a low, severe
hypoglycaemia and glucagon, a CGM's high alert, sick-day corrections and ketoacidosis with
its admission. Pure numba, called every minute by engine/sim/patient.py.

The fast model (UVA/Padova S2008) has no ketone body and no glucagon compartment, so the
events are rules on glucose and time, each with its source or named as a proxy.
"""

import math

import numba as nb

from ..model.params import MINUTES_PER_DAY

# Noticing a low without a CGM: autonomic symptoms begin near 58 mg/dL (3.2 mmol/L; Mitrakou
# et al., Am J Physiol 260:E67, 1991); with impaired awareness the thresholds fall by ~10-15
# mg/dL (Cryer, NEJM 369:362, 2013), taken here as 45 mg/dL. Asleep, people with T1D rarely
# wake in a low (Jones et al., NEJM 338:1657, 1998: 1 of 16 did): 23:00-07:00 no symptoms.
SYMPTOMS_AWARE_MG_DL = 58.0
SYMPTOMS_UNAWARE_MG_DL = 45.0
NIGHT_FROM_MIN = 23 * 60
NIGHT_TO_MIN = 7 * 60
# Severe hypoglycaemia (level 3: needs assistance; Battelino et al. 2019; ISPAD 2022 ch. 12,
# Abraham et al.): below
# ~40 mg/dL cognition fails (dysfunction from ~49 mg/dL, Mitrakou 1991) and the patient can
# no longer treat themself; after B.assist_delay_min someone gives 1 mg glucagon.
SEVERE_HYPO_MG_DL = 40.0
SEVERE_ENDS_MG_DL = 70.0  # one event per episode: the next needs glucose back to 70 first
# Glucagon raises hepatic glucose production for about an hour; modelled as the production
# drive kp1 x 2 for 60 minutes. From 45 mg/dL on basal insulin that lifts glucose 100-150
# mg/dL more within the hour than without it, for the reference patients tested
# (tests/unit/life/test_events.py; Rickels et al., Diabetes Care 39:264, 2016: glucose rose
# by ~100-140 mg/dL within 60-90 min of 1 mg IM glucagon). x 3 gave 205-305: too much.
GLUCAGON_MIN = 60
GLUCAGON_EGP_FACTOR = 2.0
# Sick-day rules (ISPAD 2022 ch. 13, Phelan et al.): above 250 mg/dL (14 mmol/L) check
# ketones; with ketones give 10-20% of the total daily dose every 2-4 h. The model has no
# ketones: after 2 h above 250 a correction of 10% of the daily dose, again every 3 h while
# glucose stays above 250, each given with the patient's adherence. (The usual correction
# by the correction factor instead, tried: lows 2-4 h later, mostly asleep, raised severe
# hypoglycaemia 3-5 fold. 10% of the whole recent dose rather than of twice the basal,
# tried in 0.9.1: children's severe hypoglycaemia 24 -> 44 per 100 patient-years. A
# correction lapsing on the days boluses lapse, tried: children's crisis admissions 12 ->
# 44, adolescents' ketoacidosis 3 -> 19. docs/model.md §3.)
# A CGM's high alert (therapy.cgm_high_alert_mg_dl; Battelino et al., Diabetes Care 42:1593,
# 2019: level 2 above 250 mg/dL): a CGM user who is awake and reads above it for an hour
# gives the usual correction, (CGM - target) / CF less the insulin on board, as a bolus
# calculator does, with the patient's adherence, and again every 3 h while it stays high
# (the 2-3 h that correction advice waits for a dose to act). Controllers answer highs
# themselves: not for AID users. With simglucose's correction factors it raised CGM users'
# severe hypoglycaemia 2-6 fold (tried in 0.4.0 and on 0.9.1); with factors by the 1800 rule
# (since 0.10.0) it does not (docs/model.md §5, CGM users).
HIGH_ALERT_FIRST_MIN = 60
HIGH_ALERT_EVERY_MIN = 180
KETONE_CHECK_MG_DL = 250.0
SICK_DAY_FIRST_MIN = 120
SICK_DAY_EVERY_MIN = 180
SICK_DAY_SHARE_OF_TDD = 0.10
# Ketoacidosis needs insulin deficiency (a missed basal dose, a failed infusion set); the
# model has no ketones, so its proxy is 6 hours without a break above 300 mg/dL (ISPAD 2022
# ch. 11 DKA criterion: glucose > 200 with ketosis) within a day of a missed basal, despite
# the corrections. (Illness as a deficiency too, tried: 90% of admissions came on ill days
# and the rate, 20-60 per 100 patient-years, was 5-10 times the registries'.) A sick-day
# check that is done also finds a missing basal (the forgotten dose, the failed set), which
# is then replaced.
# A hyperglycaemic crisis, whatever the cause: 6 hours above 500 mg/dL. It is the ceiling
# the fast model otherwise lacks (single days averaged up to 4,350 mg/dL), counted apart from
# ketoacidosis: its rate is the model's, with no registry to match.
# Either admission: intravenous insulin 0.1 U/kg/h (ISPAD 2022 ch. 11, Glaser et al.:
# 0.05-0.1 U/kg/h) on top of the usual basal until glucose is below 180 mg/dL; the basal dose
# is raised one titration step at discharge.
DKA_MG_DL = 300.0
DKA_AFTER_MIN = 6 * 60
CRISIS_MG_DL = 500.0
CRISIS_AFTER_MIN = 6 * 60
DEFICIT_MIN = MINUTES_PER_DAY  # how long a missed basal leaves the patient prone to ketosis
# A missed basal: after a forgotten long-acting injection the last dose's tail still acts, so
# half the basal is delivered for a day; a failed pump infusion set (no depot) delivers none
# for the hours until it is changed. (No basal at all for a day, tried: the fast model's
# glucose ran away at up to 600 mg/dL an hour in children, to 3,000 mg/dL.)
OMITTED_PEN_MIN = MINUTES_PER_DAY
OMITTED_PEN_SHARE_LEFT = 0.5
OMITTED_PUMP_MIN = 8 * 60
IV_INSULIN_U_PER_KG_H = 0.1
DISCHARGE_MG_DL = 180.0


@nb.njit(cache=True, nogil=True, inline="always")
def asleep(minute):
    return minute >= NIGHT_FROM_MIN or minute < NIGHT_TO_MIN


@nb.njit(cache=True, nogil=True, inline="always")
def notices_low(by_cgm, unaware, minute, bg, cgm, threshold, meal_check):
    """Whether the patient notices a low this minute: a CGM alarm (reading below `threshold`)
    confirmed by a finger-stick; or, without a CGM, symptoms while awake (lower when unaware),
    or a finger-stick before a meal (`meal_check`) below `threshold`."""
    if by_cgm:
        return cgm < threshold and bg < threshold
    if meal_check and bg < threshold:
        return True
    if asleep(minute):
        return False
    return bg < (SYMPTOMS_UNAWARE_MG_DL if unaware else SYMPTOMS_AWARE_MG_DL)


@nb.njit(cache=True, nogil=True, inline="always")
def severe_hypo_step(bg, run_min, in_episode, assist_delay_min):
    """Advance the severe-hypoglycaemia detector by one minute. Returns (run_min,
    in_episode, started): `started` when glucose has stayed below SEVERE_HYPO_MG_DL for
    `assist_delay_min` minutes in a new episode."""
    started = False
    if bg < SEVERE_HYPO_MG_DL:
        run_min += 1
        if not in_episode and run_min >= assist_delay_min:
            in_episode = True
            started = True
    else:
        run_min = 0
        if in_episode and bg >= SEVERE_ENDS_MG_DL:
            in_episode = False
    return run_min, in_episode, started


@nb.njit(cache=True, nogil=True, inline="always")
def sick_day_due(high_min):
    """Whether a sick-day correction is due after `high_min` minutes above 250 mg/dL."""
    return (
        high_min >= SICK_DAY_FIRST_MIN and (high_min - SICK_DAY_FIRST_MIN) % SICK_DAY_EVERY_MIN == 0
    )


@nb.njit(cache=True, nogil=True, inline="always")
def high_alert_due(alert_min):
    """Whether a CGM high-alert correction is due after `alert_min` minutes awake above the
    alert."""
    return (
        alert_min >= HIGH_ALERT_FIRST_MIN
        and (alert_min - HIGH_ALERT_FIRST_MIN) % HIGH_ALERT_EVERY_MIN == 0
    )


@nb.njit(cache=True, nogil=True, inline="always")
def sick_day_units(basal_u_per_min):
    """A sick-day correction: 10% of the daily dose, estimated as twice the daily basal."""
    return SICK_DAY_SHARE_OF_TDD * 2.0 * basal_u_per_min * MINUTES_PER_DAY


@nb.njit(cache=True, nogil=True, inline="always")
def iv_insulin_u_per_min(bw_kg):
    return IV_INSULIN_U_PER_KG_H * bw_kg / 60.0


# Carbohydrate eaten for one low: real people eat 32 +- 24 g where 15-20 g is advised (Savard
# et al., Can J Diabetes 40:318, 2016; 26 +- 9 g in Ann Nutr Metab 76:277, 2020), so the
# amount is log-normal around its mean, capped where one low's treatment ends. Children are
# advised 0.3 g/kg (ISPAD 2022 ch. 11, Abraham et al.), the adult amount from 50 kg: the mean
# is scaled by body weight below that.
RESCUE_MAX_G = 100.0
RESCUE_FULL_FROM_KG = 50.0


@nb.njit(cache=True, nogil=True)
def rescue_amount_g(mean_g, cv, z, body_weight_kg, by_weight):
    """Grams eaten for one low from a standard normal draw z: log-normal with mean `mean_g`
    (scaled by weight under RESCUE_FULL_FROM_KG when `by_weight`) and coefficient of
    variation `cv` (exactly the mean when cv is 0), at most RESCUE_MAX_G."""
    mean = mean_g
    if by_weight:
        mean *= min(body_weight_kg / RESCUE_FULL_FROM_KG, 1.0)
    if cv <= 0.0:
        return mean
    sigma = math.sqrt(math.log1p(cv * cv))
    return min(mean * math.exp(sigma * z - 0.5 * sigma * sigma), RESCUE_MAX_G)
