"""Growth of children and adolescents (docs/model.md §2), pure numba over the CDC 2000 growth
charts: stature-for-age and BMI-for-age, LMS parameters by sex and month of age, 2 to 20
years (Kuczmarski et al., Vital Health Stat 11(246), 2002; data files statage.csv and
bmiagerev.csv of https://www.cdc.gov/growthcharts/percentile_data_files.htm, public domain,
in engine/model/data/).

A child keeps the height-for-age centile and, absent an energy imbalance, the BMI-for-age
centile they start with: each day the body grows by the weight that keeps both, split
between fat and lean mass in the body's current proportion, and habitual intake rises by the
upkeep of the new tissue. What the energy balance adds on top (rescue carbohydrate, less
glycosuria, a surplus) moves the BMI SDS, which is what the growth is kept for.
"""

import math
from pathlib import Path

import numba as nb
import numpy as np

GROWTH_END_YEARS = 20.0  # the charts end at 240 months; adults do not grow
GROWTH_START_YEARS = 2.0

_DATA = Path(__file__).parent / "data"


@nb.njit(cache=True, nogil=True)
def chart_month(k):
    """Age in months of row k of the CDC 2000 charts: 24, the half months 24.5 to 239.5, then
    240 (and 240.5 for BMI). Computed, not stored beside L, M, S: a GPU kernel's tables share
    64 KiB of constant memory (glycaemia.risk_transform)."""
    if k == 0:
        return 24.0
    if k <= 216:
        return k + 23.5
    return 240.0 + 0.5 * (k - 217)


def _lms_table(name: str) -> np.ndarray:
    """(2 sexes, months, 3: L, M, S); row 0 female, row 1 male (the trait's 0/1); the file's
    months checked against chart_month."""
    raw = np.loadtxt(_DATA / name, delimiter=",", skiprows=1)
    rows = [raw[raw[:, 0] == sex, 1:5] for sex in (2.0, 1.0)]
    n = min(r.shape[0] for r in rows)
    months = np.array([chart_month.py_func(k) for k in range(n)])  # no compile at import
    for r in rows:
        if not np.array_equal(r[:n, 0], months):
            raise ValueError(f"{name}: months are not the CDC 2000 grid of chart_month")
    return np.ascontiguousarray(np.stack([r[:n, 1:] for r in rows]))


STATURE_LMS = _lms_table("cdc2000_statage.csv")
BMI_LMS = _lms_table("cdc2000_bmiage.csv")


# Each chart is read in one function: numba gives every function that reads a global array its
# own copy, and on a GPU the copies share a kernel's 64 KiB of constant memory.
@nb.njit(cache=True, nogil=True)
def _stature_lms(male, age_years):
    return _lms_at(STATURE_LMS, male, age_years)


@nb.njit(cache=True, nogil=True)
def _bmi_lms(male, age_years):
    return _lms_at(BMI_LMS, male, age_years)


@nb.njit(cache=True, nogil=True)
def _lms_at(table, male, age_years):
    """(L, M, S) at `age_years`, linear in months between the chart's rows, clamped to its
    range."""
    t = table[1 if male > 0.5 else 0]
    n = t.shape[0]
    months = min(max(age_years * 12.0, chart_month(0)), chart_month(n - 1))
    k = 0
    while k < n - 2 and chart_month(k + 1) < months:
        k += 1
    w = (months - chart_month(k)) / (chart_month(k + 1) - chart_month(k))
    w = min(max(w, 0.0), 1.0)
    return (
        t[k, 0] + w * (t[k + 1, 0] - t[k, 0]),
        t[k, 1] + w * (t[k + 1, 1] - t[k, 1]),
        t[k, 2] + w * (t[k + 1, 2] - t[k, 2]),
    )


