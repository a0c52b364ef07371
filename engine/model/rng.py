"""Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
as easy as 1, 2, 3"), as pure numba functions.

A draw is a pure function of (seed, patient id, day, stream, index): no state is carried, so a
patient's life never depends on block size, thread count, task order or on other patients.

Key   = (low 32 bits of seed, patient id)
Counter = (index, stream, day, high 32 bits of seed)

Every integer constant is uint64 and masked to 32 bits explicitly: mixing uint64 with int64
silently promotes to float64 in numba (numba #4631).
"""

import math

import numba as nb
import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53

# Streams: one per kind of draw, so adding draws of one kind never shifts another.
STREAM_COHORT = 1
STREAM_MEALS = 2
STREAM_CGM = 3
STREAM_THERAPY = 4
STREAM_SWEEP = 5
STREAM_BOLUS = 6  # carbohydrate-counting error, missed and late boluses
STREAM_EXERCISE = 7  # exercise sessions
STREAM_EPISODES = 8  # stress and illness episodes
STREAM_TRAITS = 9  # traits and lifestyle of the population sampler
STREAM_RESCUE = 10  # carbohydrate eaten for a low
STREAM_DEVICE = 11  # sensor warm-ups and signal loss, infusion-set failures, exercise mode


@nb.njit(cache=True, nogil=True, inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block: four 32-bit words (held in uint64) from counter and key."""
    c0 = nb.uint64(c0) & _MASK32
    c1 = nb.uint64(c1) & _MASK32
    c2 = nb.uint64(c2) & _MASK32
    c3 = nb.uint64(c3) & _MASK32
    k0 = nb.uint64(k0) & _MASK32
    k1 = nb.uint64(k1) & _MASK32
    for r in range(10):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0 = p0 >> _SHIFT32
        lo0 = p0 & _MASK32
        hi1 = p1 >> _SHIFT32
        lo1 = p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@nb.njit(cache=True, nogil=True, inline="always")
def _block(seed, patient, day, stream, index):
    s = nb.uint64(seed)
    return philox4x32_10(
        nb.uint64(index),
        nb.uint64(stream),
        nb.uint64(day),
        s >> _SHIFT32,
        s & _MASK32,
        nb.uint64(patient),
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _to_unit(a, b):
    """53-bit double in the open interval (0, 1) from two 32-bit words."""
    m = ((a << _SHIFT32) | b) >> nb.uint64(11)
    return (float(m) + 0.5) * _TWO_POW_M53


@nb.njit(cache=True, nogil=True)
def uniform(seed, patient, day, stream, index):
    """U(0, 1), never exactly 0 or 1."""
    w0, w1, w2, w3 = _block(seed, patient, day, stream, index)
    return _to_unit(w0, w1)


@nb.njit(cache=True, nogil=True)
def normal(seed, patient, day, stream, index):
    """N(0, 1) by Box-Muller from one block (the cosine branch)."""
    w0, w1, w2, w3 = _block(seed, patient, day, stream, index)
    u1 = _to_unit(w0, w1)
    u2 = _to_unit(w2, w3)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@nb.njit(cache=True, nogil=True, inline="always")
def mean_one_lognormal(cv, z):
    """exp(sigma z - sigma^2 / 2) with sigma^2 = log(1 + cv^2): a log-normal factor of mean 1
    and coefficient of variation `cv` from the standard normal draw z (1 when cv is 0)."""
    s2 = math.log1p(cv * cv)
    return math.exp(math.sqrt(s2) * z - 0.5 * s2)


@nb.njit(cache=True, nogil=True)
def uniforms(seed, patients, day, stream, index):
    """Vectorised `uniform` over an array of patient ids."""
    out = np.empty(patients.shape[0])
    for i in range(patients.shape[0]):
        out[i] = uniform(seed, patients[i], day, stream, index)
    return out


@nb.njit(cache=True, nogil=True)
def normals(seed, patients, day, stream, index):
    """Vectorised `normal` over an array of patient ids."""
    out = np.empty(patients.shape[0])
    for i in range(patients.shape[0]):
        out[i] = normal(seed, patients[i], day, stream, index)
    return out
