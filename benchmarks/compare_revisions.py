"""Kernel throughput of several git revisions side by side, in one run: what each change gained.

    python benchmarks/compare_revisions.py f879621 HEAD~2 HEAD [--n 1000] [--days 20]
                                           [--repeats 5] [--core]

Each revision is exported (git archive) to a temporary folder and timed in its own process,
importing that revision's engine; the revisions take turns repeat by repeat, so a slow spell of
a shared machine hits them alike, and the best repeat counts. Every revision runs the same
population through the same public API (sweep.kernel_inputs / cohort_of / simulate).
Prints a markdown table and writes benchmarks/results/revisions-<UTC time>.json.
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_population import CORE  # noqa: E402

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]

# runs inside the revision's folder; prints patient-days per second of one timed kernel call
PROBE = """
import json, sys, time
import numpy as np
from engine import sweep
from engine.config import parse_config
n, days, core = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "core"
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
"""


def export(rev: str, into: Path) -> tuple[str, Path]:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    folder = into / sha
    folder.mkdir()
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return sha, folder


def probe(folder: Path, n: int, days: int, core: bool) -> float:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    env.pop("NUMBA_CACHE_DIR", None)   # each revision's engine keys its own cache
    out = subprocess.run([sys.executable, "-c", PROBE, str(n), str(days),
                          "core" if core else "full", json.dumps(CORE)],
                         cwd=folder, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--core", action="store_true", help="the core model instead of the full")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        revs = [export(r, Path(tmp)) for r in args.revisions]
        for _, folder in revs:          # compile outside the timings
            probe(folder, 4, 1, args.core)
        times = {sha: [] for sha, _ in revs}
        for _ in range(args.repeats):
            for sha, folder in revs:
                times[sha].append(probe(folder, args.n, args.days, args.core))
    best = {sha: max(v) for sha, v in times.items()}
    first = best[revs[0][0]]
    subjects = {sha: subprocess.run(["git", "log", "-1", "--format=%s", sha], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()
                for sha in best}
    md = [f"kernel, {'core' if args.core else 'full'} model, {args.n:,} patients x "
          f"{args.days} days, 1 thread, best of {args.repeats}", "",
          "| revision | change | pd/s | x first |", "|---|---|---|---|"]
    for sha, value in best.items():
        md.append(f"| {sha} | {subjects[sha][:70]} | {value:,.0f} | {value / first:.2f} |")
    text = "\n".join(md)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"revisions-{stamp}.json"
    out.write_text(json.dumps({"benchmark": "revisions", "n": args.n, "days": args.days,
                               "model": "core" if args.core else "full",
                               "repeats": times, "best": best, "subjects": subjects}, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
