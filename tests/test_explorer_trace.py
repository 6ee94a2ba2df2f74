"""The numbers the explorer shows for a traced borrower are the right ones.

Each test asks the API for a trace and recomputes every quantity independently: with
PyTorch autograd on the reference run's weights (see explorer_support: the data, split,
scaling and training are recomputed there too), and, for the tutorial's ReLU 7-8-1
network, with ``textbook.forward`` / ``backward`` on the weights the trace shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from explorer_client import with_tokens
from explorer_support import ATOL, RTOL, api, new_session, reference_run
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab import textbook
from backprop_lab.explorer import params as P
from backprop_lab.explorer.server import create_app
from backprop_lab.explorer.trace import for_display, trace_borrower
from backprop_lab.nn import mlp


@pytest.fixture
def client():
    return with_tokens(create_app(max_sessions=4)).test_client()


def _arrays(values: dict) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in values.items()}


def assert_matches(api_values: dict, expected: dict) -> None:
    """Every quantity of the expected trace, to the reference tolerance (explorer_support).

    The absolute part scales with the largest input: a typed-in borrower's standardised
    features reach a few hundred, and round-off in z1 = x W1 + b1 scales with |x|.
    """
    got = _arrays(api_values)
    atol = ATOL * max(1.0, float(np.max(np.abs(expected["x"]))))
    for key, want in expected.items():
        np.testing.assert_allclose(got[key], want, rtol=RTOL, atol=atol, err_msg=key)


def test_traced_borrower_equals_pytorch_and_the_textbook(client):
    sid = new_session(client)["session"]
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 15})
    ref = reference_run(epochs=15)
    index = int(np.flatnonzero(ref.y_train == 1)[3])  # a borrower who defaulted
    status, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": index})
    assert status == 200 and trace["activation"] == "relu" and trace["lr"] == 0.5
    assert trace["borrower"]["index"] == index and trace["borrower"]["label"] == 1
    values = trace["values"]

    # 1. PyTorch autograd on that one row, with the reference run's weights
    assert_matches(values, ref.trace(ref.X_train[index], 1, lr=0.5))
    assert values["delta2"] == values["y_hat"] - 1  # delta2 = y_hat - y, exactly
    assert values["y"] == 1.0

    # 2. the tutorial's hand-written forward and backward passes
    params = {
        "W1": np.asarray(values["W1"]),
        "b1": np.asarray(values["b1"]).reshape(1, -1),
        "W2": np.asarray(values["W2"]).reshape(-1, 1),
        "b2": np.asarray(values["b2"]).reshape(1, 1),
    }
    X = ref.X_train[index : index + 1]
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
    ref = reference_run(activation=activation, init="xavier", hidden=5, lr=0.3, epochs=6)
    _, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": 11})
    label = int(ref.y_train[11])
    assert trace["activation"] == activation
    assert_matches(trace["values"], ref.trace(ref.X_train[11], label, lr=0.3))


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
    ref = reference_run(seed=2)
    x = ref.standardise(raw)
    assert_matches(trace["values"], ref.trace(x, 0, lr=0.5))
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
    return client, new_session(client, seed=5)["session"], reference_run(seed=5)


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
def test_any_typed_in_borrower_traces_to_the_reference_numbers(shared, raw, label):
    client, sid, ref = shared
    status, trace = api(
        client, "POST", f"/api/session/{sid}/trace", {"features": raw, "label": label}
    )
    assert status == 200
    assert_matches(trace["values"], ref.trace(ref.standardise(raw), label, lr=0.5))
