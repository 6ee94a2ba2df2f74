"""Scalar maths for the fused kernels, written so that the compiler can vectorise it.

A call into libm (``math.exp``, ``math.log1p``) inside a loop over a block's rows stops
LLVM from vectorising the loop. The functions here use only arithmetic and bit
operations, so the loops that call them still run on SIMD lanes.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Compile options of every kernel. error_model="numpy": x / 0 gives inf or NaN as in
#: NumPy (and lets loops vectorise); fastmath off: strict IEEE arithmetic, the same
#: roundings as the reference engine; cache: compiled once, then loaded from disk.
JIT = {"cache": True, "error_model": "numpy", "fastmath": False}


@intrinsic
def float_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits`` (a free reinterpretation)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


@njit(**JIT)
def exp_nonpositive(x: float) -> float:
    """e^x for x <= 0 (NaN stays NaN), to about 1e-15 relative.

    x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2, so e^x = 2^n e^r;
    e^r is its Taylor polynomial of degree 13 (truncation < 1e-17) and 2^n is built
    from its bits, in two factors so that results down to 2^-1074 stay exact.
    """
    xc = x if x >= -745.0 else -745.0
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(n)
    half = k >> 1
    y = p * float_from_bits((half + 1023) << 52) * float_from_bits((k - half + 1023) << 52)
    y = y if x >= -745.0 else 0.0
    return y if x == x else x


@njit(**JIT)
def log1p_unit(e: float) -> float:
    """log(1 + e) for 0 <= e <= 1, to about 1e-16 relative.

    log(1 + e) = 2 atanh(s) with s = e / (2 + e) in [0, 1/3] (no cancellation), and
    atanh(s) = s (1 + s^2/3 + s^4/5 + ...); 18 terms leave a truncation below 1e-17.
    """
    s = e / (2.0 + e)
    w = s * s
    p = 1.0 / 35.0
    p = p * w + 1.0 / 33.0
    p = p * w + 1.0 / 31.0
    p = p * w + 1.0 / 29.0
    p = p * w + 1.0 / 27.0
    p = p * w + 1.0 / 25.0
    p = p * w + 1.0 / 23.0
    p = p * w + 1.0 / 21.0
    p = p * w + 1.0 / 19.0
    p = p * w + 1.0 / 17.0
    p = p * w + 1.0 / 15.0
    p = p * w + 1.0 / 13.0
    p = p * w + 1.0 / 11.0
    p = p * w + 1.0 / 9.0
    p = p * w + 1.0 / 7.0
    p = p * w + 1.0 / 5.0
    p = p * w + 1.0 / 3.0
    p = p * w + 1.0
    return 2.0 * s * p
