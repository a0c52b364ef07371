"""Slow physiology: the mechanisms of insulin resistance, updated once per simulated day
(docs/model.md §2), as pure numba functions.

Each mechanism is a slow state with a driver, a time constant and an effect. Linear relaxations
use their exact solution over one day, x <- x* + (x - x*) exp(-1 day / tau), with the driver
held at that day's aggregate. The effects combine into three multipliers of the fast model:
s_p (peripheral uptake, Vmx), s_h (hepatic insulin action, kp3) and e_cr (production drive,
kp1), each 1 for a lean, healthy, normoglycaemic reference. log s_p is the sum of the
mechanisms' log factors, which is the attribution `ir_share` (docs/model.md §2).

Constants marked "calibrated" were chosen so that the calibration targets hold
(`t1dmc validate` prints each target beside the simulated value); the others come from the
cited measurement.
"""

import math

import numba as nb
import numpy as np

from .glycaemia import hba1c_from_eag
from .layout import index_family
from .traits import T

# --- the mechanisms of ir_share (the `mechanism` dimension of the results) -------------------
MECHANISMS = (
    ("body_composition", "lean share of body mass (glucose is taken up by muscle)"),
    ("ffa", "free fatty acids: lipotoxicity from visceral fat and dietary fat"),
    ("inflammation", "adipokines and cytokines impair GLUT4 translocation and the liver"),
    ("glucotoxicity", "oxidative stress from hyperglycaemia impairs GLUT4 translocation"),
    (
        "receptor_downregulation",
        "insulin receptors internalised under peripheral hyperinsulinaemia",
    ),
    ("genetic", "polygenic type 2 risk and family history (double diabetes)"),
    ("counterregulation", "glucagon, cortisol, growth hormone: stress, puberty, poor control"),
    ("exercise", "post-exercise and training gain in sensitivity (a negative share)"),
)
MECHANISM_NAMES = tuple(m[0] for m in MECHANISMS)
N_MECH = len(MECHANISMS)
K = index_family("Mechanism", MECHANISM_NAMES)

# --- slow state vector -------------------------------------------------------------------------
S = index_family(
    "SlowState",
    (
        "fat",
        "lean",
        "visceral",
        "ffa",
        "inflammation",
        "ros",
        "glut4",
        "receptor",
        "tone",
        "exercise",
        "eag",
    ),
)
N_SLOW = len(S)
# --- daily aggregates the fast loop hands to the slow update ----------------------------------
G = index_family(
    "DailyAggregate",
    (
        "mean_insulin",
        "hyper_exposure",
        "urine_g",
        "intake_kcal",
        "exercise_kcal",
        "exercise_dose",
        "mean_glucose",
        "ree_constant_kcal",  # the constant term of resting expenditure (resting_constant_kcal)
    ),
)
N_AGG = len(G)
# --- 1. body composition (Hall et al., Lancet 378:826, 2011) ----------------------------------
RHO_F = 9440.0  # kcal/kg, energy density of fat (Hall 2011)
RHO_L = 1816.0  # kcal/kg, energy density of lean tissue (Hall 2011)
FORBES_C = 10.4 * RHO_L / RHO_F  # kg, Forbes' partition constant (Hall 2011)
GAMMA_F = 3.2  # kcal/kg/day, metabolic cost of fat (Hall 2011)
GAMMA_L = 22.0  # kcal/kg/day, metabolic cost of lean tissue (Hall 2011)
TEF = 0.10  # thermic effect of food, share of intake (Hall 2011)
KCAL_PER_G_GLUCOSE = 4.0  # energy lost per g of glycosuria (docs/model.md §2)
# Appetite defends body weight: under the covert glycosuria of canagliflozin, intake rose
# ~100 kcal/day per kg of weight lost (Polidori et al., Obesity 24:2289, 2016). Only losses
# are answered: no such feedback against gain has been measured.
APPETITE_KCAL_PER_KG_LOST = 100.0
LEAN_SHARE_REF = 0.75  # lean share of body mass of the reference (25% fat)
# Poor control raises resting expenditure (protein turnover, gluconeogenesis): ~10% in T1D
# withdrawn from insulin or poorly controlled (Nair et al., Diabetologia 27:13, 1984), i.e. up
# to ~2% per HbA1c point above 7%; calibrated at 1% with glycosuria for the DCCT gain.
REE_PER_A1C = 0.010
# visceral share of fat mass: about 10% in men, 6% in women at 40 years, rising with age
# (Kuk et al., Obesity 14:336, 2006: visceral/total fat rises with age, higher in men)
VISCERAL_SHARE_MALE = 0.10
VISCERAL_SHARE_FEMALE = 0.06
VISCERAL_SHARE_PER_YEAR = 0.001  # from age 40
VISCERAL_SHARE_PER_PRS = 0.01  # genetic risk, per SD (calibrated; Purnell 2003 direction)
VISCERAL_SHARE_FAMILY = 0.015  # family history of T2D (Purnell et al., Diabetes 52:2623)
VISCERAL_SHARE_PER_SUGAR = 0.10  # per unit added-sugar share above 10% (calibrated)
VISCERAL_REF_KG = 1.4  # visceral fat of a lean adult (Kuk 2006, order of magnitude)

