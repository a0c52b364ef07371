"""CGM: noise-free, or the Johnson-SU error model of Breton & Kovatchev (JDST 2:853, 2008) as
used by simglucose: a normal AR(1) sequence at 15-minute knots, e_k = PACF (e_{k-1} + z_k),
mapped through xi + lambda * sinh((e - gamma) / delta) and interpolated linearly between knots
(simglucose interpolates with a cubic spline; linear keeps the sensor a one-pass numba recurrence).
Readings are clipped to the sensor's range."""

import math

import numba as nb

from ..model import rng
from ..model.layout import index_family
from ..model.params import MINUTES_PER_DAY

NOISE_KNOT_MIN = 15  # Breton & Kovatchev 2008 model step
KNOTS_PER_DAY = MINUTES_PER_DAY // NOISE_KNOT_MIN

SENSOR_NONE = 0
SENSOR_JOHNSON_SU = 1
# sensor parameter vector layout: kind, PACF, gamma, lambda, delta, xi, min, max
SN = index_family("Sensor", ("kind", "pacf", "gamma", "lambda_", "delta", "xi", "min", "max"))
N_SENSOR = len(SN)


@nb.njit(cache=True, nogil=True, inline="always")
def johnson_su(e, sp):
    return sp[SN.xi] + sp[SN.lambda_] * math.sinh((e - sp[SN.gamma]) / sp[SN.delta])


@nb.njit(cache=True, nogil=True, inline="always")
def next_knot(seed, patient_id, knot, e, sp):
    """AR(1) state and sensor error at knot number `knot` (0-based since the run start)."""
    z = rng.normal(seed, patient_id, knot // KNOTS_PER_DAY, rng.STREAM_CGM, knot % KNOTS_PER_DAY)
    e = z if knot == 0 else sp[SN.pacf] * (e + z)
    return e, johnson_su(e, sp)


@nb.njit(cache=True, nogil=True, inline="always")
def reading(bg, error, sp):
    """A CGM reading from blood glucose plus error, clipped to the sensor's range."""
    if sp[SN.kind] == SENSOR_NONE:
        return bg
    return min(max(bg + error, sp[SN.min]), sp[SN.max])
