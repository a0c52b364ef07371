"""The population kernel on an NVIDIA GPU through numba.cuda: one thread per patient.

A thread runs the code a CPU lane runs: patient.py's plan, minute, after-step and end of day
around model/fast.py's rk4_step, called as CUDA device functions (numba compiles the same
@njit functions for the GPU; the kernel itself is engine/sim/cuda.py), so the physiology,
behaviour and therapy have one source. The thread copies its patient's rows and the run's
settings into local arrays first: per-thread
data stays in registers and local memory, and numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1),
which runs the kernel in Python and calls the @njit functions on the CPU, accepts local arrays
where it cannot pass device arrays to them.

Results: the same Philox words and the same daily variables as the CPU backend, but not the
same bits: the device's exp/log/cos (libdevice) and NVVM's fused multiply-adds round
differently from glibc and the CPU's separate multiply and add. Most patient-days then agree to
~1e-12; a patient whose glucose grazes a decision threshold (a correction or rescue, a bolus
rounded to its increment, a titration step) can take the other branch and from then on live a
slightly different life, as two CPU runs differing in the last bit would. Population statistics
are unaffected; scripts/check_cuda.py measures both on a device. Under numba's CUDA simulator
the arithmetic is the CPU's, so there the backends agree to the bit (the test suite's check)
wherever libm's exp is glibc's FMA build, which the CPU lanes' model/vexp.py reproduces;
elsewhere within ~1e-15.
The device writes day-major (daily[v, day, patient]) so that neighbouring threads store
neighbouring words; the host transposes. Traced patients are rerun on the CPU, where their
minute traces are recorded, and their daily rows are taken from that run, so a patient's trace
and daily values come from one trajectory (tracing from the GPU kernel would cost every
thread); keep `output.traced` to a few patients on this backend.

Populations larger than the device's memory are streamed: the block is cut into chunks that
fit, each copied in, run and copied out in turn.

numba-cuda is optional (pip install 't1dmc[cuda]'); `require()` says clearly what is missing.
"""

import os
import re
import threading

import numpy as np

from ..life.aid import N_AID
from ..life.behaviour import N_BEHAVIOUR
from ..life.sensor import N_SENSOR
from ..life.therapy import N_THERAPY
from ..model.glycaemia import N_DAILY
from ..model.params import N_PARAMS, N_STATES
from ..model.slow import N_MECH
from ..model.traits import N_TRAITS
from .bundles import Outputs, PatientRows
from .patient import N_OUT, N_SWITCHES

THREADS_PER_BLOCK = 128
DEVICE_MEMORY_SHARE = 0.5  # of the free device memory, for one chunk's arrays
# one caller at a time per process: chunks are sized from the free memory at the call, and
# two threads sizing at once would each take half of it
_DEVICE_LOCK = threading.Lock()


class CudaUnavailable(RuntimeError):
    """backend = "cuda" asked for where numba-cuda or a CUDA GPU is missing."""


def simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _cuda():
    """numba.cuda, imported on first use. numba-cuda still calls np.row_stack, which numpy
    2.5 removed; np.vstack is the same function."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    try:
        from numba import cuda
    except ImportError as err:
        raise CudaUnavailable(
            f"numba-cuda is not installed: pip install 't1dmc[cuda]' ({err})"
        ) from None
    return cuda


def require() -> str:
    """The device's name, or CudaUnavailable saying what is missing."""
    cuda = _cuda()
    try:
        ok = cuda.is_available()
    except Exception as err:  # noqa: BLE001 - a broken driver means the same to the user
        raise CudaUnavailable(f"the CUDA driver failed ({err})") from None
    if not ok:
        raise CudaUnavailable(
            "no CUDA GPU is visible on this machine "
            "(use backend = 'cpu', or NUMBA_ENABLE_CUDASIM=1 to simulate one)"
        )
    return device_name()


def device_name() -> str:
    cuda = _cuda()
    if simulated():
        return "numba CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


_PLUGIN_KERNELS = {}  # a plug-in's function -> its kernel, for this process


