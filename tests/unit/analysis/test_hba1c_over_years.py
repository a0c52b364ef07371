"""scripts/hba1c_over_years.py: HbA1c at the day's end and dose per kg over the 30 days
before it, by age group, stopped patients left out."""

import numpy as np
import pytest

from engine.model.glycaemia import N_DAILY, D
from tests.scripts import load_script

years = load_script("hba1c_over_years")


def test_each_group_reads_its_own_patients_at_the_day_and_the_window_before_it():
    n, days = 4, 40
    daily = np.full((N_DAILY, n, days), np.nan)
    daily[D.hba1c] = np.arange(days)[None, :] + np.array([0.0, 10.0, 20.0, 30.0])[:, None]
    daily[D.tdd_per_kg] = 0.5
    daily[D.tdd_per_kg][3, :10] = 1.5  # before day 40's window (days 11-40)
    daily[D.hba1c][2, 30:] = np.nan  # patient 2 stopped on day 31
    group = np.array(["child", "adult", "adult", "adult"])
    table = years.by_group(daily, group, [5, 40])
    assert table[5]["child"] == (4.0, 0.5)
    assert table[5]["adult"] == (pytest.approx(24.0), 0.83)  # (14 + 24 + 34) / 3; 2.5 / 3
    assert "adolescent" not in table[5]
    assert table[40]["adult"] == (pytest.approx(59.0), 0.5)  # (49 + 69) / 2: patient 2 left out


def test_a_short_run_reports_its_marks_and_its_settings():
    result = years.run(30, 0.3, 11, ["therapy.dose_rise_kept=0.5"])
    assert list(result["by_day"]) == [90, 110]
    assert result["set"] == ["therapy.dose_rise_kept=0.5"]
    for row in result["by_day"].values():
        assert set(row) == {"child", "adolescent", "adult"}
        for a1c, dose in row.values():
            assert 5.0 < a1c < 12.0 and 0.2 < dose < 2.0
