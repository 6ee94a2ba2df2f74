"""A Sequential model's objective as a function of one flat vector theta, whole or by blocks.

For a model with parameters laid end to end, theta = [W1.ravel(), b1, W2.ravel(), b2, ...]
(the order of ``model.params`` and of the fused engine),

    J(theta) = sum_i w_i l_i(theta) / sum_i w_i + (l2 / 2) sum_l ||W_l||^2

is the objective of one full batch of ``engine.training.train`` (w_i = 1 without sample
weights; biases are not penalised). Its data term is a sum over rows, so for any
partition of the rows into blocks B,

    S_B = sum_{i in B} w_i l_i,   G_B = sum_{i in B} w_i dl_i/dtheta,   V_B = sum_{i in B} w_i
    J = (sum_B S_B) / (sum_B V_B) + (l2 / 2) ||W||^2,   dJ/dtheta = (sum_B G_B) / (sum_B V_B) + l2 W

``block_loss_and_gradient`` computes (S_B, G_B, V_B) of one block and ``penalised``
finishes J and its gradient from the sums: a run over data that does not fit in one
process computes the blocks where the rows are and adds them up. ``ModelObjective`` is
the same J for rows in memory (all rows as one batch on the fused engine's threads).
The sums of blocks equal the one-batch J to round-off (the order of the additions
differs), not bit for bit.

Dtypes: theta and the gradient are float64 (what scipy's L-BFGS works in). A float32
model computes in float32: each evaluation rounds theta to float32, runs the forward
pass and the error signals in float32, and accumulates the loss and gradients in float64
(as the fused engine always does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._util.validation import check_features, check_sample_weight
from ..nn.losses import Loss, get_loss
from ..nn.model import Sequential
from .training import prepare_targets

if TYPE_CHECKING:
    from .fused import FusedNetwork


class BlockSums(NamedTuple):
    """One block's share of the data term: S = sum w_i l_i, G = dS/dtheta, V = sum w_i."""

    loss_sum: float
    grad_sum: np.ndarray
    weight_sum: float


