"""CGM: noise-free, or the Johnson-SU error model of Breton & Kovatchev (JDST 2:853, 2008) as
used by simglucose: a normal AR(1) sequence at 15-minute knots, e_k = PACF (e_{k-1} + z_k),
mapped through xi + lambda * sinh((e - gamma) / delta) and interpolated linearly between knots
(simglucose interpolates with a cubic spline; linear keeps the sensor a one-pass numba recurrence).
Readings are clipped to the sensor's range."""
import math

import numba as nb

from ..model import rng

NOISE_KNOT_MIN = 15          # Breton & Kovatchev 2008 model step
KNOTS_PER_DAY = 1440 // NOISE_KNOT_MIN

SENSOR_NONE = 0
SENSOR_JOHNSON_SU = 1
# sensor parameter vector layout: kind, PACF, gamma, lambda, delta, xi, min, max
S_KIND, S_PACF, S_GAMMA, S_LAMBDA, S_DELTA, S_XI, S_MIN, S_MAX = range(8)
N_SENSOR = 8


@nb.njit(cache=True, nogil=True, inline="always")
def johnson_su(e, sp):
    return sp[S_XI] + sp[S_LAMBDA] * math.sinh((e - sp[S_GAMMA]) / sp[S_DELTA])


@nb.njit(cache=True, nogil=True, inline="always")
def next_knot(seed, patient_id, knot, e, sp):
    """AR(1) state and sensor error at knot number `knot` (0-based since the run start)."""
    z = rng.normal(seed, patient_id, knot // KNOTS_PER_DAY, rng.STREAM_CGM, knot % KNOTS_PER_DAY)
    e = z if knot == 0 else sp[S_PACF] * (e + z)
    return e, johnson_su(e, sp)


@nb.njit(cache=True, nogil=True, inline="always")
def reading(bg, error, sp):
    """A CGM reading from blood glucose plus error, clipped to the sensor's range."""
    if sp[S_KIND] == SENSOR_NONE:
        return bg
    return min(max(bg + error, sp[S_MIN]), sp[S_MAX])
