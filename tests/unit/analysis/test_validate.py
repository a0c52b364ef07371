"""Scientific test: the calibration table of MODEL.md §6 (`t1dmc validate`) on populations
small enough for CI. Every row must meet its target; the rows are deterministic for a seed."""

import json

import pytest

from engine.analysis import validate
from engine.cli import main

N = 60


@pytest.fixture(scope="module")
def rows():
    return validate.validate(n=N, seed=20261127, years=6.0)


def test_the_table_covers_every_calibration_target(rows):
    quantities = " | ".join(r.quantity for r in rows)
    for needle in (
        "total daily dose",
        "puberty",
        "intensive - conventional, 6 years",
        "illness",
        "exercise",
        "dawn",
        "T1D vs no diabetes",
        "BMI",
        "obese",
    ):
        assert needle in quantities


@pytest.mark.parametrize("k", range(17))
def test_each_row_meets_its_target(rows, k):
    r = rows[k]
    assert r.passed, validate.table([r])


def test_the_table_prints_and_serialises(rows):
    text = validate.table(rows)
    assert f"{len(rows)} of {len(rows)} targets met" in text
    data = json.loads(validate.to_json(rows))
    assert {"quantity", "target", "source", "value", "low", "high", "passed"} <= set(data[0])


def test_cli_refuses_too_few_patients(capsys):
    assert main(["validate", "--patients", "3"]) == 2
    assert "--patients 3" in capsys.readouterr().err
