"""Memory of a run's setup against the number of patients, for several git revisions side by
side in one run: does setting up a run of 10^6 patients cost more than one of 10^4?

    python benchmarks/setup_memory.py be0769a HEAD [--patients 10000 1000000] [--days 1]

Each revision is exported (git archive) and runs `sweep.run` in its own process with the
default config (n patients x days, 2 threads), into a temporary store. Measured: resident
memory (RSS) when the tasks start (everything the setup allocated: config, scenarios, cohort
plan, the store's creation), peak RSS of the whole run (ru_maxrss), seconds to the first task,
and the run's wall time. Writes benchmarks/results/setup-memory-<UTC time>.json and prints a
markdown table. Benchmarks are not tests: nothing here asserts a time or a size.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compare_revisions import ENGINE_IMPORTS, RESULTS, ROOT, export, revision_env  # noqa: E402

PROBE = """
import json, resource, sys, tempfile, time
import psutil
{ENGINE_IMPORTS}n, days = int(sys.argv[1]), int(sys.argv[2])
cfg = parse_config({"run": {"n_patients": n, "days": days}})
seen = {}
real = sweep._run_threads
def spy(*a, **k):
    seen["rss_at_tasks"] = psutil.Process().memory_info().rss
    seen["to_tasks_s"] = time.perf_counter() - t0
    return real(*a, **k)
sweep._run_threads = spy
sweep.warm_jit()
base = psutil.Process().memory_info().rss
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    facts = sweep.run(cfg, tmp + "/s.zarr", quiet=True, workers=2)
print(json.dumps({**seen, "rss_before": base, "wall_s": facts["wall_s"],
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""".replace("{ENGINE_IMPORTS}", ENGINE_IMPORTS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+")
    ap.add_argument("--patients", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--days", type=int, default=1)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rev in args.revisions:
            sha, folder = export(rev, Path(tmp))
            for n in args.patients:
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, str(n), str(args.days)],
                    cwd=folder,
                    env=revision_env(folder),
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    rows.append(
                        {
                            "revision": sha,
                            "patients": n,
                            "error": out.stderr.strip().splitlines()[-1][:300],
                        }
                    )
                    continue
                rows.append(
                    {
                        "revision": sha,
                        "patients": n,
                        **json.loads(out.stdout.strip().splitlines()[-1]),
                    }
                )
    mib = 2**20
    lines = [
        f"setup memory, default config, patients x {args.days} day(s), 2 threads",
        "",
        "| revision | patients | RSS when tasks start, MiB | setup growth, MiB | "
        "to first task, s | peak RSS, MiB | wall, s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['revision']} | {r['patients']:,} | failed: {r['error']} ||||")
            continue
        lines.append(
            f"| {r['revision']} | {r['patients']:,} | {r['rss_at_tasks'] / mib:,.0f} | "
            f"{(r['rss_at_tasks'] - r['rss_before']) / mib:,.0f} | "
            f"{r['to_tasks_s']:.1f} | {r['peak_rss'] / mib:,.0f} | {r['wall_s']:.1f} |"
        )
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"setup-memory-{stamp}.json"
    path.write_text(
        json.dumps({"benchmark": "setup-memory", "days": args.days, "rows": rows}, indent=2)
    )
    print(f"-> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
