"""Helpers for the explorer tests: a client, sessions, and an independent reference run.

:func:`reference_run` computes what a session with a given config should hold without
the explorer and without the engine's training code:

* the split: scikit-learn's ``train_test_split`` (20% test, stratified on the label,
  ``random_state`` = the config's seed), as the explorer documents;
* the scaling: scikit-learn's ``StandardScaler`` fitted on the training rows only
  (population standard deviation);
* the Bayes reference: the accuracy of ``[p > 1/2]`` and the log loss of the true
  probabilities, written out here;
* training: gradient descent on the mean binary cross-entropy, computed by PyTorch's
  autograd in float64 (full batch, or mini-batches in the order of one
  ``np.random.default_rng(seed)`` permutation per epoch, the session's documented
  shuffle), recording each epoch's numbers as ``History`` does.

Only the borrowers (``make_credit_risk``) and the initial weights (``nn.mlp`` with the
config's activation, init and seed) come from the package: they define what a session
starts from. So a session that split, scaled, built or trained differently (another
seed, learning rate, activation, initialisation or batch size) disagrees with the
reference, and so does one whose engine computes a wrong loss, gradient, update or
batch order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from backprop_lab.data import FEATURES, make_credit_risk
from backprop_lab.nn import mlp

# How closely a session's numbers must match the reference's. Both compute in float64
# (unit round-off u = 1.1e-16) but sum in different orders: each forward pass sums at most
# 16 products per unit and the loss averages up to 800 rows, so one epoch's numbers differ
# by a few u relative, and gradient descent carries that difference on. Measured over the
# runs these tests make (up to 20 epochs at lr 0.5; 5 epochs at lr 8 and at lr 10, which
# diverges; tanh, sigmoid, mini-batches): largest relative difference 2.4e-15, in the
# weights of the lr 10 run. RTOL is 4e4 times that, room for another BLAS; a session
# trained with lr 0.55 instead of 0.5, split with another seed or scaled with other
# statistics is off by more than 1e-4. ATOL covers entries that cancel to nearly zero.
RTOL = 1e-10
ATOL = 1e-12

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}

#: The shapes the API sends a trace in: vectors for the row and per-unit values, the
#: (7, h) matrix for W1 and its gradient and update, and scalars for everything else.
_VECTOR = (-1,)
_SHOWN_AS = {
    **dict.fromkeys(("x", "z1", "h", "dh", "fprime", "delta1"), _VECTOR),
    **dict.fromkeys(("b1", "db1", "b1_new", "W2", "dW2", "W2_new"), _VECTOR),
    **dict.fromkeys(("W1", "dW1", "W1_new"), (len(FEATURES), -1)),
}


def new_session(client, **config) -> dict:
    """POST /api/session and return its snapshot (asserting success)."""
    reply = client.post("/api/session", json=config)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def api(client, method: str, path: str, body=None):
    """Call the API; returns (status, JSON)."""
    kwargs = {} if body is None else {"json": body}
    reply = client.open(path, method=method, **kwargs)
    return reply.status_code, reply.get_json()


def assert_close(got, want, err_msg: str = "") -> None:
    """Agreement with the reference, to RTOL relative (ATOL near zero)."""
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), want, rtol=RTOL, atol=ATOL, err_msg=err_msg
    )


@dataclass
class Reference:
    """The data, scaling, weights and curves a session with this config should hold.

    ``params[e]`` are the weights after e updates (in the engine's layout: W1 (7, h),
    b1 (h,), W2 (h, 1), b2 (1,)); ``history`` has one entry per epoch, measured with the
    weights at the start of the epoch (for mini-batches, ``loss`` and ``accuracy`` are the
    row-weighted means over the epoch's batches, each before its update).
    """

    activation: str
    raw_train: pd.DataFrame
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    p_train: np.ndarray
    p_test: np.ndarray
    scaler: StandardScaler
    bayes: dict[str, float]
    params: list[dict[str, np.ndarray]]
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, np.ndarray]:
        """The weights after the last epoch."""
        return self.params[-1]

    def standardise(self, raw: dict[str, float]) -> np.ndarray:
        """A typed-in borrower's raw features, standardised with the training statistics."""
        frame = pd.DataFrame([[raw[f] for f in FEATURES]], columns=list(FEATURES))
        return self.scaler.transform(frame)[0]

    def forward(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """z1, h, z2 and y_hat for the rows of X with the final weights."""
        with torch.no_grad():
            out = _forward(_tensors(self.final), torch.from_numpy(X), self.activation)
        return {key: value.numpy() for key, value in out.items()}

    def trace(self, x: np.ndarray, y: int, lr: float) -> dict[str, np.ndarray]:
        """Every number of the explorer's trace for one borrower (final weights), by autograd.

        Shapes as the API sends them: vectors for x, z1, h, dh, fprime, delta1, b1, W2 and
        their gradients and updates; (7, h) for W1; scalars for the rest.
        """
        params = _tensors(self.final, requires_grad=True)
        X = torch.from_numpy(np.asarray(x, dtype=np.float64).reshape(1, -1))
        target = torch.tensor([[float(y)]], dtype=torch.float64)
        z1 = X @ params["W1"] + params["b1"]
        z1.retain_grad()
        h = ACTIVATIONS[self.activation](z1)
        h.retain_grad()
        z2 = h @ params["W2"] + params["b2"]
        z2.retain_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z2, target)
        loss.backward()
        # f'(z1): the derivative of the activation, by autograd on its own
        z1_leaf = z1.detach().clone().requires_grad_(True)
        (fprime,) = torch.autograd.grad(ACTIVATIONS[self.activation](z1_leaf).sum(), z1_leaf)
        values = {
            "x": X[0],
            "y": target[0, 0],
            "z1": z1[0],
            "h": h[0],
            "z2": z2[0, 0],
            "y_hat": torch.sigmoid(z2)[0, 0],
            "loss": loss,
            "delta2": z2.grad[0, 0],
            "dh": h.grad[0],
            "fprime": fprime[0],
            "delta1": z1.grad[0],
        }
        for name in ("W1", "b1", "W2", "b2"):
            p, g = params[name], params[name].grad
            values[name] = p
            values["d" + name] = g
            values[name + "_new"] = p - lr * g
        with torch.no_grad():  # the borrower's loss with the stepped weights
            stepped = {name: params[name] - lr * params[name].grad for name in params}
            z2_new = _forward(stepped, X, self.activation)["z2"]
            values["loss_new"] = torch.nn.functional.binary_cross_entropy_with_logits(
                z2_new, target
            )
        return {
            key: value.detach().numpy().reshape(_SHOWN_AS.get(key, ()))
            for key, value in values.items()
        }


def _tensors(params: dict[str, np.ndarray], requires_grad: bool = False) -> dict:
    return {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad)
        for name, value in params.items()
    }


