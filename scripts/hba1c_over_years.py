"""Does a population hold its control over years, as registries' patients do? Run the default
population (a third each children, adolescents and adults) for some years and print, by age
group, the mean HbA1c at set days and the dose per kg over the 30 days before each
(docs/model.md §5, "HbA1c over years"). Writes JSON beside the printed table.

    python scripts/hba1c_over_years.py [-n 900] [--years 3] [--seed 20261127]
        [--set therapy.dose_rise_kept=0.5 ...] [--json FILE]

At 0.12.0 the defaults give benchmarks/results/years-0.12.0.json (0.11.1's youths:
years-dose_rise_kept-0.11.1.json's first run): adults 8.01% at day 90 and 7.24% at day
1,095, where registries' adults hold about 8%.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.batch.config import apply_overrides, parse_config  # noqa: E402
from engine.batch.sweep import cohort_of, kernel_inputs, simulate  # noqa: E402
from engine.model.glycaemia import D  # noqa: E402

GROUPS = ("child", "adolescent", "adult")
DOSE_WINDOW_DAYS = 30


def by_group(daily: np.ndarray, group: np.ndarray, days) -> dict:
    """{day: {group: (mean HbA1c at the day's end, mean TDD/kg over the window before it)}}
    for days counted from 1; patients who stopped before a day are left out of it."""
    table = {}
    for day in days:
        k = day - 1
        window = slice(max(k - DOSE_WINDOW_DAYS + 1, 0), k + 1)
        table[day] = {}
        for g in GROUPS:
            sel = group == g
            if not sel.any():
                continue
            a1c = daily[D.hba1c][sel, k]
            dose = np.nanmean(daily[D.tdd_per_kg][sel, window], axis=1)
            table[day][g] = (
                round(float(np.nanmean(a1c)), 2),
                round(float(np.nanmean(dose)), 2),
            )
    return table


def run(n: int, years: float, seed: int, overrides=()) -> dict:
    days = round(365 * years)
    data = {
        "run": {"n_patients": n, "days": days, "seed": seed},
        "cohort": {"groups": {g: 1.0 for g in GROUPS}},
        "sensor": {"kind": "johnson_su"},
    }
    cfg = parse_config(apply_overrides(data, list(overrides)))
    inputs = kernel_inputs(cfg)
    cohort = cohort_of(inputs, np.arange(n))
    slot = np.full(n, -1, dtype=np.int64)
    daily = simulate(inputs, cohort, slot, 0)[0]
    marks = sorted({d for d in (90, 365, 730, 1095, 1460, 1825, days) if d <= days})
    return {
        "patients": n,
        "years": years,
        "seed": seed,
        "set": list(overrides),
        "by_day": by_group(daily, np.asarray(cohort.group), marks),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=900, help="patients, a third a group")
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--set", action="append", default=[], help="section.field=value")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    result = run(a.n, a.years, a.seed, a.set)
    print("day    HbA1c % (TDD U/kg): " + " / ".join(GROUPS))
    for day, row in result["by_day"].items():
        print(f"{day:>5}  " + " / ".join(f"{a1c:.2f} ({dose:.2f})" for a1c, dose in row.values()))
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
