"""The numbers the explorer shows for a traced borrower are the engine's own.

Each test asks the API for a trace and recomputes every quantity from the same weights:
with ``Sequential.forward`` / ``backward`` and the loss on that one row, and, for the
tutorial's ReLU 7-8-1 network, with ``textbook.forward`` / ``backward``.
"""

from __future__ import annotations

import numpy as np
import pytest
from explorer_client import with_tokens
from explorer_support import api, engine_run, new_session
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from backprop_lab import textbook
from backprop_lab.data import FEATURES
from backprop_lab.explorer import params as P
from backprop_lab.explorer.server import create_app
from backprop_lab.explorer.trace import for_display, trace_borrower
from backprop_lab.nn import BinaryCrossEntropy, mlp


@pytest.fixture
def client():
    return with_tokens(create_app(max_sessions=4)).test_client()


def _arrays(values: dict) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in values.items()}


def engine_numbers(model, x_row: np.ndarray, y: int, lr: float) -> dict:
    """Every trace quantity from Sequential's forward/backward on one row."""
    X = x_row.reshape(1, -1)
    target = np.array([[float(y)]])
    before = model.get_params()
    loss = BinaryCrossEntropy()
    z2 = model.forward(X)
    z1 = X @ before["W1"] + before["b1"]
    h = model.layers[2].x  # the output layer's cached input
    L = loss.forward(z2, target)
    delta2 = loss.backward()
    model.backward(delta2)
    grads = {k: g.copy() for k, g in model.grads.items()}
    activation = type(model.layers[1]).__name__
    fprime = {"ReLU": (z1 > 0).astype(float), "Tanh": 1 - h**2, "Sigmoid": h * (1 - h)}[activation]
    dh = delta2 @ before["W2"].T
    return {
        "x": X[0],
        "z1": z1[0],
        "h": h[0],
        "z2": z2[0, 0],
        "y_hat": expit(z2[0, 0]),
        "loss": L,
        "delta2": delta2[0, 0],
        "dh": dh[0],
        "fprime": fprime[0],
        "delta1": (dh * fprime)[0],
        "dW1": grads["W1"],
        "db1": grads["b1"],
        "dW2": grads["W2"][:, 0],
        "db2": grads["b2"][0],
        "W1_new": before["W1"] - lr * grads["W1"],
        "b1_new": before["b1"] - lr * grads["b1"],
        "W2_new": (before["W2"] - lr * grads["W2"])[:, 0],
        "b2_new": (before["b2"] - lr * grads["b2"])[0],
    }


def assert_matches(api_values: dict, expected: dict, rtol: float = 1e-12) -> None:
    got = _arrays(api_values)
    for key, want in expected.items():
        np.testing.assert_allclose(got[key], want, rtol=rtol, atol=1e-15, err_msg=key)


def test_traced_borrower_equals_sequential_and_the_textbook(client):
    sid = new_session(client)["session"]
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 15})
    run = engine_run(epochs=15)
    index = int(np.flatnonzero(run.y_train == 1)[3])  # a borrower who defaulted
    status, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": index})
    assert status == 200 and trace["activation"] == "relu" and trace["lr"] == 0.5
    assert trace["borrower"]["index"] == index and trace["borrower"]["label"] == 1
    values = trace["values"]

    # 1. Sequential on that one row
    expected = engine_numbers(run.model, run.X_train[index], 1, lr=0.5)
    assert_matches(values, expected)
    assert values["delta2"] == values["y_hat"] - 1  # delta2 = y_hat - y, exactly
    assert values["y"] == 1.0

    # 2. the tutorial's hand-written forward and backward passes
    params = {
        "W1": np.asarray(values["W1"]),
        "b1": np.asarray(values["b1"]).reshape(1, -1),
        "W2": np.asarray(values["W2"]).reshape(-1, 1),
        "b2": np.asarray(values["b2"]).reshape(1, 1),
    }
    X = run.X_train[index : index + 1]
    y = np.array([[1.0]])
    y_hat, cache = textbook.forward(X, params)
    grads = textbook.backward(X, y, y_hat, cache, params)
    delta2 = y_hat - y
    delta1 = (delta2 @ params["W2"].T) * textbook.relu_derivative(cache["z1"])
    v = _arrays(values)
    np.testing.assert_allclose(v["z1"], cache["z1"][0], rtol=1e-12)
    np.testing.assert_allclose(v["h"], cache["h"][0], rtol=1e-12)
    np.testing.assert_allclose(v["z2"], cache["z2"][0, 0], rtol=1e-12)
    np.testing.assert_allclose(v["y_hat"], y_hat[0, 0], rtol=1e-12)
    np.testing.assert_allclose(
        v["loss"], textbook.binary_cross_entropy(y, y_hat, cache["z2"]), rtol=1e-12
    )
    np.testing.assert_allclose(v["delta2"], delta2[0, 0], rtol=1e-12)
    np.testing.assert_allclose(v["delta1"], delta1[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v["dW2"], grads["W2"][:, 0], rtol=1e-12)
    np.testing.assert_allclose(v["db2"], grads["b2"][0, 0], rtol=1e-12)
    np.testing.assert_allclose(v["dW1"], grads["W1"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v["db1"], grads["b1"][0], rtol=1e-12, atol=1e-15)
    for name in ("W1", "W2"):
        new = params[name] - 0.5 * grads[name]
        np.testing.assert_allclose(
            v[name + "_new"], new.reshape(v[name + "_new"].shape), rtol=1e-12
        )


def test_trace_leaves_the_session_weights_alone(client):
    sid = new_session(client)["session"]
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 2})
    before = api(client, "GET", f"/api/session/{sid}")[1]["network"]
    _, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": 4})
    after = api(client, "GET", f"/api/session/{sid}")[1]["network"]
    assert before == after
    assert trace["values"]["W1"] == before["W1"] and trace["values"]["W1_new"] != before["W1"]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_trace_with_other_activations_uses_their_slopes(client, activation):
    sid = new_session(client, activation=activation, init="xavier", hidden=5, lr=0.3)["session"]
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 6})
    run = engine_run(activation=activation, init="xavier", hidden=5, lr=0.3, epochs=6)
    _, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": 11})
    label = int(run.y_train[11])
    assert trace["activation"] == activation
    assert_matches(trace["values"], engine_numbers(run.model, run.X_train[11], label, lr=0.3))


