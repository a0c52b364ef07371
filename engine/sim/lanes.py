"""Lanes: the fast model stepped for LANES patients at once, so the CPU's vector units do the
arithmetic (4 doubles per AVX2 instruction) instead of one patient at a time.

The kernel keeps each group of LANES patients' states, parameters and per-minute inputs in one
flat work buffer, structure-of-arrays: row r of a quantity for lane j is w[offset + r * LANES + j];
the same buffer holds each RK4 stage's scratch (meal shapes, the stage derivatives, the gastric
exponents and their exps). One buffer, constant offsets and a constant trip count let LLVM prove
that the lanes' loads and stores never overlap, so it vectorises the lane loops of
`_derivative_stage` without runtime alias checks (separate arrays defeat it: one check per pair
of rows).

Every lane runs exactly the scalar `rk4_step` on its own numbers: vector instructions round like
their scalar forms and nothing is reassociated or contracted (no fastmath). The one function
that differs is exp: the lanes use model/vexp.py, glibc's FMA exp written so the vector units
run it, which gives the same bits on every machine and libm's bits where libm is glibc >= 2.28
on an x86-64 CPU with FMA and AVX2 (tests/libm.py; elsewhere libm's exp, and so rk4_step, may
differ in the last bit). A patient's result is therefore bit-identical whichever lane, group or
block it runs in.
"""

import numba as nb

from ..model import vexp
from ..model.fast import (
    DT_MIN,
    _masses_nonneg,
    _rk4_combine,
    _stage,
    derivatives_at_kgut,
    gastric_exponents,
    gastric_rate_from_exponentials,
    meal_shape,
)
from ..model.layout import index_family
from ..model.params import N_PARAMS, N_STATES, P

# 16 lanes (four AVX2 or two AVX-512 vectors per row): with the stages split into three loops,
# 16 gave 1.30-1.33x over 8 on Zen 5, AVX-512 or AVX2 code alike, and 32 no more
# (revisions-20261129T051158Z, -052334Z, -052940Z); before the split 16 was no faster
LANES = 16

# the per-minute inputs of rk4_step, rows of the input section
IN = index_family(
    "StepInput", ("carbs_mg", "insulin_pmol", "dbar", "sp", "sh", "ecr", "vm0f", "gzw")
)
N_INPUTS = len(IN)
W_STATE = 0
W_PARAMS = W_STATE + N_STATES * LANES
W_INPUTS = W_PARAMS + N_PARAMS * LANES
W_MEAL = W_INPUTS + N_INPUTS * LANES  # the minute's meal_shape, 4 rows
W_K = W_MEAL + 4 * LANES  # the derivative stages k1..k4, 13 rows each
W_EXP_ARG = W_K + 4 * N_STATES * LANES  # the gastric exponents, 2 rows
W_EXP = W_EXP_ARG + 2 * LANES  # their exponentials, 2 rows
W_SIZE = W_EXP + 2 * LANES

assert N_STATES == 13 and N_PARAMS == 40, "lane_state/lane_params list every row"


