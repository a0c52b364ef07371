"""The exercise step of model/acute.py (Dalla Man 2009's Y, Z, W): its shortcut for a
negligible activation."""

import math

import numba as nb
import pytest

from engine.model import acute


def _exercise_step_in_full(y, z, w, hr_excess, hr_rest):
    """Dalla Man 2009's Y, Z, W over one minute, every term computed (the form before the
    shortcut for a negligible activation)."""
    y_new = hr_excess + (y - hr_excess) * acute._DECAY_Y
    if y > 0.0:
        r = (y / (acute.EX_A * hr_rest)) ** acute.EX_N
        f = r / (1.0 + r)
        rate = f / acute.EX_T_IN + 1.0 / acute.EX_T_EX
        target = f / rate
        z = target + (z - target) * math.exp(-rate)
    else:
        z *= acute._DECAY_Z_REST
    return y_new, z, w + hr_excess


@pytest.mark.parametrize(
    "hr_excess,minutes,hr_rest", [(60.0, 45, 65.0), (25.0, 20, 80.0), (90.0, 120, 50.0)]
)
def test_exercise_shortcut_is_bit_identical(hr_excess, minutes, hr_rest):
    """A session, then 4 days of decay (Y underflows to 0 after ~2.5 days): the shortcut taken
    once the activation is negligible must not change a bit of Y, Z or W."""
    step = nb.njit(_exercise_step_in_full)
    a = b = (0.0, 0.0, 0.0)
    shortcut_minutes = 0
    for m in range(4 * 1440):
        hr = hr_excess if m < minutes else 0.0
        a = acute.exercise_step(*a, hr, hr_rest)
        b = step(*b, hr, hr_rest)
        assert a == b, m
        q = a[0] / (acute.EX_A * hr_rest)
        shortcut_minutes += a[0] > 0.0 and q**4 < acute._R_NEGLIGIBLE_PER_Z * a[1]
    assert shortcut_minutes > 2 * 1440  # the shortcut covers most of the tail
