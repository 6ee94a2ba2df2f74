"""Optimisers: how a gradient g = dJ/dtheta turns into a parameter update.

Each optimiser updates the arrays in place and keeps its own state (velocities,
moments) per parameter name, so calling ``step`` again continues where it left off.
"""

from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


class Optimizer:
    """Base class; ``lr`` is the learning rate."""

    def __init__(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a positive number; got {lr!r}")
        self.lr = float(lr)

    def step(self, params: Arrays, grads: Arrays) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:g})"


class GradientDescent(Optimizer):
    """theta <- theta - lr g   (the tutorial's update)."""

    def step(self, params: Arrays, grads: Arrays) -> None:
        for name, theta in params.items():
            theta -= self.lr * grads[name]


class Momentum(Optimizer):
    """v <- mu v - lr g;  theta <- theta + v.

    Nesterov: theta <- theta + mu v - lr g (the gradient step is taken from the
    look-ahead point, written in the form that needs only the current gradient).
    """

    def __init__(self, lr: float, momentum: float = 0.9, nesterov: bool = False) -> None:
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity: Arrays = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        mu = self.momentum
        for name, theta in params.items():
            v = self.velocity.setdefault(name, np.zeros_like(theta))
            v *= mu
            v -= self.lr * grads[name]
            if self.nesterov:
                theta += mu * v - self.lr * grads[name]
            else:
                theta += v


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with bias correction:

    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
    theta <- theta - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
    """

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m: Arrays = {}
        self.v: Arrays = {}
        self.t = 0

    def step(self, params: Arrays, grads: Arrays) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for name, theta in params.items():
            g = grads[name]
            m = self.m.setdefault(name, np.zeros_like(theta))
            v = self.v.setdefault(name, np.zeros_like(theta))
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            m_hat = m / (1.0 - b1**self.t)
            v_hat = v / (1.0 - b2**self.t)
            theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GradientDescent,
    "momentum": Momentum,
    "adam": Adam,
}


def get_optimizer(name: str | Optimizer, lr: float, **options: float | bool) -> Optimizer:
    """An optimiser from its name ('gd', 'momentum', 'adam') or an instance."""
    if isinstance(name, Optimizer):
        return name
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](lr, **options)
