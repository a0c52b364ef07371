"""model/vexp.py, the exp of the lane kernel, against libm."""

import math

import numba as nb
import numpy as np

from engine.model import vexp
from tests.libm import GLIBC_FMA_EXP


@nb.njit(error_model="numpy")
def _vexp_alone(x):
    """vexp over an array in a loop with nothing else: LLVM vectorises it as it does the
    lanes' exp loop (gathers, vector shifts and FMAs), so the vector code is checked too."""
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = vexp.exp(x[i])
    return out


@nb.njit
def _both_exps(x):
    out = np.empty((2, x.size))
    for i in range(x.size):
        out[0, i] = vexp.exp(x[i])
        out[1, i] = math.exp(x[i])
    return out


def test_vexp_is_libm_exp():
    """model/vexp.py against libm over the range the lanes use (gastric exponents clipped to
    +-80): uniform arguments, log-uniform magnitudes down to 1e-300 (the 1 + x branch),
    arguments a few ulps around the table's breakpoints k ln2 / 128, and the ends. Equal bit
    for bit where libm is glibc's FMA exp; within one ulp elsewhere."""
    rng = np.random.default_rng(11)
    magnitudes = 10.0 ** rng.uniform(-300.0, math.log10(80.0), 1_000_000)
    k = np.arange(-14_000, 14_000)
    breakpoints = k * (math.log(2.0) / 128.0)
    near = (
        breakpoints[:, None] + np.arange(-3, 4)[None, :] * np.spacing(np.abs(breakpoints))[:, None]
    ).ravel()
    x = np.concatenate(
        [
            rng.uniform(-80.0, 80.0, 2_000_000),
            magnitudes,
            -magnitudes,
            near[np.abs(near) <= 80.0],
            [0.0, -0.0, 80.0, -80.0, 5e-324, -5e-324, 1.0, -1.0],
        ]
    )
    ours, libm = _both_exps(x)
    assert np.isfinite(ours).all()
    assert np.array_equal(_vexp_alone(x), ours)
    if GLIBC_FMA_EXP:
        bad = np.flatnonzero(ours != libm)
        assert bad.size == 0, f"{bad.size} of {x.size} differ, first at x = {x[bad[0]]!r}"
    else:
        assert np.all(np.abs(ours - libm) <= np.spacing(libm))
