"""`t1dmc validate --years`: issue 18 saw `--years 1` end in an IndexError in the DCCT rows
(they read day 365, the end of year 1, and average year 2, days 365-729). The arm is refused
below two years before anything runs, and the shortest arm allowed fills the table."""

import numpy as np
import pytest

from engine.analysis import validate
from engine.cli import main


@pytest.mark.parametrize("years", [0.5, 1.0, 1.99])
def test_an_arm_shorter_than_two_years_is_refused_before_running(years, monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("simulated before refusing")

    monkeypatch.setattr(validate, "row_dose_and_bmi", must_not_run)
    monkeypatch.setattr(validate, "row_dcct", must_not_run)
    with pytest.raises(ValueError, match=f"years = {years:g}: between 2 and 20"):
        validate.validate(n=10, years=years)
    assert main(["validate", "--patients", "10", "--years", f"{years:g}"]) == 2
    assert f"--years {years:g}: between 2 and 20" in capsys.readouterr().err


def test_the_shortest_arm_allowed_fills_the_dcct_rows():
    rows = validate.row_dcct(10, 20261127, years=validate.MIN_YEARS)
    assert len(rows) >= 5
    assert any("2 years" in r.quantity for r in rows)
    gap = next(r for r in rows if r.quantity.startswith("weight gain, intensive - conventional"))
    for r in rows:
        if r.quantity == "share of that gain in year 1" and gap.value <= 0.0:
            assert np.isnan(r.value)  # a share of no gain is undefined, not a number
            continue
        assert np.isfinite(r.value), r.quantity