@nb.njit(cache=True, nogil=True, inline="always")
def _state_rows(w, o):
    """The 13-tuple in rows o, o + LANES, ... (a lane's state or stage derivative)."""
    n = LANES
    return (
        w[o],
        w[o + n],
        w[o + 2 * n],
        w[o + 3 * n],
        w[o + 4 * n],
        w[o + 5 * n],
        w[o + 6 * n],
        w[o + 7 * n],
        w[o + 8 * n],
        w[o + 9 * n],
        w[o + 10 * n],
        w[o + 11 * n],
        w[o + 12 * n],
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _set_state_rows(w, o, x):
    for r in range(N_STATES):
        w[o + r * LANES] = x[r]


@nb.njit(cache=True, nogil=True, inline="always")
def lane_state(w, j):
    """Lane j's 13-state tuple."""
    return _state_rows(w, W_STATE + j)


@nb.njit(cache=True, nogil=True, inline="always")
def set_lane_state(w, j, x):
    _set_state_rows(w, W_STATE + j, x)


@nb.njit(cache=True, nogil=True, inline="always")
def lane_params(w, j):
    """Lane j's parameter tuple, indexable by the P_* constants like a parameter row."""
    o = W_PARAMS + j
    n = LANES
    return (
        w[o],
        w[o + n],
        w[o + 2 * n],
        w[o + 3 * n],
        w[o + 4 * n],
        w[o + 5 * n],
        w[o + 6 * n],
        w[o + 7 * n],
        w[o + 8 * n],
        w[o + 9 * n],
        w[o + 10 * n],
        w[o + 11 * n],
        w[o + 12 * n],
        w[o + 13 * n],
        w[o + 14 * n],
        w[o + 15 * n],
        w[o + 16 * n],
        w[o + 17 * n],
        w[o + 18 * n],
        w[o + 19 * n],
        w[o + 20 * n],
        w[o + 21 * n],
        w[o + 22 * n],
        w[o + 23 * n],
        w[o + 24 * n],
        w[o + 25 * n],
        w[o + 26 * n],
        w[o + 27 * n],
        w[o + 28 * n],
        w[o + 29 * n],
        w[o + 30 * n],
        w[o + 31 * n],
        w[o + 32 * n],
        w[o + 33 * n],
        w[o + 34 * n],
        w[o + 35 * n],
        w[o + 36 * n],
        w[o + 37 * n],
        w[o + 38 * n],
        w[o + 39 * n],
    )


@nb.njit(cache=True, nogil=True, inline="always")
def set_param(w, j, row, value):
    w[W_PARAMS + row * LANES + j] = value


@nb.njit(cache=True, nogil=True, inline="always")
def set_input(w, j, row, value):
    w[W_INPUTS + row * LANES + j] = value


@nb.njit(cache=True, nogil=True, inline="always")
def lane_inputs(w, j):
    """Lane j's per-minute inputs, in the order of rk4_step's and midpoint_step's arguments."""
    i = W_INPUTS + j
    n = LANES
    return (
        w[i],
        w[i + n],
        w[i + 2 * n],
        w[i + 3 * n],
        w[i + 4 * n],
        w[i + 5 * n],
        w[i + 6 * n],
        w[i + 7 * n],
    )


@nb.njit(cache=True, nogil=True, inline="always")
def lane_meal(w, j):
    o = W_MEAL + j
    n = LANES
    return w[o], w[o + n], w[o + 2 * n], w[o + 3 * n]


@nb.njit(cache=True, nogil=True, inline="always")
def lane_k(w, j, s):
    """Lane j's derivative tuple of stage s."""
    return _state_rows(w, W_K + s * N_STATES * LANES + j)


@nb.njit(cache=True, nogil=True, inline="always")
def _set_lane_k(w, j, s, k):
    _set_state_rows(w, W_K + s * N_STATES * LANES + j, k)


@nb.njit(cache=True, nogil=True, inline="always")
def _stage_state(w, j, s, h):
    """Lane j's state at stage s: x, then x + h k_(s-1)."""
    if s == 0:
        return lane_state(w, j)
    return _stage(lane_state(w, j), lane_k(w, j, s - 1), h)


@nb.njit(cache=True, nogil=True, inline="always")
def _meal_shapes(w):
    for j in range(LANES):
        p = lane_params(w, j)
        alpha, beta, b_dbar, c_dbar = meal_shape(w[W_INPUTS + IN.dbar * LANES + j], p[P.b], p[P.d])
        o = W_MEAL + j
        w[o] = alpha
        w[o + LANES] = beta
        w[o + 2 * LANES] = b_dbar
        w[o + 3 * LANES] = c_dbar


@nb.njit(cache=True, nogil=True, inline="always")
def _derivative_stage(w, s, h):
    """k_s of every lane at x + h k_(s-1), in three loops: the gastric exponents, their
    exponentials, the derivatives, each over all lanes on the vector units. One loop calling
    libm's exp per lane spilled every vector register around each call; split this way, with
    vexp, the RK4 minute went from ~90 to ~51 ns per lane alone and the whole kernel gained
    5% (best) to 9% (median) (revisions-20261129T034703Z). The same operations in the same
    order as rk4_step: bit-identical."""
    for j in range(LANES):
        xs = _stage_state(w, j, s, h)
        alpha, beta, b_dbar, c_dbar = lane_meal(w, j)
        xa, xb = gastric_exponents(xs[0] + xs[1], alpha, beta, b_dbar, c_dbar)
        w[W_EXP_ARG + j] = xa
        w[W_EXP_ARG + LANES + j] = xb
    for r in range(2 * LANES):
        w[W_EXP + r] = vexp.exp(w[W_EXP_ARG + r])
    for j in range(LANES):
        xs = _stage_state(w, j, s, h)
        p = lane_params(w, j)
        d_mg, u_pmol, _, s_p, s_h, e_cr, vm0_f, gzw = lane_inputs(w, j)
        kgut = gastric_rate_from_exponentials(
            w[W_EXP + j], w[W_EXP + LANES + j], p[P.kmax], p[P.kmin], w[W_MEAL + j]
        )
        _set_lane_k(
            w, j, s, derivatives_at_kgut(xs, p, kgut, d_mg, u_pmol, s_p, s_h, e_cr, vm0_f, gzw)
        )


@nb.njit(cache=True, nogil=True, error_model="numpy")
def rk4_lanes(w):
    """One RK4 minute for every lane of work buffer `w`: rk4_step (model/fast.py) stage by
    stage across the lanes. The numpy error model drops Python's division-by-zero checks,
    whose branches would stop the loops from vectorising."""
    h = DT_MIN
    _meal_shapes(w)
    _derivative_stage(w, 0, 0.0)
    _derivative_stage(w, 1, 0.5 * h)
    _derivative_stage(w, 2, 0.5 * h)
    _derivative_stage(w, 3, h)
    for j in range(LANES):
        set_lane_state(
            w,
            j,
            _rk4_combine(
                lane_state(w, j),
                lane_k(w, j, 0),
                lane_k(w, j, 1),
                lane_k(w, j, 2),
                lane_k(w, j, 3),
                h,
            ),
        )


@nb.njit(cache=True, nogil=True, error_model="numpy")
def midpoint_lanes(w):
    """rk4_lanes with the optional midpoint rule (model/fast.py midpoint_step)."""
    h = DT_MIN
    _meal_shapes(w)
    _derivative_stage(w, 0, 0.0)
    _derivative_stage(w, 1, 0.5 * h)
    for j in range(LANES):
        set_lane_state(w, j, _masses_nonneg(_stage(lane_state(w, j), lane_k(w, j, 1), h)))
