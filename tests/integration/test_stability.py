"""No impossible patients (issue 17): under every therapy preset, a year of the default
population keeps every patient (none stops: glucose stays integrable) and has no
impossible patient-day (engine/batch/plausibility.py's guards).

CI runs 2,000 patients a preset (the AID presets since 0.12.0); the issue's 10,000 run with
`T1DMC_STABILITY_PATIENTS=10000 python -m pytest tests/integration/test_stability.py`
(benchmarks/results/stability-*.json keeps a recorded run; scripts/stability_at_scale.py
names the offenders at 100,000 a preset, on a GPU)."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engine.analysis.validate import _run
from engine.batch.config import THERAPY_PRESETS, parse_config
from engine.batch.plausibility import implausible_days
from engine.batch.sweep import cohort_of, kernel_inputs
from engine.model.glycaemia import DAILY_NAMES

N = int(os.environ.get("T1DMC_STABILITY_PATIENTS", "2000"))
BLOCK = 250
GROUPS = {"child": 1.0, "adolescent": 1.0, "adult": 1.0}
PRESETS = tuple(THERAPY_PRESETS)  # every preset, AID too


def _block(inputs, first):
    ids = np.arange(first, min(first + BLOCK, N))
    daily, _, status, _ = _run(inputs, cohort_of(inputs, ids))
    by_name = {name: daily[k] for k, name in enumerate(DAILY_NAMES)}
    return {"stopped": ids[(status != 0).any(axis=1)].tolist(), **implausible_days(by_name)}


@pytest.mark.parametrize("preset", PRESETS)
def test_no_patient_stops_and_no_day_is_impossible_over_a_year(preset):
    cfg = parse_config(
        {
            "run": {"n_patients": N, "days": 365, "seed": 20261127},
            "cohort": {"groups": GROUPS},
            "therapy": {"kind": preset},
        }
    )
    inputs = kernel_inputs(cfg)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda f: _block(inputs, f), range(0, N, BLOCK)))
    stopped = sum((p["stopped"] for p in parts), [])
    counts = {k: sum(p[k] for p in parts) for k in parts[0] if k != "stopped"}
    assert stopped == [], f"{preset}: {len(stopped)} of {N} stopped, ids {stopped[:10]}"
    assert counts == dict.fromkeys(counts, 0), f"{preset}: {counts}"
