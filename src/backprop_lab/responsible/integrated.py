"""Integrated gradients with a completeness check, on a network or any logit function.

    a_j = (x_j - x'_j) int_0^1 df/dx_j (x' + t (x - x')) dt

where x' is a baseline applicant. Integrated gradients satisfy *completeness*:
sum_j a_j = f(x) - f(x') exactly (the fundamental theorem of calculus along the
straight path); a quadrature rule approximates the integral, so the gap
sum_j a_j - (f(x) - f(x')) is computed, refined and returned for every row. A
piecewise-linear network's sums are computed segment by segment
(:mod:`backprop_lab.responsible.segments`), any other model's node by node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .gradients import _baseline_array, _inputs, _logits, _path_integral, _quadrature
from .integrated_settings import DEFAULT_MAX_STEPS as DEFAULT_MAX_STEPS
from .integrated_settings import DEFAULT_STEPS as DEFAULT_STEPS
from .integrated_settings import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from .segments import _piecewise_linear, _piecewise_linear_gradients


@dataclass(frozen=True)
class IntegratedGradients:
    """Integrated-gradient attributions and their completeness check.

    ``attributions`` (N, d) on the logit scale; ``logits`` f(x) and ``baseline_logits``
    f(x') (N,); ``gaps`` = sum_j a_j - (f(x) - f(x')) (N,); ``steps`` the quadrature
    steps each row needed; ``tolerance`` the completeness target.
    """

    attributions: np.ndarray
    logits: np.ndarray
    baseline_logits: np.ndarray
    gaps: np.ndarray
    steps: np.ndarray
    tolerance: float
    rule: str

    @property
    def max_gap(self) -> float:
        """max_i |gap_i|: the worst completeness gap."""
        return float(np.max(np.abs(self.gaps)))

    @property
    def complete(self) -> np.ndarray:
        """Per row: |gap_i| <= tolerance."""
        return np.abs(self.gaps) <= self.tolerance

    @property
    def passed(self) -> bool:
        """True when every row meets the completeness target."""
        return bool(np.all(self.complete))


def integrated_gradients(
    model: object,
    X: ArrayLike,
    baseline: ArrayLike | None = None,
    *,
    steps: int = DEFAULT_STEPS,
    rule: str = "riemann",
    output: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
    eps: float = 1e-5,
) -> IntegratedGradients:
    """Integrated gradients of the logit from ``baseline`` x' to each row x.

    a_j = (x_j - x'_j) int_0^1 df/dx_j (x' + t (x - x')) dt, approximated by the
    midpoint Riemann sum (``rule='riemann'``, the default) or the trapezoid rule
    (``rule='trapezoid'``) with ``steps`` intervals; each integrand evaluation is one
    batched backward pass to the inputs. The midpoint rule never evaluates the
    gradient at the end points, where a ReLU network often sits exactly on a kink
    (an untrained network has zero biases, so every hidden unit is at its kink at the
    zero baseline, and ReLU'(0) = 0 there).

    Completeness: sum_j a_j should equal f(x) - f(x'). The quadrature error is largest
    where the path crosses a ReLU kink (the gradient jumps there), so every row whose
    gap exceeds ``tolerance`` is recomputed with twice the steps, up to ``max_steps``.
    Rows still over the tolerance then are reported, not hidden: see
    :attr:`IntegratedGradients.passed` and ``.gaps``.

    ``baseline``: None for all zeros (the training mean, for standardised inputs), one
    row (d,) shared by everyone (e.g. :func:`reference_baseline`), or one row per
    applicant (N, d).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    if max_steps < steps:
        raise ValueError(f"max_steps ({max_steps}) must be at least steps ({steps})")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number; got {tolerance!r}")
    X = _inputs(model, X)
    B = _baseline_array(baseline, X)
    f_x = _logits(model, X, output)
    f_b = _logits(model, B, output)
    _quadrature(rule, 1)  # an unknown rule raises here
    layers = _piecewise_linear(model)
    if layers is not None:
        attributions, used = _piecewise_linear_gradients(
            model, layers, X, B, f_x, f_b, steps, max_steps, rule, output, tolerance, eps
        )
        gaps = attributions.sum(axis=1) - (f_x - f_b)
        return IntegratedGradients(attributions, f_x, f_b, gaps, used, float(tolerance), rule)
    attributions = _path_integral(model, X, B, steps, rule, output, eps)
    gaps = attributions.sum(axis=1) - (f_x - f_b)
    used = np.full(X.shape[0], steps, dtype=np.int64)
    m = steps
    while m * 2 <= max_steps:
        todo = np.flatnonzero(np.abs(gaps) > tolerance)
        if todo.size == 0:
            break
        m *= 2
        attributions[todo] = _path_integral(model, X[todo], B[todo], m, rule, output, eps)
        gaps[todo] = attributions[todo].sum(axis=1) - (f_x[todo] - f_b[todo])
        used[todo] = m
    return IntegratedGradients(attributions, f_x, f_b, gaps, used, float(tolerance), rule)
