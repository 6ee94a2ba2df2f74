"""Input gradients of a network or of any logit function.

For one applicant x and the logit f(x) (the log-odds of default):

    input gradient           g_j(x) = df/dx_j                 (one backward pass)
    gradient x input         a_j    = g_j(x) (x_j - x'_j)      (first-order Taylor term)
    path average             a_j    = (x_j - x'_j) sum_k w_k g_j(x' + t_k (x - x'))

the last being a quadrature rule (nodes t_k, weights w_k) for integrated gradients'
int_0^1 g_j(x' + t (x - x')) dt, evaluated node by node in batches of path points.

A ``model`` is either a network with ``forward(X) -> logits`` and
``backward(g, need_input_grad=True) -> g . dlogits/dX`` (a :class:`~backprop_lab.nn.Sequential`;
its gradients are exact, and afterwards its layers' caches and stored parameter gradients
are cleared, so it keeps none of the explained rows), or any
callable ``X -> logits``, differentiated by central finite differences.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from .._util.validation import check_features

#: A function from network inputs (N, d) to logits (N,) or (N, k).
LogitFunction = Callable[[np.ndarray], np.ndarray]

#: At most this many path points (rows x steps) go through the network at once.
MAX_POINTS_PER_BATCH = 1 << 16

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


# ---- the gradient averaged along a straight path ------------------------------------


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
