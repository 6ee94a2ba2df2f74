"""Explanations by backpropagation to the inputs.

Backpropagation computes the gradient of the output with respect to every array the
output depends on: the weights, which training uses, and the inputs, which explanation
uses. For one applicant x and the network's logit f(x) (the log-odds of default):

    input gradient           g_j(x) = df/dx_j                 (one backward pass)
    gradient x input         a_j    = g_j(x) (x_j - x'_j)      (first-order Taylor term)
    integrated gradients     a_j    = (x_j - x'_j) int_0^1 g_j(x' + t (x - x')) dt

where x' is a baseline applicant. Integrated gradients satisfy *completeness*:
sum_j a_j = f(x) - f(x') exactly (the fundamental theorem of calculus along the
straight path); a quadrature rule approximates the integral, so the gap
sum_j a_j - (f(x) - f(x')) is computed, refined and returned for every row.

Everything here works on *network inputs* (what the network is fed, e.g. standardised
numbers and one-hot columns) and takes plain arrays and names. Helpers map results
back to the applicant's own terms: attributions summed over the inputs that come from
one source column (one-hot columns back to their categorical column), values and
gradients in original units (x_raw = z * scale + mean, so df/dx_raw = (df/dz) / scale),
and plain-words reason codes.

A ``model`` is either a network with ``forward(X) -> logits`` and
``backward(g, need_input_grad=True) -> g . dlogits/dX`` (a :class:`~backprop_lab.nn.Sequential`;
its gradients are exact, and afterwards its layers' caches and stored parameter gradients
are cleared, so it keeps none of the explained rows), or any
callable ``X -> logits``, differentiated by central finite differences.

Piecewise-linear networks (Dense layers with ReLU, leaky ReLU or no activation between
them) get the same quadrature sums without evaluating the gradient at every node: along
the path x(t) = x' + t (x - x') every pre-activation is linear in t until some unit
crosses its kink, so the gradient is constant on segments [t_s, t_s+1) that a walk along
the path finds (one forward pass, one tangent pass and one backward pass per segment),
and

    sum_k w_k g(t_k) = sum_s g_s (sum of w_k over the nodes t_k in [t_s, t_s+1)),

the inner sum being a count of nodes, known in closed form for every refinement level
at once. A path crosses each kink of a one-hidden-layer network at most once, so a
row costs a handful of passes instead of hundreds of node evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .._util.validation import check_features
from ..nn.layers import Dense, LeakyReLU, ReLU

#: A function from network inputs (N, d) to logits (N,) or (N, k).
LogitFunction = Callable[[np.ndarray], np.ndarray]

#: Default quadrature steps of integrated gradients, and the completeness target.
DEFAULT_STEPS = 64
DEFAULT_TOLERANCE = 1e-3
DEFAULT_MAX_STEPS = 4096
#: At most this many path points (rows x steps) go through the network at once.
MAX_POINTS_PER_BATCH = 1 << 16
#: Rows walked along their paths at once by the piecewise-linear evaluation.
SEGMENT_ROWS = 4096
#: A walk may take up to this many segments per unit with a kink (plus one) before the
#: row falls back to node-by-node evaluation (a one-hidden-layer path has at most
#: units + 1 segments; tiny extra ones appear where round-off puts a crossing just short).
SEGMENTS_PER_UNIT = 64
#: The walk looks at the activation pattern this far (in t) past a segment's start, so
#: that a unit sitting exactly on its kink is classified by where it is heading.
_PROBE = 2.0**-40


# ---- logits and their input gradients -----------------------------------------------


def _is_network(model: object) -> bool:
    return hasattr(model, "forward") and hasattr(model, "backward")


def _n_inputs(model: object) -> int | None:
    n = getattr(model, "n_inputs", None)
    return int(n) if n is not None else None


def _inputs(model: object, X: ArrayLike, name: str = "X") -> np.ndarray:
    """X as a finite float (N, d) array of the model's dtype (float64 for callables)."""
    dtype = getattr(model, "dtype", np.float64) if _is_network(model) else np.float64
    return check_features(X, n_features=_n_inputs(model), name=name, dtype=dtype)