# --- 2. free fatty acids (lipotoxicity) -------------------------------------------------------
FFA_REF = 0.40  # mmol/L, day-mean FFA of a lean healthy adult (Frayn, order of mag.)
FFA_VISCERAL_EXPONENT = 0.4  # FFA ~ visceral fat^0.4 (calibrated: portal FFA flux)
FFA_PER_FAT_SHARE = 1.5  # relative FFA rise per unit dietary fat share above 0.33
FFA_FAMILY = 0.10  # relative FFA rise with family history (docs/model.md §2)
FFA_PER_PRS = 0.05
ANTILIPOLYSIS_IC50 = 300.0  # pmol/L, insulin halving lipolysis (calibrated)
# Roden et al., JCI 97:2859 (1996): FFA 0.18 -> 1.93 mmol/L cut uptake by 46% at 6 h.
# phi = (1 + a FFA_REF) / (1 + a FFA) reproduces that ratio: (1 + 0.18 a)/(1 + 1.93 a) = 0.54.
FFA_UPTAKE_COEF = 0.46 / (1.93 * 0.54 - 0.18)  # L/mmol, = 0.534
FFA_HEPATIC_COEF = 0.20  # L/mmol, weaker hepatic effect (Boden, Diabetes 46:3, 1997: direction)

# --- 3. inflammation --------------------------------------------------------------------------
TAU_INFLAMMATION_D = 21.0  # weeks (docs/model.md §2)
INFLAMMATION_PER_VISCERAL = 0.30  # per unit visceral excess over VISCERAL_REF (calibrated)
INFLAMMATION_PER_ROS = 0.20  # oxidative stress feeds inflammation (calibrated)
INFLAMMATION_PER_SUGAR = 1.0  # per unit added-sugar share above 10% (calibrated)
INFLAMMATION_GAIN_FAMILY = 0.20  # inflammation gain with family history (docs/model.md §2)
INFLAMMATION_GAIN_PER_PRS = 0.10
GLUT4_PER_INFLAMMATION = 0.25  # GLUT4 translocation loss per unit C - 1 (calibrated)
HEPATIC_PER_INFLAMMATION = 0.30  # hepatic insulin action loss per unit C - 1 (calibrated)

# --- 4. glucotoxicity -------------------------------------------------------------------------
GLUCOTOX_THRESHOLD = 140.0  # mg/dL, exposure counts above this (docs/model.md §2)
TAU_ROS_D = 1.0  # oxidative stress relaxes over days
TAU_GLUT4_D = 2.0  # GLUT4 translocation efficiency relaxes over 1-3 days
GLUT4_PER_ROS = 0.5
# Yki-Jarvinen et al., Diabetes 36:892 (1987): 24 h at 281 mg/dL cut uptake by 18% in T1D.
# From rest (R = g = 1) one day at exposure 141 mg/dL gives
#   g = g* + (1 - g*) e^{-1/2} = 0.82, i.e. g* = 0.542, so GLUT4_PER_ROS (R - 1) = 0.845 with
#   R - 1 = ROS_PER_EXPOSURE * 141 * (1 - e^{-1}).
ROS_PER_EXPOSURE = (
    ((1.0 / (1.0 - (1.0 - 0.82) / (1.0 - math.exp(-1.0 / TAU_GLUT4_D)))) - 1.0)
    / GLUT4_PER_ROS
    / (141.0 * (1.0 - math.exp(-1.0 / TAU_ROS_D)))
)

