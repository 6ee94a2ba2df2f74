"""Weight initialisation. Biases always start at zero.

    ============  ==========================================  ===========================
    name          W[i, j] drawn from                          suits
    ============  ==========================================  ===========================
    ``he``        N(0, 2 / n_in)                              ReLU, LeakyReLU
    ``xavier``    U(-a, a), a = sqrt(6 / (n_in + n_out))      Tanh, Sigmoid (Glorot)
    ``small``     N(0, 1) * scale, scale = 0.01 by default    small random weights
    ``tutorial``  0.01 * N(0, 1), the same as ``small``       the tutorial's initialisation
    ============  ==========================================  ===========================

``mlp(7, init="tutorial")``
    =========  ==========================================  ===========================

``mlp(7, init="tutorial", seed=s)`` holds exactly the weights of
``textbook.init_params(seed=s)``: W1 then W2 drawn from ``np.random.default_rng(s)``.

:func:`initial_weights` draws an (n_in, n_out) matrix by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def he_normal(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """W ~ N(0, 2 / n_in): keeps the variance of ReLU activations constant across layers."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


def xavier_uniform(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """W ~ U(-a, a) with a = sqrt(6 / (n_in + n_out)) (Glorot and Bengio, 2010)."""
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_in, n_out))


def small_random(
    n_in: int, n_out: int, rng: np.random.Generator, scale: float = 0.01
) -> np.ndarray:
    """W = scale * N(0, 1): the tutorial's ``np.random.randn(n_in, n_out) * 0.01``."""
    return scale * rng.standard_normal(size=(n_in, n_out))


INITIALIZERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "he": he_normal,
    "xavier": xavier_uniform,
    "small": small_random,
    "tutorial": small_random,
}


def initial_weights(
    name: str, n_in: int, n_out: int, rng: np.random.Generator, dtype: type = np.float64
) -> np.ndarray:
    """Draw an (n_in, n_out) weight matrix with the named scheme."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; choose one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name](n_in, n_out, rng).astype(dtype)
