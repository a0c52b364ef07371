"""Patients of a population run: the reference patients resampled with per-parameter jitter,
each with its basal steady state recomputed.

A patient is a pure function of (seed, patient id): its group, its source reference patient and
its jitter all come from the counter-based generator (stream STREAM_COHORT, day 0).
"""
from dataclasses import dataclass

import numba as nb
import numpy as np

from . import rng
from .model.params import (
    N_PARAMS, N_STATES, PARAM_NAMES, P_EGPB, P_FSNC, P_GB, P_IB, P_K1, P_K2, P_KA1, P_KA2,
    P_KD, P_KE1, P_KE2, P_KM0, P_KMAX, P_KMIN, P_KP1, P_KP2, P_KP3, P_M1, P_M2, P_M30, P_M4,
    P_U2SS, P_VG, P_VI, P_VM0, X_GP, X_GS, X_GT, X_I1, X_ID, X_IL, X_IP, X_ISC1, X_ISC2,
)
from .reference import GROUPS, reference_patients

# Parameters jittered around the source patient (multiplicative log-normal, mean-preserving).
# The basal quantities Vm0, kp1 and u2ss and the initial states are then derived from the
# steady state, so every sampled patient starts at rest at its basal glucose Gb.
JITTERED = ("BW", "kabs", "kmax", "kmin", "Vmx", "Km0", "k1", "k2", "p2u", "ki", "kp2", "kp3",
            "ka1", "ka2", "kd", "ksc", "m1", "m2", "m4", "m30", "CR", "CF")
JITTERED_INDEX = np.array([PARAM_NAMES.index(n) for n in JITTERED], dtype=np.int64)
MAX_REDRAWS = 200


@nb.njit(cache=True, nogil=True)
def basal_steady_state(p, x_out):
    """Set p's Vm0, kp1, u2ss and the basal states x_out from Gb, EGPb and the kinetic
    parameters (UVA/Padova S2008 at rest: every derivative zero with no meal, X = 0,
    Id = I1 = Ib). Returns False if the parameters admit no physiological steady state."""
    gpb = p[P_GB] * p[P_VG]
    renal = p[P_KE1] * (gpb - p[P_KE2]) if gpb > p[P_KE2] else 0.0
    # dGp = 0: EGPb - Fsnc - E - k1 Gp + k2 Gt = 0
    gtb = (p[P_FSNC] - p[P_EGPB] + renal + p[P_K1] * gpb) / p[P_K2]
    if not (gtb > 0.0):
        return False
    # dGt = 0 with X = 0: Vm0 Gt / (Km0 + Gt) = k1 Gp - k2 Gt
    uptake = p[P_K1] * gpb - p[P_K2] * gtb
    vm0 = uptake * (p[P_KM0] + gtb) / gtb
    if not (vm0 > 0.0):
        return False
    ipb = p[P_IB] * p[P_VI]
    ilb = p[P_M2] * ipb / (p[P_M1] + p[P_M30])
    u2ss = (p[P_M2] + p[P_M4]) * ipb - p[P_M1] * ilb
    if not (u2ss > 0.0):
        return False
    kp1 = p[P_EGPB] + p[P_KP2] * gpb + p[P_KP3] * p[P_IB]
    isc1 = u2ss / (p[P_KA1] + p[P_KD])
    isc2 = p[P_KD] * isc1 / p[P_KA2]
    p[P_VM0] = vm0
    p[P_KP1] = kp1
    p[P_U2SS] = u2ss
    for j in range(N_STATES):
        x_out[j] = 0.0
    x_out[X_GP] = gpb
    x_out[X_GT] = gtb
    x_out[X_IP] = ipb
    x_out[X_I1] = p[P_IB]
    x_out[X_ID] = p[P_IB]
    x_out[X_IL] = ilb
    x_out[X_ISC1] = isc1
    x_out[X_ISC2] = isc2
    x_out[X_GS] = gpb
    return p[P_KMIN] < p[P_KMAX]


