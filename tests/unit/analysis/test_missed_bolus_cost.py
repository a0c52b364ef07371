"""scripts/missed_bolus_cost.py: a missed meal bolus costs glucose in every reference patient,
more for a larger meal, and the bolused meal peaks lower."""

import numpy as np

from engine.model.params import P
from engine.population.reference import reference_patients
from tests.scripts import load_script

script = load_script("missed_bolus_cost")


def test_a_missed_bolus_raises_glucose_in_every_reference_patient_more_for_a_larger_meal():
    small = script.missed_bolus_cost(carbs_per_kg=0.4, hours=6.0)
    large = script.missed_bolus_cost(carbs_per_kg=0.8, hours=6.0)
    assert len(large) == 30
    assert all(c > 5.0 for c in large.values())
    assert all(large[name] > small[name] for name in large)


def test_the_bolus_lowers_the_meal_peak_and_both_start_at_the_basal_glucose():
    p = reference_patients().params[12].copy()
    carbs = 0.8 * p[P.BW]
    missed = script.glucose_after_meal(p, carbs, 300, bolused=False)
    given = script.glucose_after_meal(p, carbs, 300, bolused=True)
    assert given.max() < missed.max()
    np.testing.assert_allclose(missed[0], p[P.Gb], rtol=0.02)
    np.testing.assert_allclose(given[0], p[P.Gb], rtol=0.02)
