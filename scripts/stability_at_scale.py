"""Stopped patients and impossible patient-days at scale: each therapy preset runs N patients
x D days (a third each children, adolescents and adults, as tests/integration/
test_stability.py runs 2,000) in blocks, on the CPU lanes or the GPU, and every offender is
named: its id, age group, the guard it crossed, the first day and the worst value. The test
asserts zero at 2,000 a preset; this looks for the rare patient that only 10^5 show.

    python scripts/stability_at_scale.py [-n 10000] [--days 365] [--backend cpu|cuda]
        [--presets real_world,intensive,...] [--block 2500] [--workers N] [--budget-s 0]
        [--seed 20261127] [--json FILE]

Prints one JSON line per preset as it finishes (and appends it to --json), so a run stopped
at a time limit keeps what it measured. --budget-s skips a preset whose projected time (from
the last preset's rate) would end past the budget.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.batch.config import THERAPY_PRESETS, parse_config  # noqa: E402
from engine.batch.plausibility import GUARDS  # noqa: E402
from engine.batch.sweep import cohort_of, kernel_inputs, simulate  # noqa: E402
from engine.model.glycaemia import DAILY_NAMES  # noqa: E402

PRESETS = tuple(THERAPY_PRESETS)  # every therapy preset
GROUPS = {"child": 1.0, "adolescent": 1.0, "adult": 1.0}
MAX_NAMED = 20  # offenders named per preset and guard


def offenders(daily, status, ids, group) -> dict:
    """{guard label or "stopped": [{id, group, first_day, days, worst}]} for one block."""
    found = {}
    stopped = (status != 0).any(axis=1)
    found["stopped"] = [
        {"id": int(ids[i]), "group": str(group[i]), "first_day": int(np.argmax(status[i] != 0))}
        for i in np.flatnonzero(stopped)
    ]
    for label, var, lo, hi, first in GUARDS:
        v = daily[DAILY_NAMES.index(var)][:, first:]
        bad = (v < lo) | (v > hi)  # NaN (stopped) days compare False
        rows = []
        for i in np.flatnonzero(bad.any(axis=1)):
            days = np.flatnonzero(bad[i])
            worst = v[i, days]
            worst = worst.max() if hi < np.inf and worst.max() > hi else worst.min()
            rows.append(
                {
                    "id": int(ids[i]),
                    "group": str(group[i]),
                    "first_day": int(days[0] + first),
                    "days": int(days.size),
                    "worst": round(float(worst), 3),
                }
            )
        found[label] = rows
    return found


def run_preset(
    preset: str, n: int, days: int, backend: str, block: int, seed: int, workers: int = 1
) -> dict:
    cfg = parse_config(
        {
            "run": {"n_patients": n, "days": days, "seed": seed},
            "cohort": {"groups": GROUPS},
            "therapy": {"kind": preset},
            "execution": {"backend": backend},
        }
    )
    inputs = kernel_inputs(cfg)

    def one_block(first):
        ids = np.arange(first, min(first + block, n))
        cohort = cohort_of(inputs, ids)
        daily, _, status, _ = simulate(inputs, cohort, np.full(ids.size, -1, np.int64), 0)
        return offenders(daily, status, ids, np.asarray(cohort.group))

    t0 = time.perf_counter()
    found: dict[str, list] = {}
    # the CPU kernel runs one block on one core (it releases the GIL); the GPU takes one
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(one_block, range(0, n, block)):
            for label, rows in part.items():
                found.setdefault(label, []).extend(rows)
    seconds = time.perf_counter() - t0
    return {
        "preset": preset,
        "patients": n,
        "days": days,
        "seed": seed,
        "backend": backend,
        "workers": workers,
        "seconds": round(seconds, 1),
        "patient_days_per_s": round(n * days / seconds),
        "counts": {
            "stopped patients": len(found["stopped"]),
            **{
                f"patient-days {k}": sum(r["days"] for r in v)
                for k, v in found.items()
                if k != "stopped"
            },
        },
        "named": {k: v[:MAX_NAMED] for k, v in found.items() if v},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--backend", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--block", type=int, default=2500, help="patients a block")
    ap.add_argument(
        "--workers", type=int, default=None, help="blocks at once (default: cores, or 1 on cuda)"
    )
    ap.add_argument("--budget-s", type=float, default=0.0, help="0: no limit")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--json", type=Path, default=None, help="append each preset's line here")
    a = ap.parse_args()
    workers = a.workers or (1 if a.backend == "cuda" else os.cpu_count() or 1)
    # compile (or load) the kernels before anything is timed
    t0 = time.perf_counter()
    run_preset(a.presets.split(",")[0], 1, 1, a.backend, 1, a.seed)
    print(json.dumps({"warm_s": round(time.perf_counter() - t0, 1)}), flush=True)
    start = time.perf_counter()
    rate = None
    for preset in a.presets.split(","):
        if a.budget_s > 0 and rate is not None:
            projected = time.perf_counter() - start + a.n * a.days / rate
            if projected > a.budget_s:
                skipped = {"preset": preset, "skipped": f"projected to end at {projected:.0f} s"}
                print(json.dumps(skipped), flush=True)
                continue
        result = run_preset(preset, a.n, a.days, a.backend, a.block, a.seed, workers)
        rate = result["patient_days_per_s"]
        line = json.dumps(result)
        print(line, flush=True)
        if a.json is not None:
            with a.json.open("a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
