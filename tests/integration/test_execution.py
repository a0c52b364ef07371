"""Execution: resume after kill -9, a worker process killed mid-task, an existing dask
cluster and a real single-node SLURM all give the same store, bit for bit."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from engine.batch import sweep
from engine.batch.config import loads_toml, parse_config
from engine.model.glycaemia import DAILY_NAMES

ROOT = Path(__file__).resolve().parents[2]
COMPARED = DAILY_NAMES + ("status", "bg", "cgm", "insulin", "carbs", "completed")

SWEEP_CONFIG = """
[run]
seed = 99
n_patients = {n}
days = {days}

[cohort]
groups = {{ adult = 1.0, adolescent = 1.0 }}

[sweep.grid]
"therapy.target_mg_dl" = [120, 150]

[output]
traced = [0, 3]

[execution]
block_size = {block}
"""


def write_config(tmp_path, n=24, days=3, block=6, extra=""):
    p = tmp_path / "sweep.toml"
    p.write_text(SWEEP_CONFIG.format(n=n, days=days, block=block) + extra)
    return p


def assert_same_store(a, b):
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    for name in COMPARED:
        assert np.array_equal(da[name].values, db[name].values, equal_nan=True), name


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory):
    """The uninterrupted local run every other execution must reproduce."""
    tmp = tmp_path_factory.mktemp("reference")
    cfg = parse_config(loads_toml(write_config(tmp).read_text()))
    sweep.run(cfg, tmp / "ref.zarr", quiet=True, workers=2)
    return tmp / "ref.zarr"


def test_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path):
    # long enough to be killed in the middle: 40 tasks of a few tenths of a second each
    cfg_path = write_config(tmp_path, n=120, days=10, block=6)
    out = tmp_path / "killed.zarr"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(cfg_path),
            "-o",
            str(out),
            "-q",
            "--workers",
            "1",
        ],
        cwd=ROOT,
    )
    done = 0
    for _ in range(4800):  # polls of 0.05 s: up to about 4 minutes
        if proc.poll() is not None:
            break
        try:
            done = int(zarr.open_group(str(out), mode="r")["completed"][...].sum())
        except Exception:  # store not created yet
            done = 0
        if done >= 60:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    completed = zarr.open_group(str(out), mode="r")["completed"][...]
    assert 0 < completed.sum() < completed.size

    from engine.cli import main

    assert main(["run", str(cfg_path), "-o", str(out), "--resume", "-q"]) == 0
    cfg = parse_config(loads_toml(cfg_path.read_text()))
    facts = sweep.run(cfg, tmp_path / "whole.zarr", quiet=True)
    assert facts["tasks"] == 40
    assert_same_store(out, tmp_path / "whole.zarr")
    # resuming a complete store computes nothing
    again = sweep.run(cfg, out, resume=True, quiet=True)
    assert again["tasks"] == 0 and again["tasks_skipped"] == 40


def test_resume_refuses_a_different_config(tmp_path, reference_store, capsys):
    from engine.cli import main

    out = tmp_path / "copy.zarr"
    shutil.copytree(reference_store, out)
    other = (
        write_config(tmp_path, n=24, days=3, block=6).read_text().replace("seed = 99", "seed = 98")
    )
    (tmp_path / "other.toml").write_text(other)
    assert main(["run", str(tmp_path / "other.toml"), "-o", str(out), "--resume"]) == 2
    assert "config differs" in capsys.readouterr().err
    blocks = write_config(tmp_path, block=4)
    assert main(["run", str(blocks), "-o", str(out), "--resume"]) == 2
    assert "block size is 6" in capsys.readouterr().err


def test_resume_refuses_a_store_another_engine_wrote(tmp_path, reference_store, capsys):
    """The store records the engine identity (version + source hash); a store written by any
    other engine, or by one from before identities, is refused with what to do."""
    import json

    from engine.cli import main
    from engine.runtime import engine_identity

    cfg = write_config(tmp_path)
    out = tmp_path / "copy.zarr"
    shutil.copytree(reference_store, out)
    meta = out / "zarr.json"
    doc = json.loads(meta.read_text())
    assert doc["attributes"]["engine_identity"] == engine_identity()
    for stored in ("0.2.0+src.0123456789abcdef", None):
        if stored is None:
            del doc["attributes"]["engine_identity"]
        else:
            doc["attributes"]["engine_identity"] = stored
        meta.write_text(json.dumps(doc))
        before = sorted((p.relative_to(out), p.stat().st_size) for p in out.rglob("*"))
        assert main(["run", str(cfg), "-o", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"this is {engine_identity()}" in err and "--overwrite" in err
        assert (stored or "(no identity)") in err
        assert sorted((p.relative_to(out), p.stat().st_size) for p in out.rglob("*")) == before


def test_existing_dask_cluster_with_worker_processes(tmp_path, reference_store):
    from distributed import LocalCluster

    cfg = parse_config(loads_toml(write_config(tmp_path).read_text()))
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        facts = sweep.run(
            cfg, tmp_path / "dist.zarr", scheduler=cluster.scheduler_address, quiet=True
        )
    assert facts["tasks"] == 8
    assert_same_store(tmp_path / "dist.zarr", reference_store)


def test_a_worker_killed_during_a_task_is_replaced_and_results_do_not_change(tmp_path):
    from distributed import Client, LocalCluster

    cfg_path = write_config(tmp_path, n=60, days=10, block=6)
    cfg = parse_config(loads_toml(cfg_path.read_text()))
    sweep.run(cfg, tmp_path / "ref.zarr", quiet=True)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        outcome = {}
        runner = threading.Thread(
            target=lambda: outcome.update(
                sweep.run(
                    cfg, tmp_path / "dist.zarr", scheduler=cluster.scheduler_address, quiet=True
                )
            )
        )
        runner.start()
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            killed = None
            for _ in range(2400):  # polls of 0.05 s: up to about 2 minutes
                if killed is not None:
                    break
                busy = {w: tasks for w, tasks in client.processing().items() if tasks}
                if busy:
                    worker = next(iter(busy))
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed = (worker, busy[worker])
                time.sleep(0.05)
        runner.join(timeout=300)
    assert killed is not None, "no task was ever seen running"
    assert outcome["tasks"] == 20
    assert_same_store(tmp_path / "dist.zarr", tmp_path / "ref.zarr")


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    """A real single-node SLURM, started and stopped by the test session."""
    if shutil.which("slurmctld") is None:
        if os.environ.get("CI"):
            pytest.fail(
                "SLURM is not installed: .ci/run installs it (scripts/slurm_local.sh install)"
            )
        pytest.skip("SLURM not installed here: run scripts/slurm_local.sh install (as root)")
    d = tmp_path_factory.mktemp("slurm")
    script = ROOT / "scripts" / "slurm_local.sh"
    subprocess.run(["bash", str(script), "up", str(d)], check=True)
    os.environ["SLURM_CONF"] = str(d / "slurm.conf")
    yield d
    subprocess.run(["bash", str(script), "down", str(d)], check=False)
    os.environ.pop("SLURM_CONF", None)


def test_sweep_on_a_real_slurm_cluster(tmp_path, local_slurm, reference_store):
    """Scheduler, workers and client over TLS with temporary certificates, end to end."""
    pytest.importorskip("dask_jobqueue")
    extra = """