# --- 5. receptor downregulation (Heaton & Gelehrter, JBC 256:12257, 1981) ---------------------
RECEPTOR_RECOVERY_PER_D = 3.0  # recovery ~95% complete in 24 h: e^{-3} = 0.05
RECEPTOR_PLATEAU = 0.42  # binding plateaus at 40-50% of control under saturating insulin
RECEPTOR_LOSS_PER_D = RECEPTOR_RECOVERY_PER_D * (1.0 - RECEPTOR_PLATEAU) / RECEPTOR_PLATEAU
RECEPTOR_EC50 = 240.0  # pmol/L, Hill half-effect of day-mean peripheral insulin
RECEPTOR_HILL = 2.0  # (both calibrated: insulin at 2.5x controls gives phi ~ 0.72,
#                                  Gregory et al., Diabetes 68:290, 2019: disposal -22 to -29%)
INSULIN_NORMAL = 100.0  # pmol/L, day-mean peripheral insulin without diabetes (24-h
#                                  profiles: ~15-20 uU/mL, Polonsky et al., JCI 81:442, 1988)

# --- 6. genetics ("double diabetes") ----------------------------------------------------------
GENETIC_SP_PER_PRS = 0.06  # log s_p per SD of polygenic score (calibrated)
GENETIC_SP_FAMILY = 0.08  # log s_p with family history (calibrated)
GENETIC_SH_PER_PRS = 0.04
GENETIC_SH_FAMILY = 0.05

# --- 7. counter-regulatory tone ---------------------------------------------------------------
TAU_TONE_D = 14.0
TONE_PER_A1C = 0.04  # per HbA1c point above 7% (poor control raises GH, glucagon)
TONE_PER_STRESS = 0.15  # chronic stress trait at 1
TONE_PER_SLEEP_H = 0.03  # per hour of sleep under 7 h
TONE_SP = 0.5  # s_p = 1 / (1 + TONE_SP (H - 1))
TONE_SH = 0.5
TONE_KP1 = 0.3  # e_cr = 1 + TONE_KP1 (H - 1)
# Puberty: sensitivity -30 to -32% at Tanner III (Goran et al., Diabetes 50:2444, 2001; Bloch
# et al., J Pediatr 110:481, 1987): a bump of width PUBERTY_SD_Y around the Tanner III age.
PUBERTY_SP = 0.24  # with the glucotoxicity that follows, s_p falls ~30% at the peak
PUBERTY_SH = 0.20  # calibrated with PUBERTY_KP1 so the dose rises ~30%
PUBERTY_KP1 = 0.12
PUBERTY_SD_Y = 1.5

# --- 8. exercise and glycaemic memory --------------------------------------------------------
TAU_EXERCISE_D = 1.0  # post-exercise sensitivity fades over ~48 h (Mikines 1988)
EXERCISE_GAIN = 0.20  # per unit session dose (60 bpm x 60 min), calibrated: +18-29%
#                             at 1-48 h after a session (a calibration target, with the acute model)
TAU_EAG_D = 43.0  # half of HbA1c from the last 30 days: 1 - e^{-30/43} = 0.50
#                             (red-cell lifespan weighting; Nathan et al., Diabetes Care 2008)
GMI_DAYS = 14

# The typical person with type 1 diabetes that the UVA/Padova parameters describe: the median
# multipliers of the default adult population (intensive therapy, default lifestyle) at the
# end of day 0 (calibrated: `scripts/calibrate_reference.py` recomputes them).
REFERENCE_SP = 0.528
REFERENCE_SH = 0.906
REFERENCE_ECR = 1.013


@nb.njit(cache=True, nogil=True, inline="always")
def relax(x, target, tau_days):
    """Exact solution of dx/dt = (target - x)/tau over one day."""
    return target + (x - target) * math.exp(-1.0 / tau_days)