def _forward(params: dict, X: torch.Tensor, activation: str) -> dict:
    z1 = X @ params["W1"] + params["b1"]
    h = ACTIVATIONS[activation](z1)
    z2 = h @ params["W2"] + params["b2"]
    return {"z1": z1, "h": h, "z2": z2, "y_hat": torch.sigmoid(z2)}


def _loss_and_accuracy(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Mean binary cross-entropy of the logits, and the share with [z > 0] == y."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    return loss, float(((z > 0).double() == y).double().mean())


def reference_run(
    *,
    n: int = 1000,
    seed: int = 0,
    noise: float = 1.0,
    nonlinear: bool = False,
    hidden: int = 8,
    activation: str = "relu",
    init: str = "he",
    lr: float = 0.5,
    epochs: int = 0,
    batch_size: int | None = None,
) -> Reference:
    """What a session created with this config holds after ``epochs`` epochs of training."""
    data = make_credit_risk(n, seed=seed, noise=noise, nonlinear=nonlinear)
    raw_train, raw_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=0.2, random_state=seed, stratify=data.y
    )
    scaler = StandardScaler().fit(raw_train)
    p_test = data.p_default.loc[raw_test.index].to_numpy()
    y_test = y_test.to_numpy().astype(np.float64)
    ref = Reference(
        activation=activation,
        raw_train=raw_train.reset_index(drop=True),
        X_train=scaler.transform(raw_train),
        X_test=scaler.transform(raw_test),
        y_train=y_train.to_numpy().astype(np.float64),
        y_test=y_test,
        p_train=data.p_default.loc[raw_train.index].to_numpy(),
        p_test=p_test,
        scaler=scaler,
        bayes={
            "accuracy": float(np.mean((p_test > 0.5) == (y_test == 1))),
            "log_loss": float(-np.mean(y_test * np.log(p_test) + (1 - y_test) * np.log1p(-p_test))),
        },
        params=[
            mlp(
                len(FEATURES), hidden=(hidden,), activation=activation, init=init, seed=seed
            ).get_params()
        ],
        history={"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []},
    )
    _train(ref, lr, epochs, batch_size, np.random.default_rng(seed))
    return ref


def _train(
    ref: Reference, lr: float, epochs: int, batch_size: int | None, rng: np.random.Generator
) -> None:
    """Gradient descent W <- W - lr dJ/dW, gradients by autograd; appends to ``ref``."""
    params = _tensors(ref.final, requires_grad=True)
    X, y = torch.from_numpy(ref.X_train), torch.from_numpy(ref.y_train).reshape(-1, 1)
    X_val, y_val = torch.from_numpy(ref.X_test), torch.from_numpy(ref.y_test).reshape(-1, 1)
    n = X.shape[0]
    for _ in range(epochs):
        with torch.no_grad():
            val_loss, val_acc = _loss_and_accuracy(
                _forward(params, X_val, ref.activation)["z2"], y_val
            )
        ref.history["val_loss"].append(float(val_loss))
        ref.history["val_accuracy"].append(val_acc)
        if batch_size is None or batch_size >= n:
            batches = [np.arange(n)]
        else:
            order = rng.permutation(n)
            batches = [order[start : start + batch_size] for start in range(0, n, batch_size)]
        epoch_loss = epoch_acc = 0.0
        for rows in batches:
            index = torch.from_numpy(rows)
            loss, acc = _loss_and_accuracy(
                _forward(params, X[index], ref.activation)["z2"], y[index]
            )
            epoch_loss += len(rows) / n * float(loss.detach())
            epoch_acc += len(rows) / n * acc
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= lr * g
        ref.history["loss"].append(epoch_loss)
        ref.history["accuracy"].append(epoch_acc)
        ref.params.append({name: p.detach().numpy().copy() for name, p in params.items()})
