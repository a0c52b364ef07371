"""Glucose in mmol/L for display (engine/model/units.py): the compare table and the run
summary convert glucose and nothing else; stores and JSON keep mg/dL."""

import pytest

from engine.analysis.compare import compare, format_table, to_json
from engine.batch.sweep import summary_table
from engine.model.units import MG_PER_MMOL, glucose_display


def test_only_mg_dl_is_converted():
    value, units = glucose_display(180.16, "mg/dL", True)
    assert value == pytest.approx(10.0, rel=1e-3) and units == "mmol/L"
    assert glucose_display(180.16, "mg/dL", False) == (180.16, "mg/dL")
    assert glucose_display(7.0, "%", True) == (7.0, "%")


@pytest.fixture(scope="module")
def two_scenarios():
    import engine

    return engine.run(
        {
            "run": {"n_patients": 12, "days": 4, "seed": 3},
            "sweep": {"grid": {"therapy.kind": ["real_world", "intensive"]}},
        },
        quiet=True,
        workers=1,
    )


def test_the_compare_table_shows_glucose_in_mmol(two_scenarios):
    cmp = compare(two_scenarios, baseline=0, window=4)
    mg, mmol = format_table(cmp), format_table(cmp, mmol=True)
    assert "mean glucose (mg/dL)" in mg and "mean glucose (mmol/L)" in mmol
    assert "mmol/L" not in mg
    j = list(cmp.outcome.values).index("glucose_mean")
    base = float(cmp.baseline_mean.values[1, j])
    line = next(ln for ln in mmol.splitlines() if "mean glucose (mmol/L)" in ln)
    assert f"{base / MG_PER_MMOL:.3f}" in line
    # the thresholds in the labels too, as the report shows them
    assert "TIR 3.9-10.0 (%)" in mmol and "TBR <3.9 (%)" in mmol and "70-180" not in mmol
    hba1c = next(ln for ln in mmol.splitlines() if ln.strip().startswith("HbA1c"))
    assert hba1c == next(ln for ln in mg.splitlines() if ln.strip().startswith("HbA1c"))
    # the JSON keeps the engine's units
    rows = [r for r in to_json(cmp)["rows"] if r["outcome"] == "glucose_mean"]
    assert rows and all(r["units"] == "mg/dL" for r in rows)


def test_the_run_summary_shows_glucose_in_mmol(two_scenarios):
    mg, mmol = summary_table(two_scenarios), summary_table(two_scenarios, mmol=True)
    line_mg = next(ln for ln in mg.splitlines() if "mean glucose" in ln)
    line_mmol = next(ln for ln in mmol.splitlines() if "mean glucose" in ln)
    assert line_mg.endswith("mg/dL") and line_mmol.endswith("mmol/L")
    assert float(line_mmol.split()[2]) == pytest.approx(
        float(line_mg.split()[2]) / MG_PER_MMOL, abs=0.006
    )
    # the same numbers, the thresholds named in the units shown
    tir_mg = [ln.split() for ln in mg.splitlines() if "TIR" in ln]
    tir_mmol = [ln.split() for ln in mmol.splitlines() if "TIR" in ln]
    assert tir_mg and {t[1] for t in tir_mg} == {"70-180"}
    assert {t[1] for t in tir_mmol} == {"3.9-10.0"}
    assert [t[2:] for t in tir_mg] == [t[2:] for t in tir_mmol]