@nb.njit(cache=True, nogil=True)
def visceral_share(tr, age):
    base = VISCERAL_SHARE_MALE if tr[T.sex_male] > 0.5 else VISCERAL_SHARE_FEMALE
    share = (
        base
        + VISCERAL_SHARE_PER_YEAR * max(age - 40.0, 0.0)
        + VISCERAL_SHARE_PER_PRS * tr[T.polygenic_score]
        + VISCERAL_SHARE_FAMILY * tr[T.family_history_t2d]
        + VISCERAL_SHARE_PER_SUGAR * max(tr[T.diet_sugar_share] - 0.10, 0.0)
    )
    return min(max(share, 0.02), 0.30)


@nb.njit(cache=True, nogil=True)
def ffa_level(visceral_kg, tr, mean_insulin):
    """Day-mean FFA (mmol/L), quasi-steady at a daily step: the lipid effect lags FFA by hours
    (Roden 1996), a small fraction of a day."""
    genetic = 1.0 + FFA_FAMILY * tr[T.family_history_t2d] + FFA_PER_PRS * tr[T.polygenic_score]
    diet = 1.0 + FFA_PER_FAT_SHARE * (tr[T.diet_fat_share] - 0.33)
    antilipolysis = (1.0 + INSULIN_NORMAL / ANTILIPOLYSIS_IC50) / (
        1.0 + max(mean_insulin, 0.0) / ANTILIPOLYSIS_IC50
    )
    return (
        FFA_REF
        * (max(visceral_kg, 1e-3) / VISCERAL_REF_KG) ** FFA_VISCERAL_EXPONENT
        * max(diet, 0.2)
        * max(genetic, 0.2)
        * antilipolysis
    )


@nb.njit(cache=True, nogil=True, inline="always")
def receptor_rates(mean_insulin):
    """(target density, rate per day) of d rho/dt = k_rec (1 - rho) - k_int h(I) rho."""
    i_n = max(mean_insulin, 0.0) ** RECEPTOR_HILL
    h = i_n / (i_n + RECEPTOR_EC50**RECEPTOR_HILL)
    rate = RECEPTOR_RECOVERY_PER_D + RECEPTOR_LOSS_PER_D * h
    return RECEPTOR_RECOVERY_PER_D / rate, rate


@nb.njit(cache=True, nogil=True, inline="always")
def receptor_update(rho, mean_insulin):
    target, rate = receptor_rates(mean_insulin)
    return target + (rho - target) * math.exp(-rate)


@nb.njit(cache=True, nogil=True, inline="always")
def ros_target(hyper_exposure):
    return 1.0 + ROS_PER_EXPOSURE * hyper_exposure


@nb.njit(cache=True, nogil=True, inline="always")
def glut4_target(ros_excess, inflammation_excess):
    return 1.0 / (1.0 + GLUT4_PER_ROS * ros_excess + GLUT4_PER_INFLAMMATION * inflammation_excess)


@nb.njit(cache=True, nogil=True)
def inflammation_target(visceral_kg, ros, tr):
    gain = (
        1.0
        + INFLAMMATION_GAIN_FAMILY * tr[T.family_history_t2d]
        + INFLAMMATION_GAIN_PER_PRS * max(tr[T.polygenic_score], 0.0)
    )
    drive = (
        INFLAMMATION_PER_VISCERAL * max(visceral_kg / VISCERAL_REF_KG - 1.0, 0.0)
        + INFLAMMATION_PER_ROS * max(ros - 1.0, 0.0)
        + INFLAMMATION_PER_SUGAR * max(tr[T.diet_sugar_share] - 0.10, 0.0)
    )
    return 1.0 + gain * drive


@nb.njit(cache=True, nogil=True)
def tone_target(tr, hba1c):
    return (
        1.0
        + TONE_PER_A1C * max(hba1c - 7.0, 0.0)
        + TONE_PER_STRESS * tr[T.chronic_stress]
        + TONE_PER_SLEEP_H * max(7.0 - tr[T.sleep_h], 0.0)
    )


