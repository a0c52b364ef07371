"""Therapy rules (numba). For now simglucose's basal-bolus controller (MODEL.md §4):
basal = u2ss * BW / 6000 U/min; at a meal, bolus = carbs / CR + (G > 150) * (G - target) / CF,
G being the latest CGM reading."""
import numba as nb

from .model.params import P_BW, P_CF, P_CR, P_U2SS, PMOL_PER_U

SIMGLUCOSE_CORRECTION_THRESHOLD = 150.0  # mg/dL, simglucose BBController


@nb.njit(cache=True, nogil=True, inline="always")
def basal_rate_u_per_min(p):
    """The patient's steady-state basal rate (U/min)."""
    return p[P_U2SS] * p[P_BW] / PMOL_PER_U


@nb.njit(cache=True, nogil=True, inline="always")
def meal_bolus_u(p, carbs_g, cgm, target):
    """simglucose's meal bolus (U) for a meal of `carbs_g` announced at CGM reading `cgm`."""
    bolus = carbs_g / p[P_CR]
    if cgm > SIMGLUCOSE_CORRECTION_THRESHOLD:
        bolus += (cgm - target) / p[P_CF]
    return bolus
