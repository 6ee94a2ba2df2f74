"""The tutorial's own gradient check, for one weight: what the full check does per entry.

For one entry w of a weight matrix, on the rows X, y (the gradient check's rows):

    analytic  a = dJ/dw                              (backprop: ``loss_and_gradients``)
    numeric   n = (J(w + h) - J(w - h)) / (2 h)       (two forward passes)
    relative error  |a - n| / (|a| + |n|)

with J the mean binary cross-entropy plus the L2 penalty. The central difference is off
by about h^2 |J'''| / 6 (truncation) plus u |J| / h (round-off, u = 2.2e-16): at h = 1e-5
about 1e-11 each for these networks, so a correct gradient of size 1e-3 or more gives a
relative error below about 1e-7, and a bug that changes the gradient by a fraction rho
gives about rho / 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import BinaryCrossEntropy, Sequential

#: The step of the central difference.
STEP = 1e-5


def objective(model: Sequential, X: np.ndarray, y: np.ndarray, l2: float) -> float:
    """J = mean BCE of the logits + (l2 / 2) sum ||W||^2, from a forward pass only."""
    value = BinaryCrossEntropy().forward(model.predict_logits(X), y.reshape(-1, 1))
    if l2:
        value += (
            0.5 * l2 * sum(float(np.sum(W * W)) for k, W in model.params.items() if k[0] == "W")
        )
    return float(value)


def one_weight(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    l2: float,
    name: str = "W1",
    index: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """The check above for ``name[index]``, or for its entry with the largest |analytic
    gradient| when ``index`` is None."""
    _, grads = model.loss_and_gradients(X, y.reshape(-1, 1), BinaryCrossEntropy(), l2=l2)
    analytic = grads[name].copy()
    model.clear_cache()
    if index is None:
        index = np.unravel_index(int(np.argmax(np.abs(analytic))), analytic.shape)
    W = model.params[name]  # the layer's own array: nudged in place, then restored
    w = float(W[index])
    try:
        W[index] = w + STEP
        plus = objective(model, X, y, l2)
        W[index] = w - STEP
        minus = objective(model, X, y, l2)
    finally:
        W[index] = w
    a = float(analytic[index])
    n = (plus - minus) / (2 * STEP)
    scale = abs(a) + abs(n)
    return {
        "param": name,
        "index": [int(i) for i in index],
        "largest": bool(abs(analytic[index]) == np.max(np.abs(analytic))),
        "w": w,
        "h": STEP,
        "J_plus": plus,
        "J_minus": minus,
        "analytic": a,
        "numeric": n,
        "rel_error": abs(a - n) / scale if scale > 0 else 0.0,
    }
