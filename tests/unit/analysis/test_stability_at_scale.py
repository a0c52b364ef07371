"""scripts/stability_at_scale.py names every offender: the stopped patient with its first
stopped day, and each guard's patients with their first day, day count and worst value."""

import numpy as np

from engine.model.glycaemia import DAILY_NAMES
from tests.scripts import load_script

script = load_script("stability_at_scale")


def test_offenders_are_named_with_day_count_and_worst_value():
    n, days = 4, 30
    daily = np.full((len(DAILY_NAMES), n, days), 1.0)
    daily[DAILY_NAMES.index("bmi")] = 25.0
    daily[DAILY_NAMES.index("glucose_mean")] = 150.0
    daily[DAILY_NAMES.index("bmi"), 1, 3:5] = [60.02, 60.06]
    daily[DAILY_NAMES.index("bmi"), 2, 7] = 11.5
    daily[DAILY_NAMES.index("hba1c"), 3, 5] = 17.0  # before day 14: not counted
    daily[DAILY_NAMES.index("hba1c"), 3, 20] = 16.5
    status = np.zeros((n, days), dtype=np.int64)
    status[0, 12:] = 1
    daily[:, 0, 12:] = np.nan
    ids = np.array([10, 11, 12, 13])
    group = np.array(["adult", "adult", "child", "adolescent"])
    found = script.offenders(daily, status, ids, group)
    assert found["stopped"] == [{"id": 10, "group": "adult", "first_day": 12}]
    assert found["BMI < 12 or > 60"] == [
        {"id": 11, "group": "adult", "first_day": 3, "days": 2, "worst": 60.06},
        {"id": 12, "group": "child", "first_day": 7, "days": 1, "worst": 11.5},
    ]
    assert found["HbA1c > 16%"] == [
        {"id": 13, "group": "adolescent", "first_day": 20, "days": 1, "worst": 16.5}
    ]
    assert found["mean glucose > 600 mg/dL"] == []