@nb.njit(cache=True, nogil=True, inline="always")
def puberty(tr, age):
    z = (age - tr[T.puberty_peak_age]) / PUBERTY_SD_Y
    return math.exp(-0.5 * z * z) if abs(z) < 6.0 else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def waist_cm(tr, bmi, visceral_kg, fat_kg, age):
    """Waist circumference from BMI (adult regressions of about this form: ~2.3 cm per BMI unit,
    men ~5 cm wider at equal BMI), widened by visceral fat above the share expected for the
    patient's fat mass (3 cm per kg, an assumption)."""
    male = tr[T.sex_male] > 0.5
    base = (25.0 + 2.35 * bmi) if male else (20.0 + 2.3 * bmi)
    expected = visceral_share(tr, age) * fat_kg
    return base + 3.0 * (visceral_kg - expected)


@nb.njit(cache=True, nogil=True)
def resting_expenditure(fat_kg, lean_kg):
    """kcal/day, the part that moves with the body's fat and lean mass; the constant term
    (resting_constant_kcal) is added where the level matters."""
    return GAMMA_F * fat_kg + GAMMA_L * lean_kg


# Schofield's basal metabolic rate, kcal/day = slope x weight + intercept, by age band (Hum
# Nutr Clin Nutr 39C(S1):5, 1985; the WHO/FAO/UNU 1985 equations). Rows: age up to (years),
# men's slope and intercept, women's slope and intercept.
SCHOFIELD_BANDS = np.array(
    [
        [3.0, 59.5, -30.0, 58.3, -31.0],
        [10.0, 22.7, 495.0, 22.5, 499.0],
        [18.0, 17.5, 651.0, 12.2, 746.0],
        [30.0, 15.3, 679.0, 14.7, 496.0],
        [60.0, 11.6, 879.0, 8.7, 829.0],
        [np.inf, 13.5, 487.0, 10.5, 596.0],
    ]
)


@nb.njit(cache=True, nogil=True)
def schofield_bmr(age, male, weight_kg):
    """Basal metabolic rate, kcal/day, by age band and sex (SCHOFIELD_BANDS)."""
    bands = SCHOFIELD_BANDS  # named once: one copy on a GPU (glycaemia.risk_transform)
    k = 0
    while age >= bands[k, 0]:
        k += 1
    col = 1 if male > 0.5 else 3
    return bands[k, col] * weight_kg + bands[k, col + 1]


@nb.njit(cache=True, nogil=True)
def resting_constant_kcal(age, male, fat_kg, lean_kg):
    """Hall's constant term of resting expenditure (Hall et al., Lancet 378:826, 2011: fitted
    to each person's measured or predicted rate at the start): Schofield's basal rate less
    gamma_F F + gamma_L L. It does not change the dynamics (it is in intake and expenditure
    alike) but sets the level of intake: without it a 31 kg child's resting expenditure was
    ~600 kcal/day against Schofield's 1,100-1,200, and its food too little (docs/model.md §2)."""
    basal = schofield_bmr(age, male, fat_kg + lean_kg)
    return max(basal - resting_expenditure(fat_kg, lean_kg), 0.0)


@nb.njit(cache=True, nogil=True)
def body_update(fat_kg, lean_kg, intake_kcal, expenditure_kcal):
    """One day of Hall's two-compartment energy balance (the imbalance is constant over the
    day, so this daily step is exact for it)."""
    imbalance = intake_kcal - expenditure_kcal
    p = FORBES_C / (FORBES_C + fat_kg)
    fat = fat_kg + (1.0 - p) * imbalance / RHO_F
    lean = lean_kg + p * imbalance / RHO_L
    return max(fat, 0.5), max(lean, 5.0)


@nb.njit(cache=True, nogil=True, inline="always")
def appetite_kcal(ref_weight, weight):
    """Extra intake (kcal/day) of a body `weight` kg below the weight it defends."""
    return APPETITE_KCAL_PER_KG_LOST * max(ref_weight - weight, 0.0)