[cluster]
kind = "slurm"
queue = "debug"
cores = 1
processes = 1
memory = "2GB"
walltime = "00:10:00"
jobs = 2
interface = "lo"
job_extra_directives = ["--output=TMP/slurm-%j.out"]
tls = true
""".replace("TMP", str(tmp_path))
    cfg = parse_config(loads_toml(write_config(tmp_path, extra=extra).read_text()))
    facts = sweep.run(cfg, tmp_path / "slurm.zarr", quiet=True)
    assert facts["tasks"] == 8
    assert facts["scheduler"].startswith("tls://127.0.0.1:")
    assert_same_store(tmp_path / "slurm.zarr", reference_store)
    jobs = subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=20)
    assert jobs.stdout.strip() == "", f"jobs left behind: {jobs.stdout}"


def test_resume_refuses_a_store_whose_creation_was_interrupted(tmp_path, reference_store, capsys):
    from engine.cli import main

    out = tmp_path / "partial.zarr"
    shutil.copytree(reference_store, out)
    shutil.rmtree(out / "tir")
    (out / "zarr.json").write_text((out / "zarr.json").read_text())  # group metadata stays
    cfg = write_config(tmp_path)
    assert main(["run", str(cfg), "-o", str(out), "--resume"]) == 2
    assert "lacks tir" in capsys.readouterr().err