@dataclass
class FlatNetwork:
    """A Sequential model and its loss as functions of one flat float64 vector theta.

    theta = [W1.ravel(), b1, W2.ravel(), b2, ...], the order of ``model.params`` (and of
    the fused engine). ``engine`` is 'fused' (the compiled kernels, ``fused`` set) or
    'reference' (the NumPy layers of a private copy of the model, whose parameters each
    evaluation sets to theta). ``penalised[p]`` is True where theta[p] is a weight (the
    L2 term's entries). Picklable, so it can travel to where blocks of rows are.
    """

    model: Sequential
    loss: Loss
    engine: str
    fused: FusedNetwork | None
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    n_params: int
    penalised: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.model.dtype)

    def flatten(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """The named arrays (W1, b1, ...) laid end to end as one float64 vector."""
        flat = np.empty(self.n_params)
        for name, offset, shape in zip(self.names, self.offsets, self.shapes, strict=True):
            flat[offset : offset + math.prod(shape)] = np.ravel(params[name])
        return flat

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Named arrays from theta, in the model's dtype (copies)."""
        return {
            name: np.array(theta[offset : offset + math.prod(shape)], dtype=self.dtype).reshape(
                shape
            )
            for name, offset, shape in zip(self.names, self.offsets, self.shapes, strict=True)
        }

    def bounds(
        self, limits: dict[str, tuple[ArrayLike, ArrayLike]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) for ``minimize_lbfgs`` from per-array limits, e.g.
        ``{"W1": (0.0, np.inf)}`` for non-negative first-layer weights; arrays not named
        are unbounded. A limit may be a scalar or an array of the parameter's shape."""
        lower, upper = np.full(self.n_params, -np.inf), np.full(self.n_params, np.inf)
        for name, (low, high) in limits.items():
            if name not in self.names:
                raise ValueError(f"bounds for {name!r}: the network has {', '.join(self.names)}")
            i = self.names.index(name)
            part = slice(self.offsets[i], self.offsets[i] + math.prod(self.shapes[i]))
            lower[part] = np.broadcast_to(np.asarray(low, dtype=np.float64), self.shapes[i]).ravel()
            upper[part] = np.broadcast_to(
                np.asarray(high, dtype=np.float64), self.shapes[i]
            ).ravel()
        return lower, upper

    def in_model_dtype(self, theta: np.ndarray) -> np.ndarray:
        """theta rounded to the model's dtype (what an evaluation computes with)."""
        return np.ascontiguousarray(theta, dtype=self.dtype)


def flat_network(
    model: Sequential, loss: str | Loss = "bce", *, engine: str = "auto"
) -> FlatNetwork:
    """``model`` with ``loss`` as a FlatNetwork, on the engine ``train`` would choose.

    ``engine``: 'fused' (ValueError when the kernels do not implement the model or
    loss), 'reference', or 'auto': fused when it applies and the network has at most
    ``fused.AUTO_MAX_PARAMETERS`` parameters, else reference (the rule of
    ``training.select_engine``). The model is copied: evaluations never change it.
    """
    import copy

    if engine not in ("auto", "reference", "fused"):
        raise ValueError(f"engine must be 'auto', 'reference' or 'fused'; got {engine!r}")
    loss = get_loss(loss)
    fused = None
    if engine != "reference":
        from .fused import fused_support, prefers_fused  # loads Numba
        from .fused.layout import supported_network

        unsupported = fused_support(model, loss)
        if unsupported is None and (engine == "fused" or prefers_fused(model)):
            fused = supported_network(model, loss)
        elif engine == "fused":
            raise ValueError(f"engine='fused' does not apply: {unsupported}")
    copied = copy.deepcopy(model)
    copied.clear_cache()
    params = copied.params
    names = tuple(params)
    shapes = tuple(params[name].shape for name in names)
    sizes = [math.prod(shape) for shape in shapes]
    offsets = tuple(int(o) for o in np.cumsum([0, *sizes[:-1]]))
    penalised = np.zeros(sum(sizes), dtype=bool)
    for name, offset, size in zip(names, offsets, sizes, strict=True):
        penalised[offset : offset + size] = name.startswith("W")
    return FlatNetwork(
        model=copied,
        loss=loss,
        engine="reference" if fused is None else "fused",
        fused=fused,
        names=names,
        shapes=shapes,
        offsets=offsets,
        n_params=sum(sizes),
        penalised=penalised,
    )


def _prepare_block(
    network: FlatNetwork, X: ArrayLike, y: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """X in the model's dtype; y as the loss takes it (class indices, or (N, K) floats)."""
    model = network.model
    X = check_features(X, n_features=model.n_inputs, dtype=model.dtype)
    y = prepare_targets(network.loss, y, X.shape[0], model.n_outputs)
    return X, (y.astype(model.dtype, copy=False) if y.dtype.kind == "f" else y)


def _data_term(
    network: FlatNetwork,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    *,
    l2: float,
    as_sum: bool,
) -> tuple[float, np.ndarray]:
    """Prepared arrays: sum_i w_i l_i / D + (l2/2) ||W||^2 and its gradient, where D = 1
    (``as_sum``) or sum_i w_i (the weighted mean; 0/0 := 0)."""
    if network.fused is not None:
        from .fused import flat_loss_and_gradient

        return flat_loss_and_gradient(
            network.fused,
            network.in_model_dtype(theta),
            X,
            y,
            network.loss,
            l2=l2,
            sample_weight=weights,
            divisor=1.0 if as_sum else None,
        )
    model = network.model
    model.set_params(network.unflatten(theta))
    value, grads = model.loss_and_gradients(X, y, network.loss, l2=l2, sample_weight=weights)
    model.clear_cache()  # the layers' caches hold N rows of activations
    grad = network.flatten(grads)
    if as_sum:  # the layers compute the weighted mean: back to the sum
        total = float(X.shape[0]) if weights is None else float(weights.sum())
        value, grad = value * total, grad * total
    return float(value), grad


def block_loss_and_gradient(
    network: FlatNetwork,
    theta: np.ndarray,
    X_block: ArrayLike,
    y_block: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> BlockSums:
    """(S_B, G_B, V_B) of one block of rows: S_B = sum_i w_i l_i(theta), G_B = dS_B/dtheta
    (float64, no L2 term), V_B = sum_i w_i (the row count without weights).

    Blocks of any partition of the rows add up to the whole data's sums; ``penalised``
    turns the totals into J and dJ/dtheta.
    """
    X, y = _prepare_block(network, X_block, y_block)
    weights = None
    if sample_weight is not None:  # a block's weights may all be zero: not check_sample_weight
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (X.shape[0],):
            raise ValueError(f"sample_weight must have shape ({X.shape[0]},); got {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("sample_weight must be finite and non-negative")
    value, grad = _data_term(network, theta, X, y, weights, l2=0.0, as_sum=True)
    weight_sum = float(X.shape[0]) if weights is None else float(weights.sum())
    return BlockSums(value, grad, weight_sum)


def penalised(
    network: FlatNetwork,
    theta: np.ndarray,
    loss_sum: float,
    grad_sum: np.ndarray,
    weight_sum: float,
    l2: float,
) -> tuple[float, np.ndarray]:
    """J = S / V + (l2 / 2) sum_l ||W_l||^2 and dJ/dtheta = G / V + l2 W from the summed
    blocks (V = 0, every weight zero: the data term is 0, as 0/0 := 0 in nn/losses.py).

    The penalty is computed at theta rounded to the model's dtype, as an evaluation is.
    """
    divisor = weight_sum if weight_sum != 0 else 1.0
    weights = np.where(network.penalised, network.in_model_dtype(theta).astype(np.float64), 0.0)
    value = float(loss_sum) / divisor + 0.5 * float(l2) * float(weights @ weights)
    return value, np.asarray(grad_sum, dtype=np.float64) / divisor + float(l2) * weights


class ModelObjective:
    """J(theta) and dJ/dtheta of ``model`` on rows in memory: pass it to ``minimize_lbfgs``.

        J(theta) = sum_i w_i l_i / sum_i w_i + (l2 / 2) sum_l ||W_l||^2

    computed as one full batch by the engine ``flat_network`` chooses (on the fused
    engine: the same numbers, bit for bit, as ``fused_loss_and_gradients``). ``theta0``
    is the model's current parameters; ``n_fun`` counts evaluations. The model itself
    is never changed (see ``FlatNetwork``); ``network.unflatten(theta)`` gives the
    arrays to ``model.set_params``.
    """

    def __init__(
        self,
        model: Sequential,
        X: ArrayLike,
        y: ArrayLike,
        *,
        loss: str | Loss = "bce",
        l2: float = 0.0,
        sample_weight: ArrayLike | None = None,
        engine: str = "auto",
    ) -> None:
        if not (math.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a non-negative number; got {l2!r}")
        self.network = flat_network(model, loss, engine=engine)
        self.X, self.y = _prepare_block(self.network, X, y)
        self.sample_weight = check_sample_weight(sample_weight, self.X.shape[0])
        self.l2 = float(l2)
        self.theta0 = self.network.flatten(model.params)
        self.n_fun = 0

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_fun += 1
        return _data_term(
            self.network, theta, self.X, self.y, self.sample_weight, l2=self.l2, as_sum=False
        )