def _as_logit_matrix(Z: np.ndarray, n_rows: int) -> np.ndarray:
    Z = np.asarray(Z)
    if Z.ndim == 1:
        Z = Z.reshape(-1, 1)
    if Z.ndim != 2 or Z.shape[0] != n_rows:
        raise ValueError(f"the model returned logits of shape {Z.shape} for {n_rows} rows")
    return Z


def _output_index(n_outputs: int, output: int | None) -> int:
    if output is None:
        if n_outputs != 1:
            raise ValueError(
                f"the model has {n_outputs} outputs; choose the class to explain with output="
            )
        return 0
    if not 0 <= output < n_outputs:
        raise ValueError(f"output must be in 0..{n_outputs - 1}; got {output}")
    return int(output)


def _logits(model: object, X: np.ndarray, output: int | None) -> np.ndarray:
    """f(X): the chosen logit of every row, shape (N,) (a network keeps none of X)."""
    if _is_network(model):
        Z = model.predict_logits(X) if hasattr(model, "predict_logits") else model.forward(X)
    else:
        Z = model(X)
    Z = _as_logit_matrix(Z, X.shape[0])
    return Z[:, _output_index(Z.shape[1], output)].astype(np.float64)


def _logits_and_gradients(
    model: object, X: np.ndarray, output: int | None, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """f(X) of shape (N,) and df/dX of shape (N, d).

    Network: one forward pass, then one backward pass seeded with g = e_k for every row
    (g[i, k] = 1 for the chosen output k, 0 elsewhere). Row i's logit depends on row i
    only, so the backward pass returns d f(x_i) / d x_i in row i.

    Callable: central differences df/dx_j = (f(x + h e_j) - f(x - h e_j)) / (2 h),
    all 2 d shifted copies of X in one call.
    """
    if _is_network(model):
        Z = _as_logit_matrix(model.forward(X), X.shape[0])
        k = _output_index(Z.shape[1], output)
        g = np.zeros_like(Z)
        g[:, k] = 1.0
        grad = model.backward(g, need_input_grad=True)
        if hasattr(model, "clear_cache"):
            model.clear_cache()  # the caches hold the rows of X
        return Z[:, k].astype(np.float64), np.asarray(grad, dtype=np.float64)
    n, d = X.shape
    shifts = np.concatenate([np.eye(d), -np.eye(d)]) * eps  # (2d, d)
    stacked = (X[None, :, :] + shifts[:, None, :]).reshape(2 * d * n, d)
    f = _logits(model, stacked, output).reshape(2, d, n)
    grad = ((f[0] - f[1]) / (2.0 * eps)).T
    return _logits(model, X, output), grad


def logits(model: object, X: ArrayLike, *, output: int | None = None) -> np.ndarray:
    """f(X): the model's logit (log-odds) for every row, shape (N,)."""
    return _logits(model, _inputs(model, X), output)


def input_gradients(
    model: object, X: ArrayLike, *, output: int | None = None, eps: float = 1e-5
) -> np.ndarray:
    """df/dx for every row: shape (N, d), by backpropagation to the inputs.

    For a network with several outputs (softmax), ``output`` chooses the class k whose
    logit z_k is differentiated. ``eps`` is the finite-difference step, used only for
    a model that is a plain callable.
    """
    X = _inputs(model, X)
    return _logits_and_gradients(model, X, output, eps)[1]


def _baseline_array(baseline: ArrayLike | None, X: np.ndarray) -> np.ndarray:
    """x' as an (N, d) array: zeros, one row shared by all, or one row per applicant."""
    if baseline is None:
        return np.zeros_like(X)
    B = np.asarray(baseline, dtype=X.dtype)
    if B.ndim == 1 and B.shape[0] == X.shape[1]:
        B = np.broadcast_to(B, X.shape)
    if B.shape != X.shape:
        raise ValueError(
            f"baseline must have shape ({X.shape[1]},) or {X.shape}; got {np.shape(baseline)}"
        )
    if not np.all(np.isfinite(B)):
        raise ValueError("baseline contains NaN or infinite values")
    return np.ascontiguousarray(B)


def gradient_times_input(
    model: object,
    X: ArrayLike,
    baseline: ArrayLike | None = None,
    *,
    output: int | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """a_j = df/dx_j (x) * (x_j - x'_j): shape (N, d). ``baseline`` x' defaults to zeros.

    Exact for a linear model (f(x) - f(x') = sum_j a_j); a first-order approximation
    otherwise.
    """
    X = _inputs(model, X)
    B = _baseline_array(baseline, X)
    return _logits_and_gradients(model, X, output, eps)[1] * (X - B)


# ---- integrated gradients -----------------------------------------------------------


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


def _quadrature(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t_k in [0, 1] and weights w_k with sum_k w_k h(t_k) ~ int_0^1 h(t) dt.

    trapezoid: t_k = k / m (k = 0..m), w = 1/m except w_0 = w_m = 1 / (2m);
    riemann:   midpoints t_k = (k + 1/2) / m (k = 0..m-1), w = 1/m.
    """
    if rule == "trapezoid":
        t = np.arange(steps + 1, dtype=np.float64) / steps
        w = np.full(steps + 1, 1.0 / steps)
        w[[0, -1]] = 0.5 / steps
        return t, w
    if rule == "riemann":
        return (np.arange(steps, dtype=np.float64) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"rule must be 'trapezoid' or 'riemann'; got {rule!r}")


def _path_integral(
    model: object,
    X: np.ndarray,
    B: np.ndarray,
    steps: int,
    rule: str,
    output: int | None,
    eps: float,
) -> np.ndarray:
    """a = (x - x') * sum_k w_k df/dx(x' + t_k (x - x')), batching the path points."""
    t, w = _quadrature(rule, steps)
    n, d = X.shape
    delta = X - B
    rows = max(1, MAX_POINTS_PER_BATCH // t.size)
    avg_grad = np.empty((n, d), dtype=np.float64)
    for start in range(0, n, rows):
        sl = slice(start, start + rows)
        # path points, shape (steps, rows, d) flattened to (steps * rows, d)
        points = B[sl][None] + t[:, None, None] * delta[sl][None]
        points = points.reshape(-1, d).astype(X.dtype, copy=False)
        _, grad = _logits_and_gradients(model, points, output, eps)
        avg_grad[sl] = np.tensordot(w, grad.reshape(t.size, -1, d), axes=1)
    return delta * avg_grad


# ---- piecewise-linear networks: the quadrature sums segment by segment ---------------

#: A piecewise-linear network as (W, b, slope) per Dense layer: ``slope`` is the
#: activation after it (0 for ReLU, a for leaky ReLU, None for none).
_Affine = tuple[np.ndarray, np.ndarray, float | None]


def _piecewise_linear(model: object) -> list[_Affine] | None:
    """The layers of a Sequential made of Dense, ReLU and LeakyReLU layers, else None."""
    layers = getattr(model, "layers", None)
    if not _is_network(model) or not isinstance(layers, list) or not layers:
        return None
    out: list[list] = []
    for layer in layers:
        if isinstance(layer, Dense):
            W, b = layer.params["W"], layer.params["b"]
            out.append([W.astype(np.float64), b.astype(np.float64).ravel(), None])
        elif isinstance(layer, ReLU | LeakyReLU) and out and out[-1][2] is None:
            out[-1][2] = float(layer.slope) if isinstance(layer, LeakyReLU) else 0.0
        else:
            return None
    return [tuple(a) for a in out]


def _pattern_gradient(
    layers: list[_Affine], P: np.ndarray, D: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """At points P (n, d): df_k/dx (n, d) and, when the path direction D is given, the
    t at which the first unit would cross its kink (inf if none) moving along D.

    Forward:  z_l = a_{l-1} W_l + b_l,  a_l = phi_l(z_l) = z_l * s_l  with s_l = 1 where
    z_l > 0, else the slope (0 for ReLU): the convention of the layers' backward.
    Tangent:  dz_l = da_{l-1} W_l,  da_l = dz_l * s_l  (da_0 = D): within the pattern
    every z_l(t) = z_l + t dz_l, so unit j crosses at t = -z_lj / dz_lj when that is > 0.
    Backward: g = e_k, then g <- (g * s_l) W_l^T down to the inputs.
    """
    a, da = P, D
    factors: list[np.ndarray | None] = []
    cross = np.full(P.shape[0], np.inf)
    for W, b, slope in layers:
        z = a @ W
        z += b
        dz = None if da is None else da @ W
        if slope is None:
            a, da = z, dz
            factors.append(None)
            continue
        if dz is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -z / dz
            t[~(t > 0)] = np.inf  # moving away from the kink, parallel to it, or on it
            np.minimum(cross, t.min(axis=1), out=cross)
        s = np.where(z > 0, 1.0, slope)
        a = z * s
        da = None if dz is None else dz * s
        factors.append(s)
    g = np.zeros_like(a)
    g[:, k] = 1.0
    for (W, _, _), s in zip(reversed(layers), reversed(factors), strict=True):
        if s is not None:
            g *= s
        g = g @ W.T
    return g, cross


def _node_weights(t0: np.ndarray, t1: np.ndarray, m: int, rule: str) -> np.ndarray:
    """Sum of the quadrature weights w_k of the nodes t_k in [t0, t1), per row.

    riemann:   t_k = (k + 1/2)/m, w = 1/m: k runs over ceil(t0 m - 1/2) .. ceil(t1 m - 1/2) - 1.
    trapezoid: the interior nodes t_k = k/m (k = 1..m-1), w = 1/m: k runs over
               max(1, ceil(t0 m)) .. min(m - 1, ceil(t1 m) - 1); the end nodes are
               evaluated at the end points themselves (see :func:`_segment_quadrature`).
    """
    if rule == "riemann":
        lo = np.clip(np.ceil(t0 * m - 0.5), 0, m)
        hi = np.clip(np.ceil(t1 * m - 0.5), 0, m)
        return (hi - lo) / m
    lo = np.maximum(1.0, np.ceil(t0 * m))
    hi = np.minimum(m - 1.0, np.ceil(t1 * m) - 1.0)
    return np.maximum(hi - lo + 1.0, 0.0) / m


def _segment_quadrature(
    layers: list[_Affine],
    X: np.ndarray,
    B: np.ndarray,
    levels: Sequence[int],
    rule: str,
    k: int,
    max_segments: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The quadrature sums sum_k w_k g(t_k) of every level m in ``levels``: (L, n, d),
    and a mask of the rows whose walk finished within ``max_segments`` segments.

    The walk: t = 0; look at the pattern at t + probe (the probe is 2^-40, or half the
    rest of the path); the gradient g_s is constant until the first crossing t' > t;
    add g_s times the node weights in [t, t') to every level; move to t'. A node that
    lies exactly on a kink gets the gradient of the segment that starts there.
    """
    n, d = X.shape
    D = X - B
    sums = np.zeros((len(levels), n, d))
    t = np.zeros(n)
    rows = np.arange(n)
    for _ in range(max_segments):
        if rows.size == 0:
            break
        t0 = t[rows]
        probe = t0 + np.minimum(_PROBE, 0.5 * (1.0 - t0))
        Dr = D[rows]
        g, cross = _pattern_gradient(layers, B[rows] + probe[:, None] * Dr, Dr, k)
        t1 = np.minimum(probe + cross, 1.0)
        for i, m in enumerate(levels):
            sums[i, rows] += _node_weights(t0, t1, m, rule)[:, None] * g
        t[rows] = t1
        rows = rows[t1 < 1.0]
    if rule == "trapezoid":  # the end nodes t = 0 and t = 1, weight 1/(2m) each
        ends = _pattern_gradient(layers, B, None, k)[0] + _pattern_gradient(layers, X, None, k)[0]
        for i, m in enumerate(levels):
            sums[i] += ends / (2.0 * m)
    done = np.ones(n, dtype=bool)
    done[rows] = False
    return sums, done


def _piecewise_linear_gradients(
    model: object,
    layers: list[_Affine],
    X: np.ndarray,
    B: np.ndarray,
    f_x: np.ndarray,
    f_b: np.ndarray,
    steps: int,
    max_steps: int,
    rule: str,
    output: int | None,
    tolerance: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Attributions and steps used, exactly as :func:`integrated_gradients`' doubling
    loop would give them (up to round-off), with every level computed in one walk.

    Levels m = steps, 2 steps, ... <= max_steps; each row keeps the first level whose
    gap |sum_j a_j - (f(x) - f(x'))| is within ``tolerance``, else the last. Rows whose
    walk needs more segments than a generous cap fall back to evaluating every node.
    """
    levels = [steps]
    while levels[-1] * 2 <= max_steps:
        levels.append(levels[-1] * 2)
    k = _output_index(layers[-1][0].shape[1], output)
    n, d = X.shape
    n_units = sum(W.shape[1] for W, _, slope in layers if slope is not None)
    max_segments = SEGMENTS_PER_UNIT * (n_units + 1)
    attributions = np.empty((n, d), dtype=np.float64)
    used = np.empty(n, dtype=np.int64)
    for start in range(0, n, SEGMENT_ROWS):
        sl = slice(start, start + SEGMENT_ROWS)
        Xs, Bs = X[sl].astype(np.float64), B[sl].astype(np.float64)
        sums, done = _segment_quadrature(layers, Xs, Bs, levels, rule, k, max_segments)
        a = (Xs - Bs)[None] * sums  # (L, rows, d)
        gaps = a.sum(axis=2) - (f_x[sl] - f_b[sl])[None]
        ok = np.abs(gaps) <= tolerance
        level = np.where(ok.any(axis=0), np.argmax(ok, axis=0), len(levels) - 1)
        attributions[sl] = a[level, np.arange(a.shape[1])]
        used[sl] = np.asarray(levels)[level]
        for j in np.flatnonzero(~done):  # a pathological path: evaluate node by node
            i = start + j
            m = steps
            a_i = _path_integral(model, X[i : i + 1], B[i : i + 1], m, rule, output, eps)
            while abs(a_i.sum() - (f_x[i] - f_b[i])) > tolerance and m * 2 <= max_steps:
                m *= 2
                a_i = _path_integral(model, X[i : i + 1], B[i : i + 1], m, rule, output, eps)
            attributions[i], used[i] = a_i[0], m
    return attributions, used


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


class ReferenceBaselineAccumulator:
    """:func:`reference_baseline` over chunks of applicants, in bounded memory.

    Keeps the sum and count of the rows near the cut-off, and the ``min_rows`` approved
    rows closest to it (highest p_default, earlier rows first among ties) in case too few
    are near: memory of ``min_rows`` + 1 rows, however many are added.
    """

    def __init__(self, threshold: float = 0.5, *, width: float = 0.05, min_rows: int = 20) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}")
        if not width > 0:
            raise ValueError(f"width must be positive; got {width!r}")
        self.threshold, self.width, self.min_rows = float(threshold), float(width), int(min_rows)
        self.n_rows = 0
        self.n_approved = 0
        self.n_near = 0
        self._near_sum: np.ndarray | None = None
        self._closest = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, 0)))

    def add(self, X: ArrayLike, p_default: ArrayLike) -> None:
        """Add the next applicants' network inputs X and probabilities of default."""
        A = check_features(X, name="X")
        p = np.asarray(p_default, dtype=np.float64).ravel()
        if p.shape[0] != A.shape[0]:
            raise ValueError(f"X has {A.shape[0]} rows but p_default has {p.shape[0]} values")
        if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("p_default must contain probabilities in [0, 1]")
        approved = np.flatnonzero(p < self.threshold)
        near = approved[p[approved] >= self.threshold - self.width]
        if self._near_sum is None:
            self._near_sum = np.zeros(A.shape[1])
            self._closest = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, A.shape[1])))
        self._near_sum += A[near].sum(axis=0)
        self.n_near += near.size
        self.n_approved += approved.size
        # the min_rows approved rows closest to the threshold so far
        kept_p, kept_rows, kept_X = self._closest
        all_p = np.concatenate([kept_p, p[approved]])
        all_rows = np.concatenate([kept_rows, self.n_rows + approved])
        all_X = np.concatenate([kept_X, A[approved]])
        order = np.lexsort((all_rows, -all_p))[: self.min_rows]
        self._closest = (all_p[order], all_rows[order], all_X[order])
        self.n_rows += A.shape[0]

    def baseline(self) -> np.ndarray:
        """The mean network input of the reference set (see :func:`reference_baseline`)."""
        if self.n_approved == 0:
            raise ValueError(
                f"no applicant is approved (p_default < {self.threshold:g}) to form a baseline"
            )
        if self.n_near >= self.min_rows:
            return self._near_sum / self.n_near
        return self._closest[2].mean(axis=0)


def reference_baseline(
    X: ArrayLike,
    p_default: ArrayLike,
    threshold: float = 0.5,
    *,
    width: float = 0.05,
    min_rows: int = 20,
) -> np.ndarray:
    """The mean network input of approved applicants just inside the cut-off, shape (d,).

    Approved means p_default < threshold. The reference set is the approved rows with
    threshold - width <= p_default < threshold; if that holds fewer than ``min_rows``,
    the ``min_rows`` approved rows closest to the threshold instead. Explaining a
    declined applicant against this baseline answers "what separates you from
    applicants who were only just approved?"; the attributions then sum to
    f(x) - f(x'), with f(x') close to the cut-off's log-odds. For applicants in chunks,
    see :class:`ReferenceBaselineAccumulator`.
    """
    acc = ReferenceBaselineAccumulator(threshold, width=width, min_rows=min_rows)
    acc.add(X, p_default)
    return acc.baseline()


# ---- back to the applicant's terms --------------------------------------------------


def _check_names(names: Sequence[str], d: int, what: str) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"{what} has {len(names)} names but there are {d} network inputs")
    return names


def attributions_by_feature(
    attributions: ArrayLike,
    feature_names: Sequence[str],
    source_columns: Sequence[str] | None = None,
    *,
    index: ArrayLike | None = None,
) -> pd.DataFrame:
    """Attributions as a DataFrame with one column per source feature.

    ``feature_names`` names each network input; ``source_columns`` gives the source
    column of each input (default: the input's own name). Inputs that share a source,
    such as the one-hot columns of one categorical feature, are summed:
    A[i, c] = sum over inputs j with source(j) = c of a[i, j]. By completeness of the
    per-input attributions, the sum is the source column's contribution. Columns keep
    the order in which sources first appear.
    """
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"attributions must be 2-D (rows x inputs); got shape {a.shape}")
    names = _check_names(feature_names, a.shape[1], "feature_names")
    sources = (
        names
        if source_columns is None
        else _check_names(source_columns, a.shape[1], "source_columns")
    )
    frame = pd.DataFrame(a, columns=names, index=index)
    order = list(dict.fromkeys(sources))
    summed = frame.T.groupby(np.asarray(sources), sort=False).sum().T
    return summed[order]


