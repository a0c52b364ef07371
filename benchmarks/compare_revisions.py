"""Kernel throughput of several git revisions side by side, in one run: what each change gained.

    python benchmarks/compare_revisions.py f879621 HEAD~2 HEAD [--n 1000] [--days 20]
                                           [--repeats 5] [--core] [--outputs]
                                           [--end-to-end WORKERS]

Each revision is exported (git archive) to a temporary folder and timed in its own process,
importing that revision's engine; the revisions take turns repeat by repeat, so a slow spell of
a shared machine hits them alike, and the best repeat counts. Every revision runs the same
population through the same public API (sweep.kernel_inputs / cohort_of / simulate).
Prints a markdown table and writes benchmarks/results/revisions-<UTC time>.json.
--end-to-end W times whole runs (sweep.run into a zarr store: tasks, kernel, writes) on W
threads instead of the kernel alone.
--outputs also runs every config of this checkout's configs/ (24 patients x 12 days, three of
them traced), the core model with the RK4 and the midpoint integrator, and a two-scenario run
through the store (every variable as it reads back) in each revision, and reports whether each
revision's outputs are bit-identical to the first's: the check a change that claims "same
bits" has to pass. Arrays are compared by name (each daily variable and mechanism apart), so
a revision that adds an output is checked on every output the first one has, and its new
arrays are listed.
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_population import CORE  # noqa: E402

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]

# every probe's imports, from the layered package (0.2) or a revision before it
ENGINE_IMPORTS = """
try:
    from engine.batch import sweep
    from engine.batch.config import load_config, parse_config
    from engine.batch.scenarios import expand
    from engine.model.glycaemia import DAILY_NAMES
except ImportError:
    from engine import sweep
    from engine.config import load_config, parse_config
    from engine.scenarios import expand
    from engine.metrics import DAILY_NAMES
