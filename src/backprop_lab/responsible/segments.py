"""Integrated gradients of a piecewise-linear network, segment by segment.

Piecewise-linear networks (Dense layers with ReLU, leaky ReLU or no activation between
them) get the same quadrature sums as node-by-node evaluation without evaluating the
gradient at every node: along the path x(t) = x' + t (x - x') every pre-activation is
linear in t until some unit crosses its kink, so the gradient is constant on segments
[t_s, t_s+1) that a walk along the path finds (one forward pass, one tangent pass and
one backward pass per segment), and

    sum_k w_k g(t_k) = sum_s g_s (sum of w_k over the nodes t_k in [t_s, t_s+1)),

the inner sum being a count of nodes, known in closed form for every refinement level
at once. A path crosses each kink of a one-hidden-layer network at most once, so a
row costs a handful of passes instead of hundreds of node evaluations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..nn.layers import Dense, LeakyReLU, ReLU
from .gradients import _is_network, _output_index, _path_integral

#: Rows walked along their paths at once by the piecewise-linear evaluation.
SEGMENT_ROWS = 4096
#: A walk may take up to this many segments per unit with a kink (plus one) before the
#: row falls back to node-by-node evaluation (a one-hidden-layer path has at most
#: units + 1 segments; tiny extra ones appear where round-off puts a crossing just short).
SEGMENTS_PER_UNIT = 64
#: The walk looks at the activation pattern this far (in t) past a segment's start, so
#: that a unit sitting exactly on its kink is classified by where it is heading.
_PROBE = 2.0**-40


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
