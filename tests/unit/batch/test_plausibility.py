"""engine.batch.plausibility: impossible patient-days are counted, and the summary says so."""

import numpy as np
import xarray as xr

from engine.batch import plausibility


def _days(**columns):
    n = len(next(iter(columns.values())))
    data = {"glucose_mean": [150.0] * n, "bmi": [24.0] * n, "tdd_per_kg": [0.7] * n}
    data |= {"hba1c": [7.0] * n}
    data |= {k: list(v) for k, v in columns.items()}
    ds = xr.Dataset({k: (("patient", "day"), np.array([v])) for k, v in data.items()})
    ds["status"] = (("patient", "day"), np.zeros((1, n), dtype=np.int8))
    return ds


def test_plausible_days_count_zero_and_the_line_says_so():
    ds = _days(glucose_mean=[120.0, 180.0, 90.0])
    assert set(plausibility.implausible_days(ds).values()) == {0}
    line = plausibility.summary_line(ds)
    assert "0 patient-days mean glucose > 600 mg/dL" in line and "0 patients stopped" in line
    assert "should be 0" not in line


def test_each_guard_counts_the_days_beyond_it_and_nan_days_are_not_counted():
    pad = [np.nan] * 12
    ds = _days(
        glucose_mean=[650.0, 120.0, np.nan, 601.0] + pad,
        bmi=[11.0, 24.0, 61.0, 24.0] + pad,
        tdd_per_kg=[0.5, 3.5, 0.7, 0.7] + pad,
        # HbA1c counts from day 14: the 16.5 of day 2 is the start's steady state
        hba1c=[7.0, 7.0, 16.5, np.nan] + [7.0] * 10 + [16.2, np.nan],
    )
    ds["status"][0, 2:] = 1
    counts = plausibility.implausible_days(ds)
    assert counts == {
        "mean glucose > 600 mg/dL": 2,
        "BMI < 12 or > 60": 2,
        "TDD > 3 U/kg": 1,
        "HbA1c > 16%": 1,
    }
    line = plausibility.summary_line(ds)
    assert "1 patients stopped" in line and "(each should be 0)" in line
