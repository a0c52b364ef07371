"""Where one correction bolus leaves glucose, reference patient by reference patient: the
UVA/Padova model alone, no behaviour, no therapy rules (issue 17: why corrections brought
lows; docs/model.md §3).

Each of the 30 reference patients starts at its basal steady state and eats --carbs-per-kg
grams of carbohydrate per kg at 5 g/min without a bolus. At the peak of that unbolused meal
it gives a correction of (glucose - --target) / CF, by one of two correction factors:

- reference: simglucose's table (Quest.csv CF);
- rule: the 1800 rule on the patient's own daily insulin in that table, 1800 / TDI;
- from_cr: the factor the 1800 and 500 rules give with the patient's carbohydrate ratio,
  3.6 CR (therapy.ratios = "reference_cr", the real_world preset's).

The nadir is the lowest plasma glucose over the next --hours hours (mg/dL). A correction factor
that suits the patient brings glucose toward the target, not below 70.

    python scripts/correction_nadir.py --carbs-per-kg 1.0 --hours 6
"""

import argparse
import sys

import numpy as np

from engine.life.behaviour import EAT_RATE_G_PER_MIN
from engine.life.therapy import CF_PER_CR, RULE_1800
from engine.model.fast import rk4_step
from engine.model.params import PMOL_PER_U, P, X
from engine.population.cohort import basal_steady_state
from engine.population.reference import reference_patients

FACTORS = ("reference", "rule", "from_cr")


def glucose_with_correction(p, carbs_g, minutes, correct_at, cf, target):
    """(plasma glucose each minute, units given): an unbolused meal of `carbs_g` from the
    basal steady state of `p`, and at minute `correct_at` (None: never) a correction of
    (glucose - target) / cf."""
    x = np.zeros(13)
    if not basal_steady_state(p, x):
        raise ValueError("no basal steady state for these parameters")
    eat_min = int(np.ceil(carbs_g / EAT_RATE_G_PER_MIN))
    glucose = np.empty(minutes)
    units = 0.0
    for m in range(minutes):
        d_mg = EAT_RATE_G_PER_MIN * 1000.0 if m < eat_min else 0.0
        u = p[P.u2ss]
        if m == correct_at:
            units = max((x[X.Gp] / p[P.Vg] - target) / cf, 0.0)
            u += units * PMOL_PER_U / p[P.BW]
        x = np.array(rk4_step(tuple(x), p, d_mg, u, carbs_g * 1000.0, 1.0, 1.0, 1.0, 1.0, 0.0))
        glucose[m] = x[X.Gp] / p[P.Vg]
    return glucose, units


def correction_nadir(carbs_per_kg=1.0, hours=6.0, target=120.0):
    """{factor: {patient name: (glucose at the peak, units, nadir)}} for each correction
    factor of FACTORS, the correction given at the peak of the unbolused meal."""
    ref = reference_patients()
    out = {f: {} for f in FACTORS}
    for name, params, tdi in zip(ref.names, ref.params, ref.tdi_u_per_day, strict=True):
        p = params.copy()
        carbs = carbs_per_kg * p[P.BW]
        # the peak of the meal left alone: long enough for the slowest gut to empty
        alone, _ = glucose_with_correction(p, carbs, 16 * 60, None, 1.0, target)
        peak = int(alone.argmax())
        span = peak + int(hours * 60)
        for factor in FACTORS:
            cf = {
                "reference": p[P.CF],
                "rule": RULE_1800 / tdi,
                "from_cr": CF_PER_CR * p[P.CR],
            }[factor]
            glucose, units = glucose_with_correction(p, carbs, span, peak, cf, target)
            out[factor][name] = (float(alone[peak]), units, float(glucose[peak:].min()))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--carbs-per-kg", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--target", type=float, default=120.0)
    args = ap.parse_args(argv)
    result = correction_nadir(args.carbs_per_kg, args.hours, args.target)
    print(f"{'patient':16s} {'peak':>6s}  " + "  ".join(f"{f:>22s}" for f in FACTORS))
    for name in result["reference"]:
        cells = "  ".join(
            f"{result[f][name][1]:5.1f} U -> {result[f][name][2]:5.0f} mg/dL" for f in FACTORS
        )
        print(f"{name:16s} {result['reference'][name][0]:6.0f}  {cells}")
    for group in ("child", "adolescent", "adult"):
        cells = []
        for f in FACTORS:
            nadirs = [v[2] for k, v in result[f].items() if k.startswith(group)]
            low = sum(n < 70 for n in nadirs)
            cells.append(f"{f}: nadir {np.mean(nadirs):.0f}, {low} below 70")
        print(f"{group:16s} " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