@nb.njit(cache=True, nogil=True, inline="always")
def appetite_deficit_kg(urine_g_per_day):
    """How far below its defended weight a body sits at steady state while it loses
    `urine_g_per_day` of glucose: where appetite's extra intake, less its thermic effect,
    replaces the loss."""
    return KCAL_PER_G_GLUCOSE * urine_g_per_day / ((1.0 - TEF) * APPETITE_KCAL_PER_KG_LOST)


@nb.njit(cache=True, nogil=True)
def equilibrate(st, agg, tr, age, on):
    """Set the fast-relaxing states to equilibrium with one day's aggregates: the patient has
    lived this life for a while when the run starts (used once, after day 0)."""
    st[S.visceral] = visceral_share(tr, age) * st[S.fat]
    st[S.ffa] = ffa_level(st[S.visceral], tr, agg[G.mean_insulin])
    st[S.ros] = ros_target(agg[G.hyper_exposure])
    ros_eff = st[S.ros] if on[K.glucotoxicity] else 1.0
    st[S.inflammation] = inflammation_target(st[S.visceral], ros_eff, tr)
    st[S.receptor] = receptor_rates(agg[G.mean_insulin])[0]
    st[S.eag] = agg[G.mean_glucose]
    st[S.tone] = tone_target(tr, hba1c_from_eag(st[S.eag]))
    st[S.glut4] = glut4_target(
        (st[S.ros] - 1.0) * on[K.glucotoxicity], (st[S.inflammation] - 1.0) * on[K.inflammation]
    )
    st[S.exercise] = 0.0


@nb.njit(cache=True, nogil=True)
def daily_update(st, agg, tr, age, on, pal):
    """Advance the slow states by one day from the day's aggregates `agg` (G_*).
    `on[k]` switches mechanism k; a switched-off mechanism's state still evolves (and is
    reported) but its factor is exactly 1 and it drives nothing downstream."""
    if on[K.body_composition]:
        poor_control = 1.0 + REE_PER_A1C * max(hba1c_from_eag(st[S.eag]) - 7.0, 0.0)
        # REE_PER_A1C was calibrated on the moving part alone: it stays there, in kcal as before
        expenditure = (
            pal
            * (agg[G.ree_constant_kcal] + poor_control * resting_expenditure(st[S.fat], st[S.lean]))
            + TEF * agg[G.intake_kcal]
            + agg[G.exercise_kcal]
        )
        intake = agg[G.intake_kcal] - KCAL_PER_G_GLUCOSE * agg[G.urine_g]
        st[S.fat], st[S.lean] = body_update(st[S.fat], st[S.lean], intake, expenditure)
    st[S.visceral] = visceral_share(tr, age) * st[S.fat]
    st[S.ffa] = ffa_level(st[S.visceral], tr, agg[G.mean_insulin])
    st[S.ros] = relax(st[S.ros], ros_target(agg[G.hyper_exposure]), TAU_ROS_D)
    ros_eff = st[S.ros] if on[K.glucotoxicity] else 1.0
    st[S.inflammation] = relax(
        st[S.inflammation], inflammation_target(st[S.visceral], ros_eff, tr), TAU_INFLAMMATION_D
    )
    st[S.glut4] = relax(
        st[S.glut4],
        glut4_target(
            (st[S.ros] - 1.0) * on[K.glucotoxicity], (st[S.inflammation] - 1.0) * on[K.inflammation]
        ),
        TAU_GLUT4_D,
    )
    st[S.receptor] = receptor_update(st[S.receptor], agg[G.mean_insulin])
    st[S.eag] = relax(st[S.eag], agg[G.mean_glucose], TAU_EAG_D)
    st[S.tone] = relax(st[S.tone], tone_target(tr, hba1c_from_eag(st[S.eag])), TAU_TONE_D)
    st[S.exercise] = (
        st[S.exercise] * math.exp(-1.0 / TAU_EXERCISE_D) + EXERCISE_GAIN * agg[G.exercise_dose]
    )


