"""Scientific test: the calibration table of MODEL.md §6 (`t1dmc validate`) on populations
small enough for CI. Every row must meet its target; the rows are deterministic for a seed."""

import json
import re

import pytest

from engine.analysis import validate
from engine.cli import main

N = 60


def _met_or_known_miss(r):
    """A row meets its target; a known miss (KNOWN_MISSES, docs/model.md §5) that misses here
    too is reported as a skip with its value (one that is met at this size passes)."""
    if validate.is_known_miss(r.quantity) and not r.passed:
        pytest.skip(f"known miss (docs/model.md §5): {validate.table([r]).splitlines()[2]}")
    assert r.passed, validate.table([r])


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
        "coma or seizure, intensive arm",
        "coma or seizure, conventional arm",
        "intensive arm, year 1",
        "conventional arm, year 1",
    ):
        assert needle in quantities


def test_the_table_has_its_24_rows(rows):
    assert len(rows) == 24  # the row tests below are parametrised by position


@pytest.mark.parametrize("k", range(24))
def test_each_row_meets_its_target_or_is_a_known_miss(rows, k):
    _met_or_known_miss(rows[k])


def test_a_long_value_does_not_run_into_its_pass_column():
    rows = [
        validate.Row("a rate", "5-45", "src", 16.59, 13.75, 19.44, "per 100 py", True),
        validate.Row("a share", "about 40-50%", "src", 0.466, 0.458, 0.473, "share", False),
    ]
    head, _, *lines, last = validate.table(rows).splitlines()
    for name in ("simulated (95% CI)", "pass", "source"):
        at = head.index(name)
        assert all(line[at - 1] == " " and line[at] != " " for line in lines), name
    assert lines[0].split()[-2:] == ["yes", "src"] and "(13.75 - 19.44)" in lines[0]
    assert "46.6% (45.8% - 47.3%)" in lines[1] and last == "1 of 2 targets met"


def test_the_table_prints_and_serialises(rows):
    text = validate.table(rows)
    met = sum(bool(r.passed) for r in rows)
    assert f"{met} of {len(rows)} targets met" in text
    # every column starts where the header's does, whatever the length of a target
    head, _, *lines = text.splitlines()
    at = head.index("simulated (95% CI)")
    assert all(line[at - 2 : at] == "  " for line in lines[:-1])
    assert all(r.passed for r in rows if not validate.is_known_miss(r.quantity))
    data = json.loads(validate.to_json(rows))
    assert {"quantity", "target", "source", "value", "low", "high", "passed"} <= set(data[0])


def test_cli_refuses_too_few_patients(capsys):
    assert main(["validate", "--patients", "3"]) == 2
    assert "--patients 3" in capsys.readouterr().err


N_REAL_WORLD = 100  # a group: 300 patients, one year


@pytest.fixture(scope="module")
def real_world_rows():
    return validate.validate_real_world(n=N_REAL_WORLD, seed=20261127)


def test_the_real_world_table_has_its_rows_each_with_a_source(real_world_rows):
    names = [r.quantity for r in real_world_rows]
    for needle in (
        "HbA1c, children",
        "HbA1c, adolescents",
        "HbA1c, adults",
        "total daily dose, children",
        "basal share",
        "severe hypoglycaemia",
        "coma or seizure, ages 9-15",
        "ketoacidosis",
        "missing >= 15% of boluses",
        "impossible patient-days and stopped patients",
        "HbA1c, adults, after 3 years of real-world care",
        "CGM - finger-sticks (randomised",
        "time in range, CGM - finger-sticks",
    ):
        assert any(needle in n for n in names), needle
    assert all(r.source for r in real_world_rows)
    real_world_misses = [k for k in validate.KNOWN_MISSES if k in names]
    # adolescents' HbA1c, dose per kg in children and adolescents, the missed-bolus effect,
    # the adults' HbA1c after 3 years, DIAMOND's HbA1c; CGM users' HbA1c is met since 0.10.0
    # (the high alert)
    assert len(real_world_misses) == 6
    assert "HbA1c, CGM users - non-users" not in validate.KNOWN_MISSES


