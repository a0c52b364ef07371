"""The CUDA backend: agreement with the CPU backend under numba's CUDA simulator, a real
compilation of the kernel for an H100/H200 (sm_90) without a GPU, and clear errors where
numba-cuda or a GPU is missing."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.batch.config import ConfigError, parse_config
from engine.sim import cuda_driver as cuda_backend
from tests.libm import GLIBC_FMA_EXP

ROOT = Path(__file__).resolve().parents[3]


def _has_numba_cuda() -> bool:
    try:
        import numba_cuda  # noqa: F401  (the package, not numba.cuda: no import side effects)
    except ImportError:
        return False
    return True


needs_numba_cuda = pytest.mark.skipif(
    not _has_numba_cuda(), reason="numba-cuda not installed (the [test] extra has it)"
)


def _python(code_or_args, env_extra=None, timeout=900):
    env = {**os.environ, **(env_extra or {})}
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@needs_numba_cuda
def test_gpu_kernel_agrees_with_cpu_under_the_simulator():
    """Two chunks per population (streaming), a traced patient, a noisy sensor, patients who
    stop, the midpoint integrator: daily aggregates within 1e-9 relative, the same status and
    traces."""
    r = _python(
        ["scripts/check_cuda.py", "--patients", "5", "--days", "2", "--chunk", "3"],
        {"NUMBA_ENABLE_CUDASIM": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["simulated"] is True
    cases = {c["case"]: c for c in report["cases"]}
    assert cases["overdose_untreated"]["stopped_patient_days"] > 0
    assert cases["noisy_sensor_traced"]["stopped_patient_days"] == 0
    assert set(cases) == {
        "noisy_sensor_traced",
        "overdose_untreated",
        "midpoint_integrator",
        "aid_pid_device_events",
        "aid_oref",
        "plugin_bang_bang",
    }
    for c in cases.values():
        assert c["daily_max_rel_diff"] <= 1e-9, c
        assert c["log_phi_max_rel_diff"] <= 1e-9, c
        assert c["patient_days_differing"] == 0, c
        assert c["status_equal"], c
        if GLIBC_FMA_EXP:  # the simulated GPU calls libm's exp, the CPU lanes vexp's
            assert max(c["median_abs_diff"].values()) == 0.0, c
            assert c["traces_equal"], c


PTX_CHECK = textwrap.dedent("""
    import json, re, sys, types
    import numpy as np
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    import numba.cuda.dispatcher as dispatcher
    # device functions are compiled for the current device's compute capability; with no GPU
    # here, say it is an H100/H200's
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    sys.path.insert(0, "docs/examples")
    from engine.batch import plugins
    from engine.sim import cuda_driver
    # the built-in controllers' kernel, or (argument "plugin") the example plug-in's
    controller = 0
    if sys.argv[1:] == ["plugin"]:
        controller, _ = plugins.resolve("bang_bang:pd_controller")
    try:
        ptx = cuda_driver.ptx(controller, cc=(9, 0))
    except Exception as err:
        if "nvvm" in str(err).lower() or "nvrtc" in str(err).lower():
            print(json.dumps({"skip": str(err)[:300]})); raise SystemExit(0)
        raise
    local = [int(v) for v in re.findall(r"__local_depot\\d+\\[(\\d+)\\]", ptx)]
    # assembled and linked for sm_90 by nvJitLink (ptxas), as the driver does at the first
    # launch: where the limits the PTX does not show are met
    try:
        linked = cuda_driver.link(ptx, (9, 0))
    except ImportError:
        linked = None
    except RuntimeError as err:
        linked = "failed: " + str(err)[:1500]
    print(json.dumps({"entries": len(re.findall(r"\\.entry ", ptx)),
                      "target": re.search(r"\\.target (\\S+)", ptx).group(1),
                      "fmas": ptx.count("fma.rn.f64"), "local_bytes": max(local),
                      "constant_bytes": cuda_driver.constant_bytes(ptx),
                      "linked": linked, "calls_plugin": "pd_controller" in ptx}))
