"""Recompute REFERENCE_SP, REFERENCE_SH and REFERENCE_ECR of engine/model/slow.py: the median
absolute multipliers, at the end of day 0, of the default adult population under the default
(intensive) therapy and lifestyle. Run after changing a mechanism's constants; paste the
printed values into slow.py.

    python scripts/calibrate_reference.py [n_patients]
"""

import sys

import numpy as np

from engine.batch.config import parse_config
from engine.batch.sweep import cohort_of, kernel_inputs, simulate
from engine.model.glycaemia import D
from engine.model.slow import TONE_KP1


def main(n: int = 2000) -> None:
    cfg = parse_config({"run": {"n_patients": n, "days": 1}})
    inputs = kernel_inputs(cfg)
    daily, _, status, _ = simulate(
        inputs, cohort_of(inputs, np.arange(n)), np.full(n, -1, dtype=np.int64), 0
    )
    ok = status[:, 0] == 0
    sp = np.median(daily[D.si_peripheral, ok, 0])
    sh = np.median(daily[D.si_hepatic, ok, 0])
    ecr = np.median(1.0 + TONE_KP1 * (daily[D.counterreg_tone, ok, 0] - 1.0))
    print(f"REFERENCE_SP = {sp:.3f}\nREFERENCE_SH = {sh:.3f}\nREFERENCE_ECR = {ecr:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
