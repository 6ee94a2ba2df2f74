"""Layers: each ``backward`` sits right below its ``forward``.

Notation for a batch of N rows: the layer maps input ``x`` to output ``a``; backward
receives ``g = dL/da`` (the error signal from above) and returns ``dL/dx``. Parameter
gradients are stored in ``self.grads`` under the same keys as ``self.params``.
The loss already divides by N, so no layer divides again.

Two ways through a layer: ``predict(x)`` computes ``a`` and keeps nothing, for scoring;
``forward(x)`` computes the same ``a`` and also keeps what ``backward`` needs (``x``,
or ``a`` itself), for training. Those caches and the gradients hold rows of data (for a
single row, dL/dW = x^T g even reveals x up to scale), so ``clear_cache`` forgets them
and pickling or copying a layer never carries them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .init import initial_weights


class Layer:
    """A differentiable map with a cached forward pass."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    #: True for activations with a kink (ReLU, LeakyReLU) where the derivative jumps.
    has_kink = False
    #: The attributes ``forward`` fills for ``backward``: the input x, the output a.
    cache_attributes: tuple[str, ...] = ("x", "a")

    def __init__(self) -> None:
        self.params, self.grads = {}, {}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x``, keeping nothing. Layers that define only ``forward``
        get it computed by ``forward`` with the cache cleared afterwards."""
        a = self.forward(x)
        self.clear_cache()
        return a

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Forget the last input and output and the gradients computed from them."""
        for name in self.cache_attributes:
            if name in vars(self):
                setattr(self, name, None)
        self.grads = {}

    def __getstate__(self) -> dict:
        """What pickle and copy keep: parameters and settings, never caches or gradients."""
        state = dict(vars(self))
        for name in self.cache_attributes:
            if name in state:
                state[name] = None
        state["grads"] = {}
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Affine map ``z = x W + b`` with W of shape (n_in, n_out) and b of shape (n_out,)."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        dtype: type = np.float64,
    ) -> None:
        """W drawn by ``init`` from ``rng``: a Generator (layers built from one Generator
        get different, reproducible weights, as in :func:`~backprop_lab.nn.mlp`), an int
        seed, or None for fresh entropy (every layer its own weights, not reproducible)."""
        super().__init__()
        rng = np.random.default_rng(rng)
        self.params = {
            "W": initial_weights(init, n_in, n_out, rng, dtype),
            "b": np.zeros(n_out, dtype=dtype),
        }
        self.x: np.ndarray | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """z = x W + b   (b is added in place: one N x n_out array instead of two)"""
        z = x @ self.params["W"]
        z += self.params["b"]
        return z

    def forward(self, x: np.ndarray) -> np.ndarray:
        """z = x W + b, remembering x for dL/dW = x^T g."""
        self.x = x
        return self.predict(x)

    def backward(self, g: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dW = x^T g,   dL/db = sum over rows of g,   dL/dx = g W^T"""
        self.grads["W"] = self.x.T @ g
        # The sum over rows, as einsum: g.sum(axis=0) walks a narrow g row by row and
        # is several times slower for large N.
        self.grads["b"] = np.einsum("ij->j", g)
        return g @ self.params["W"].T if need_input_grad else None

    def __repr__(self) -> str:
        n_in, n_out = self.params["W"].shape
        return f"Dense({n_in}, {n_out})"


class ReLU(Layer):
    """a = max(0, x)."""

    has_kink = True

    def predict(self, x: np.ndarray) -> np.ndarray:
        """a = max(0, x)"""
        return np.maximum(x, 0.0)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a = max(0, x); remembers x for ReLU'(x) and the kink test of the gradient check."""
        self.x = x
        return self.predict(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dL/dx = g * ReLU'(x), with ReLU'(x) = 1 if x > 0 else 0."""
        return g * (self.x > 0)


class LeakyReLU(Layer):
    """a = x if x > 0 else slope * x."""

    has_kink = True

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = slope

    def predict(self, x: np.ndarray) -> np.ndarray:
        """a = x if x > 0 else slope * x"""
        return np.where(x > 0, x, self.slope * x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a = x if x > 0 else slope * x; remembers x for the derivative."""
        self.x = x
        return self.predict(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dL/dx = g * (1 if x > 0 else slope)"""
        return g * np.where(self.x > 0, 1.0, self.slope).astype(g.dtype)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.slope})"


class Tanh(Layer):
    """a = tanh(x)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """a = tanh(x)"""
        return np.tanh(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a = tanh(x); remembers a, since tanh'(x) = 1 - a^2."""
        self.a = self.predict(x)
        return self.a

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dL/dx = g * (1 - a^2)"""
        return g * (1.0 - self.a * self.a)


class Sigmoid(Layer):
    """a = 1 / (1 + exp(-x)), computed without overflow (scipy's expit)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """a = sigmoid(x)"""
        return expit(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a = sigmoid(x); remembers a, since sigmoid'(x) = a (1 - a)."""
        self.a = self.predict(x)
        return self.a

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dL/dx = g * a * (1 - a)"""
        return g * self.a * (1.0 - self.a)


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
}
