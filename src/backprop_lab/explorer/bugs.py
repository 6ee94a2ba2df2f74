"""Bugs the explorer can plant in its own session's backward pass, to see one caught.

A session built with ``bug`` other than ``"none"`` swaps one layer of its own network for
a subclass whose ``backward`` is wrong; the engine's layers, and every other user of the
package, are untouched. Training such a session uses the reference engine (the NumPy
layers, whose ``backward`` is the planted one), and the gradient check, which compares
``backward`` with finite differences of ``forward``, fails.

* ``no_fprime``: the hidden activation's backward returns dL/dh unchanged, dropping the
  factor f'(z1) of  delta1 = (delta2 W2^T) * f'(z1)  (for ReLU: the mask z1 > 0).
* ``no_mean``: the output layer's backward multiplies its incoming gradient by N, as if
  the loss were the sum over the batch's rows rather than their mean: every gradient is
  N times too large (for one traced borrower N = 1, so the trace looks right; the check
  on 200 rows does not).
"""

from __future__ import annotations

import numpy as np

from ..nn import Dense, Sequential

#: What each planted bug does, in words for the page.
DESCRIPTIONS = {
    "none": "no bug",
    "no_fprime": "backward drops the activation's slope f′(z₁) (for ReLU: the mask z₁ > 0)",
    "no_mean": "backward drops the 1/N of the mean loss (gradients N times too large)",
}


def _without_fprime(layer: object) -> object:
    """The same activation layer, whose backward passes dL/dh through unchanged."""

    class WithoutSlope(type(layer)):  # type: ignore[misc, valid-type]
        def backward(self, g: np.ndarray) -> np.ndarray:
            """Planted bug: dL/dz1 = dL/dh (the factor f'(z1) is dropped)."""
            return g

    planted = WithoutSlope.__new__(WithoutSlope)
    planted.__dict__.update(layer.__dict__)
    return planted


class _DenseSumNotMean(Dense):
    def backward(self, g: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Planted bug: the loss's 1/N undone (g times the batch's N rows)."""
        return super().backward(g * g.shape[0], need_input_grad=need_input_grad)


def _sum_not_mean(layer: Dense) -> Dense:
    planted = _DenseSumNotMean.__new__(_DenseSumNotMean)
    planted.__dict__.update(layer.__dict__)
    return planted


def plant(model: Sequential, bug: str) -> Sequential:
    """A network with the same weights and ``bug`` planted in its layers (``model`` for "none")."""
    if bug == "none":
        return model
    layers = list(model.layers)
    if bug == "no_fprime":
        layers[1] = _without_fprime(layers[1])
    elif bug == "no_mean":
        layers[-1] = _sum_not_mean(layers[-1])
    else:
        raise ValueError(f"unknown bug {bug!r}; choose one of {sorted(DESCRIPTIONS)}")
    return Sequential(layers)
