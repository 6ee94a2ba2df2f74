"""Helpers for the explorer tests: a client, sessions, and the engine's own view of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_lab.data import Standardizer, make_credit_risk, stratified_split
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent


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


@dataclass
class EngineRun:
    """The data, standardiser and network a session with this config should hold."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    raw_train: object
    p_train: np.ndarray
    p_test: np.ndarray
    scaler: Standardizer
    model: object


def engine_run(
    *,
    n=1000,
    seed=0,
    noise=1.0,
    nonlinear=False,
    hidden=8,
    activation="relu",
    init="he",
    lr=0.5,
    epochs=0,
    batch_size=None,
) -> EngineRun:
    """Build the session's data and network directly from the engine and train it."""
    data = make_credit_risk(n, seed=seed, noise=noise, nonlinear=nonlinear)
    X_tr, X_te, y_tr, y_te = stratified_split(data.X, data.y, seed=seed)
    scaler = Standardizer().fit(X_tr)
    model = mlp(7, hidden=(hidden,), activation=activation, init=init, seed=seed)
    run = EngineRun(
        X_train=scaler.transform(X_tr),
        X_test=scaler.transform(X_te),
        y_train=y_tr.to_numpy().astype(float),
        y_test=y_te.to_numpy().astype(float),
        raw_train=X_tr.reset_index(drop=True),
        p_train=data.p_default.loc[X_tr.index].to_numpy(),
        p_test=data.p_default.loc[X_te.index].to_numpy(),
        scaler=scaler,
        model=model,
    )
    if epochs:
        train(
            model,
            run.X_train,
            run.y_train,
            optimizer=GradientDescent(lr),
            epochs=epochs,
            batch_size=batch_size,
            seed=np.random.default_rng(seed),
            divergence_factor=None,
        )
    return run


def reference_history(epochs: int = 20, lr: float = 0.5):
    """A fresh default session's run trained ``epochs`` times by the engine, and its History."""
    from backprop_lab.engine.training import train
    from backprop_lab.nn.optim import GradientDescent

    run = engine_run()
    return run, train(
        run.model,
        run.X_train,
        run.y_train,
        optimizer=GradientDescent(lr),
        epochs=epochs,
        validation_data=(run.X_test, run.y_test),
    )
