"""Storage layout of a results store: files on disk and what reading costs, old layout against
new, side by side in one run.

    python benchmarks/store_layout.py [--scenarios 2] [--patients 20000] [--days 365]
                                      [--target-scenarios 8 --target-patients 100000]

old: one chunk per variable per task of ~20,000 patient-days (64 patients at 365 days), no
     shards, no checksums (the layout before the data-safety issue);
new: the engine's layout (engine/store/results.py): one shard per variable per task of up to
     ~1,000,000 patient-days, inner chunks of `day_chunk` days, zstd + CRC-32C.
Both stores are written through the engine's own create_store/write_block with synthetic
daily values (a smooth trajectory plus noise per patient, float32 as the kernel's), so no
kernel runs; the files are counted on disk and the count is extrapolated to the target size
by the layout's arithmetic, which the measured store checks. Reads: one day's cross-section
of `tir` for every patient (what a population plot per day does), one patient's whole
trajectory, and the whole `tir` array.
Writes benchmarks/results/layout-<UTC time>.json and prints a markdown table.
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from engine.batch.config import parse_config
from engine.batch.scenarios import expand
from engine.model.glycaemia import DAILY_VARIABLES
from engine.model.slow import MECHANISM_NAMES
from engine.store import results

RESULTS = Path(__file__).parent / "results"
OLD_PATIENT_DAYS_PER_TASK = 20_000


def config(n_scenarios: int, n: int, days: int, block: int):
    values = [100.0 + 10 * k for k in range(n_scenarios)]
    return parse_config(
        {
            "run": {"n_patients": n, "days": days},
            "sweep": {"grid": {"therapy.target_mg_dl": values}},
            "execution": {"block_size": block},
            "output": {"traced": 0},
        }
    )


def old_block(n: int, days: int) -> int:
    return min(n, max(64, min(OLD_PATIENT_DAYS_PER_TASK // days, -(-n // 16))))


def new_block(n: int, days: int) -> int:
    return parse_config({"run": {"n_patients": n, "days": days}}).block_size()


def old_encoding(layout, extra=()):
    return {"chunks": (1, layout.block_size, layout.n_days, *extra)}


def synthetic_block(rng, n: int, days: int):
    t = np.arange(days)[None, :]
    base = rng.uniform(50, 90, size=(n, 1)) + 5 * np.sin(t / 30.0)
    daily = np.empty((len(DAILY_VARIABLES), n, days))
    for v in range(len(DAILY_VARIABLES)):
        daily[v] = base * (1 + 0.01 * v) + rng.normal(0, 3, size=(n, days))
    log_phi = rng.normal(-0.01, 0.005, size=(len(MECHANISM_NAMES), n, days))
    patients = {}
    for name, dtype, extra, _ in results.patient_variables():
        shape = (n, *(k for _, k in extra))
        patients[name] = (
            np.full(shape, "adult", dtype=object) if dtype is str else rng.uniform(0, 1, size=shape)
        )
    return daily, log_phi, np.zeros((n, days), dtype=np.int8), patients


def write_store(path: Path, cfg, layout_kind: str) -> dict:
    scenarios = expand(cfg)
    layout = results.Layout.from_config(cfg, len(scenarios))
    patches = (
        [
            mock.patch.object(results, "_daily_encoding", old_encoding),
            mock.patch.object(results, "codecs", lambda: []),
        ]
        if layout_kind == "old"
        else []
    )
    for p in patches:
        p.start()
    try:
        t = time.perf_counter()
        results.create_store(path, cfg, layout, scenarios)
        rng = np.random.default_rng(1)
        for s in range(layout.n_scenarios):
            for b in range(layout.n_blocks):
                sl = layout.block(b)
                daily, log_phi, status, patients = synthetic_block(
                    rng, sl.stop - sl.start, layout.n_days
                )
                results.write_block(
                    path,
                    layout,
                    s,
                    b,
                    daily,
                    log_phi,
                    status,
                    np.zeros((5, 0, layout.n_samples)),
                    np.array([], int),
                    patients if layout.writes_patients(s) else None,
                )
        results.finalize_store(path)
        write_s = time.perf_counter() - t
    finally:
        for p in patches:
            p.stop()
    files = sum(len(f) for _, _, f in os.walk(path))
    size = sum(os.path.getsize(os.path.join(r, x)) for r, _, f in os.walk(path) for x in f)
    return {
        "layout": layout_kind,
        "block_size": layout.block_size,
        "tasks": layout.n_scenarios * layout.n_blocks,
        "files": files,
        "bytes": size,
        "write_s": write_s,
        "files_formula": files_formula(layout, layout_kind),
    }


def files_formula(layout, kind: str) -> int:
    """Files of a store of this layout, from its arithmetic (checked against the disk)."""
    S, nb = layout.n_scenarios, layout.n_blocks
    per_task = len(DAILY_VARIABLES) + 3  # daily, log_phi, status, completed
    per_block = len(results.patient_variables())  # written by scenario 0's task
    traces = S * len(layout.traced_ids) * len(results.TRACE_VARIABLES)
    # coordinate arrays hold one chunk each (time and traced none: nothing traced here; a long
    # run's 5-minute `time` coordinate may take a few); every array has a zarr.json, the
    # group one
    n_coords = 10 + 1  # + the swept field
    n_arrays = per_task + per_block + len(results.TRACE_VARIABLES) + n_coords
    return S * nb * per_task + nb * per_block + traces + (n_coords - 2) + n_arrays + 1


def timed_reads(path: Path) -> dict:
    import xarray as xr

    out = {}
    with xr.open_zarr(path) as ds:
        mid = ds.sizes["day"] // 2
        t = time.perf_counter()
        ds["tir"].isel(day=mid).values
        out["one_day_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ds["tir"].isel(patient=ds.sizes["patient"] // 2).values
        out["one_patient_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ds["tir"].mean("patient").values
        out["whole_tir_mean_s"] = time.perf_counter() - t
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", type=int, default=2)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--target-scenarios", type=int, default=8)
    ap.add_argument("--target-patients", type=int, default=100_000)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, block in (
            ("old", old_block(args.patients, args.days)),
            ("new", new_block(args.patients, args.days)),
        ):
            cfg = config(args.scenarios, args.patients, args.days, block)
            path = Path(tmp) / f"{kind}.zarr"
            row = write_store(path, cfg, kind)
            row.update(timed_reads(path))
            target_block = (old_block if kind == "old" else new_block)(
                args.target_patients, args.days
            )
            target = results.Layout.from_config(
                config(args.target_scenarios, args.target_patients, args.days, target_block),
                args.target_scenarios,
            )
            row["target_files"] = files_formula(target, kind)
            rows.append(row)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    doc = {
        "measured": f"{args.scenarios} x {args.patients} x {args.days}",
        "target": f"{args.target_scenarios} x {args.target_patients} x {args.days}",
        "rows": rows,
    }
    (RESULTS / f"layout-{stamp}.json").write_text(json.dumps(doc, indent=2))
    old, new = rows
    print(f"store of {doc['measured']} (scenarios x patients x days), synthetic values\n")
    print("| measure | old | new | new / old |")
    print("|---|---|---|---|")
    for key, label in (
        ("block_size", "patients per task"),
        ("tasks", "tasks"),
        ("files", "files on disk"),
        ("files_formula", "files by the formula"),
        ("bytes", "bytes on disk"),
        ("write_s", "write time, s"),
        ("one_day_s", "read one day's cross-section, s"),
        ("one_patient_s", "read one patient's trajectory, s"),
        ("whole_tir_mean_s", "mean of tir over patients, s"),
        ("target_files", f"files at {doc['target']}"),
    ):
        a, b = old[key], new[key]
        print(
            f"| {label} | {a:,.3f} | {b:,.3f} | {b / a if a else float('nan'):.3f} |"
            if isinstance(a, float)
            else f"| {label} | {a:,} | {b:,} | {b / a:.3f} |"
        )
    print(f"\n-> benchmarks/results/layout-{stamp}.json")


if __name__ == "__main__":
    sys.exit(main())