def test_the_missed_bolus_row_shows_each_youth_groups_own_difference(real_world_rows):
    # the pooled value hides the groups: the note gives each one's difference and how many
    # of its patients miss 15% or more of their boluses
    (row,) = [r for r in real_world_rows if "missing >= 15%" in r.quantity]
    groups = re.findall(r"(children|adolescents) ([+-]\d\.\d\d), (\d+) of (\d+)", row.note)
    assert [g[0] for g in groups] == ["children", "adolescents"][-len(groups) :] and groups
    for _, diff, high, total in groups:
        assert 1 < int(high) < int(total) and abs(float(diff)) < 3.0
    low, high = row.low, row.high
    assert low <= row.value <= high
    assert min(float(g[1]) for g in groups) - 1e-9 <= row.value + 0.005
    assert row.value - 0.005 <= max(float(g[1]) for g in groups) + 1e-9


def test_the_real_world_table_has_its_16_rows(real_world_rows):
    assert len(real_world_rows) == 16  # the row tests below are parametrised by position


def test_the_years_row_reads_the_same_adults_at_year_1_and_year_3(real_world_rows):
    # the row's note gives the first year's HbA1c and the change since, within patients; the
    # model's adults improve as titration works off their mis-set doses (a known miss: the
    # registries' adults hold about 8%)
    (row,) = [r for r in real_world_rows if "after 3 years" in r.quantity]
    year1, change, low, high = map(
        float,
        re.fullmatch(
            r"year 1 (\d\.\d\d)%, change since ([+-]\d\.\d\d) \(([+-]\d\.\d\d) to "
            r"([+-]\d\.\d\d)\)",
            row.note,
        ).groups(),
    )
    assert low <= change <= high
    assert row.value == pytest.approx(year1 + change, abs=0.011)
    assert row.low < row.value < row.high and 6.0 < row.value < 9.5


def test_the_cgm_trial_compares_the_same_adults_in_the_trials_range(real_world_rows):
    # DIAMOND enrolled HbA1c 7.5-9.9% (mean 8.6%): the rows say how many of the model's
    # adults on pens fall there and their usual-care mean, and a CGM lowers it, if too little
    rows = [r for r in real_world_rows if "CGM - finger-sticks" in r.quantity]
    assert len(rows) == 2 and rows[0].note == rows[1].note
    picked, n, mean = re.fullmatch(
        r"paired; (\d+) of (\d+) adults in HbA1c 7.5-9.9%, usual care (\d\.\d\d)%", rows[0].note
    ).groups()
    assert 0.25 * int(n) < int(picked) < 0.8 * int(n) and int(n) == N_REAL_WORLD
    assert 8.2 <= float(mean) <= 9.1
    a1c, tir = rows
    assert a1c.high < 0.0 and tir.low > 0.0


@pytest.mark.parametrize("k", range(16))
def test_each_real_world_row_meets_its_target_or_is_a_known_miss(real_world_rows, k):
    _met_or_known_miss(real_world_rows[k])


N_AID = 60  # trial-like patients per arm, paired


@pytest.fixture(scope="module")
def aid_rows():
    return validate.validate_aid(n=N_AID, seed=20261127)


def test_the_closed_loop_table_has_its_trials(aid_rows):
    names = " | ".join(r.quantity for r in aid_rows)
    for needle in ("AID: TIR, closed loop - SAP", "AID: HbA1c", "closed loop", "670G: TIR"):
        assert needle in names
    assert all(r.source for r in aid_rows)


@pytest.mark.parametrize("k", range(8))
def test_each_closed_loop_row_meets_its_target_or_is_a_known_miss(aid_rows, k):
    _met_or_known_miss(aid_rows[k])
