"""What one missed meal bolus costs in glucose, reference patient by reference patient
(issue 17's missed-bolus row): the UVA/Padova model alone, no behaviour, no therapy rules.

Each of the 30 reference patients starts at its basal steady state and eats a meal of
--carbs-per-kg grams of carbohydrate per kg at 5 g/min, once with its bolus (carbohydrate /
CR, given with the first bite) and once without. The cost is the mean plasma glucose over the
next --hours hours without the bolus less that with it (mg/dL). A population's missed-bolus
effect on HbA1c is this cost times the extra share of meals missed, before the corrections,
titration and meal sizes of the full model act on it.

    python scripts/missed_bolus_cost.py --carbs-per-kg 0.8 --hours 6
"""

import argparse
import sys

import numpy as np

from engine.life.behaviour import EAT_RATE_G_PER_MIN
from engine.model.fast import rk4_step
from engine.model.params import PMOL_PER_U, P, X
from engine.population.cohort import basal_steady_state
from engine.population.reference import reference_patients


def glucose_after_meal(p, carbs_g, minutes, bolused):
    """Plasma glucose (mg/dL) each minute after a meal of `carbs_g` from the basal steady
    state of parameters `p` (Vm0, kp1 and u2ss set by basal_steady_state), with or without
    the meal's bolus."""
    x = np.zeros(13)
    if not basal_steady_state(p, x):
        raise ValueError("no basal steady state for these parameters")
    eat_min = int(np.ceil(carbs_g / EAT_RATE_G_PER_MIN))
    glucose = np.empty(minutes)
    for m in range(minutes):
        d_mg = EAT_RATE_G_PER_MIN * 1000.0 if m < eat_min else 0.0
        u = p[P.u2ss]
        if bolused and m == 0:
            u += carbs_g / p[P.CR] * PMOL_PER_U / p[P.BW]
        x = np.array(rk4_step(tuple(x), p, d_mg, u, carbs_g * 1000.0, 1.0, 1.0, 1.0, 1.0, 0.0))
        glucose[m] = x[X.Gp] / p[P.Vg]
    return glucose


def missed_bolus_cost(carbs_per_kg=0.8, hours=6.0):
    """{patient name: mean glucose without the bolus less with it (mg/dL)} over `hours`."""
    ref = reference_patients()
    minutes = int(hours * 60)
    cost = {}
    for name, params in zip(ref.names, ref.params, strict=True):
        p = params.copy()
        carbs = carbs_per_kg * p[P.BW]
        missed = glucose_after_meal(p, carbs, minutes, bolused=False)
        given = glucose_after_meal(p, carbs, minutes, bolused=True)
        cost[name] = float(missed.mean() - given.mean())
    return cost


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--carbs-per-kg", type=float, default=0.8)
    ap.add_argument("--hours", type=float, default=6.0)
    args = ap.parse_args(argv)
    cost = missed_bolus_cost(args.carbs_per_kg, args.hours)
    for name, c in cost.items():
        print(f"{name:16s} {c:7.1f} mg/dL")
    for group in ("child", "adolescent", "adult"):
        values = [c for name, c in cost.items() if name.startswith(group)]
        print(f"{group:16s} mean {np.mean(values):6.1f}, range {min(values):.1f}-{max(values):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
