"""scripts/population_realism.py: the CV over a period pools each day's spread with the spread
of the days' means, as a CV computed on every minute of the period would."""

import numpy as np
import pytest

from tests.scripts import load_script

realism = load_script("population_realism")


def test_the_period_cv_is_the_cv_of_every_minute():
    rng = np.random.default_rng(2)
    minutes = 140.0 * np.exp(0.35 * rng.standard_normal((3, 14, 1440)))  # 3 patients x 14 days
    minutes[1] *= np.linspace(0.6, 1.6, 14)[:, None]  # days far apart: between-day spread
    day_mean = minutes.mean(axis=2)
    day_cv = 100.0 * minutes.std(axis=2) / day_mean
    whole = 100.0 * minutes.reshape(3, -1).std(axis=1) / minutes.reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(realism.pooled_cv(day_mean, day_cv), whole, rtol=1e-10)
    # the days' own CVs alone miss the spread between days
    assert whole[1] > day_cv[1].mean() + 5.0


def test_a_missing_day_is_left_out():
    mean = np.array([[100.0, 200.0, np.nan]])
    cv = np.array([[10.0, 10.0, np.nan]])
    # minutes of day 1 at 100 +- 10, of day 2 at 200 +- 20: variance (100 + 400)/2 + 50^2
    expected = 100.0 * np.sqrt(250.0 + 2500.0) / 150.0
    assert realism.pooled_cv(mean, cv)[0] == pytest.approx(expected)