""")


def _ptx_report(*args):
    r = _python(["-c", PTX_CHECK, *args], timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    if "skip" in report:
        pytest.skip(f"NVVM not installed: {report['skip']}")
    return report


@needs_numba_cuda
def test_gpu_kernel_compiles_for_sm90_without_a_gpu():
    """numba-cuda and NVVM compile the whole kernel, shared model functions included, to PTX for
    compute capability 9.0: what the simulator cannot show (types, local arrays, no Python
    objects in device code)."""
    report = _ptx_report()
    assert report["entries"] == 1 and report["target"] == "sm_90"
    # NVVM fuses multiply-adds (one rounding where the CPU rounds twice): why GPU results
    # differ from the CPU's in the last bits (cuda_backend's docstring)
    assert report["fmas"] > 100
    # per-thread scratch: the time-of-day tables (2 x 1440 doubles) dominate; far from the
    # 512 KiB a thread may have
    assert 23_040 <= report["local_bytes"] < 64 * 1024
    _assert_it_links_for_sm90(report)


def _assert_it_links_for_sm90(report):
    """The global arrays the kernel reads (risk and growth tables) fit in its 64 KiB of
    constant memory, and ptxas assembles it: on an H200 a kernel holding 126 KiB of them
    (each mention of a table its own copy) compiled to PTX and failed at its first launch."""
    # the risk tables alone are 36,728 bytes: a count below them read no .const arrays
    assert 36_728 <= report["constant_bytes"] <= 0.95 * cuda_backend.CONSTANT_BANK_BYTES, report
    if report["linked"] is None:
        pytest.skip("nvJitLink not installed (the [test] extra's nvidia-nvjitlink)")
    assert not report["linked"].startswith("failed"), report["linked"]
    bank = re.search(r"(\d+) bytes cmem\[3\]", report["linked"])
    assert bank is None or int(bank.group(1)) == report["constant_bytes"], report["linked"]
    assert re.search(r"used \d+ registers", report["linked"]), report["linked"]


@needs_numba_cuda
def test_a_plugin_controller_compiles_into_the_gpu_kernel():
    """A plug-in (docs/examples/bang_bang.py) bound into the kernel (cuda.plugin_kernel)
    compiles to sm_90 PTX: what plugins.check does before a cuda run on a GPU."""
    report = _ptx_report("plugin")
    assert report["entries"] == 1 and report["target"] == "sm_90"
    _assert_it_links_for_sm90(report)
    assert report["calls_plugin"]


def test_backend_cuda_without_a_gpu_is_a_clear_error_and_writes_nothing(tmp_path):
    if cuda_backend.simulated():
        pytest.skip("the simulator is on: there is a (simulated) GPU")
    out = tmp_path / "out.zarr"
    r = _python(
        ["-m", "engine.cli", "run", "configs/quickstart.toml", "-o", str(out), "--backend", "cuda"],
        {"NUMBA_ENABLE_CUDASIM": "0"},
        timeout=300,
    )
    has_gpu = r.returncode == 0
    if has_gpu:
        pytest.skip("this machine has a CUDA GPU")
    assert r.returncode == 2, r.stderr
    assert "execution.backend = 'cuda'" in r.stderr
    assert (
        "no CUDA GPU" in r.stderr
        or "numba-cuda is not installed" in r.stderr
        or "CUDA driver" in r.stderr
    )
    assert not out.exists()


def test_backend_names_the_field_when_unknown():
    with pytest.raises(ConfigError, match=r"execution\.backend.*'gpu'"):
        parse_config({"execution": {"backend": "gpu"}})


def test_chunks_fit_the_free_device_memory():
    per = cuda_backend.bytes_per_patient(365)
    assert per > 365 * 8 * 40  # 33 daily variables and the log factors, every day
    assert cuda_backend.chunk_size(10**6, 365, free_bytes=10 * per) == 5
    assert cuda_backend.chunk_size(3, 365, free_bytes=10**12) == 3
    assert cuda_backend.chunk_size(10, 365, free_bytes=0) == 1
    assert np.isclose(cuda_backend.DEVICE_MEMORY_SHARE, 0.5)


@needs_numba_cuda
@pytest.mark.parametrize(
    "therapy",
    ["", '[therapy]\nkind = "sap"\ncontroller = "bang_bang:pd_controller"\n'],
    ids=["built-in", "plug-in"],
)
def test_a_run_on_the_cuda_backend_writes_the_cpu_backend_s_store(tmp_path, therapy):
    """The whole path, config to zarr, under the simulator: the same labelled results, value for
    value, as the CPU backend's run of the same config (two tasks, on two worker threads that
    take turns on the device); also with a plug-in controller (docs/examples/bang_bang.py),
    checked, resolved by the tasks and bound into the kernel."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        '[run]\nname = "small"\nseed = 5\nn_patients = 3\ndays = 1\n'
        "[output]\ntraced = 1\n[execution]\nblock_size = 2\n" + therapy
    )
    examples = str(ROOT / "docs" / "examples")
    path = os.pathsep.join(p for p in (examples, os.environ.get("PYTHONPATH", "")) if p)
    stores = {}
    for backend in ("cpu", "cuda"):
        stores[backend] = tmp_path / f"{backend}.zarr"
        r = _python(
            [
                "-m",
                "engine.cli",
                "run",
                str(cfg),
                "-o",
                str(stores[backend]),
                "--backend",
                backend,
                "-q",
            ],
            {"NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": path},
        )
        assert r.returncode == 0, r.stderr[-3000:]
    from engine.store.results import open_results

    cpu, gpu = open_results(stores["cpu"]), open_results(stores["cuda"])
    assert set(cpu.data_vars) == set(gpu.data_vars)
    for name in cpu.data_vars:
        a, b = cpu[name].values, gpu[name].values
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=0.0, equal_nan=True, err_msg=name)
        else:
            assert np.array_equal(a, b), name


def test_gpu_tasks_are_large_enough_to_fill_the_device():
    """The CPU's task of at least 16 per run would launch a GPU kernel of a few hundred
    threads in a short run; backend cuda takes ~8 million patient-days, bounded so a task's
    daily results (~2.7 GB) fit on the host whatever the run's length."""

    def block(n, days, backend, size=0):
        return parse_config(
            {
                "run": {"n_patients": n, "days": days},
                "execution": {"backend": backend, "block_size": size},
            }
        ).block_size()

    assert block(1_000, 30, "cpu") == 64
    assert block(1_000_000, 30, "cuda") == 266_666
    assert block(1_000_000, 365, "cuda") == 21_917
    assert block(1_000_000, 36_500, "cuda") == 1_024
    assert block(1_000, 365, "cuda") == 1_000
    assert block(1_000_000, 30, "cuda", size=5_000) == 5_000
