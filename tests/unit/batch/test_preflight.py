"""The pre-flight estimate (engine/batch/preflight.py): arithmetic on the config that scales as it
should, refusals that name the field, `t1dmc config check` printing it, and a real tiny run
whose store on disk it predicts."""

import os
from pathlib import Path

import pytest

from engine.batch import preflight
from engine.batch.config import ConfigError, parse_config
from engine.cli import main

GIB = 2**30
# what the old up-front sampling of the whole cohort held per patient before the first task
OLD_SETUP_BYTES_PER_PATIENT = 930


def cfg_of(n, days, **sections):
    return parse_config({"run": {"n_patients": n, "days": days}, **sections})


def test_estimate_scales_with_the_run():
    small = preflight.estimate(cfg_of(10_000, 30), 1, workers=2)
    assert small.patient_days == 300_000
    assert small.block_size == cfg_of(10_000, 30).block_size()
    assert small.tasks == -(-10_000 // small.block_size)
    sweep = preflight.estimate(cfg_of(10_000, 30), 4, workers=2)
    assert sweep.patient_days == 4 * small.patient_days
    assert sweep.tasks == 4 * small.tasks
    # the daily data four times over; the per-patient variables once (common random numbers)
    assert 3.0 < sweep.store_bytes / small.store_bytes < 4.0
    assert sweep.peak_bytes_per_worker == small.peak_bytes_per_worker  # one task is one task
    longer = preflight.estimate(cfg_of(10_000, 300), 1, workers=2)
    assert longer.patient_days == 10 * small.patient_days
    assert longer.block_size == cfg_of(10_000, 300).block_size()
    assert 5 < longer.store_bytes_raw / small.store_bytes_raw < 11
    assert longer.seconds > 5 * small.seconds
    # a fixed block size: twice the patients, twice the tasks and the files of daily data
    a = preflight.estimate(cfg_of(20_000, 30, execution={"block_size": 1000}), 1, workers=2)
    b = preflight.estimate(cfg_of(40_000, 30, execution={"block_size": 1000}), 1, workers=2)
    assert (a.tasks, b.tasks) == (20, 40)
    assert a.peak_bytes_per_worker == b.peak_bytes_per_worker
    assert 1.8 < b.files / a.files < 2.1
    # a task's memory grows with its block: the kernel's float64 outputs alone are
    # (33 daily + 8 mechanisms) x 8 bytes per patient-day
    big = preflight.estimate(cfg_of(20_000, 30, execution={"block_size": 10_000}), 1, workers=2)
    assert big.peak_bytes_per_worker > 10_000 * 30 * 329
    assert big.peak_bytes_per_worker > 5 * a.peak_bytes_per_worker
    # time: more threads, less time; midpoint faster than rk4; cuda not measured
    assert preflight.estimate(cfg_of(10_000, 30), 1, workers=1).seconds > small.seconds
    mid = preflight.estimate(
        cfg_of(10_000, 30, run={"n_patients": 10_000, "days": 30, "integrator": "midpoint"}),
        1,
        workers=2,
    )
    assert mid.seconds < small.seconds
    gpu = preflight.estimate(cfg_of(10_000, 30, execution={"backend": "cuda"}), 1, workers=8)
    assert gpu.seconds is None and "not measured" in preflight.format_estimate(gpu)


def test_a_hundred_million_patients_set_up_small_but_refused_on_a_small_machine():
    cfg = cfg_of(100_000_000, 30)
    est = preflight.estimate(cfg, 1, workers=2)
    # sampling is in the tasks: the setup holds coordinates, flags and the task graph
    assert est.setup_bytes < 100_000_000 * OLD_SETUP_BYTES_PER_PATIENT / 10
    assert est.setup_bytes > 100_000_000 * 8  # the patient coordinate at least
    preflight.check_fits(est, available=64 * GIB)  # fits a large machine
    with pytest.raises(ConfigError) as err:
        preflight.check_fits(est, available=1 * GIB)
    msg = str(err.value)
    assert msg.startswith("run.n_patients = 100000000: the run's setup needs ")
    assert "1.0 GiB are available" in msg


def test_tasks_that_do_not_fit_name_the_block_size_and_workers():
    cfg = cfg_of(1_000_000, 365, execution={"block_size": 100_000})
    est = preflight.estimate(cfg, 1, workers=8)
    assert est.peak_bytes_per_worker > 100_000 * 365 * 329
    # one task (48 daily variables since 0.6.0) takes ~20 GiB: one worker fits in 24 GiB
    with pytest.raises(ConfigError) as err:
        preflight.check_fits(est, available=24 * GIB)
    msg = str(err.value)
    assert msg.startswith("execution.block_size = 100000 with 8 workers: each task needs ")
    assert "set execution.block_size to at most" in msg and "--workers 1" in msg
    # the suggested block size fits
    block = int(msg.split("at most ")[1].split()[0].replace(",", ""))
    ok = preflight.estimate(cfg_of(1_000_000, 365, execution={"block_size": block}), 1, 8)
    preflight.check_fits(ok, available=24 * GIB)
    # the automatic block size is named as such
    auto = preflight.estimate(cfg_of(1_000_000, 365), 1, workers=64)
    with pytest.raises(ConfigError, match=r"execution.block_size = 0 \(automatic: "):
        preflight.check_fits(auto, available=auto.setup_bytes + auto.peak_bytes_per_worker)
    # a cluster's workers are not this machine's memory: only the setup is checked here
    slurm = preflight.estimate(
        cfg_of(1_000_000, 365, execution={"block_size": 100_000}, cluster={"kind": "slurm"}),
        1,
        workers=0,
    )
    assert not slurm.local
    preflight.check_fits(slurm, available=16 * GIB)


def test_check_disk_names_the_path_and_the_space(tmp_path, monkeypatch):
    est = preflight.estimate(cfg_of(1000, 30), 1, workers=2)
    preflight.check_disk(est, tmp_path / "not" / "yet" / "out.zarr")  # nearest parent exists
    monkeypatch.setattr(
        preflight.shutil,
        "disk_usage",
        lambda p: type("U", (), {"free": 1000, "total": 0, "used": 0})(),
    )
    with pytest.raises(ConfigError) as err:
        preflight.check_disk(est, tmp_path / "out.zarr")
    msg = str(err.value)
    assert str(tmp_path / "out.zarr") in msg and "1 kB free" in msg and "needs ~" in msg


def test_available_memory_is_positive():
    assert 0 < preflight.available_memory_bytes() < 2**50


def test_config_check_prints_the_estimate_and_refuses_what_cannot_fit(
    tmp_path, capsys, monkeypatch
):
    assert main(["config", "check", "configs/quickstart.toml"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "valid;" in lines[0]
    for label in ("patient-days  30,000", "tasks ", "store ", "memory ", "time "):
        assert any(line.strip().startswith(label.strip()) for line in lines[1:]), label
    assert f"x {os.cpu_count()} thread" in out or "x 1 thread" in out
    assert "patient-days/s per thread" in out and "preflight-" in out
    huge = tmp_path / "huge.toml"
    huge.write_text("[run]\nn_patients = 100000000\ndays = 30\n")
    monkeypatch.setattr(preflight, "available_memory_bytes", lambda: 2 * GIB)
    assert main(["config", "check", str(huge)]) == 2
    captured = capsys.readouterr()
    assert "valid;" in captured.out and "3,000,000,000" in captured.out
    assert "run.n_patients = 100000000: the run's setup needs" in captured.err
    assert "2.0 GiB are available" in captured.err


def _on_disk(path: Path) -> int:
    """Allocated bytes of a folder and everything in it (du)."""
    total = path.lstat().st_blocks * 512
    for p in path.rglob("*"):
        total += p.lstat().st_blocks * 512
    return total


def test_estimate_within_a_factor_two_of_a_real_tiny_run(tmp_path):
    from engine.batch import sweep

    cfg = cfg_of(64, 5)
    out = tmp_path / "tiny.zarr"
    sweep.run(cfg, out, workers=1, quiet=True)
    est = preflight.estimate(cfg, 1, workers=1)
    on_disk = _on_disk(out)
    apparent = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    files = sum(1 for p in out.rglob("*") if p.is_file())
    assert 0.5 < est.store_bytes / on_disk < 2.0, (est.store_bytes, on_disk)
    assert 0.5 < est.files / files < 2.0, (est.files, files)
    assert est.store_bytes_raw > apparent * 0.5