def to_original_units(Z: ArrayLike, mean: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """x_raw = z * scale + mean: standardised network inputs back in original units."""
    Z = np.asarray(Z, dtype=np.float64)
    return Z * np.asarray(scale, dtype=np.float64) + np.asarray(mean, dtype=np.float64)


def gradients_per_original_unit(gradients: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """df/dx_raw = (df/dz) / scale, since z = (x_raw - mean) / scale.

    E.g. with ``scale`` the standard deviation of income, the change in log-odds per
    one unit (one currency unit) of income. One-hot inputs have scale 1.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(scale == 0) or not np.all(np.isfinite(scale)):
        raise ValueError("scale must be finite and non-zero")
    return np.asarray(gradients, dtype=np.float64) / scale


def _format_value(value: object) -> str:
    """A feature value for a sentence: 6, 0.357, 13.8, 51,580, or the category."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v == round(v) and abs(v) < 10_000:
            return str(round(v))
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(value)


def _format_values(values: np.ndarray) -> list[str]:
    """:func:`_format_value` of every value, the floats' rules applied with array masks
    (whole numbers under 10,000 as integers, from 1,000 up with thousands separators and
    no decimals, else three significant digits)."""
    out = [""] * len(values)
    floats = np.fromiter(
        (isinstance(v, float | np.floating) for v in values), dtype=bool, count=len(values)
    )
    for i in np.flatnonzero(~floats):
        out[i] = _format_value(values[i])
    where = np.flatnonzero(floats)
    v = values[where].astype(np.float64)
    finite = np.isfinite(v)
    whole = finite & (v == np.round(v)) & (np.abs(v) < 10_000)
    large = finite & ~whole & (np.abs(v) >= 1000)
    rest = finite & ~whole & ~large
    for mask, text in (
        (whole, v[whole].astype(np.int64).astype(str).tolist()),
        (large, [f"{x:,.0f}" for x in v[large].tolist()]),
        (rest, [f"{x:.3g}" for x in v[rest].tolist()]),
        (~finite, [str(x) for x in v[~finite].tolist()]),
    ):
        for i, t in zip(where[mask].tolist(), text, strict=True):
            out[i] = t
    return out


def reason_text(feature: str, value: object, contribution: float) -> str:
    """'late_payments = 6 (raised risk by +0.84 on the log-odds scale)'."""
    verb = "raised" if contribution >= 0 else "lowered"
    return f"{feature} = {_format_value(value)} ({verb} risk by {contribution:+.2f} on the log-odds scale)"


def reason_texts(features: ArrayLike, values: ArrayLike, contributions: ArrayLike) -> list[str]:
    """:func:`reason_text` of many reasons at once (the values formatted with array
    masks: several times faster than one call each)."""
    features = np.asarray(features, dtype=object)
    values = np.asarray(values, dtype=object)
    contributions = np.asarray(contributions, dtype=np.float64).tolist()
    return [
        f"{f} = {v} ({'raised' if c >= 0 else 'lowered'} risk by {c:+.2f} on the log-odds scale)"
        for f, v, c in zip(features.tolist(), _format_values(values), contributions, strict=True)
    ]


def top_reasons(
    attributions_by_feature: pd.DataFrame,
    values: pd.DataFrame,
    k: int = 4,
    *,
    min_contribution: float = 0.01,
) -> pd.DataFrame:
    """The top ``k`` reasons that raised each applicant's risk, as a tidy DataFrame.

    A reason is a source feature whose attribution (contribution to the log-odds of
    default) is above ``min_contribution`` (0.01 by default, so that no reason reads
    "+0.00"; never below 0); reasons are ranked by
    contribution, largest first, and at most ``k`` are kept (four by default: more
    reasons are not more helpful to an applicant). ``values`` holds each applicant's
    feature values in original units (or categories), same index, one column per
    source feature.

    Columns: applicant (the row label), rank (1 = strongest), feature, value,
    contribution, reason (a sentence). Applicants with no risk-raising feature have
    no rows.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    A = attributions_by_feature
    missing = [c for c in A.columns if c not in values.columns]
    if missing:
        raise ValueError(f"values has no column for feature(s) {missing}")
    if not A.index.equals(values.index):
        raise ValueError("attributions and values must have the same index (one row per applicant)")
    A_values = A.to_numpy(dtype=np.float64)
    # per row, features by contribution, largest first (ties: in column order), the
    # ones not above the threshold last; keep the first k that are reasons
    raising = A_values > max(min_contribution, 0.0)
    order = np.argsort(np.where(raising, -A_values, np.inf), axis=1, kind="stable")[:, :k]
    rows, ranks = np.nonzero(np.take_along_axis(raising, order, axis=1))
    cols = order[rows, ranks]
    feature = A.columns.to_numpy(dtype=object)[cols]
    value = values[list(A.columns)].to_numpy(dtype=object)[rows, cols]
    contribution = A_values[rows, cols]
    return pd.DataFrame(
        {
            "applicant": A.index.to_numpy()[rows],
            "rank": (ranks + 1).astype(np.int64),
            "feature": feature,
            "value": pd.Series(value, dtype=object),
            "contribution": contribution,
            "reason": reason_texts(feature, value, contribution),
        }
    )


class ImportanceAccumulator:
    """:func:`global_importance` over chunks of applicants, in bounded memory.

    Per feature it keeps N, sum_i |A[i, c]|, sum_i A[i, c] and, for the direction, the
    co-moment C = sum_i (v_i - mean v)(a_i - mean a) of value and attribution, merged
    chunk by chunk (Chan, Golub and LeVeque's update: with chunk sums of n_b rows,
    means m_b and co-moment C_b, C <- C + C_b + (m_b,v - m_v)(m_b,a - m_a) n n_b / (n + n_b)),
    plus the least and largest value and attribution (a constant column has no
    direction). sign(C) is the sign of the correlation.
    """

    def __init__(self) -> None:
        self.features: list[str] | None = None
        self.n = 0
        self._abs = self._sum = self._mean_v = self._mean_a = self._comoment = np.empty(0)
        self._lo = self._hi = np.empty((2, 0))
        self._numeric = np.empty(0, dtype=bool)

    def add(
        self, attributions_by_feature: pd.DataFrame, values: pd.DataFrame | None = None
    ) -> None:
        """Add the next applicants' attributions (one column per feature) and values."""
        A = attributions_by_feature.to_numpy(dtype=np.float64)
        names = [str(c) for c in attributions_by_feature.columns]
        if self.features is None:
            self.features = names
            d = len(names)
            self._abs, self._sum = np.zeros(d), np.zeros(d)
            self._mean_v, self._mean_a, self._comoment = np.zeros(d), np.zeros(d), np.zeros(d)
            self._lo, self._hi = np.full((2, d), np.inf), np.full((2, d), -np.inf)
            self._numeric = np.full(d, values is not None)
        elif names != self.features:
            raise ValueError(f"features {names} differ from the first chunk's {self.features}")
        n_b = A.shape[0]
        if n_b == 0:
            return
        self._abs += np.abs(A).sum(axis=0)
        self._sum += A.sum(axis=0)
        V = np.zeros_like(A)
        for j, c in enumerate(attributions_by_feature.columns):
            numeric = values is not None and c in values.columns and _is_numeric(values[c])
            self._numeric[j] &= numeric
            if self._numeric[j]:
                V[:, j] = values[c].to_numpy(dtype=np.float64)
        mean_v, mean_a = V.mean(axis=0), A.mean(axis=0)
        comoment = ((V - mean_v) * (A - mean_a)).sum(axis=0)
        n = self.n
        dv, da = mean_v - self._mean_v, mean_a - self._mean_a
        self._comoment += comoment + dv * da * n * n_b / (n + n_b)
        self._mean_v += dv * n_b / (n + n_b)
        self._mean_a += da * n_b / (n + n_b)
        self._lo = np.minimum(self._lo, np.stack([V.min(axis=0), A.min(axis=0)]))
        self._hi = np.maximum(self._hi, np.stack([V.max(axis=0), A.max(axis=0)]))
        self.n = n + n_b

    def table(self, *, directions: bool = True) -> pd.DataFrame:
        """:func:`global_importance`'s table for the applicants added so far."""
        if self.features is None or self.n == 0:
            raise ValueError("no attributions to summarise: 0 rows")
        mean_abs = self._abs / self.n
        total = mean_abs.sum()
        table = pd.DataFrame(
            {
                "feature": self.features,
                "mean_abs_attribution": mean_abs,
                "mean_attribution": self._sum / self.n,
                "share": mean_abs / total if total > 0 else np.zeros_like(mean_abs),
            }
        )
        if directions:
            varies = np.all(self._hi > self._lo, axis=0) & self._numeric
            table["direction"] = np.where(varies, np.sign(self._comoment), 0).astype(int)
        return table.sort_values(
            "mean_abs_attribution", ascending=False, kind="stable"
        ).reset_index(drop=True)


def global_importance(
    attributions_by_feature: pd.DataFrame, values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Mean absolute attribution per feature, largest first.

    Columns: feature, mean_abs_attribution = (1/N) sum_i |A[i, c]|, mean_attribution =
    (1/N) sum_i A[i, c], share = mean_abs_attribution / sum over features, and, when the
    applicants' ``values`` are given, direction = the sign of the correlation between a
    feature's value and its attribution: +1 when higher values raise the risk, -1 when
    they lower it, 0 when unknown (a categorical or constant column). For applicants in
    chunks, see :class:`ImportanceAccumulator`.
    """
    acc = ImportanceAccumulator()
    acc.add(attributions_by_feature, values)
    return acc.table(directions=values is not None)


def _is_numeric(value: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(value) or pd.api.types.is_bool_dtype(value)