def _kernel(controller=0):
    """The compiled kernel's dispatcher for the run's controller (0: the built-ins; else a
    plug-in's function, bound by cuda.plugin_kernel); cuda.py imports numba.cuda at module
    level (the simulator swaps the module it finds among a kernel's globals), so it is
    imported only here, after _cuda() has checked that numba-cuda works."""
    _cuda()
    from .cuda import plugin_kernel, population_kernel

    if isinstance(controller, int):
        return population_kernel
    if controller not in _PLUGIN_KERNELS:
        _PLUGIN_KERNELS[controller] = plugin_kernel(controller)
    return _PLUGIN_KERNELS[controller]


def kernel_signature():
    """The kernel's argument types as _run_chunks launches it."""
    from numba import types as T

    f1, f2, f3 = T.float64[::1], T.float64[:, ::1], T.float64[:, :, ::1]
    head = (f2, f2, f2, T.int64[::1], T.uint64, T.int64, f2, T.int64, f1, f1, f1, f1, T.int64)
    return (*head, f1, f3, f3, T.int8[:, ::1])


def compile_kernel(controller=0) -> None:
    """The kernel for `controller` compiled for the current device, kept by its dispatcher
    for this process's launches."""
    _kernel(controller).compile(kernel_signature())


def ptx(controller=0, cc=None) -> str:
    """The kernel for `controller` (0: the built-ins; else a plug-in's function) compiled to
    PTX for compute capability `cc` (default: the current device's): whether it compiles
    for a GPU, without launching it."""
    cuda = _cuda()
    if cc is None:
        cc = cuda.get_current_device().compute_capability
    return cuda.compile_ptx(_kernel(controller).py_func, kernel_signature(), cc=cc)[0]


CONSTANT_BANK_BYTES = 64 * 1024  # a kernel's user constant memory (ptxas, every arch)


def constant_bytes(ptx_text: str) -> int:
    """Bytes of the PTX's .const arrays: where numba-cuda puts the global arrays the kernel's
    functions read (each mention its own copy), limited to CONSTANT_BANK_BYTES."""
    return sum(int(n) for n in re.findall(r"^\.const .*?\[(\d+)\]", ptx_text, re.M))