def test_typed_in_borrower_is_standardised_with_the_training_statistics(client):
    sid = new_session(client, seed=2)["session"]
    raw = {
        "age": 33.0,
        "annual_income": 28000.0,
        "debt_to_income": 0.62,
        "credit_history_years": 4.5,
        "late_payments": 4,
        "home_owner": 0,
        "employment_years": 1.5,
    }
    status, trace = api(client, "POST", f"/api/session/{sid}/trace", {"features": raw, "label": 0})
    assert status == 200 and trace["borrower"]["index"] is None
    assert trace["borrower"]["features"] == raw and trace["borrower"]["p_default"] is None
    run = engine_run(seed=2)
    x = run.scaler.transform(np.array([[raw[f] for f in FEATURES]]))[0]
    np.testing.assert_array_equal(trace["values"]["x"], x)
    assert_matches(trace["values"], engine_numbers(run.model, x, 0, lr=0.5))
    assert trace["values"]["delta2"] == trace["values"]["y_hat"]  # y = 0


def test_one_hidden_unit_keeps_matrix_and_vector_shapes():
    model = mlp(7, hidden=(1,), seed=0)
    shown = for_display(trace_borrower(model, np.linspace(-1, 1, 7), 1, lr=0.1))
    assert shown["W1"].shape == (7, 1) and shown["dW1"].shape == (7, 1)
    for key in ("z1", "h", "delta1", "fprime", "dh", "b1", "W2", "dW2", "W2_new"):
        assert shown[key].shape == (1,), key
    for key in ("z2", "y_hat", "loss", "delta2", "b2", "db2", "y"):
        assert shown[key].shape == (), key


def test_trace_of_a_hand_checked_network():
    """A 7-1-1 ReLU network small enough to follow with pencil and paper."""
    model = mlp(7, hidden=(1,), seed=0)
    model.set_params({"W1": np.full((7, 1), 0.5), "b1": [0.1], "W2": [[2.0]], "b2": [-1.0]})
    x = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    v = trace_borrower(model, x, 0, lr=0.1)
    assert v["z1"][0, 0] == pytest.approx(1.1)  # 0.5 + 0.5 + 0.1
    assert v["h"][0, 0] == pytest.approx(1.1)
    assert v["z2"][0, 0] == pytest.approx(1.2)  # 2 * 1.1 - 1
    y_hat = 1 / (1 + np.exp(-1.2))
    assert v["y_hat"][0, 0] == pytest.approx(y_hat)
    assert v["loss"] == pytest.approx(-np.log(1 - y_hat))
    assert v["delta2"][0, 0] == pytest.approx(y_hat)  # y_hat - 0
    assert v["dW2"][0, 0] == pytest.approx(1.1 * y_hat)  # h * delta2
    assert v["delta1"][0, 0] == pytest.approx(2.0 * y_hat)  # delta2 * W2 * ReLU'(1.1)
    np.testing.assert_allclose(v["dW1"][:, 0], 2.0 * y_hat * x)
    assert v["W2_new"][0, 0] == pytest.approx(2.0 - 0.1 * 1.1 * y_hat)


@pytest.fixture(scope="module")
def shared():
    """One session for all the examples below (building data per example would be slow)."""
    client = with_tokens(create_app(max_sessions=1)).test_client()
    return client, new_session(client, seed=5)["session"], engine_run(seed=5)


@settings(max_examples=25, deadline=None)
@given(
    raw=st.fixed_dictionaries(
        {
            name: st.integers(int(lo), int(hi))
            if name in P.INTEGER_FEATURES
            else st.floats(lo, hi, allow_nan=False)
            for name, (lo, hi) in P.FEATURE_BOUNDS.items()
        }
    ),
    label=st.integers(0, 1),
)
def test_any_typed_in_borrower_traces_to_the_engine_numbers(shared, raw, label):
    client, sid, run = shared
    status, trace = api(
        client, "POST", f"/api/session/{sid}/trace", {"features": raw, "label": label}
    )
    assert status == 200
    x = run.scaler.transform(np.array([[raw[f] for f in FEATURES]]))[0]
    expected = engine_numbers(run.model, x, label, lr=0.5)
    got = _arrays(trace["values"])
    for key in ("x", "z1", "h", "z2", "y_hat", "loss", "delta2", "delta1", "dW1", "dW2"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
