"""The float32 scalar maths of the fused kernels, against NumPy in float64.

A float32 model's loss (binary cross-entropy) and its sigmoid layers are computed in
float32, as the reference engine's NumPy layers compute them, with exp_nonpositive32 and
log1p_unit32. Their error bound: the polynomial truncations are below 6e-9 (a tenth of
an ulp, see their docstrings), and each of the about fifteen float32 operations rounds by
at most half an ulp, with little growth since every term is smaller than the leading one:
a few ulps (1.2 and 2.6 measured). The tests allow 32 ulps (2e-6 relative), ten times
that; a wrong coefficient or a dropped term costs far more (1/3! wrong by 1% alone moves
e^r by up to 7e-5 relative, about a thousand ulps).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from backprop_lab.engine.fused.maths import (
    JIT,
    as_float_of,
    exp_nonpositive_of,
    log1p_unit_of,
)

ULPS = 32


@njit(**JIT)
def _apply(x, exp_out, log1p_out):
    """exp(x) and log1p(e) through the dtype dispatch that the kernels use."""
    for r in range(x.shape[0]):
        exp_out[r] = exp_nonpositive_of(x[r])
        log1p_out[r] = log1p_unit_of(exp_out[r])


@njit(**JIT)
def _converted(template, values, out):
    for r in range(values.shape[0]):
        out[r] = as_float_of(template[0], values[r])


def ulps_apart(value: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(value.astype(np.float64) - exact) / np.spacing(exact.astype(np.float32))


def test_float32_exp_and_log1p_are_within_a_few_ulps():
    x = np.concatenate(
        [-np.geomspace(1e-30, 103.0, 4000), [0.0, -0.0, -87.3, -104.0, -1e4, -np.inf]]
    ).astype(np.float32)
    exp = np.empty_like(x)
    log1p = np.empty_like(x)
    _apply(x, exp, log1p)
    assert exp.dtype == np.float32 and log1p.dtype == np.float32
    exact = np.exp(x.astype(np.float64))
    normal = exact > np.finfo(np.float32).tiny
    assert ulps_apart(exp[normal], exact[normal]).max() <= ULPS
    # Below 2^-126 the float32 result is a multiple of 2^-149: within one of them.
    assert np.abs(exp[~normal] - exact[~normal]).max() <= 2.0**-149
    assert exp[-1] == 0.0 and exp[-2] == 0.0 and exp[-3] == 0.0
    exact_log1p = np.log1p(exp.astype(np.float64))
    positive = exact_log1p > np.finfo(np.float32).tiny
    assert ulps_apart(log1p[positive], exact_log1p[positive]).max() <= ULPS
    # log(1 + e) = e where e is subnormal; e / 2 inside may lose its last bit, 2^-149.
    assert np.abs(log1p[~positive] - exp[~positive]).max() <= 2.0**-149


def test_nan_stays_nan_in_float32():
    x = np.array([np.nan], dtype=np.float32)
    exp, log1p = np.empty_like(x), np.empty_like(x)
    _apply(x, exp, log1p)
    assert np.isnan(exp[0]) and np.isnan(log1p[0])


def test_float64_inputs_keep_the_float64_functions():
    x = -np.geomspace(1e-12, 700.0, 500)
    exp, log1p = np.empty_like(x), np.empty_like(x)
    _apply(x, exp, log1p)
    np.testing.assert_allclose(exp, np.exp(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(log1p, np.log1p(np.exp(x)), rtol=1e-14, atol=0)


def test_values_take_the_float_type_of_the_template():
    values = np.array([0.1, 1.0 / 3.0, 1e-40])
    as32 = np.empty(3, dtype=np.float32)
    _converted(np.zeros(1, dtype=np.float32), values, as32)
    assert as32.tolist() == values.astype(np.float32).tolist()
    as64 = np.empty(3)
    _converted(np.zeros(1), values, as64)
    assert as64.tolist() == values.tolist()
