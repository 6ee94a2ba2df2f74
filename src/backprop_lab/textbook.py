"""The tutorial's 7-8-1 network, written out by hand.

Forward pass, for X of shape (N, 7):

    z1 = X W1 + b1          (N, 8)
    h  = ReLU(z1)           (N, 8)
    z2 = h W2 + b2          (N, 1)
    y_hat = sigmoid(z2)     (N, 1)

Loss (binary cross-entropy):  L = -(1/N) sum [y log y_hat + (1 - y) log(1 - y_hat)]

Backward pass (the chain rule, output layer first):

    delta2 = y_hat - y                          (N, 1)   dL/dz2, times N
    dW2 = h^T delta2 / N,   db2 = mean(delta2)
    delta1 = (delta2 W2^T) * ReLU'(z1)          (N, 8)   dL/dz1, times N
    dW1 = X^T delta1 / N,   db1 = mean(delta1)

Update (plain gradient descent):  W <- W - lr dW,  b <- b - lr db.

Two things differ from a naive transcription: the sigmoid and the loss are computed
from the logit z2 so nothing overflows or turns into log(0), and labels must have the
shape (N, 1) of the predictions, since y of shape (N,) minus y_hat of shape (N, 1)
would silently broadcast to an (N, N) matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

Params = dict[str, np.ndarray]


def init_params(n_inputs: int = 7, n_hidden: int = 8, seed: int = 0, scale: float = 0.01) -> Params:
    """Small random weights, W = scale * N(0, 1), and zero biases, as in the tutorial."""
    rng = np.random.default_rng(seed)
    return {
        "W1": scale * rng.standard_normal((n_inputs, n_hidden)),
        "b1": np.zeros((1, n_hidden)),
        "W2": scale * rng.standard_normal((n_hidden, 1)),
        "b2": np.zeros((1, 1)),
    }


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(z) = max(0, z)"""
    return np.maximum(0.0, z)


def relu_derivative(z: np.ndarray) -> np.ndarray:
    """ReLU'(z) = 1 if z > 0 else 0"""
    return (z > 0).astype(z.dtype)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = 1 / (1 + e^-z), without overflow for large |z|."""
    return expit(z)


def forward(X: np.ndarray, params: Params) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return y_hat and the cache (z1, h, z2) that the backward pass needs."""
    z1 = X @ params["W1"] + params["b1"]
    h = relu(z1)
    z2 = h @ params["W2"] + params["b2"]
    y_hat = sigmoid(z2)
    return y_hat, {"z1": z1, "h": h, "z2": z2}


def _check_label_shape(y: np.ndarray, y_hat: np.ndarray) -> None:
    if y.shape != y_hat.shape:
        raise ValueError(
            f"labels have shape {y.shape} but predictions have shape {y_hat.shape}; "
            "reshape y with y.reshape(-1, 1) so that y_hat - y does not broadcast to (N, N)"
        )


def binary_cross_entropy(y: np.ndarray, y_hat: np.ndarray, z2: np.ndarray | None = None) -> float:
    """L = -(1/N) sum [y log y_hat + (1 - y) log(1 - y_hat)].

    With the logit z2 given, log y_hat = log sigmoid(z2) and log(1 - y_hat) = log sigmoid(-z2)
    are computed directly, exact even when y_hat rounds to 0 or 1. Without it, y_hat is
    clipped to [1e-15, 1 - 1e-15] so the loss stays finite.
    """
    _check_label_shape(y, y_hat)
    if z2 is not None:
        log_p, log_not_p = log_expit(z2), log_expit(-z2)
    else:
        p = np.clip(y_hat, 1e-15, 1.0 - 1e-15)
        log_p, log_not_p = np.log(p), np.log1p(-p)
    return float(-np.mean(y * log_p + (1.0 - y) * log_not_p))


def backward(
    X: np.ndarray, y: np.ndarray, y_hat: np.ndarray, cache: dict[str, np.ndarray], params: Params
) -> Params:
    """Gradients of the mean binary cross-entropy with respect to W1, b1, W2, b2."""
    _check_label_shape(y, y_hat)
    N = X.shape[0]
    delta2 = y_hat - y
    dW2 = cache["h"].T @ delta2 / N
    db2 = delta2.mean(axis=0, keepdims=True)
    delta1 = (delta2 @ params["W2"].T) * relu_derivative(cache["z1"])
    dW1 = X.T @ delta1 / N
    db1 = delta1.mean(axis=0, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def accuracy(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Share of rows where (y_hat > 0.5) equals y."""
    _check_label_shape(y, y_hat)
    return float(np.mean((y_hat > 0.5) == (y == 1)))


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    params: Params,
    lr: float,
    epochs: int,
    backprop: bool = True,
) -> tuple[Params, list[float], list[float]]:
    """Full-batch gradient descent; returns the final params and per-epoch loss and accuracy.

    Each epoch runs the forward pass, records the loss and accuracy of that pass, and
    (only when ``backprop`` is True) the backward pass and the update. With
    ``backprop=False`` the weights never change, so every epoch records the same loss.
    ``params`` is not modified: training works on a copy.
    """
    params = {name: value.copy() for name, value in params.items()}
    losses, accuracies = [], []
    for _ in range(epochs):
        y_hat, cache = forward(X, params)
        losses.append(binary_cross_entropy(y, y_hat, cache["z2"]))
        accuracies.append(accuracy(y, y_hat))
        if backprop:
            grads = backward(X, y, y_hat, cache, params)
            for name in params:
                params[name] -= lr * grads[name]
    return params, losses, accuracies
