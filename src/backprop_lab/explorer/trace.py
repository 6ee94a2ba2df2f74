"""One borrower through the network: every quantity of one forward and one backward pass.

For a single row x (1 x 7) of standardised features and its label y, with f the hidden
activation (ReLU, tanh or sigmoid):

    z1 = x W1 + b1              h = f(z1)            z2 = h W2 + b2
    y_hat = sigmoid(z2)         L = -[y log y_hat + (1 - y) log(1 - y_hat)]
    delta2 = dL/dz2 = y_hat - y
    dW2 = h^T delta2 / N        db2 = mean(delta2)
    dL/dh = delta2 W2^T         f'(z1)               delta1 = (delta2 W2^T) * f'(z1)
    dW1 = x^T delta1 / N        db1 = mean(delta1)
    W <- W - lr dW              (one gradient step on this borrower alone)
    L_new = L with the stepped weights (the same borrower's loss after the step)

with N = 1 row here, so dW2 = h^T delta2 and db2 = delta2 (the report, the textbook and
the notebook use the same notation for a batch of N rows). Every number is computed by the engine's
own layers and loss, walked one layer at a time so the intermediate signals can be
shown: the same ``forward`` and ``backward`` methods that ``Sequential`` and ``train``
call. Nothing here re-derives a gradient.
"""

from __future__ import annotations

import numpy as np

from ..nn import BinaryCrossEntropy, Dense, Sequential


def hidden_layers(model: Sequential) -> tuple[Dense, object, Dense]:
    """The three layers of a one-hidden-layer network: Dense, activation, Dense."""
    layers = model.layers
    if len(layers) != 3 or not isinstance(layers[0], Dense) or not isinstance(layers[2], Dense):
        raise ValueError(f"the explorer shows one-hidden-layer networks; got {model!r}")
    return layers[0], layers[1], layers[2]


def forward_values(
    model: Sequential, x: np.ndarray, *, for_backward: bool = False
) -> dict[str, np.ndarray]:
    """z1, h, z2 and y_hat for the rows of x, from the engine's layers: their ``forward``
    (which keeps what ``backward`` needs) when ``for_backward``, else their ``predict``
    (which keeps nothing)."""
    dense1, activation, dense2 = hidden_layers(model)

    def apply(layer: object, a: np.ndarray) -> np.ndarray:
        return layer.forward(a) if for_backward else layer.predict(a)

    z1 = apply(dense1, x)
    h = apply(activation, z1)
    z2 = apply(dense2, h)
    return {"z1": z1, "h": h, "z2": z2, "y_hat": BinaryCrossEntropy.probabilities(z2)}


def trace_borrower(model: Sequential, x: np.ndarray, y: int, lr: float) -> dict[str, np.ndarray]:
    """Every quantity of one forward and one backward pass for one borrower.

    ``x`` is the borrower's standardised feature row, shape (7,) or (1, 7); ``y`` is 0 or 1.
    Returns arrays in the engine's shapes (rows of a batch of one: x is (1, 7), z2 is
    (1, 1); parameters as stored), keyed by the names in the module docstring: ``dh`` is
    dL/dh, ``fprime`` is f'(z1), ``W1_new`` etc. are the parameters after one step of
    size ``lr``. The model's parameters are not changed.
    """
    dense1, activation, dense2 = hidden_layers(model)
    x = np.asarray(x, dtype=model.dtype).reshape(1, -1)
    target = np.array([[float(y)]], dtype=model.dtype)
    loss = BinaryCrossEntropy()

    # forward, layer by layer
    out = forward_values(model, x, for_backward=True)
    L = loss.forward(out["z2"], target)

    # backward, layer by layer from the loss down
    delta2 = loss.backward()  # dL/dz2 = y_hat - y (the mean over N = 1 row)
    dh = dense2.backward(delta2)  # dL/dh = delta2 W2^T; stores dW2 = h^T delta2, db2
    fprime = activation.backward(np.ones_like(dh))  # f'(z1): the factor backward multiplies by
    delta1 = activation.backward(dh)  # dL/dz1 = (delta2 W2^T) * f'(z1)
    dense1.backward(delta1, need_input_grad=False)  # stores dW1 = x^T delta1, db1

    grads = {name: g.copy() for name, g in model.grads.items()}
    model.clear_cache()  # the layers keep nothing of this borrower
    params = model.get_params()
    values: dict[str, np.ndarray] = {
        "x": x,
        "y": target,
        **out,
        "loss": np.float64(L),
        "delta2": delta2,
        "dh": dh,
        "fprime": fprime,
        "delta1": delta1,
    }
    for name in ("W1", "b1", "W2", "b2"):
        values[name] = params[name]
        values["d" + name] = grads[name]
        values[name + "_new"] = params[name] - lr * grads[name]
    values["loss_new"] = np.float64(_loss_after(model, x, target, values))
    return values


def _loss_after(model: Sequential, x: np.ndarray, target: np.ndarray, values: dict) -> float:
    """L(x, y) with the parameters after the step (``W_new``), the model left unchanged."""
    before = model.get_params()
    try:
        model.set_params({name: values[name + "_new"] for name in before})
        return float(BinaryCrossEntropy().forward(model.predict_logits(x), target))
    finally:
        model.set_params(before)


#: Row vectors of the single-row batch, and per-unit parameters: shown as plain vectors.
_VECTORS = {"x", "z1", "h", "dh", "fprime", "delta1", "b1", "db1", "b1_new", "W2", "dW2", "W2_new"}
#: (7, hidden) matrices, kept as matrices even with one hidden unit.
_MATRICES = {"W1", "dW1", "W1_new"}


def for_display(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trace in the shapes a reader expects: vectors for the rows and per-unit
    parameters, (7, hidden) matrices for W1, and scalars for the rest (y, z2, y_hat,
    loss, delta2, b2 and their gradients and updates)."""
    out = {}
    for key, value in values.items():
        value = np.asarray(value)
        if key in _MATRICES:
            out[key] = value
        elif key in _VECTORS:
            out[key] = value.reshape(-1)
        else:
            out[key] = value.reshape(())
    return out