"""

# runs inside the revision's folder; prints patient-days per second of one timed kernel call
PROBE = """
import json, sys, time
import numpy as np
{ENGINE_IMPORTS}n, days, core = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "core"
raw = {"run": {"name": "rev", "n_patients": n, "days": days},
       "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0, "child": 1.0}}}
if core:
    raw.update(json.loads(sys.argv[4]))
ki = sweep.kernel_inputs(parse_config(raw))
cohort = sweep.cohort_of(ki, np.arange(n))
none = np.full(n, -1, dtype=np.int64)
sweep.simulate(ki, sweep.cohort_of(ki, np.arange(2)), none[:2], 0)   # compiled or cached
t = time.perf_counter()
sweep.simulate(ki, cohort, none, 0)
print(n * days / (time.perf_counter() - t))
""".replace("{ENGINE_IMPORTS}", ENGINE_IMPORTS)

# runs inside the revision's folder; saves every output array of small runs of the given configs
OUTPUTS = """
import json, sys
import numpy as np
{ENGINE_IMPORTS}from engine.model.slow import MECHANISM_NAMES
out, core, paths = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
small = {"name": "core", "n_patients": 24, "days": 12}
cases, skipped = {}, {}
for name, make in [("core", lambda: parse_config({"run": small, **core})),
                   ("core_midpoint", lambda: parse_config(
                       {"run": {**small, "integrator": "midpoint"}, **core}))]:
    try:
        cases[name] = make()
    except Exception as err:   # a revision without the option
        skipped[name] = f"{type(err).__name__}: {str(err)[:200]}"
for path in paths:
    try:
        cfg = load_config(path)
    except Exception as err:   # a config newer than the revision
        skipped[path.rsplit("/", 1)[-1]] = f"{type(err).__name__}: {str(err)[:200]}"
        continue
    cfg.run.n_patients, cfg.run.days = 24, 12
    cases[path.rsplit("/", 1)[-1]] = cfg
trace = np.full(24, -1, dtype=np.int64)
trace[:3] = np.arange(3)
arrays = {}
for name, cfg in cases.items():
    for k, scenario in enumerate(expand(cfg)):
        ki = sweep.kernel_inputs(scenario.config, scenario.seed)
        res = sweep.simulate(ki, sweep.cohort_of(ki, np.arange(24)), trace, 3)
        daily, log_phi, status, traces = res
        # by name, so that a revision adding a variable still compares the others
        for v, var in enumerate(DAILY_NAMES):
            arrays[f"{name}/{k}/daily/{var}"] = daily[v]
        for v, mech in enumerate(MECHANISM_NAMES):
            arrays[f"{name}/{k}/log_phi/{mech}"] = log_phi[v]
        arrays[f"{name}/{k}/status"] = status
        arrays[f"{name}/{k}/traces"] = traces
# a whole run through the store (sweep.run): every variable as it reads back
import tempfile
import xarray as xr
with tempfile.TemporaryDirectory() as tmp:
    cfg = parse_config({"run": {"name": "store", "n_patients": 24, "days": 12},
                        "cohort": {"groups": {"adult": 1.0, "child": 1.0}},
                        "sweep": {"grid": {"therapy.target_mg_dl": [110, 140]}},
                        "output": {"traced": [0, 13]}, "execution": {"block_size": 7}})
    sweep.run(cfg, tmp + "/s.zarr", quiet=True)
    with xr.open_zarr(tmp + "/s.zarr") as ds:
        for name in ds.variables:
            v = ds[name].values
            strings = v.dtype.kind in "OUT" or str(v.dtype).startswith("StringDType")
            arrays[f"store/{name}"] = v.astype(object).astype("U") if strings else v
np.savez(out, **arrays)
print(json.dumps(skipped))
""".replace("{ENGINE_IMPORTS}", ENGINE_IMPORTS)

# runs inside the revision's folder; prints patient-days per second of one whole run into a
# zarr store (sweep.run: tasks, kernel and writes), on `workers` threads
END_TO_END = """
import sys, tempfile
{ENGINE_IMPORTS}n, days, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cfg = parse_config({"run": {"name": "e2e", "n_patients": n, "days": days},
                    "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0, "child": 1.0}}})
with tempfile.TemporaryDirectory() as tmp:
    facts = sweep.run(cfg, tmp + "/e2e.zarr", quiet=True, workers=workers)
print(facts["patient_days"] / facts["wall_s"])
""".replace("{ENGINE_IMPORTS}", ENGINE_IMPORTS)


def export(rev: str, into: Path) -> tuple[str, Path]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    folder = into / sha
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", sha], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return sha, folder


def revision_env(folder: Path) -> dict:
    """The environment that imports the revision exported to `folder`."""
    env = {**os.environ, "PYTHONPATH": str(folder)}
    env.pop("NUMBA_CACHE_DIR", None)  # each revision's engine keys its own cache
    return env


def probe(folder: Path, n: int, days: int, core: bool, workers: int = 0) -> float:
    """Patient-days per second: the kernel alone, or (workers > 0) a whole run to a store."""
    if workers:
        argv = [END_TO_END, str(n), str(days), str(workers)]
    else:
        argv = [PROBE, str(n), str(days), "core" if core else "full", json.dumps(CORE)]
    out = subprocess.run(
        [sys.executable, "-c", *argv],
        cwd=folder,
        env=revision_env(folder),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def outputs_identical(revs, tmp: Path) -> dict[str, str]:
    """Each revision's outputs on this checkout's configs/ (and the core model with either
    integrator) against the first revision's: 'yes' when every array is equal bit for bit
    (NaN equal to NaN), else the arrays that differ, those present in one revision only, and
    the largest relative difference where both are finite. A case a revision cannot run (a
    config or option newer than it) is named, not compared."""
    configs = [str(c) for c in sorted((ROOT / "configs").glob("*.toml"))]
    saved, skipped = {}, {}
    for sha, folder in revs:
        saved[sha] = tmp / f"{sha}.npz"
        done = subprocess.run(
            [sys.executable, "-c", OUTPUTS, str(saved[sha]), json.dumps(CORE), *configs],
            cwd=folder,
            env=revision_env(folder),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"revision {sha}: the outputs run failed:\n{done.stderr[-3000:]}")
        skipped[sha] = json.loads(done.stdout.strip().splitlines()[-1])
    first = np.load(saved[revs[0][0]])
    verdict = {}
    for sha, path in saved.items():
        other = np.load(path)
        removed = sorted(set(first.files) - set(other.files))
        added = sorted(set(other.files) - set(first.files))
        differing, nan_pattern, worst = [], [], 0.0
        for name in sorted(set(first.files) & set(other.files)):
            a, b = first[name], other[name]
            if a.shape != b.shape:
                differing.append(name)
                continue
            if np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                continue
            differing.append(name)
            if a.dtype.kind not in "fiub":
                continue
            af, bf = a.astype(float), b.astype(float)
            if not np.array_equal(np.isnan(af), np.isnan(bf)):
                nan_pattern.append(name)
            both = np.isfinite(af) & np.isfinite(bf)
            if both.any():
                rel = np.abs(af[both] - bf[both]) / np.maximum(np.abs(af[both]), 1e-300)
                worst = max(worst, float(rel.max()))
        compared = len(set(first.files) & set(other.files))
        new_vars = sorted({a.rsplit("/", 1)[-1] for a in added})
        news = f"; {len(added)} new arrays ({', '.join(new_vars)})" if added else ""
        if not differing and not removed:
            text = f"yes ({compared} arrays){news}"
        else:
            text = (
                f"no: {len(differing)} of {compared} arrays differ (max rel {worst:.1e}"
                f"{f', NaN pattern in {len(nan_pattern)}' if nan_pattern else ''})"
                f"{f', {len(removed)} missing' if removed else ''}{news}"
            )
        if skipped[sha]:
            text += f"; not run: {', '.join(skipped[sha])}"
        verdict[sha] = text
    return verdict


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--core", action="store_true", help="the core model instead of the full")
    ap.add_argument(
        "--outputs",
        action="store_true",
        help="also check that every revision's outputs equal the first's, bit for bit",
    )
    ap.add_argument(
        "--end-to-end",
        type=int,
        default=0,
        metavar="WORKERS",
        help="time whole runs into a zarr store on this many threads instead of the kernel alone",
    )
    args = ap.parse_args(argv)
    identical = {}
    with tempfile.TemporaryDirectory() as tmp:
        revs = [export(r, Path(tmp)) for r in args.revisions]
        for _, folder in revs:  # compile outside the timings
            probe(folder, 4, 1, args.core)
        if args.outputs:
            identical = outputs_identical(revs, Path(tmp))
        times = {sha: [] for sha, _ in revs}
        for _ in range(args.repeats):
            for sha, folder in revs:
                times[sha].append(probe(folder, args.n, args.days, args.core, args.end_to_end))
    best = {sha: max(v) for sha, v in times.items()}
    median = {sha: float(np.median(v)) for sha, v in times.items()}
    first = best[revs[0][0]]
    subjects = {
        sha: subprocess.run(
            ["git", "log", "-1", "--format=%s", sha], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        for sha in best
    }
    what = (
        f"end to end into a zarr store, {args.end_to_end} threads"
        if args.end_to_end
        else f"kernel, {'core' if args.core else 'full'} model, 1 thread"
    )
    md = [
        f"{what}, {args.n:,} patients x {args.days} days, best of {args.repeats}",
        "",
        "| revision | change | best pd/s | x first | median pd/s | x first |"
        + (" outputs = first's |" if identical else ""),
        "|---|---|---|---|---|---|" + ("---|" if identical else ""),
    ]
    for sha, value in best.items():
        m0 = median[revs[0][0]]
        md.append(
            f"| {sha} | {subjects[sha][:70]} | {value:,.0f} | {value / first:.2f} | "
            f"{median[sha]:,.0f} | {median[sha] / m0:.2f} |"
            + (f" {identical[sha]} |" if identical else "")
        )
    text = "\n".join(md)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"revisions-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "revisions",
                "n": args.n,
                "days": args.days,
                "end_to_end_workers": args.end_to_end,
                "model": "core" if args.core else "full",
                "repeats": times,
                "best": best,
                "median": median,
                "outputs_identical_to_first": identical or None,
                "subjects": subjects,
            },
            indent=2,
        )
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
