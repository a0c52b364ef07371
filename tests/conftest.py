import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"

# hypothesis: deterministic and bounded, so CI time is predictable
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def s1_traces():
    """The simglucose S1 reference day of all 30 patients (scripts/extract_reference_traces.py)."""
    d = np.load(DATA / "simglucose_S1.npz")
    return {k: d[k] for k in d.files}


SMALL_CONFIG = """
[run]
name = "small"
seed = 7
n_patients = 24
days = 3

[cohort]
groups = { adult = 1.0, adolescent = 1.0, child = 1.0 }
jitter_cv = 0.1

[sensor]
kind = "johnson_su"

[output]
traced = [0, 5, 17]

[execution]
block_size = 8
"""


@pytest.fixture
def small_config_path(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL_CONFIG)
    return p
