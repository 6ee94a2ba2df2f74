"""A sequential network: forward through the layers in order, backward in reverse.

Backpropagation is the chain rule applied layer by layer from the loss down:

    g_L = dL/dz_L                      (the loss's backward: y_hat - y, over N)
    g_{l-1} = layer_l.backward(g_l)    (each layer turns dL/d(output) into dL/d(input))

and each Dense layer stores dL/dW = x^T g and dL/db = sum_rows g on the way.
Parameters are named W1, b1, W2, b2, ... in the order of the Dense layers, as in the
tutorial.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .layers import ACTIVATIONS, Dense, Layer
from .losses import Loss


class Sequential:
    """Layers applied in order; the last layer's output is the logit z fed to the loss."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        if not dense:
            raise ValueError("a Sequential model needs at least one Dense layer")
        self.n_inputs = dense[0].params["W"].shape[0]
        self.n_outputs = dense[-1].params["W"].shape[1]
        self.dtype = dense[0].params["W"].dtype
        self._index = [
            (f"{key}{i}", layer, key)
            for i, layer in enumerate(dense, start=1)
            for key in layer.params
        ]

    # ---- parameters ---------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by name (W1, b1, ...): updating them updates the model."""
        return {name: layer.params[key] for name, layer, key in self._index}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last pass, by parameter name: dJ/dtheta of the last
        ``loss_and_gradients`` (L2 term included), or of whatever ``backward`` was last
        seeded with."""
        if any(key not in layer.grads for _, layer, key in self._index):
            raise RuntimeError("no gradients: run loss_and_gradients or backward first")
        return {name: layer.grads[key] for name, layer, key in self._index}

    def get_params(self) -> dict[str, np.ndarray]:
        """A copy of every parameter array."""
        return {name: value.copy() for name, value in self.params.items()}

    def set_params(self, values: dict[str, np.ndarray]) -> None:
        """Copy ``values`` into the parameters (shapes must match; b may be given as (1, n))."""
        for name, layer, key in self._index:
            new = np.asarray(values[name], dtype=self.dtype)
            old = layer.params[key]
            if new.size != old.size or (new.ndim == old.ndim and new.shape != old.shape):
                raise ValueError(f"{name} has shape {old.shape}; got {new.shape}")
            layer.params[key] = np.array(new.reshape(old.shape), order="C")  # a copy, never a view

    def n_parameters(self) -> int:
        return sum(value.size for value in self.params.values())

    # ---- the two passes -------------------------------------------------------------
    def forward(self, X: np.ndarray) -> np.ndarray:
        """z = layer_L(... layer_1(X)): the output logits, with every layer's cache filled."""
        a = X
        for layer in self.layers:
            a = layer.forward(a)
        return a

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """z = layer_L(... layer_1(X)), the same numbers as ``forward``, keeping nothing:
        for scoring and monitoring, where no backward pass follows. The caches of an
        earlier ``forward`` are left as they were."""
        a = X
        for layer in self.layers:
            a = layer.predict(a)
        return a

    def clear_cache(self) -> None:
        """Forget every layer's cached rows and gradients (pickling never keeps them)."""
        for layer in self.layers:
            layer.clear_cache()

    def backward(self, g: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
        """Propagate g = dL/dz down through the layers; returns dL/dX if asked."""
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and isinstance(layer, Dense):
                return layer.backward(g, need_input_grad=need_input_grad)
            g = layer.backward(g)
        return g

    def loss_and_gradients(
        self,
        X: np.ndarray,
        y: np.ndarray,
        loss: Loss,
        *,
        l2: float = 0.0,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """J = L(z(X), y) + (l2 / 2) sum_l ||W_l||^2 and dJ/dtheta for every parameter.

        The L2 term adds l2 * W_l to each weight gradient (biases are not penalised), in
        the layers' own gradients: afterwards ``self.grads`` is the returned dJ/dtheta.
        """
        z = self.forward(X)
        value = loss.forward(z, y, sample_weight)
        self.backward(loss.backward())
        if l2:
            for _, layer, key in self._index:
                if key == "W":
                    W = layer.params["W"]
                    value += 0.5 * l2 * float(np.sum(W * W))
                    layer.grads["W"] += l2 * W
        return value, self.grads

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"


def mlp(
    n_inputs: int,
    hidden: Sequence[int] = (8,),
    n_outputs: int = 1,
    *,
    activation: str = "relu",
    init: str = "he",
    seed: int | np.random.Generator | None = 0,
    dtype: type = np.float64,
) -> Sequential:
    """A dense network n_inputs -> hidden[0] -> ... -> n_outputs with ``activation`` between.

    ``mlp(7)`` is the tutorial's 7-8-1 network (the sigmoid lives in the loss). Every
    Dense layer draws its weights from one Generator, ``np.random.default_rng(seed)``, in
    turn: a network built by hand from one Generator the same way gets the same weights.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    sizes = [n_inputs, *hidden, n_outputs]
    if any(int(s) < 1 for s in sizes):
        raise ValueError(f"every layer needs at least one unit; got sizes {sizes}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Dense(n_in, n_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(layers)