def link(ptx_text: str, cc=(9, 0)) -> str:
    """The PTX assembled and linked to a cubin for compute capability `cc` by nvJitLink
    (ptxas inside), without a GPU: what the driver does at the first launch, where limits the
    PTX does not show are met (constant memory, registers). Returns nvJitLink's info log
    (registers, stack, spills, constant bytes); raises RuntimeError with its error log, and
    ImportError without NVIDIA's nvJitLink library (the [test] extra's nvidia-nvjitlink)."""
    from cuda.bindings import nvjitlink

    try:
        handle = nvjitlink.create(2, [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"])
    except nvjitlink.nvJitLinkError:
        raise
    except Exception as err:  # noqa: BLE001 - cuda.pathfinder: the library is not there
        raise ImportError(f"NVIDIA's nvJitLink library was not found ({err})") from None

    def log(size_of, read) -> str:
        buf = bytearray(size_of(handle))
        read(handle, buf)
        return buf.decode(errors="replace").rstrip("\x00")

    try:
        data = ptx_text.encode()
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
        nvjitlink.complete(handle)
    except nvjitlink.nvJitLinkError as err:
        raise RuntimeError(
            f"nvJitLink: {err}: {log(nvjitlink.get_error_log_size, nvjitlink.get_error_log)}"
        ) from None
    finally:
        info = log(nvjitlink.get_info_log_size, nvjitlink.get_info_log)
        nvjitlink.destroy(handle)
    return info


def bytes_per_patient(n_days: int) -> int:
    """Device memory of one patient: its input rows and its daily outputs."""
    return 8 * (N_PARAMS + N_STATES + N_TRAITS + 1) + n_days * (8 * N_OUT + 1)


def chunk_size(n_patients: int, n_days: int, free_bytes: int | None = None) -> int:
    """Patients per launch: what fits in DEVICE_MEMORY_SHARE of the free device memory."""
    if free_bytes is None:
        free_bytes = _free_device_bytes()
    fit = int(DEVICE_MEMORY_SHARE * free_bytes) // bytes_per_patient(n_days)
    return max(1, min(n_patients, fit))


def _free_device_bytes() -> int:
    if simulated():
        return 1 << 30
    free, _total = _cuda().current_context().get_memory_info()
    return int(free)


def simulate_block(rows, run, outs, chunk=None):
    """cpu.simulate_block on the GPU: same bundles (engine/sim/bundles.py), same outputs.
    `chunk`: patients per launch (default: what fits in the device's free memory)."""
    from . import cpu
    from . import cuda as cuda_kernel

    params = rows.params
    n = params.shape[0]
    # the kernel copies fixed counts into local arrays: a vector of another length would be
    # read out of bounds on the device, silently
    expected = {
        "params": (params, (n, N_PARAMS)),
        "x0": (rows.x0, (n, N_STATES)),
        "traits": (rows.traits, (n, N_TRAITS)),
        "patient_ids": (rows.patient_ids, (n,)),
        "therapy": (run.therapy, (N_THERAPY,)),
        "behaviour": (run.behaviour, (N_BEHAVIOUR,)),
        "switches": (run.switches, (N_SWITCHES,)),
        "sensor_params": (run.sensor_params, (N_SENSOR,)),
        "aid": (run.aid, (N_AID,)),
        "trace_slot": (rows.trace_slot, (n,)),
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape:
            raise ValueError(f"{name}: shape {array.shape}, the CUDA kernel expects {shape}")
    meal_slots = run.meal_slots
    if not 0 < meal_slots.shape[1] <= cuda_kernel.MAX_MEAL_SLOTS or meal_slots.shape[0] != 5:
        raise ValueError(
            f"meal_slots: shape {meal_slots.shape}, the CUDA kernel takes (5, 1.."
            f"{cuda_kernel.MAX_MEAL_SLOTS})"
        )
    with _DEVICE_LOCK:
        _run_chunks(rows, run, outs, chunk)
    traced = np.flatnonzero(rows.trace_slot >= 0)
    if traced.size:
        _traced_on_cpu(cpu, traced, rows, run, outs)


def _run_chunks(rows, run, outs, chunk):
    cuda = _cuda()
    population_kernel = _kernel(run.controller)
    n, n_days = rows.params.shape[0], run.n_days
    chunk = chunk or chunk_size(n, n_days)
    settings = [
        cuda.to_device(np.ascontiguousarray(a, dtype=np.float64))
        for a in (
            run.meal_slots,
            run.therapy,
            run.behaviour,
            run.switches,
            run.sensor_params,
            run.aid,
        )
    ]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        m = stop - start
        d_daily = cuda.device_array((N_DAILY, n_days, m), dtype=np.float64)
        d_log_phi = cuda.device_array((N_MECH, n_days, m), dtype=np.float64)
        d_status = cuda.device_array((n_days, m), dtype=np.int8)
        blocks = (m + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        population_kernel[blocks, THREADS_PER_BLOCK](
            *(
                cuda.to_device(np.ascontiguousarray(a[start:stop]))
                for a in (rows.params, rows.x0, rows.traits, rows.patient_ids)
            ),
            np.uint64(run.seed),
            n_days,
            settings[0],
            run.meal_slots.shape[1],
            settings[1],
            settings[2],
            settings[3],
            settings[4],
            run.cgm_interval_min,
            settings[5],
            d_daily,
            d_log_phi,
            d_status,
        )
        outs.daily[:, start:stop, :] = d_daily.copy_to_host().transpose(0, 2, 1)
        outs.log_phi[:, start:stop, :] = d_log_phi.copy_to_host().transpose(0, 2, 1)
        outs.status[start:stop, :] = d_status.copy_to_host().T


def _traced_on_cpu(cpu, idx, rows, run, outs):
    """The traced rows rerun by the CPU kernel: their minute traces, and their daily rows
    replaced by that run's, so trace and days come from one trajectory."""
    sub = cpu.allocate_outputs(idx.size, run.n_days, 0, run.trace_interval_min)
    cpu.simulate_block(
        PatientRows(*(a[idx] for a in rows)),
        run,
        Outputs(sub.daily, sub.log_phi, sub.status, outs.traces),
    )
    outs.daily[:, idx, :] = sub.daily
    outs.log_phi[:, idx, :] = sub.log_phi
    outs.status[idx, :] = sub.status
