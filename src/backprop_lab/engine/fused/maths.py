"""Scalar maths for the fused kernels, written so that the compiler can vectorise it.

A call into libm (``math.exp``, ``math.log1p``) inside a loop over a block's rows stops
LLVM from vectorising the loop. The functions here use only arithmetic and bit
operations, so the loops that call them still run on SIMD lanes.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

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


# ------------------------------------------------------------------------------------------
# float32: the same functions with float32 arithmetic and fewer terms, so that a float32
# model's loss runs on float32 SIMD lanes (eight per AVX2 register instead of four).
# ------------------------------------------------------------------------------------------
@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bit pattern is the int32 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


_F32 = np.float32
_LOG2E_32 = _F32(1.4426950408889634)
_LN2_HI_32 = _F32(6.9313812256e-01)  # 16 significant bits: n * _LN2_HI_32 is exact, |n| <= 150
_LN2_LO_32 = _F32(9.0580006145e-06)
_EXP_MIN_32 = _F32(-104.0)  # e^-104 < 2^-150 rounds to 0 in float32
_EXP_C_32 = tuple(_F32(1.0 / math.factorial(k)) for k in range(8))  # 1/k!, k = 0..7
_ATANH_C_32 = tuple(_F32(1.0 / (2 * k + 1)) for k in range(8))  # 1/(2k+1), k = 0..7
_HALF_32, _ZERO_32, _TWO_32 = _F32(0.5), _F32(0.0), _F32(2.0)


@njit(**JIT)
def _horner8(c, x):
    """c[0] + c[1] x + ... + c[7] x^7 by Horner's rule, in the type of x and c."""
    p = c[7] * x + c[6]
    p = p * x + c[5]
    p = p * x + c[4]
    p = p * x + c[3]
    p = p * x + c[2]
    p = p * x + c[1]
    return p * x + c[0]


@njit(**JIT)
def exp_nonpositive32(x: float) -> float:
    """e^x for float32 x <= 0 (NaN stays NaN), to a few float32 ulps, in float32.

    As exp_nonpositive: x = n ln2 + r, |r| <= ln2 / 2, e^x = 2^n e^r; e^r by its Taylor
    polynomial of degree 7 (truncation < 6e-9, a tenth of float32's 6e-8 rounding) and
    2^n from its bits in two factors, so results down to 2^-149 stay exact.
    """
    xc = x if x >= _EXP_MIN_32 else _EXP_MIN_32
    n = np.floor(xc * _LOG2E_32 + _HALF_32)
    r = (xc - n * _LN2_HI_32) - n * _LN2_LO_32
    p = _horner8(_EXP_C_32, r)
    k = np.int32(n)
    half = k >> np.int32(1)
    y = p * float32_from_bits((half + np.int32(127)) << np.int32(23))
    y = y * float32_from_bits((k - half + np.int32(127)) << np.int32(23))
    y = y if x >= _EXP_MIN_32 else _ZERO_32
    return y if x == x else x


@njit(**JIT)
def log1p_unit32(e: float) -> float:
    """log(1 + e) for float32 0 <= e <= 1, to a few float32 ulps, in float32.

    As log1p_unit: 2 atanh(s), s = e / (2 + e) in [0, 1/3]; eight terms of the series
    leave a truncation below 3e-9.
    """
    s = e / (_TWO_32 + e)
    w = s * s
    return _TWO_32 * s * _horner8(_ATANH_C_32, w)


def as_float_of(template: float, value: float) -> float:
    """``value`` converted to the float type of ``template`` (in compiled code only)."""
    raise NotImplementedError("as_float_of runs in compiled code only")


def exp_nonpositive_of(x: float) -> float:
    """exp_nonpositive32 for a float32 x, else exp_nonpositive (in compiled code only)."""
    raise NotImplementedError("exp_nonpositive_of runs in compiled code only")


def log1p_unit_of(e: float) -> float:
    """log1p_unit32 for a float32 e, else log1p_unit (in compiled code only)."""
    raise NotImplementedError("log1p_unit_of runs in compiled code only")


def _is_float32(t: types.Type) -> bool:
    return isinstance(t, types.Float) and t.bitwidth == 32


@overload(as_float_of, jit_options=JIT)
def _as_float_of(template, value):
    if _is_float32(template):
        return lambda template, value: np.float32(value)
    return lambda template, value: np.float64(value)


@overload(exp_nonpositive_of, jit_options=JIT)
def _exp_nonpositive_of(x):
    if _is_float32(x):
        return lambda x: exp_nonpositive32(x)
    return lambda x: exp_nonpositive(x)


@overload(log1p_unit_of, jit_options=JIT)
def _log1p_unit_of(e):
    if _is_float32(e):
        return lambda e: log1p_unit32(e)
    return lambda e: log1p_unit(e)