@nb.njit(cache=True, nogil=True)
def multipliers(st, tr, age, on, log_phi):
    """(s_p, s_h, e_cr) of the slow states; log_phi[k] receives mechanism k's log factor of
    s_p, so that log s_p = sum(log_phi). Each factor is 1 at the lean healthy reference."""
    for k in range(N_MECH):
        log_phi[k] = 0.0
    log_sh = 0.0
    bw = st[S.fat] + st[S.lean]
    if on[K.body_composition]:
        log_phi[K.body_composition] = math.log((st[S.lean] / bw) / LEAN_SHARE_REF)
    if on[K.ffa]:
        log_phi[K.ffa] = math.log(
            (1.0 + FFA_UPTAKE_COEF * FFA_REF) / (1.0 + FFA_UPTAKE_COEF * st[S.ffa])
        )
        log_sh += math.log(
            (1.0 + FFA_HEPATIC_COEF * FFA_REF) / (1.0 + FFA_HEPATIC_COEF * st[S.ffa])
        )
    # the GLUT4 state carries both glucotoxicity and inflammation: its log is split in
    # proportion to their current drives
    ros_drive = GLUT4_PER_ROS * max(st[S.ros] - 1.0, 0.0) * on[K.glucotoxicity]
    infl_drive = GLUT4_PER_INFLAMMATION * max(st[S.inflammation] - 1.0, 0.0) * on[K.inflammation]
    log_g = math.log(st[S.glut4])
    if ros_drive + infl_drive > 0.0:
        log_phi[K.glucotoxicity] = log_g * ros_drive / (ros_drive + infl_drive)
        log_phi[K.inflammation] = log_g * infl_drive / (ros_drive + infl_drive)
    elif on[K.glucotoxicity] or on[K.inflammation]:
        # relaxing back to 1 after the drive stopped: the one that is on keeps the remainder
        if on[K.glucotoxicity]:
            log_phi[K.glucotoxicity] = log_g
        else:
            log_phi[K.inflammation] = log_g
    if on[K.inflammation]:
        log_sh -= math.log(1.0 + HEPATIC_PER_INFLAMMATION * max(st[S.inflammation] - 1.0, 0.0))
    if on[K.receptor_downregulation]:
        log_phi[K.receptor_downregulation] = math.log(
            st[S.receptor] / receptor_rates(INSULIN_NORMAL)[0]
        )
    if on[K.genetic]:
        log_phi[K.genetic] = -(
            GENETIC_SP_PER_PRS * tr[T.polygenic_score]
            + GENETIC_SP_FAMILY * tr[T.family_history_t2d]
        )
        log_sh -= (
            GENETIC_SH_PER_PRS * tr[T.polygenic_score]
            + GENETIC_SH_FAMILY * tr[T.family_history_t2d]
        )
    e_cr = 1.0
    if on[K.counterregulation]:
        tone = st[S.tone] - 1.0
        pub = puberty(tr, age)
        log_phi[K.counterregulation] = -math.log(1.0 + TONE_SP * tone) - math.log(
            1.0 + PUBERTY_SP * pub
        )
        log_sh -= math.log(1.0 + TONE_SH * tone) + math.log(1.0 + PUBERTY_SH * pub)
        e_cr = 1.0 + TONE_KP1 * tone + PUBERTY_KP1 * pub
    if on[K.exercise]:
        log_phi[K.exercise] = math.log(1.0 + st[S.exercise])
    log_sp = 0.0
    for k in range(N_MECH):
        log_sp += log_phi[k]
    return math.exp(log_sp), math.exp(log_sh), e_cr


@nb.njit(cache=True, nogil=True)
def initial_body(tr):
    """(fat, lean) kg at the start from BMI, age and sex: body fat % of Deurenberg et al.,
    Br J Nutr 65:105 (1991), adults 1.2 BMI + 0.23 age - 10.8 male - 5.4; children (< 16 y)
    1.51 BMI - 0.70 age - 3.6 male + 1.4."""
    h = tr[T.height_m]
    bmi = tr[T.bmi0]
    bw = bmi * h * h
    age = tr[T.age0]
    male = tr[T.sex_male]
    if age >= 16.0:
        pct = 1.2 * bmi + 0.23 * age - 10.8 * male - 5.4
    else:
        pct = 1.51 * bmi - 0.70 * age - 3.6 * male + 1.4
    pct = min(max(pct, 5.0), 60.0)
    fat = bw * pct / 100.0
    return fat, bw - fat
