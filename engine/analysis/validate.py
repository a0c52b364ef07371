"""`t1dmc validate`: the calibration targets (README, Validation), each simulated and compared.

Every row runs its own small scenario through the same kernel as a production run (in
memory, no store) and reports the simulated value with a 95% interval (normal approximation
over patients, or a bootstrap of the median) beside the target and its source. Sizes scale
with `n` so that a CI test can run the whole table on small populations.
"""

import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..batch.config import parse_config
from ..batch.plausibility import implausible_days
from ..batch.sweep import KernelInputs, cohort_of, kernel_inputs, simulate
from ..life.behaviour import B
from ..life.therapy import TH
from ..model import acute
from ..model.glycaemia import DAILY_NAMES, D
from ..model.params import MINUTES_PER_DAY
from ..model.slow import GMI_DAYS, K
from ..model.traits import T
from ..population.cohort import Cohort, basal_insulin_need
from ..sim.outputs import TRACE
from ..sim.patient import SW


@dataclass
class Row:
    quantity: str
    target: str
    source: str
    value: float
    low: float
    high: float
    unit: str
    passed: bool
    note: str = ""


def _mean_ci(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    m = x.mean()
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else np.inf
    return m, m - half, m + half


def _share_ci(flags):
    flags = np.asarray(flags, dtype=float)
    p = flags.mean()
    half = 1.96 * np.sqrt(max(p * (1 - p), 1e-12) / flags.size)
    return p, p - half, p + half


def _median_ci(x, seed=1):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    rng = np.random.default_rng(seed)  # bootstrap of a summary, not a simulation draw
    boots = np.median(rng.choice(x, size=(400, x.size)), axis=1)
    return np.median(x), *np.percentile(boots, [2.5, 97.5])


def _config(n, days, seed, **sections):
    base = {
        "run": {"n_patients": n, "days": days, "seed": seed},
        "sensor": {"kind": "none"},
        "cohort": {"groups": {"adult": 1.0}},
    }
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return parse_config(base)


def _run(inputs: KernelInputs, cohort: Cohort, traced=0):
    n = len(cohort)
    slot = np.full(n, -1, dtype=np.int64)
    slot[:traced] = np.arange(traced)
    return simulate(inputs, cohort, slot, traced)


def _with_traits(cohort: Cohort, column: int, values) -> Cohort:
    tr = cohort.traits.copy()
    tr[:, column] = values
    return replace(cohort, traits=tr)


def _dose_for_equal_glucose(inputs, cohort, target_mean, days, lo=0.5, hi=2.5, iters=10):
    """The dose scale at which the population's mean glucose over `days` equals
    `target_mean` (bisection; glucose falls monotonically with dose)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        th = inputs.therapy.copy()
        th[TH.dose_scale] = mid
        daily = _run(replace(inputs, therapy=th), cohort)[0]
        if np.nanmean(daily[D.glucose_mean][:, days]) > target_mean:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _fixed_therapy(n, days, seed, groups=None, **extra):
    """simglucose's fixed rule, no random episodes, no rescue, no exercise: a controlled
    experiment on one factor."""
    sections = dict(
        therapy={"kind": "simglucose_basal_bolus"},
        behaviour={
            "profile": "trial",
            "hypo_treatment_g": 0.0,
            "exercise": False,
            "carb_count_cv": 0.0,
        },
        mechanisms={"growth": False},
        episodes={"stress": False, "illness": False},
        lifestyle={"adherence": 0.999},
    )
    if groups:
        sections["cohort"] = {"groups": groups}
    for k, v in extra.items():
        sections[k] = {**sections.get(k, {}), **v}
    return _config(n, days, seed, **sections)


# --- rows ----------------------------------------------------------------------------------


def row_dose_and_bmi(n, seed):
    """Default adult population, default lifestyle, intensive therapy, 120 days."""
    cfg = _config(n, 120, seed, sensor={"kind": "johnson_su"}, therapy={"kind": "intensive"})
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    daily, log_phi, status, _ = _run(inputs, cohort)
    ok = (status == 0).all(axis=1)
    tdd = np.nanmean(daily[D.tdd_per_kg][ok, 60:], axis=1)
    med = _median_ci(tdd)
    rows = [
        Row(
            "total daily dose, median",
            "0.4-1.0 U/kg/day, median ~0.6-0.7",
            "ADA; Kerouz 1995",
            *med,
            "U/kg/day",
            0.5 <= med[0] <= 0.85,
        ),
        Row(
            "total daily dose > 1.0 U/kg/day",
            "marks resistance: a minority",
            "ADA; Kerouz 1995",
            *_share_ci(tdd > 1.0),
            "share",
            float(np.mean(tdd > 1.0)) < 0.25,
        ),
        Row(
            "total daily dose > 2 U/kg/day",
            "none (DCCT excluded > 2)",
            "DCCT 1993",
            *_share_ci(tdd > 2.0),
            "share",
            float(np.mean(tdd > 2.0)) < 0.01,
        ),
    ]
    bmi = daily[D.bmi][ok, -1]
    m = _mean_ci(bmi)
    rows.append(
        Row(
            "BMI, mean (adults, day 120)",
            "27.6",
            "NHIS 2016-21",
            *m,
            "kg/m2",
            _consistent(m, 26.4, 28.8),
            "passes when the 95% interval meets 26.4-28.8",
        )
    )
    over = _share_ci((bmi >= 25) & (bmi < 30))
    rows.append(
        Row(
            "overweight (25 <= BMI < 30)",
            "34%",
            "NHIS 2016-21",
            *over,
            "share",
            0.27 <= over[0] <= 0.41,
        )
    )
    obese = _share_ci(bmi >= 30)
    rows.append(
        Row("obese (BMI >= 30)", "28%", "NHIS 2016-21", *obese, "share", 0.21 <= obese[0] <= 0.35)
    )
    a1c = _mean_ci(daily[D.hba1c][ok, -1])
    rows.append(
        Row(
            "HbA1c under intensive therapy (day 120)",
            "about 7% (DCCT intensive 7.2%)",
            "DCCT 1993",
            *a1c,
            "%",
            6.3 <= a1c[0] <= 7.6,
        )
    )
    return rows


def row_dcct(n, seed, years=6):
    """Intensive vs conventional therapy for `years`, same patients (paired)."""
    days = int(round(365.25 * years))
    out = {}
    lost = []
    prior = None
    # the conventional arm first: the DCCT's arms entered from the same care (baseline HbA1c
    # ~8.9% in both), so the intensive arm's patients lived with the conventional arm's
    # glycosuria before the trial, and appetite defends the weight that went with it
    # (docs/model.md §2, Appetite)
    for kind in ("conventional", "intensive"):
        cfg = _config(
            n,
            days,
            seed,
            therapy={"kind": kind},
            cohort={"groups": {"adult": 3.0, "adolescent": 1.0}},
        )
        inputs = kernel_inputs(cfg)
        cohort = cohort_of(inputs, np.arange(n))
        if prior is not None:
            cohort = _with_traits(cohort, T.prior_glycosuria_g, prior)
        daily, log_phi, status, _ = _run(inputs, cohort)
        prior = daily[D.glycosuria_g][:, :GMI_DAYS].mean(axis=1)
        out[kind] = (daily, (status == 0).all(axis=1))
        # T1D vs no diabetes: what a matched person without diabetes lacks are the
        # diabetes-specific factors, receptors lost to peripheral hyperinsulinaemia and
        # glucotoxicity; year 2 of both arms spans usual control (CACTI's mean HbA1c ~7.9%)
        year2 = slice(365, min(730, days))
        lost.append(
            1.0
            - np.exp(
                log_phi[K.receptor_downregulation, :, year2] + log_phi[K.glucotoxicity, :, year2]
            ).mean(axis=1)
        )
    ok = out["intensive"][1] & out["conventional"][1]
    lost_m = _mean_ci(np.concatenate([x[ok] for x in lost]))
    w_i = out["intensive"][0][D.weight_kg][ok]
    w_c = out["conventional"][0][D.weight_kg][ok]
    gain = (w_i[:, -1] - w_i[:, 0]) - (w_c[:, -1] - w_c[:, 0])
    m = _mean_ci(gain)
    year1 = (w_i[:, 365] - w_i[:, 0]) - (w_c[:, 365] - w_c[:, 0])
    y1_share = year1.mean() / gain.mean() if gain.mean() > 0 else np.nan
    a1c_i = np.nanmean(out["intensive"][0][D.hba1c][ok, 365:])
    a1c_c = np.nanmean(out["conventional"][0][D.hba1c][ok, 365:])
    severe = {k: _rate_per_100py(out[k][0][D.severe_hypo_events][ok]) for k in out}
    conv_gain = _mean_ci(w_c[:, -1] - w_c[:, 0])
    first_year = {
        "intensive": _mean_ci(w_i[:, 365] - w_i[:, 0]),
        "conventional": _mean_ci(w_c[:, 365] - w_c[:, 0]),
    }
    return [
        Row(
            "severe hypoglycaemia, intensive arm",
            "61.2 per 100 patient-years",
            "DCCT, NEJM 329:977 (1993)",
            *severe["intensive"],
            "per 100 py",
            _consistent(severe["intensive"], 35.0, 90.0),
        ),
        Row(
            "severe hypoglycaemia, conventional arm",
            "18.7 per 100 patient-years",
            "DCCT 1993",
            *severe["conventional"],
            "per 100 py",
            _consistent(severe["conventional"], 8.0, 30.0),
        ),
        # The model's severe event (below 40 mg/dL for behaviour.assist_delay_min, then
        # glucagon from someone else) is the DCCT's gravest tier: 1,027 of its 3,788 episodes
        # needing assistance came with coma or seizure (DCCT, Diabetes 46:271, 1997; relative
        # risk 3.02, intensive against conventional). Help with eating while confused, the
        # rest of the 61.2 and 18.7, is not an event of the model (docs/model.md §5).
        Row(
            "severe hypoglycaemia with coma or seizure, intensive arm",
            "16.3 per 100 patient-years",
            "DCCT, NEJM 329:977 (1993); Diabetes 46:271 (1997)",
            *severe["intensive"],
            "per 100 py",
            _consistent(severe["intensive"], 10.0, 24.0),
        ),
        Row(
            "severe hypoglycaemia with coma or seizure, conventional arm",
            "5.4 per 100 patient-years",
            "DCCT, NEJM 329:977 (1993); Diabetes 46:271 (1997)",
            *severe["conventional"],
            "per 100 py",
            _consistent(severe["conventional"], 3.0, 8.0),
        ),
        Row(
            f"weight change, conventional arm, {years:g} years",
            "gained (DCCT: both arms gained)",
            "DCCT, Diabetes Care 24:1711 (2001)",
            *conv_gain,
            "kg",
            conv_gain[0] > 0.0,
        ),
        # each arm's own gain in year 1 (DCCT Research Group, Diabetes Care 11:567, 1988:
        # intensive 5.1 +- 4.6 kg, standard 2.4 +- 3.7 kg); met when the 95% interval comes
        # within 1.5 kg (a spread of ~4 kg leaves a CI-sized population's mean uncertain)
        Row(
            "weight change, intensive arm, year 1",
            "+5.1 kg (SD 4.6)",
            "DCCT, Diabetes Care 11:567 (1988)",
            *first_year["intensive"],
            "kg",
            _consistent(first_year["intensive"], 5.1 - 1.5, 5.1 + 1.5),
            "passes when the 95% interval meets 3.6-6.6",
        ),
        Row(
            "weight change, conventional arm, year 1",
            "+2.4 kg (SD 3.7)",
            "DCCT, Diabetes Care 11:567 (1988)",
            *first_year["conventional"],
            "kg",
            _consistent(first_year["conventional"], 2.4 - 1.5, 2.4 + 1.5),
            "passes when the 95% interval meets 0.9-3.9",
        ),
        Row(
            f"weight gain, intensive - conventional, {years:g} years",
            "4.75 kg",
            "DCCT, Diabetes Care 24:1711 (2001)",
            *m,
            "kg",
            3.0 <= m[0] <= 6.5,
            f"HbA1c intensive {a1c_i:.2f}%, conventional {a1c_c:.2f}%",
        ),
        Row(
            "share of that gain in year 1",
            f"fastest in year 1 (> 1/{years:g})",
            "DCCT 2001",
            y1_share,
            np.nan,
            np.nan,
            "share",
            y1_share > 1.0 / years,
        ),
        Row(
            "insulin sensitivity, T1D vs no diabetes",
            "35-55% lower",
            "Gregory 2019; CACTI",
            *lost_m,
            "fraction lower",
            0.35 <= lost_m[0] <= 0.55,
            f"both DCCT arms, year 2; mean HbA1c {(a1c_i + a1c_c) / 2:.2f}%",
        ),
    ]


def _consistent(estimate, lo, hi):
    """Whether an estimate (value, low, high) is consistent with a target range: its 95%
    interval meets [lo, hi]. Used for rates of rare events and for the cohort's BMI, whose
    point estimates on CI-sized populations rest on a few events or patients."""
    _, low, high = estimate
    return bool(low <= hi and high >= lo)


def _rate_per_100py(events):
    """Events per 100 patient-years with a 95% interval (Poisson, normal approximation)."""
    events = np.nan_to_num(np.asarray(events, dtype=float))
    years = events.size / 365.25
    k = events.sum()
    rate = 100.0 * k / years
    half = 1.96 * 100.0 * np.sqrt(max(k, 1.0)) / years
    return rate, max(rate - half, 0.0), rate + half


# Real-world targets by age group. HbA1c: T1D Exchange 2016-18 (Foster et al., Diabetes
# Technol Ther 21:66, 2019): ~8.1% at age 5 rising to 9.3% at 15-18, 8.0% at 28, 7.5-7.9%
# beyond 30; the model's groups are 7-13, 13-20 and 20-70 years.
REAL_WORLD_GROUPS = {"child": 1.0, "adolescent": 1.0, "adult": 1.0}
YEARS_OF_CARE = 3  # row_real_world_years
HBA1C_TARGETS = {
    "child": ("about 8.1-8.3%", 7.6, 8.8),
    "adolescent": ("about 9.0-9.3%", 8.6, 9.8),
    "adult": ("about 7.6-8.0%", 7.3, 8.3),
}
# Known misses: rows the model does not yet meet (reported, and listed in the tests as
# expected failures so that meeting them shows). The DCCT weight rows passed before 0.3.0
# only because the conventional arm lost weight less than the intensive gained; the paths
# from insulin to weight (defensive eating, insulin's anabolic effect) are not modelled yet.
KNOWN_MISSES = (
    # every episode needing assistance: the model has only the coma-or-seizure tier (the rows
    # after these, met)
    "severe hypoglycaemia, intensive arm",
    "severe hypoglycaemia, conventional arm",
    "weight gain, intensive - conventional",
    # the intensive arm's own year-1 gain is 1.9 kg against the DCCT's 5.1 (1.4 until 0.14.0;
    # the conventional arm's is met): the missing weight is the intensive arm's (docs/model.md
    # §5)
    "weight change, intensive arm, year 1",
    # 0.7.0: with appetite answering weight lost, the gap between arms is below 1 kg, and the
    # share of it gained in year 1 is noise around that
    "share of that gain in year 1",
    "HbA1c, adolescents",
    "total daily dose, children (prepubertal)",
    "total daily dose, adolescents (pubertal)",
    "HbA1c, missing >= 15% of boluses - fewer (under 20)",
    # the mis-set prescriptions the population starts with are a transient (docs/model.md §5)
    f"HbA1c, adults, after {YEARS_OF_CARE} years of real-world care",
    # since 0.10.1 (DIAMOND): a CGM's effect in the model is its alarms, its high alert and
    # every meal's glucose seen (finger-stick users check 65% of meals since 0.11.0); the
    # trial's HbA1c fall is 2.5 times the model's (docs/model.md §5)
    "HbA1c, CGM - finger-sticks (randomised, adults on injections, 24 weeks)",
    # closed loop (docs/model.md §3b): a paired simulation has no trial effect, and the PID
    # matching the 670G's time in range lowered HbA1c 0.2 and the dose 2% until 0.9.1 (the
    # trial: 0.5 and +7%); since 0.10.0 at 400 patients HbA1c -0.30 (met, at the band's
    # edge) and the dose -1.0%; since 0.14.0's kidney HbA1c -0.28 (missed at the edge) and
    # the dose +0.3% (met at its edge)
    "670G: HbA1c, Auto Mode - run-in",
    "670G: TDD, Auto Mode / run-in",
    # at 400 patients +8.5 (0.8.0), +8.1 (0.9.0) and +9.2 (0.10.0) against the band 3-8: the
    # maximum basal that stands for the 670G's limits was chosen at 200 (docs/model.md §3b)
    "670G: TIR, Auto Mode - run-in",
)


def is_known_miss(quantity: str) -> bool:
    """Whether a row is a known miss (its name, or its name before ", <N> years")."""
    return any(quantity == k or quantity.startswith(k + ",") for k in KNOWN_MISSES)


def row_real_world(n, seed, days=365):
    """The default population under the default therapy (real_world), children,
    adolescents and adults, one year: the registries' numbers by age group."""
    cfg = _config(
        n, days, seed, cohort={"groups": REAL_WORLD_GROUPS}, sensor={"kind": "johnson_su"}
    )
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    daily, log_phi, status, _ = _run(inputs, cohort)
    group = np.asarray(cohort.group)
    stopped = int((status != 0).any(axis=1).sum())
    rows = []
    last_a1c = daily[D.hba1c][:, -1]
    for g, (target, lo, hi) in HBA1C_TARGETS.items():
        m = _mean_ci(last_a1c[group == g])
        rows.append(
            Row(
                f"HbA1c, {g}s" if g != "child" else "HbA1c, children",
                target,
                "T1D Exchange 2016-18 (Foster 2019)",
                *m,
                "%",
                lo <= m[0] <= hi,
                "calibrated (therapy.dose_error_bias)" if g != "adolescent" else "",
            )
        )
    tdd = np.nanmean(daily[D.tdd_per_kg][:, -30:], axis=1)
    age_end = cohort.traits[:, T.age0] + days / 365.25
    pre = (group == "child") & (age_end < cohort.traits[:, T.puberty_peak_age] - 1.0)
    pub = (group == "adolescent") & (age_end < 18.0)
    for label, sel, target, lo, hi in (
        ("children (prepubertal)", pre, "about 0.7-0.8 U/kg/day", 0.6, 1.0),
        ("adolescents (pubertal)", pub, "about 1.0-1.25 U/kg/day", 0.85, 1.4),
    ):
        m = _mean_ci(tdd[sel]) if sel.sum() > 1 else (np.nan, np.nan, np.nan)
        rows.append(
            Row(
                f"total daily dose, {label}",
                target,
                "Kerouz et al., Diabetes Care 18:1051 (1995)",
                *m,
                "U/kg/day",
                bool(lo <= m[0] <= hi),
            )
        )
    share = np.nansum(daily[D.basal_u][:, -30:], axis=1) / np.nansum(daily[D.tdd][:, -30:], axis=1)
    m = _mean_ci(share)
    rows.append(
        Row(
            "basal share of the daily dose",
            "about 40-50%",
            "ADA Standards of Care; T1D Exchange pump settings",
            *m,
            "share",
            0.38 <= m[0] <= 0.55,
        )
    )
    youth = group != "adult"
    for label, sel, target, source, lo, hi in (
        ("under 20", youth, "5-45", "T1D Exchange (Cengiz 2013); Katz 2012: 37.6", 5.0, 45.0),
        ("adults", ~youth, "10-30", "T1D Exchange (Weinstock 2013): 12-19% a year", 8.0, 35.0),
    ):
        rate = _rate_per_100py(daily[D.severe_hypo_events][sel])
        rows.append(
            Row(
                f"severe hypoglycaemia, {label}",
                f"{target} per 100 patient-years",
                source,
                *rate,
                "per 100 py",
                _consistent(rate, lo, hi),
            )
        )
    # Katz et al. (Diabet Med 29:926, 2012), 255 youths of 9-15 years followed for a median
    # 1.2 years: seizure or coma 9.6 per 100 patient-years (4.5 on pumps, 14.4 on NPH), the
    # tier of the model's severe event; every episode needing help, 37.6
    age0 = cohort.traits[:, T.age0]
    katz = _rate_per_100py(daily[D.severe_hypo_events][(age0 >= 9.0) & (age0 < 15.0)])
    rows.append(
        Row(
            "severe hypoglycaemia with coma or seizure, ages 9-15",
            "9.6 per 100 patient-years (pumps 4.5, NPH 14.4)",
            "Katz et al., Diabet Med 29:926 (2012)",
            *katz,
            "per 100 py",
            _consistent(katz, 4.5, 14.4),
        )
    )
    dka = _rate_per_100py(daily[D.dka_events][group == "adolescent"])
    rows.append(
        Row(
            "ketoacidosis, adolescents",
            "9.3 per 100 patient-years",
            "Ivanova et al., Diabetes 70(S1):905-P (2021)",
            *dka,
            "per 100 py",
            _consistent(dka, 2.0, 15.0),
            "calibrated (behaviour.basal_omissions_per_year)",
        )
    )
    # missing >= 15% of meal boluses: HbA1c about 0.8 points higher (Burdick et al.,
    # Pediatrics 113:e221, 2004; Olinder et al., Pediatr Diabetes 10:142, 2009)
    # Compared within each age group and pooled (weights n_high n_low / (n_high + n_low)): the
    # adolescents' lower adherence puts most high missers among them, and a comparison across
    # groups would measure the groups' other differences (the registries compare youths of
    # similar age: Burdick's were 7-18 years on pumps, Olinder's adolescents).
    missed = (1.0 - cohort.traits[:, T.adherence]) * inputs.behaviour[B.miss_share]
    diff = np.nan
    ci = (np.nan, np.nan)
    num = weight = var = 0.0
    by_group = []
    for g, label in (("child", "children"), ("adolescent", "adolescents")):
        high = (group == g) & (missed >= 0.15)
        low = (group == g) & (missed < 0.15)
        if high.sum() > 1 and low.sum() > 1:
            a, b = last_a1c[high], last_a1c[low]
            by_group.append(f"{label} {a.mean() - b.mean():+.2f}, {a.size} of {a.size + b.size}")
            w = a.size * b.size / (a.size + b.size)
            num += w * (a.mean() - b.mean())
            var += w**2 * (a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
            weight += w
    if weight > 0.0:
        diff = num / weight
        half = 1.96 * np.sqrt(var) / weight
        ci = (diff - half, diff + half)
    rows.append(
        Row(
            "HbA1c, missing >= 15% of boluses - fewer (under 20)",
            "about +0.8 points",
            "Burdick 2004; Olinder 2009",
            diff,
            *ci,
            "points",
            bool(0.4 <= diff <= 1.3),
            "within age group, pooled" + (f" ({'; '.join(by_group)})" if by_group else ""),
        )
    )
    cgm = cohort.traits[:, T.uses_cgm] > 0.5
    d_cgm = last_a1c[cgm].mean() - last_a1c[~cgm].mean()
    rows.append(
        Row(
            "HbA1c, CGM users - non-users",
            "lower in CGM users",
            "T1D Exchange 2016-18 (Foster 2019)",
            d_cgm,
            np.nan,
            np.nan,
            "points",
            bool(d_cgm < 0.0),
        )
    )
    impossible = sum(
        implausible_days({name: daily[k] for k, name in enumerate(DAILY_NAMES)}).values()
    )
    rows.append(
        Row(
            "impossible patient-days and stopped patients",
            "0",
            "plausibility guards (engine/batch/plausibility.py)",
            float(impossible + stopped),
            np.nan,
            np.nan,
            "count",
            impossible + stopped == 0,
            f"{impossible} impossible days, {stopped} stopped",
        )
    )
    return rows


# A registry's adults are in a steady state: DCCT/EDIC's former arms, in their own clinics'
# care after the trial, converged to about 8% and held it for a decade (DCCT/EDIC Research
# Group, NEJM 353:2643, 2005), and the T1D Exchange's adults are 7.6-8.0% at every age over 30
# (Foster 2019). The model's adults start mis-set and the clinic's titration works the error
# off (docs/model.md §5, "HbA1c over years"): this row shows how far.
def row_real_world_years(n, seed, years=YEARS_OF_CARE):
    """`n` adults under the default therapy (real_world) for `years` years: HbA1c at the
    end, beside the first year's."""
    days = round(365 * years)
    cfg = _config(n, days, seed, sensor={"kind": "johnson_su"})
    inputs = kernel_inputs(cfg)
    daily = _run(inputs, cohort_of(inputs, np.arange(n)))[0]
    a1c = daily[D.hba1c]
    a1c = a1c[np.isfinite(a1c[:, 364]) & np.isfinite(a1c[:, -1])]  # one set of patients
    m = _mean_ci(a1c[:, -1])
    change = _mean_ci(a1c[:, -1] - a1c[:, 364])
    return [
        Row(
            f"HbA1c, adults, after {years} years of real-world care",
            "about 7.6-8.2%, steady",
            "DCCT/EDIC (Nathan 2005); T1D Exchange 2016-18 (Foster 2019)",
            *m,
            "%",
            7.6 <= m[0] <= 8.2,
            f"year 1 {np.mean(a1c[:, 364]):.2f}%, change since "
            f"{change[0]:+.2f} ({change[1]:+.2f} to {change[2]:+.2f})",
        )
    ]


def row_puberty(n, seed):
    """Children at Tanner III against the same children far from puberty (paired)."""
    days = 20
    cfg = _fixed_therapy(n, days, seed, groups={"child": 1.0, "adolescent": 1.0})
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    age = cohort.traits[:, T.age0]
    at_peak = _with_traits(cohort, T.puberty_peak_age, age + days / 2 / 365.25)
    before = _with_traits(cohort, T.puberty_peak_age, age + 20.0)
    window = slice(5, days)
    d_peak = _run(inputs, at_peak)[0]
    d_before = _run(inputs, before)[0]
    ratio = np.nanmean(d_peak[D.si_peripheral][:, window], axis=1) / np.nanmean(
        d_before[D.si_peripheral][:, window], axis=1
    )
    m = _mean_ci(ratio - 1.0)
    target = np.nanmean(d_before[D.glucose_mean][:, window])
    k = _dose_for_equal_glucose(inputs, at_peak, target, window)
    return [
        Row(
            "puberty: insulin sensitivity at Tanner III",
            "-30% (-30 to -32%)",
            "Goran 2001; Bloch 1987",
            *m,
            "relative change",
            -0.35 <= m[0] <= -0.25,
        ),
        Row(
            "puberty: insulin dose for equal glucose",
            "+30%",
            "Goran 2001; Bloch 1987",
            k - 1.0,
            np.nan,
            np.nan,
            "relative change",
            0.18 <= k - 1.0 <= 0.42,
        ),
    ]


def row_illness(n, seed):
    """Three days of illness (default severity) against the same days well."""
    days = 5
    ill_cfg = _fixed_therapy(n, days, seed)
    inputs = kernel_inputs(ill_cfg)
    cohort = cohort_of(inputs, np.arange(n))
    window = slice(1, 4)
    well = _run(inputs, cohort)[0]
    target = np.nanmean(well[D.glucose_mean][:, window])
    b = inputs.behaviour.copy()
    b[B.force_ill_from], b[B.force_ill_to] = 1.0, 4.0
    k = _dose_for_equal_glucose(replace(inputs, behaviour=b), cohort, target, window)
    return [
        Row(
            "illness: insulin need",
            "+10-20% of total daily dose",
            "ISPAD 2022",
            k - 1.0,
            np.nan,
            np.nan,
            "relative change",
            0.08 <= k - 1.0 <= 0.22,
        )
    ]


def row_exercise(n, seed):
    """One 45-minute session at +60 bpm starting 17:00 on day 1, against no session."""
    days = 4
    cfg = _fixed_therapy(n, days, seed)
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    cohort = _with_traits(cohort, T.session_time_h, 17.0)
    b = inputs.behaviour.copy()
    b[B.exercise_on] = 1.0
    # a "programme" of no sessions from day 0, except the one forced on day 1
    b[B.programme_day], b[B.programme_sessions] = 0.0, 0.0
    b[B.programme_min], b[B.programme_hr] = 45.0, 60.0
    without = replace(inputs, behaviour=b.copy())
    b[B.force_exercise_day] = 1.0
    with_ex = replace(inputs, behaviour=b)
    si_ex = _run(with_ex, cohort, traced=n)[3][TRACE.si_effective]
    si_no = _run(without, cohort, traced=n)[3][TRACE.si_effective]
    step = inputs.trace_interval_min
    end = (MINUTES_PER_DAY + 17 * 60 + 45) // step
    hours = np.arange(1, 49)
    idx = end + hours * 60 // step
    gain = si_ex[:, idx] / si_no[:, idx] - 1.0
    mean_gain = _mean_ci(gain.mean(axis=1))
    at16 = _mean_ci(gain[:, 15])
    return [
        Row(
            "exercise: sensitivity gain, mean over 1-48 h after",
            "+18-29%",
            "Borghouts 2000; Diabetes 2020",
            *mean_gain,
            "relative change",
            0.16 <= mean_gain[0] <= 0.31,
        ),
        Row(
            "exercise: sensitivity gain 16 h after",
            "still raised (>= 16 h)",
            "Borghouts 2000",
            *at16,
            "relative change",
            at16[1] > 0.05,
        ),
    ]


def row_dawn(n, seed):
    cfg = _config(n, 1, seed)
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    tod = np.empty(MINUTES_PER_DAY)
    dawn = np.empty(MINUTES_PER_DAY)
    ratio = np.empty(n)
    for i in range(n):
        acute.fill_time_of_day(cohort.traits[i], False, inputs.switches[SW.dawn] != 0.0, tod, dawn)
        p = cohort.params[i]
        ratio[i] = basal_insulin_need(p, 1.0, dawn[6 * 60 + 40]) / basal_insulin_need(
            p, 1.0, dawn[2 * 60 + 40]
        )
    m = _mean_ci(ratio - 1.0)
    present = _share_ci(ratio > 1.01)
    return [
        Row(
            "dawn: insulin need 02:40 -> 06:40",
            "+19.4%",
            "Perriello 1991",
            *m,
            "relative change",
            0.15 <= m[0] <= 0.24,
        ),
        Row(
            "dawn: patients with a rise",
            "89%",
            "Perriello 1991",
            *present,
            "share",
            0.80 <= present[0] <= 0.96,
        ),
    ]


# --- paired trial arms: the CGM trial and the closed-loop trials --------------------------
SETTLING_DAYS = 14  # the first two weeks leave the comparison (prescriptions settle)


def _trial_arm(n, days, seed, cohort, therapy=None):
    """Daily outputs of `n` patients of `cohort` (its config section) under `therapy` (the
    default's when None), CGM error as simglucose's; the same patients and random numbers in
    every arm of a trial (paired)."""
    sections = {"cohort": cohort, "sensor": {"kind": "johnson_su"}}
    if therapy is not None:
        sections["therapy"] = therapy
    inputs = kernel_inputs(_config(n, days, seed, **sections))
    return _run(inputs, cohort_of(inputs, np.arange(n)))[0]


def _period_mean(daily, name, start):
    return np.nanmean(daily[getattr(D, name)][:, start:], axis=1)


# --- a CGM against finger-sticks, randomised (docs/model.md §5) ------------------------------
# DIAMOND (Beck et al., JAMA 317:371, 2017): 158 adults on injections with HbA1c 7.5-9.9%
# (mean 8.6%, age 48), CGM or usual care (finger-sticks) for 24 weeks: HbA1c -0.6 points
# against usual care (95% CI -0.8 to -0.3); time in 70-180 mg/dL +77 min a day (6 to 147),
# 12 and 24 weeks pooled. Here the same adults on pens under real_world, every one with a
# CGM or none (paired: the same people and random numbers), read at 24 weeks. The trial's
# inclusion range is applied to the usual-care arm's HbA1c at 24 weeks, which stands for the
# baseline the model's adults would have been enrolled with.
CGM_TRIAL_DAYS = 168
CGM_TRIAL_HBA1C = (7.5, 9.9)


def _cgm_trial_arm(n, seed, cgm_share):
    cohort = {"groups": {"adult": 1.0}, "cgm_share": cgm_share, "pump_share": 0.0}
    return _trial_arm(n, CGM_TRIAL_DAYS, seed, cohort)


def row_cgm_trial(n, seed):
    """DIAMOND: a CGM against finger-sticks for adults on injections, paired arms."""
    usual = _cgm_trial_arm(n, seed, 0.0)
    cgm = _cgm_trial_arm(n, seed, 1.0)
    lo, hi = CGM_TRIAL_HBA1C
    a1c_usual = usual[D.hba1c][:, -1]
    sel = (a1c_usual >= lo) & (a1c_usual <= hi)
    note = (
        f"paired; {int(sel.sum())} of {n} adults in HbA1c {lo:g}-{hi:g}%, "
        f"usual care {a1c_usual[sel].mean():.2f}%"
    )
    a1c = _mean_ci(cgm[D.hba1c][sel, -1] - a1c_usual[sel])
    tir = _mean_ci(
        _period_mean(cgm, "tir", SETTLING_DAYS)[sel]
        - _period_mean(usual, "tir", SETTLING_DAYS)[sel]
    )
    source = "Beck et al. (DIAMOND), JAMA 317:371 (2017)"
    return [
        Row(
            "HbA1c, CGM - finger-sticks (randomised, adults on injections, 24 weeks)",
            "-0.6 points (-0.8 to -0.3)",
            source,
            *a1c,
            "points",
            -0.8 <= a1c[0] <= -0.3,
            note,
        ),
        Row(
            "time in range, CGM - finger-sticks (same trial)",
            "+5.3 points (+77 min/day; 0.4 to 10.2)",
            source,
            *tir,
            "points",
            0.4 <= tir[0] <= 10.2,
            note,
        ),
    ]


# --- closed loop (docs/model.md §3b) -------------------------------------------------------
# The AID trials enrolled adolescents and adults on pumps, most with a CGM, whose control was
# better than the registries' (Brown et al., NEJM 381:1707, 2019: 14-71 years, mean 33,
# HbA1c 7.4%; Bergenstal et al., JAMA 316:1407, 2016: 14-75 years, HbA1c 7.4%). The
# comparator arm (`sap`) is calibrated to that baseline by one setting of the population's
# prescriptions, therapy.dose_error_bias (0.45 -> 0.2 until 0.9.1; 0.10 since 0.10.0, when the
# correction factor became the rules' and sap's time in range fell to 51% at 0.2: 58.9% at
# 0.10, 64.1% at 0); the controllers' effects are then what the rows test.
AID_TRIAL_GROUPS = {"adolescent": 0.25, "adult": 0.75}
AID_TRIAL_DOSE_ERROR_BIAS = 0.10
BROWN_DAYS = 182  # 6 months
BERGENSTAL_DAYS = 91  # 3 months


def _aid_arm(n, days, seed, kind):
    """Daily outputs of `n` trial-like patients under therapy preset `kind`, paired."""
    therapy = {"kind": kind, "dose_error_bias": AID_TRIAL_DOSE_ERROR_BIAS}
    return _trial_arm(n, days, seed, {"groups": AID_TRIAL_GROUPS}, therapy)


def row_aid_trials(n, seed):
    """Brown 2019 (iDCL, Control-IQ vs a sensor-augmented pump, 6 months; here the oref0-style
    controller, the built-in predictive one) and Bergenstal 2016 with Garg 2017 (the 670G
    pivotal, 3 months of Auto Mode after a run-in without automation; here the PID)."""
    rows = []
    start = SETTLING_DAYS
    sap = _aid_arm(n, BROWN_DAYS, seed, "sap")
    loop = _aid_arm(n, BROWN_DAYS, seed, "aid_oref")
    # time in ranges as the trials measured it: by the CGM's readings, sensor error included
    tir_sap = _mean_ci(_period_mean(sap, "cgm_tir", start))
    rows.append(
        Row(
            "AID: TIR, sensor-augmented pump arm",
            "59% (Brown 2019 control arm)",
            "Brown et al., NEJM 381:1707 (2019)",
            *tir_sap,
            "%",
            54.0 <= tir_sap[0] <= 64.0,
            f"calibrated (comparator: therapy.dose_error_bias {AID_TRIAL_DOSE_ERROR_BIAS:g})",
        )
    )
    for name, quantity, target, lo, hi in (
        ("cgm_tir", "TIR", "+11 points (9 to 14)", 9.0, 14.0),
        ("cgm_tbr70", "TBR<70", "-0.88 points (-1.19 to -0.57)", -1.19, -0.57),
        ("hba1c", "HbA1c", "-0.33 points (-0.53 to -0.13)", -0.53, -0.13),
    ):
        diff = _mean_ci(_period_mean(loop, name, start) - _period_mean(sap, name, start))
        rows.append(
            Row(
                f"AID: {quantity}, closed loop - SAP",
                target,
                "Brown et al., NEJM 381:1707 (2019)",
                *diff,
                "points",
                lo <= diff[0] <= hi,
                "oref, paired",
            )
        )
    closed = _mean_ci(_period_mean(loop, "closed_loop_pct", start))
    rows.append(
        Row(
            "AID: time in closed loop",
            "about 90% (Brown 2019; 94% real world)",
            "Brown 2019; Breton & Kovatchev, DT&T 23:601 (2021)",
            *closed,
            "%",
            85.0 <= closed[0] <= 97.0,
        )
    )
    run_in = _aid_arm(n, BERGENSTAL_DAYS, seed, "sap")
    auto = _aid_arm(n, BERGENSTAL_DAYS, seed, "aid_pid")
    a1c = _mean_ci(auto[D.hba1c][:, -1] - run_in[D.hba1c][:, -1])
    tir = _mean_ci(_period_mean(auto, "cgm_tir", start) - _period_mean(run_in, "cgm_tir", start))
    tdd = _mean_ci(_period_mean(auto, "tdd", start) / _period_mean(run_in, "tdd", start) - 1.0)
    rows += [
        Row(
            "670G: HbA1c, Auto Mode - run-in",
            "-0.5 points (adults -0.5, adolescents -0.6)",
            "Bergenstal 2016; Garg et al., DT&T 19:155 (2017)",
            *a1c,
            "points",
            -0.7 <= a1c[0] <= -0.3,
            "PID, paired",
        ),
        Row(
            "670G: TIR, Auto Mode - run-in",
            "+5.5 points (adults +5.0, adolescents +6.8)",
            "Bergenstal 2016; Garg et al., DT&T 19:155 (2017)",
            *tir,
            "points",
            3.0 <= tir[0] <= 8.0,
            "PID, paired",
        ),
        Row(
            "670G: TDD, Auto Mode / run-in",
            "+7% (47.5 -> 50.9 U/day)",
            "Bergenstal et al., JAMA 316:1407 (2016)",
            *tdd,
            "relative change",
            0.0 <= tdd[0] <= 0.15,
            "PID, paired",
        ),
    ]
    return rows


def validate_aid(n: int = 200, seed: int = 20261127) -> list[Row]:
    """The closed-loop table: `n` trial-like patients per arm, paired."""
    if not MIN_PATIENTS <= n <= MAX_PATIENTS:
        raise ValueError(f"n = {n}: between {MIN_PATIENTS} (for an interval) and {MAX_PATIENTS:,}")
    return row_aid_trials(n, seed)


# The DCCT rows read the end of year 1 (day 365) and average the whole of year 2 (days
# 365-729), so the arm lasts at least two years; shorter arms cannot fill the table.
MIN_YEARS, MAX_YEARS = 2.0, 20.0
# an interval needs 10; the dawn row simulates 4 n patients, and a run holds at most 10^8
MIN_PATIENTS, MAX_PATIENTS = 10, 25_000_000


def validate_real_world(n: int = 200, seed: int = 20261127) -> list[Row]:
    """The real-world table: `n` patients a group (children, adolescents, adults), one
    year of the default therapy; `n` adults for three years; and the CGM trial, `n` adults in
    each of its arms."""
    if not MIN_PATIENTS <= n <= MAX_PATIENTS:
        raise ValueError(f"n = {n}: between {MIN_PATIENTS} (for an interval) and {MAX_PATIENTS:,}")
    return row_real_world(3 * n, seed) + row_real_world_years(n, seed) + row_cgm_trial(n, seed)


def validate(n: int = 200, seed: int = 20261127, years: float = 6.0) -> list[Row]:
    """The whole table; `n` patients per scenario (the DCCT comparison uses n/2 a side)."""
    if not MIN_YEARS <= years <= MAX_YEARS:
        raise ValueError(
            f"years = {years:g}: between {MIN_YEARS:g} and {MAX_YEARS:g} (the "
            "DCCT rows need year 1 and the whole of year 2)"
        )
    if not MIN_PATIENTS <= n <= MAX_PATIENTS:
        raise ValueError(f"n = {n}: between {MIN_PATIENTS} (for an interval) and {MAX_PATIENTS:,}")
    rows = []
    rows += row_dose_and_bmi(n, seed)
    rows += row_dcct(max(n // 2, 10), seed, years)
    rows += row_puberty(n, seed)
    rows += row_illness(n, seed)
    rows += row_exercise(max(n // 4, 10), seed)
    rows += row_dawn(4 * n, seed)
    return rows


def _value_text(r: Row) -> str:
    """A row's value with its unit and 95% interval, as the table prints it."""
    bare = r.unit in ("share", "relative change", "fraction lower")
    if bare:
        fmt = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    else:
        fmt = lambda v: f"{v:.2f}"  # noqa: E731
    ci = f" ({fmt(r.low)} - {fmt(r.high)})" if np.isfinite(r.low) else ""
    return f"{fmt(r.value)}{'' if bare else ' ' + r.unit}{ci}"


def table(rows: list[Row]) -> str:
    # columns as wide as their longest entry: a long target must not run into its value
    qw = max([54, *(len(r.quantity) + 2 for r in rows)])
    tw = max([34, *(len(r.target) + 2 for r in rows)])
    values = [_value_text(r) for r in rows]
    vw = max([30, *(len(v) + 2 for v in values)])
    head = f"{'quantity':<{qw}}{'target':<{tw}}{'simulated (95% CI)':<{vw}}{'pass':<5} source"
    lines = [head, "-" * len(head)]
    for r, value in zip(rows, values, strict=True):
        lines.append(
            f"{r.quantity:<{qw}}{r.target:<{tw}}{value:<{vw}}{'yes' if r.passed else 'NO':<5} "
            f"{r.source}" + (f"   [{r.note}]" if r.note else "")
        )
    passed = sum(r.passed for r in rows)
    lines.append(f"{passed} of {len(rows)} targets met")
    return "\n".join(lines)


def to_json(rows: list[Row]) -> str:
    def clean(v):
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (float, np.floating)):
            return float(v) if np.isfinite(v) else None
        return v

    return json.dumps([{k: clean(v) for k, v in asdict(r).items()} for r in rows], indent=1)
