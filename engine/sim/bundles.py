"""The kernels' argument bundles, declared once: numba-compatible namedtuples that carry the
arrays a patient lane works on, so no kernel function takes more than a handful of
parameters. A bundle passed to an inlined function, or into the group loop compiled without
reference counting, costs nothing at run time (measured: benchmarks/compare_revisions.py,
0.2.0 against 0.1.0)."""

from collections import namedtuple

import numba as nb
import numpy as np

from ..life.behaviour import MINUTES_PER_DAY
from ..life.controllers import N_CGM_HISTORY, N_CONTROLLER_SETTINGS, N_CONTROLLER_STATE
from ..life.therapy import N_TITRATION_ACC
from ..model import slow
from ..model.glycaemia import N_ACC

# the population block: one row per patient (trace_slot[i]: its row of traces, or -1)
PatientRows = namedtuple("PatientRows", "params x0 traits patient_ids trace_slot")
# the run's settings vectors (engine.batch.translate) and counters; `controller` is 0 for the
# built-in controllers or a plug-in's jitted function (engine/life/controllers.py), `aid` the
# pump's settings (engine/life/aid.py AID)
RunSettings = namedtuple(
    "RunSettings",
    "seed n_days meal_slots therapy behaviour switches "
    "sensor_params cgm_interval_min trace_interval_min controller aid",
)
# what the kernel writes: daily[D.<name>, i, day], log_phi[K.<name>, i, day], status[i, day],
# traces[TRACE.<name>, slot, sample]
Outputs = namedtuple("Outputs", "daily log_phi status traces")
# constants derived once per run from its settings (patient.run_constants)
RunConstants = namedtuple("RunConstants", "habitual_carbs_g iob_decay dose_scale has_noise")
# a lane's tables, row j for lane j (engine/sim/patient.py documents each); the CPU driver
# allocates them for LANES lanes, the CUDA kernel in local memory for one
LaneTables = namedtuple(
    "LaneTables",
    "lf li tr st acc tacc meal_minute meal_grams meal_slot "
    "pend_minute pend_units tod dawn gmi_ring log_phi out agg cgm_hist ctl_set ctl_state",
)


@nb.njit(cache=True, nogil=True)
def allocate_lane_tables(n_lanes, n_lane_f, n_lane_i, n_traits, n_out, max_meals, max_pending):
    """LaneTables for `n_lanes` lanes, uninitialised (lane_start fills a lane)."""
    L = n_lanes
    return LaneTables(
        lf=np.empty((L, n_lane_f)),
        li=np.empty((L, n_lane_i), dtype=np.int64),
        tr=np.empty((L, n_traits)),
        st=np.empty((L, slow.N_SLOW)),
        acc=np.empty((L, N_ACC)),
        tacc=np.empty((L, N_TITRATION_ACC)),
        meal_minute=np.empty((L, max_meals), dtype=np.int64),
        meal_grams=np.empty((L, max_meals)),
        meal_slot=np.empty((L, max_meals), dtype=np.int64),
        pend_minute=np.empty((L, max_pending), dtype=np.int64),
        pend_units=np.empty((L, max_pending)),
        tod=np.empty((L, MINUTES_PER_DAY)),
        dawn=np.empty((L, MINUTES_PER_DAY)),
        gmi_ring=np.empty((L, slow.GMI_DAYS)),
        log_phi=np.empty((L, slow.N_MECH)),
        out=np.empty((L, n_out)),
        agg=np.empty(slow.N_AGG),
        cgm_hist=np.empty((L, N_CGM_HISTORY)),
        ctl_set=np.empty((L, N_CONTROLLER_SETTINGS)),
        ctl_state=np.empty((L, N_CONTROLLER_STATE)),
    )
