"""The population kernel on an NVIDIA GPU through numba.cuda: one thread per patient.

A thread runs exactly what a CPU lane runs: patient.py's plan, minute, after-step and end of
day around model/fast.py's rk4_step, called as CUDA device functions (numba compiles the same
@njit functions for the GPU), so the physiology, behaviour and therapy have one source. The
thread copies its patient's rows and the run's settings into local arrays first: per-thread
data stays in registers and local memory, and numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1),
which runs the kernel in Python and calls the @njit functions on the CPU, accepts local arrays
where it cannot pass device arrays to them.

Results: the same counter-based random numbers and the same daily aggregates as the CPU
backend. The device writes them day-major (daily[v, day, patient]) so that neighbouring threads
store neighbouring words; the host transposes. GPU exp/log/pow (libdevice) may differ from
glibc's in the last bit, so daily aggregates agree with the CPU backend to rounding, not bit for
bit; a threshold count (minutes below 70 mg/dL, say) can differ by a minute where a trajectory
sits on the threshold. Traced patients' minute traces come from the CPU backend, which reruns
just those patients (tracing a handful of patients from a GPU kernel would cost every thread).

Populations larger than the device's memory are streamed: the block is cut into chunks that
fit, each copied in, run and copied out in turn.

numba-cuda is optional (pip install 't1dmc[cuda]'); `require()` says clearly what is missing.
"""
import os

import numpy as np

from .metrics import N_DAILY
from .model.params import N_PARAMS, N_STATES
from .model.slow import N_MECH
from .patient import N_OUT
from .traits import N_TRAITS

THREADS_PER_BLOCK = 128
DEVICE_MEMORY_SHARE = 0.5    # of the free device memory, for one chunk's arrays


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
        raise CudaUnavailable(f"numba-cuda is not installed: pip install 't1dmc[cuda]' "
                              f"({err})") from None
    return cuda


def require() -> str:
    """The device's name, or CudaUnavailable saying what is missing."""
    cuda = _cuda()
    try:
        ok = cuda.is_available()
    except Exception as err:  # noqa: BLE001 - a broken driver means the same to the user
        raise CudaUnavailable(f"the CUDA driver failed ({err})") from None
    if not ok:
        raise CudaUnavailable("no CUDA GPU is visible on this machine "
                              "(use backend = 'cpu', or NUMBA_ENABLE_CUDASIM=1 to simulate one)")
    return device_name()


def device_name() -> str:
    cuda = _cuda()
    if simulated():
        return "numba CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def _kernel():
    """The compiled kernel's dispatcher; cuda_kernel.py imports numba.cuda at module level
    (the simulator swaps the module it finds among a kernel's globals), so it is imported
    only here, after _cuda() has checked that numba-cuda works."""
    _cuda()
    from .cuda_kernel import population_kernel
    return population_kernel


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


def simulate_block(params, x0, traits, patient_ids, seed, n_days, meal_slots, therapy,
                   behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                   trace_interval_min, daily, log_phi_out, status, traces, chunk=None):
    """kernel.simulate_block on the GPU: same arguments, same outputs. `chunk`: patients per
    launch (default: what fits in the device's free memory)."""
    from . import cuda_kernel, kernel
    cuda = _cuda()
    population_kernel = _kernel()
    n = params.shape[0]
    if meal_slots.shape[1] > cuda_kernel.MAX_MEAL_SLOTS:
        raise ValueError(f"meals: {meal_slots.shape[1]} slots, the CUDA kernel takes at most "
                         f"{cuda_kernel.MAX_MEAL_SLOTS}")
    chunk = chunk or chunk_size(n, n_days)
    settings = [cuda.to_device(np.ascontiguousarray(a, dtype=np.float64))
                for a in (meal_slots, therapy, behaviour, switches, sensor_params)]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        m = stop - start
        d_daily = cuda.device_array((N_DAILY, n_days, m), dtype=np.float64)
        d_log_phi = cuda.device_array((N_MECH, n_days, m), dtype=np.float64)
        d_status = cuda.device_array((n_days, m), dtype=np.int8)
        blocks = (m + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        population_kernel[blocks, THREADS_PER_BLOCK](
            cuda.to_device(np.ascontiguousarray(params[start:stop])),
            cuda.to_device(np.ascontiguousarray(x0[start:stop])),
            cuda.to_device(np.ascontiguousarray(traits[start:stop])),
            cuda.to_device(np.ascontiguousarray(patient_ids[start:stop])),
            np.uint64(seed), n_days, settings[0], meal_slots.shape[1], settings[1],
            settings[2], settings[3], settings[4], cgm_interval_min, d_daily, d_log_phi,
            d_status)
        daily[:, start:stop, :] = d_daily.copy_to_host().transpose(0, 2, 1)
        log_phi_out[:, start:stop, :] = d_log_phi.copy_to_host().transpose(0, 2, 1)
        status[start:stop, :] = d_status.copy_to_host().T
    traced = np.flatnonzero(trace_slot >= 0)
    if traced.size:
        _traces_on_cpu(kernel, traced, params, x0, traits, patient_ids, seed, n_days,
                       meal_slots, therapy, behaviour, switches, sensor_params,
                       cgm_interval_min, trace_slot, trace_interval_min, traces)


def _traces_on_cpu(kernel, rows, params, x0, traits, patient_ids, seed, n_days, meal_slots,
                   therapy, behaviour, switches, sensor_params, cgm_interval_min, trace_slot,
                   trace_interval_min, traces):
    """Minute traces of the traced rows, from the CPU kernel (daily results discarded)."""
    daily, log_phi, status, _ = kernel.allocate_outputs(rows.size, n_days, 0,
                                                        trace_interval_min)
    kernel.simulate_block(params[rows], x0[rows], traits[rows], patient_ids[rows], seed,
                          n_days, meal_slots, therapy, behaviour, switches, sensor_params,
                          cgm_interval_min, trace_slot[rows], trace_interval_min, daily,
                          log_phi, status, traces)