@nb.njit(cache=True, nogil=True)
def _sample(seed, patient_ids, group_cum, group_members, group_counts, ref_params,
            jitter_index, jitter_sigma, params_out, x0_out, source_out, redraws_out):
    n_j = jitter_index.shape[0]
    for i in range(patient_ids.shape[0]):
        pid = patient_ids[i]
        u = rng.uniform(seed, pid, 0, rng.STREAM_COHORT, 0)
        g = 0
        while g < group_cum.shape[0] - 1 and u > group_cum[g]:
            g += 1
        u = rng.uniform(seed, pid, 0, rng.STREAM_COHORT, 1)
        k = min(int(u * group_counts[g]), group_counts[g] - 1)
        src = group_members[g, k]
        source_out[i] = src
        for attempt in range(MAX_REDRAWS):
            for j in range(N_PARAMS):
                params_out[i, j] = ref_params[src, j]
            for q in range(n_j):
                z = rng.normal(seed, pid, 0, rng.STREAM_COHORT, 2 + attempt * n_j + q)
                s = jitter_sigma[q]
                params_out[i, jitter_index[q]] *= np.exp(s * z - 0.5 * s * s)
            if basal_steady_state(params_out[i], x0_out[i]):
                redraws_out[i] = attempt
                break
        else:
            redraws_out[i] = -1


@dataclass(frozen=True)
class Cohort:
    patient_id: np.ndarray      # (n,) int64, stable identity used as RNG key
    params: np.ndarray          # (n, N_PARAMS)
    x0: np.ndarray              # (n, 13) basal states
    source: np.ndarray          # (n,) index of the reference patient resampled
    group: np.ndarray           # (n,) str
    age_years: np.ndarray       # (n,)

    def __len__(self):
        return self.patient_id.shape[0]

    def take(self, sl: slice) -> "Cohort":
        return Cohort(*(getattr(self, f)[sl] for f in self.__dataclass_fields__))


def sample_cohort(seed: int, patient_ids, group_weights: dict[str, float],
                  jitter_cv: float) -> Cohort:
    """Patients `patient_ids` of a run: group by `group_weights`, a uniformly chosen reference
    patient of that group, parameters in JITTERED scaled by log-normal factors of coefficient of
    variation `jitter_cv`, redrawn until a basal steady state exists."""
    ref = reference_patients()
    ids = np.ascontiguousarray(patient_ids, dtype=np.int64)
    names = [g for g in GROUPS if group_weights.get(g, 0.0) > 0.0]
    w = np.array([group_weights[g] for g in names], dtype=np.float64)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    members = [np.flatnonzero(np.array(ref.groups) == g) for g in names]
    counts = np.array([m.size for m in members], dtype=np.int64)
    member_table = np.zeros((len(names), counts.max()), dtype=np.int64)
    for g, m in enumerate(members):
        member_table[g, :m.size] = m
    sigma = np.full(JITTERED_INDEX.size, np.sqrt(np.log1p(jitter_cv ** 2)))
    n = ids.size
    params = np.empty((n, N_PARAMS))
    x0 = np.empty((n, N_STATES))
    source = np.empty(n, dtype=np.int64)
    redraws = np.empty(n, dtype=np.int64)
    _sample(np.uint64(seed), ids, cum, member_table, counts, ref.params, JITTERED_INDEX, sigma,
            params, x0, source, redraws)
    if (redraws < 0).any():
        bad = ids[redraws < 0][0]
        raise RuntimeError(f"patient {bad}: no physiological parameter draw in {MAX_REDRAWS} tries;"
                           f" jitter_cv={jitter_cv} is too wide")
    return Cohort(patient_id=ids, params=params, x0=x0, source=source,
                  group=np.array([ref.groups[s] for s in source]),
                  age_years=ref.age_years[source].copy())
