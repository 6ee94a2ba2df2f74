"""Networks with more than one hidden layer: each layer's values, for the diagram.

For hidden layers l = 1..L (the explorer allows L <= 3) and the output layer:

    z_l = h_{l-1} W_l + b_l,   h_l = f(z_l),   h_0 = x;      z_out = h_L W_out + b_out

computed by the engine's own layers (their ``predict``, which keeps nothing). The trace
of one borrower (``trace.py``) follows one-hidden-layer networks only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import BinaryCrossEntropy, Dense, Sequential


def layer_values(
    model: Sequential, X: np.ndarray
) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """([{z, h} for each hidden layer], z_out) for the rows of X."""
    layers = model.layers
    if len(layers) % 2 != 1 or not all(isinstance(layer, Dense) for layer in layers[::2]):
        raise ValueError(f"expected Dense and activation layers in turn; got {model!r}")
    hidden = []
    a = X
    for dense, activation in zip(layers[0:-1:2], layers[1::2], strict=True):
        z = dense.predict(a)
        a = activation.predict(z)
        hidden.append({"z": z, "h": a})
    return hidden, layers[-1].predict(a)


def dense_params(model: Sequential) -> list[dict[str, np.ndarray]]:
    """{W, b} of every Dense layer, input side first (the output layer last)."""
    return [{"W": layer.params["W"], "b": layer.params["b"]} for layer in model.layers[::2]]


def dead_by_layer(hidden: list[dict[str, np.ndarray]], activation: str) -> list[list[bool]]:
    """For each hidden layer and unit: ReLU with z <= 0 on every row given (the training rows)."""
    if activation != "relu":
        return [[False] * values["z"].shape[1] for values in hidden]
    return [[bool(v) for v in np.all(values["z"] <= 0, axis=0)] for values in hidden]


def describe(model: Sequential, x: np.ndarray, dead: list[list[bool]], as_json: Any) -> dict:
    """The weights of every layer and one row's values at every hidden unit, for JSON."""
    hidden, _ = layer_values(model, x.reshape(1, -1))
    params = dense_params(model)
    return {
        "layers": [
            {
                "W": as_json(p["W"]),
                "b": as_json(p["b"]),
                "z": as_json(values["z"][0]),
                "h": as_json(values["h"][0]),
                "dead": dead[k],
            }
            for k, (p, values) in enumerate(zip(params[:-1], hidden, strict=True))
        ],
        "out": {"W": as_json(params[-1]["W"][:, 0]), "b": as_json(params[-1]["b"][0])},
    }


def deep_network(
    model: Sequential, x: np.ndarray, label: int, info: dict, dead: list[list[bool]], as_json: Any
) -> dict[str, Any]:
    """The explorer's ``network`` reply for a deeper network: every layer (``describe``),
    the first layer's dead units, and the borrower's prediction and loss."""
    _, z_out = layer_values(model, x.reshape(1, -1))
    loss = BinaryCrossEntropy().per_row(z_out, np.array([[float(label)]]))[0]
    return {
        **describe(model, x, dead, as_json),
        "dead": dead[0],
        "borrower": {
            **info,
            "label": label,
            "x": as_json(x),
            "z2": as_json(z_out[0, 0]),
            "y_hat": as_json(BinaryCrossEntropy.probabilities(z_out)[0, 0]),
            "loss": as_json(loss),
        },
    }
