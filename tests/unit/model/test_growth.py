"""Growth on the CDC 2000 charts (engine/model/growth.py)."""

import numpy as np
import pytest

from engine.model import growth


def test_the_charts_are_cdc_2000():
    # rows of statage.csv and bmiagerev.csv (sex 1 = male), cross-checked against a second
    # copy of the CDC files when they were vendored; the tables hold L, M, S, the months are
    # growth.chart_month's (checked against the files' when they are read)
    male_stature = growth.STATURE_LMS[1]
    assert male_stature[0].tolist() == [0.941523967, 86.45220101, 0.040321528]
    male_bmi = growth.BMI_LMS[1]
    assert male_bmi[0].tolist() == [-2.01118107, 16.57502768, 0.080592465]
    female_bmi = growth.BMI_LMS[0]
    assert female_bmi[-1].tolist() == [-2.342796948, 21.72190973, 0.153240872]
    n_bmi = growth.BMI_LMS.shape[1]
    assert [growth.chart_month(k) for k in (0, 1, 2, 216, 217, n_bmi - 1)] == [
        24.0,
        24.5,
        25.5,
        239.5,
        240.0,
        240.5,
    ]


def test_median_heights_and_the_sds_round_trip():
    # the median (SDS 0) at 100.5 months is M
    assert growth.height_at(0.0, 1.0, 100.5 / 12) == pytest.approx(1.300550101)
    for z in (-2.0, 0.0, 1.5):
        h = growth.height_at(z, 0.0, 11.3)
        assert growth.height_sds(h, 0.0, 11.3) == pytest.approx(z, abs=1e-9)
    assert growth.bmi_sds(growth.bmi_at(0.7, 1.0, 9.0), 1.0, 9.0) == pytest.approx(0.7)
    assert np.isnan(growth.bmi_sds(22.0, 1.0, 20.0))


def test_a_child_grows_about_six_centimetres_a_year_and_adults_do_not():
    height, gained, total = 0.0, 0.0, 0.0
    age = 8.0
    h0 = growth.height_at(0.0, 1.0, age)
    for d in range(365):
        height, gained = growth.day_of_growth(0.0, 0.0, 1.0, age + d / 365.0, 1.0 / 365.0)
        total += gained
    assert 0.05 <= height - h0 <= 0.07  # CDC median boy, 8 to 9 years
    assert 2.0 <= total <= 4.5  # kg
    assert growth.grows(12.0) and not growth.grows(20.0) and not growth.grows(35.0)