@nb.njit(cache=True, nogil=True)
def lms_z(value, lam, mu, sigma):
    """The SDS of `value` under LMS parameters (Cole 1990)."""
    if abs(lam) < 1e-12:
        return math.log(value / mu) / sigma
    return ((value / mu) ** lam - 1.0) / (lam * sigma)


@nb.njit(cache=True, nogil=True)
def lms_value(z, lam, mu, sigma):
    """The value at SDS z under LMS parameters."""
    if abs(lam) < 1e-12:
        return mu * math.exp(sigma * z)
    base = 1.0 + lam * sigma * z
    return mu * max(base, 1e-6) ** (1.0 / lam)


@nb.njit(cache=True, nogil=True)
def height_sds(height_m, male, age_years):
    lam, mu, sigma = _stature_lms(male, age_years)
    return lms_z(100.0 * height_m, lam, mu, sigma)


@nb.njit(cache=True, nogil=True)
def height_at(z, male, age_years):
    """Height (m) at SDS z of the CDC stature-for-age chart."""
    lam, mu, sigma = _stature_lms(male, age_years)
    return lms_value(z, lam, mu, sigma) / 100.0


# Above SDS +2 the BMI chart is extended in a straight line, by the distance between +1 and +2
# per SDS unit: the CDC 2000 BMI LMS curves have their asymptote (1 + L S z = 0) between +2.5
# and +3 SDS in adolescent girls (BMI 48 at +2.5 and 8,624 at +3 at 18 years), so a patient on
# such a centile gained 8 BMI units in 2 years of growth. The WHO restricts its LMS the same
# way beyond +3 (WHO Child Growth Standards: Methods and development, 2006, the distance
# between +2 and +3); here from +2, below every asymptote of the chart.
BMI_LINEAR_FROM_SDS = 2.0


@nb.njit(cache=True, nogil=True, inline="always")
def _bmi_line(lam, mu, sigma):
    """(BMI at BMI_LINEAR_FROM_SDS, BMI per SDS unit above it) of one age's LMS."""
    top = lms_value(BMI_LINEAR_FROM_SDS, lam, mu, sigma)
    return top, top - lms_value(BMI_LINEAR_FROM_SDS - 1.0, lam, mu, sigma)


@nb.njit(cache=True, nogil=True)
def bmi_sds(bmi, male, age_years):
    """BMI SDS of the CDC BMI-for-age chart (linear above BMI_LINEAR_FROM_SDS); NaN from 20
    years."""
    if age_years >= GROWTH_END_YEARS:
        return np.nan
    lam, mu, sigma = _bmi_lms(male, age_years)
    top, step = _bmi_line(lam, mu, sigma)
    if bmi <= top:
        return lms_z(bmi, lam, mu, sigma)
    return BMI_LINEAR_FROM_SDS + (bmi - top) / step


@nb.njit(cache=True, nogil=True)
def bmi_at(z, male, age_years):
    """BMI at SDS z of the CDC BMI-for-age chart (linear above BMI_LINEAR_FROM_SDS)."""
    lam, mu, sigma = _bmi_lms(male, age_years)
    if z <= BMI_LINEAR_FROM_SDS:
        return lms_value(z, lam, mu, sigma)
    top, step = _bmi_line(lam, mu, sigma)
    return top + (z - BMI_LINEAR_FROM_SDS) * step


@nb.njit(cache=True, nogil=True)
def grows(age_years):
    return GROWTH_START_YEARS <= age_years < GROWTH_END_YEARS


@nb.njit(cache=True, nogil=True)
def day_of_growth(height_z, bmi_z, male, age_years, day_years):
    """(new height m, weight gained kg) over one day from `age_years`, on the patient's
    height and BMI centiles."""
    h0 = height_at(height_z, male, age_years)
    h1 = height_at(height_z, male, age_years + day_years)
    w0 = bmi_at(bmi_z, male, age_years) * h0 * h0
    w1 = bmi_at(bmi_z, male, age_years + day_years) * h1 * h1
    return h1, w1 - w0
