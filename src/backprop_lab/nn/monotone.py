"""Monotone constraints that hold by construction: sign-constrained weights.

A constraint gives each input j a sign s_j: +1 (the output may only rise with x_j),
-1 (may only fall) or 0 (free). The network stays the plain :func:`~backprop_lab.nn.mlp`
(Dense layers with ReLU, LeakyReLU, Tanh or Sigmoid between them); only the SIGNS its
weights may take are restricted, so every engine scores it, and every explanation
differentiates it, unchanged.

Construction. Every unit k of hidden layer l gets a fixed orientation
sigma^l_k in {+1, -1} (alternating, +1 for even k), the inputs get sigma^0_j = s_j and
the output sigma^L = +1. A weight from unit i of layer l-1 to unit k of layer l must
satisfy

    sigma^{l-1}_i W_l[i, k] sigma^l_k >= 0,                               (C)

except that weights out of a free input (s_j = 0) are unconstrained. (When no input is
constrained, nothing is.)

Why the output is monotone, for EVERY weight that satisfies (C) (not on average, and at
any stage of training). Fix a constrained input j. Claim: for every unit,
sigma_k s_j da_k/dx_j >= 0. For an input unit it is s_j s_j 1 = 1 (or 0 for the other
inputs, which do not move with x_j). For unit k of layer l, with a = phi(h),
h_k = sum_i W_l[i, k] a_i + b_k and phi non-decreasing (phi' >= 0 for all four
activations; at a ReLU kink either one-sided slope is >= 0):

    sigma_k s_j dh_k/dx_j = sum_i (sigma_i W_l[i, k] sigma_k) (sigma_i s_j da_i/dx_j)

since sigma_i^2 = 1: each term is a product of two factors >= 0 (by (C) and by the claim
for layer l-1), so the sum is >= 0, and da_k/dx_j = phi'(h_k) dh_k/dx_j keeps that sign.
At the output sigma = +1, so s_j dz/dx_j >= 0 everywhere: z never moves against s_j.
Unrolled, dz/dx_j is a sum over paths of products of weights and activation slopes,
each product of sign s_j. The same argument bounds finite differences: along a
segment from x to x + delta e_j, z(x + delta e_j) - z(x) = int dz/dx_j >= 0 times s_j.

Why the orientations. With every later weight >= 0 (all sigma = +1, the simplest
scheme) a ReLU network is a non-negative sum of convex ridges, so the output is CONVEX
in the constrained inputs: it could not flatten out (risk rising with late payments,
then saturating). A unit of orientation -1 contributes -relu(-(...)) to the output, a
concave increasing ridge, so with both orientations the output is a sum of convex and
concave monotone pieces (the construction of Runje and Shankaranarayana, 2023, here by
weight signs alone). Free inputs keep every sign on their first-layer weights, so in a
network of one hidden layer a unit fed only by free inputs is an ordinary unit, of
either output sign (deeper layers' weights are sign-constrained for every unit).

Training keeps (C) by projection: after each optimiser step every weight on the wrong
side of zero is set to zero, W <- W * [sign(W) agrees with (C) or W = 0]
(:class:`ProjectedOptimizer`). No gradient is changed, so the network's backward pass
and its gradient checks are the unconstrained ones; projected gradient descent is the
whole of it. Initial weights are turned to their allowed sign (|W| times the required
sign), which keeps the initialisation's scale. The fused engine has no projection step,
so ``train`` runs constrained models on the reference engine (``select_engine`` chooses
it, since the fused engine does not implement :class:`ProjectedOptimizer`).
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .model import Sequential
from .optim import Arrays, Optimizer

#: The signs a constraint may give an input.
SIGNS = (-1, 0, 1)


def check_monotonic_cst(
    monotonic_cst: ArrayLike | Mapping[str, int] | None,
    n_features: int,
    feature_names: Sequence[str] | None = None,
) -> np.ndarray:
    """The constraint as an int8 array of -1/0/1 per input, checked (scikit-learn's rules).

    ``monotonic_cst``: None (no constraint: all zeros), an array-like with one of -1, 0, 1
    per input, or a dict from input names (``feature_names``) to -1, 0 or 1. The messages
    are those of scikit-learn's HistGradientBoostingClassifier.
    """
    if monotonic_cst is None:
        return np.zeros(n_features, dtype=np.int8)
    if isinstance(monotonic_cst, Mapping):
        if feature_names is None:
            raise ValueError(
                "monotonic_cst is a dict, but the model was not fitted on data with feature "
                "names. Pass monotonic_cst as an integer array instead."
            )
        names = [str(n) for n in feature_names]
        unexpected = sorted(set(map(str, monotonic_cst)) - set(names))
        if unexpected:
            shown = [*unexpected[:5], "..."] if len(unexpected) > 5 else unexpected
            raise ValueError(
                f"monotonic_cst contains {len(unexpected)} unexpected feature names: {shown}."
            )
        signs = np.zeros(n_features, dtype=np.int8)
        for j, name in enumerate(names):
            if name in monotonic_cst:
                value = monotonic_cst[name]
                if not _is_sign(value):
                    raise ValueError(
                        f"monotonic_cst['{name}'] must be either -1, 0 or 1. Got {value!r}."
                    )
                signs[j] = int(value)
        return signs
    values = np.asarray(monotonic_cst, dtype=object)
    if values.ndim != 1:
        raise ValueError(
            f"monotonic_cst must be a one-dimensional array-like of -1, 0 or 1; got shape "
            f"{values.shape}."
        )
    unexpected = [v for v in values.tolist() if not _is_sign(v)]
    if unexpected:
        raise ValueError(
            f"monotonic_cst must be an array-like of -1, 0 or 1. Observed values: {unexpected}."
        )
    if values.shape[0] != n_features:
        raise ValueError(
            f"monotonic_cst has shape {values.shape} but the input data X has {n_features} "
            "features."
        )
    return values.astype(np.int8)


def _is_sign(value: object) -> bool:
    """True for -1, 0 or 1 as an integer (bool excluded) or an integral float."""
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, numbers.Integral):
        return int(value) in SIGNS
    if isinstance(value, numbers.Real):
        return float(value) in SIGNS
    return False


class MonotoneConstraint:
    """Sign constraint (C) on the weights of an mlp with layer sizes ``sizes``.

    ``signs``: -1/0/1 per input (see :func:`check_monotonic_cst`). ``masks[l]`` holds the
    required sign of each entry of W_{l+1}: sigma^{l} sigma^{l+1} for constrained entries,
    0 for free ones (weights out of a free input, or every weight when no input is
    constrained). Biases are never constrained.
    """

    def __init__(self, signs: ArrayLike, sizes: Sequence[int]) -> None:
        self.signs = np.asarray(signs, dtype=np.int8).copy()
        self.sizes = tuple(int(s) for s in sizes)
        if self.signs.shape != (self.sizes[0],):
            raise ValueError(
                f"the constraint has {self.signs.size} signs for a network of "
                f"{self.sizes[0]} inputs"
            )
        if not np.isin(self.signs, SIGNS).all():
            raise ValueError("signs must be -1, 0 or 1")
        self.masks: list[np.ndarray] = []
        if not self.active:
            return
        orientations = [self.signs.astype(np.float64)]
        orientations += [unit_orientations(n) for n in self.sizes[1:-1]]
        orientations.append(np.ones(self.sizes[-1]))
        for upper, lower in itertools.pairwise(orientations):
            self.masks.append(np.outer(upper, lower))  # 0 rows for free inputs

    @property
    def active(self) -> bool:
        """Whether any input is constrained."""
        return bool(np.any(self.signs != 0))

    @classmethod
    def for_network(cls, signs: ArrayLike, network: Sequential) -> MonotoneConstraint:
        """The constraint for a :class:`~backprop_lab.nn.Sequential` mlp (W1, b1, W2, ...)."""
        weights = _weights(network.params)
        sizes = [weights[0].shape[0], *(W.shape[1] for W in weights)]
        return cls(signs, sizes)

    def orient(self, params: Arrays) -> None:
        """Turn each constrained weight to its allowed sign in place: W <- m |W| (m != 0)."""
        for W, m in zip(_weights(params), self.masks, strict=True):
            W[...] = np.where(m != 0, m * np.abs(W), W)

    def project(self, params: Arrays) -> None:
        """Project onto (C) in place: W <- 0 wherever m W < 0 (the nearest allowed weight)."""
        for W, m in zip(_weights(params), self.masks, strict=True):
            W[m * W < 0] = 0.0

    def bounds(self) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """(C) as box bounds on each weight, for L-BFGS-B: W_l in [0, inf) where the mask
        is positive, (-inf, 0] where negative, free where 0; None when nothing is
        constrained. Clipping to them is ``project``."""
        if not self.active:
            return None
        return {
            f"W{layer}": (np.where(m > 0, 0.0, -np.inf), np.where(m < 0, 0.0, np.inf))
            for layer, m in enumerate(self.masks, start=1)
        }

    def violation(self, params: Arrays) -> str | None:
        """None when every weight satisfies (C); else the first weight that does not."""
        for layer, (W, m) in enumerate(zip(_weights(params), self.masks, strict=True), start=1):
            bad = np.argwhere(m * W < 0)
            if bad.size:
                i, k = (int(v) for v in bad[0])
                need = ">= 0" if m[i, k] > 0 else "<= 0"
                return (
                    f"W{layer}[{i}, {k}] = {W[i, k]:.6g} breaks the monotone constraint "
                    f"(it must be {need}; {len(bad)} weight(s) of W{layer} do not hold)"
                )
        return None


def unit_orientations(n: int) -> np.ndarray:
    """sigma_k = +1 for even k, -1 for odd k: half convex, half concave ReLU ridges."""
    return np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


def _weights(params: Arrays) -> list[np.ndarray]:
    """W1, W2, ... in layer order."""
    n = sum(1 for name in params if name.startswith("W"))
    return [params[f"W{layer}"] for layer in range(1, n + 1)]


class ProjectedOptimizer(Optimizer):
    """An optimiser followed by the projection onto (C): theta <- P(step(theta, g)).

    The wrapped optimiser keeps its own state (Adam's moments); projected gradient
    descent, with the gradient itself left unchanged.
    """

    def __init__(self, inner: Optimizer, constraint: MonotoneConstraint) -> None:
        super().__init__(inner.lr)
        self.inner, self.constraint = inner, constraint

    def step(self, params: Arrays, grads: Arrays) -> None:
        """theta <- step(theta, g), then W <- 0 where m W < 0."""
        self.inner.step(params, grads)
        self.constraint.project(params)

    def __repr__(self) -> str:
        return f"ProjectedOptimizer({self.inner!r})"
