"""exp that the CPU's vector units can run, bit for bit the value of glibc's exp.

The RK4 step calls exp twice per derivative evaluation (gastric emptying, fast.py). libm's exp
is a scalar function: in the vectorised lane loop (lanes.py) LLVM calls it once per lane, and
those calls were most of the step's cost. This is the algorithm of glibc's exp (Szabolcs Nagy,
glibc >= 2.28, sysdeps/ieee754/dbl-64/e_exp.c) written in plain operations LLVM can vectorise,
with its fused multiply-adds exactly where glibc's FMA build (`__exp_fma`, what x86-64 machines
with FMA run) has them:

    exp(x) = 2^(k/N) exp(r),  x = k ln2/N + r,  |r| <= ln2/2N,  N = 128
    2^(k/N) = scale (1 + tail) from a 128-entry table, exp(r) - 1 by a degree-5 polynomial

It covers |x| < 512 (callers clip their arguments well inside); for |x| < 2^-54 it gives 1 + x
as glibc does. The table is computed here from its definition (2^(i/128) rounded to a double,
and the relative rounding error) with decimal arithmetic; tests/unit/model/test_vexp.py checks
the whole function against the machine's libm on millions of arguments.
"""

import struct
from decimal import Decimal, localcontext

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

TABLE_BITS = 7
N = 1 << TABLE_BITS
# glibc's __exp_data constants (e_exp_data.c): N/ln2, -ln2/N split in two, the polynomial
# coefficients of exp(r) - 1 - r (a minimax fit on |r| <= ln2/256) and the rounding shift
# 1.5 * 2^52 that turns N x / ln2 into the nearest integer k
INV_LN2_N = float.fromhex("0x1.71547652b82fep7")
NEG_LN2_HI_N = float.fromhex("-0x1.62e42fefa0000p-8")
NEG_LN2_LO_N = float.fromhex("-0x1.cf79abc9e3b3ap-47")
C2 = float.fromhex("0x1.ffffffffffdbdp-2")
C3 = float.fromhex("0x1.555555555543cp-3")
C4 = float.fromhex("0x1.55555cf172b91p-5")
C5 = float.fromhex("0x1.1111167a4d017p-7")
SHIFT = float.fromhex("0x1.8p52")


def _table() -> np.ndarray:
    """T[2i] = bits of tail_i, T[2i+1] = bits of s_i - (i << 45), where s_i is 2^(i/N)
    rounded to the nearest double and tail_i = (2^(i/N) - s_i) / s_i rounded."""
    t = np.empty(2 * N, dtype=np.uint64)
    with localcontext() as ctx:  # not the importer's decimal context
        ctx.prec = 60
        for i in range(N):
            exact = Decimal(2) ** (Decimal(i) / N)
            s = float(exact)
            tail = float((exact - Decimal(s)) / Decimal(s))
            t[2 * i] = struct.unpack("<Q", struct.pack("<d", tail))[0]
            t[2 * i + 1] = struct.unpack("<Q", struct.pack("<d", s))[0] - (i << (52 - TABLE_BITS))
    return t


TABLE = _table()
_INDEX_MASK = np.uint64(N - 1)
_TOP_SHIFT = np.uint64(52 - TABLE_BITS)
_TWO = np.uint64(2)
_ONE = np.uint64(1)


@intrinsic
def _bits(typingctx, x):
    """The 64 bits of a double, as an unsigned integer."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _double(typingctx, b):
    """The double whose 64 bits are b."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma intrinsic: one instruction on FMA hardware; without
    it a call to libm's fma, the same bits but scalar and slow)."""

    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@nb.njit(cache=True, nogil=True, inline="always")
def exp(x):
    """e^x for |x| < 512, equal bit for bit to glibc's exp on FMA hardware. No check of the
    range (glibc's slow path for overflow, underflow, inf and NaN is left out): callers clip
    their arguments (gastric_exponents: +-80)."""
    kd = _fma(x, INV_LN2_N, SHIFT)
    ki = _bits(kd)
    kd -= SHIFT
    r = _fma(kd, NEG_LN2_LO_N, _fma(kd, NEG_LN2_HI_N, x))
    idx = _TWO * (ki & _INDEX_MASK)
    tail = _double(TABLE[idx])
    scale = _double(TABLE[idx + _ONE] + (ki << _TOP_SHIFT))
    r2 = r * r
    tmp = _fma(r2 * r2, _fma(r, C5, C4), _fma(_fma(r, C3, C2), r2, r + tail))
    return _fma(scale, tmp, scale)
