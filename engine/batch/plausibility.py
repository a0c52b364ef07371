"""Plausibility guards: values no living person with type 1 diabetes has, counted in every
run's summary. Each should be 0; a count above 0 names patients the model has lost (issue 17:
the population must hold no impossible patients). The limits are guards set well beyond
clinical extremes, not targets:
- a day averaging over 600 mg/dL: the glucose of the hyperosmolar hyperglycaemic state, a
  crisis treated in hospital (ADA consensus, Kitabchi et al., Diabetes Care 32:1335, 2009);
- BMI below 12 kg/m2: at the limits of human survival (Henry, Eur J Clin Nutr 44:329, 1990,
  puts them near BMI 11-13); above 60 kg/m2: a guard against runaway weight gain;
- over 3 U/kg/day of insulin: more than twice pubertal doses in T1D (about 1.0-1.25 U/kg/day,
  Kerouz et al. 1995, as issue 17 cites);
- HbA1c over 16%: a guard at the top of what HbA1c assays report; counted from day 14, as
  the model's HbA1c at the start is the steady state of the days so far (one day at first).
"""

import numpy as np

# (label, daily variable, lower limit, upper limit, first day): a patient-day outside counts
GUARDS = (
    ("mean glucose > 600 mg/dL", "glucose_mean", -np.inf, 600.0, 0),
    ("BMI < 12 or > 60", "bmi", 12.0, 60.0, 0),
    ("TDD > 3 U/kg", "tdd_per_kg", -np.inf, 3.0, 0),
    ("HbA1c > 16%", "hba1c", -np.inf, 16.0, 14),
)


def implausible_days(ds) -> dict[str, int]:
    """Patient-days outside each guard's limits in `ds` (one scenario or all; a dataset or a
    mapping of name -> array whose last axis is the day), NaN (stopped) days not counted."""
    counts = {}
    for label, var, lo, hi, first in GUARDS:
        v = ds[var]
        v = v.isel(day=slice(first, None)) if hasattr(v, "isel") else np.asarray(v)[..., first:]
        counts[label] = int(np.asarray(((v < lo) | (v > hi)).sum()))
    return counts


def summary_line(ds) -> str:
    """One line for the run's summary: each guard's count and the stopped patients."""
    counts = implausible_days(ds)
    stopped = int((ds["status"].max("day") != 0).sum().values)
    parts = [f"{n} patient-days {label}" for label, n in counts.items()]
    flag = "" if stopped == 0 and not any(counts.values()) else "  (each should be 0)"
    return f"  plausibility: {', '.join(parts)}; {stopped} patients stopped{flag}"
