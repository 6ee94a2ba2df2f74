"""The explorer's warnings, Bayes band, settings record, planted bugs, one-weight check,
hidden-unit activations and optimisers, each against an independent computation
(PyTorch autograd in float64 on the reference run of explorer_support, or NumPy here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explorer_client import with_tokens
from explorer_support import ATOL, RTOL, _forward, _tensors, api, new_session, reference_run

from backprop_lab.engine.gradcheck import WRONG, gradient_check
from backprop_lab.explorer import health
from backprop_lab.explorer.server import create_app
from backprop_lab.nn import ReLU, mlp


@pytest.fixture
def client():
    return with_tokens(create_app(max_sessions=4)).test_client()


def _post(client, sid, suffix, body=None):
    status, reply = api(client, "POST", f"/api/session/{sid}{suffix}", body)
    assert status == 200, reply
    return reply


# ---- the Bayes band -----------------------------------------------------------------------
def test_the_bayes_line_comes_with_its_standard_error(client):
    snap = new_session(client)
    ref = reference_run()
    losses = -(ref.y_test * np.log(ref.p_test) + (1 - ref.y_test) * np.log1p(-ref.p_test))
    bayes = snap["data"]["bayes"]
    assert bayes["log_loss"] == pytest.approx(losses.mean(), rel=1e-12)
    assert bayes["log_loss_se"] == pytest.approx(losses.std(ddof=1) / np.sqrt(200), rel=1e-12)
    y, p = ref.y_train, ref.p_train
    train = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    assert bayes["train_log_loss"] == pytest.approx(train.mean(), rel=1e-12)


# ---- warnings -----------------------------------------------------------------------------
def test_oscillation_is_three_rises_of_more_than_half_a_percent_in_ten_epochs():
    falling = list(np.linspace(1.0, 0.5, 10))
    assert not health.oscillating(falling)
    assert not health.oscillating([1.0, 1.1, 1.0, 1.1, 1.0])  # fewer than 10 epochs
    two = [1.0, 1.1, 1.0, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert not health.oscillating(two)
    assert health.oscillating([*two[:-2], 0.7, 0.8])  # a third rise, of 14%
    tiny = [1.0, 1.004, 1.0, 1.004, 1.0, 1.004, 1.0, 1.004, 1.0, 1.004]  # rises of 0.4%
    assert not health.oscillating(tiny)


def test_the_learners_run_is_reported_oscillating_with_dead_units(client):
    sid = new_session(client, init="small", lr=10.0)["session"]
    reply = _post(client, sid, "/step", {"epochs": 12})
    ref = reference_run(init="small", lr=10.0, epochs=12)
    z1 = ref.X_train @ ref.final["W1"] + ref.final["b1"]
    dead = int(np.sum(np.all(z1 <= 0, axis=0)))
    codes = {w["code"]: w["text"] for w in reply["status"]["warnings"]}
    assert set(codes) == {"oscillating", "dead_units"}
    assert codes["dead_units"].startswith(f"{dead} of 8 units dead")
    assert reply["network"]["dead"] == list(np.all(z1 <= 0, axis=0))


def test_a_healthy_run_has_no_warnings(client):
    sid = new_session(client)["session"]
    assert _post(client, sid, "/step", {"epochs": 30})["status"]["warnings"] == []


# ---- the loss now, and settings changed mid-run ----------------------------------------------
def test_now_is_the_loss_of_the_weights_after_every_update(client):
    sid = new_session(client)["session"]
    now = _post(client, sid, "/step", {"epochs": 3})["status"]["now"]
    ref = reference_run(epochs=4)
    assert now["epoch"] == 3
    assert now["loss"] == pytest.approx(ref.history["loss"][3], rel=RTOL)
    assert now["val_accuracy"] == ref.history["val_accuracy"][3]


def test_settings_changed_mid_run_are_recorded_at_their_epoch(client):
    sid = new_session(client)["session"]
    _post(client, sid, "/settings", {"lr": 0.1})  # before any epoch: the run's own setting
    _post(client, sid, "/step", {"epochs": 2})
    reply = _post(client, sid, "/settings", {"lr": 0.05, "batch_size": 32})
    assert reply["status"]["changes"] == [
        {"epoch": 2, "field": "lr", "old": 0.1, "new": 0.05},
        {"epoch": 2, "field": "batch_size", "old": None, "new": 32},
    ]
    assert _post(client, sid, "/reset")["status"]["changes"] == []


# ---- planted bugs ---------------------------------------------------------------------------
@pytest.mark.parametrize("bug", ["no_fprime", "no_mean"])
def test_a_planted_bug_fails_the_check_and_leaves_the_engine_alone(client, bug):
    sid = new_session(client, bug=bug)["session"]
    check = _post(client, sid, "/gradcheck")
    assert not check["passed"] and check["max_rel_error"] > WRONG
    assert check["one_weight"]["rel_error"] > WRONG
    # the package's own layers are untouched: a ReLU still masks, a new network passes
    assert ReLU.backward.__qualname__ == "ReLU.backward"
    layer = ReLU()
    layer.forward(np.array([[-1.0, 2.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[0.0, 1.0]])
    ref = reference_run()
    model = mlp(7, hidden=(8,), seed=0)
    assert gradient_check(model, ref.X_train[:200], ref.y_train[:200]).passed
    clean = new_session(client)["session"]
    assert _post(client, clean, "/gradcheck")["passed"]


def test_dropping_the_slope_shows_in_the_trace_and_dropping_the_mean_does_not(client):
    ref = reference_run()
    want = ref.trace(ref.X_train[0], int(ref.y_train[0]), lr=0.5)
    off = want["z1"] <= 0
    assert off.any()  # borrower 0 has units that are off: there the bug differs
    for bug, differs in (("no_fprime", True), ("no_mean", False)):
        sid = new_session(client, bug=bug)["session"]
        got = np.asarray(_post(client, sid, "/trace", {"index": 0})["values"]["delta1"])
        if differs:  # delta1 = dL/dh, the mask dropped
            np.testing.assert_allclose(got, want["dh"], rtol=RTOL, atol=ATOL)
            assert not np.allclose(got[off], want["delta1"][off])
        else:  # N = 1: the mean of one row is the row
            np.testing.assert_allclose(got, want["delta1"], rtol=RTOL, atol=ATOL)


# ---- the tutorial's check for one weight ----------------------------------------------------
def test_the_one_weight_check_matches_autograd(client):
    sid = new_session(client)["session"]
    _post(client, sid, "/step", {"epochs": 5})
    one = _post(client, sid, "/gradcheck")["one_weight"]
    ref = reference_run(epochs=5)
    params = _tensors(ref.final, requires_grad=True)
    X = torch.from_numpy(ref.X_train[:200])
    y = torch.from_numpy(ref.y_train[:200]).reshape(-1, 1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        _forward(params, X, "relu")["z2"], y
    )
    (g,) = torch.autograd.grad(loss, [params["W1"]])
    g = g.numpy()
    i, j = np.unravel_index(np.argmax(np.abs(g)), g.shape)
    assert one["index"] == [i, j]
    assert one["analytic"] == pytest.approx(g[i, j], rel=1e-10)
    # central difference at h = 1e-5: truncation h^2 |J'''| / 6 and round-off u J / h,
    # about 1e-11 each, against a gradient of order 1e-2: relative error below 1e-7
    assert one["numeric"] == pytest.approx(g[i, j], rel=1e-7)
    assert one["rel_error"] < 1e-7


# ---- hidden units ---------------------------------------------------------------------------
def test_units_are_the_hidden_activations_of_the_first_training_rows(client):
    sid = new_session(client, n=1000)["session"]
    _post(client, sid, "/step", {"epochs": 4})
    status, reply = api(client, "GET", f"/api/session/{sid}/units?feature=age")
    assert status == 200
    ref = reference_run(epochs=4)
    h = ref.forward(ref.X_train[:400])["h"]
    assert len(reply["x"]) == 400 and np.shape(reply["h"]) == (8, 400)  # bounded: 400 rows
    np.testing.assert_allclose(np.asarray(reply["h"]).T, h, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(reply["x"], ref.raw_train["age"].to_numpy()[:400])
    for query, message in (("feature=colour", "feature must be one of"), ("", "missing")):
        status, reply = api(client, "GET", f"/api/session/{sid}/units?{query}")
        assert status == 400 and message in reply["error"]


# ---- optimisers and L2 ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_momentum_and_adam_sessions_match_torch(client, name):
    """Five full-batch epochs against torch.optim (SGD with momentum 0.9: v <- 0.9 v + g,
    w <- w - lr v, the same steps as v <- 0.9 v - lr g, w <- w + v at a fixed lr; Adam
    with torch's defaults, the engine's)."""
    lr = 0.05
    sid = new_session(client, optimizer=name, lr=lr)["session"]
    losses = _post(client, sid, "/step", {"epochs": 5})["history"]["loss"]
    ref = reference_run()
    params = _tensors(ref.final, requires_grad=True)
    opt = (
        torch.optim.SGD(params.values(), lr=lr, momentum=0.9)
        if name == "momentum"
        else torch.optim.Adam(params.values(), lr=lr)
    )
    X, y = torch.from_numpy(ref.X_train), torch.from_numpy(ref.y_train).reshape(-1, 1)
    want = []
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            _forward(params, X, "relu")["z2"], y
        )
        want.append(float(loss.detach()))
        loss.backward()
        opt.step()
    np.testing.assert_allclose(losses, want, rtol=1e-9)


def test_an_l2_session_passes_the_check_and_its_loss_holds_the_penalty(client):
    sid = new_session(client, l2=0.01)["session"]
    reply = _post(client, sid, "/step", {"epochs": 1})
    ref = reference_run(epochs=1)
    penalty = 0.5 * 0.01 * sum(float(np.sum(ref.params[0][k] ** 2)) for k in ("W1", "W2"))
    assert reply["history"]["loss"][0] == pytest.approx(ref.history["loss"][0] + penalty, rel=1e-12)
    assert _post(client, sid, "/gradcheck")["passed"]


def test_the_one_weight_check_takes_a_chosen_weight(client):
    sid = new_session(client, hidden=3)["session"]
    one = _post(client, sid, "/gradcheck", {"weight": {"input": 2, "unit": 1}})["one_weight"]
    assert one["index"] == [2, 1] and one["rel_error"] < 1e-7
    ref = reference_run(hidden=3)
    assert one["w"] == ref.final["W1"][2, 1]
    for weight, message in (
        ({"input": 7, "unit": 0}, "input must be between 0 and 6"),
        ({"input": 0, "unit": 3}, "unit must be between 0 and 2"),
        ({"input": 0}, "missing field 'unit'"),
    ):
        status, reply = api(client, "POST", f"/api/session/{sid}/gradcheck", {"weight": weight})
        assert status == 400 and message in reply["error"], reply


# ---- deeper networks --------------------------------------------------------------------
def test_a_three_layer_session_trains_as_autograd_and_draws_every_layer(client):
    """Three hidden layers of 4 ReLU units, five full-batch epochs against autograd."""
    sid = new_session(client, depth=3, hidden=4, lr=0.5)["session"]
    reply = _post(client, sid, "/step", {"epochs": 5})
    ref = reference_run(hidden=4)  # split, scaling and labels (its 1-layer weights unused)
    model = mlp(7, hidden=(4, 4, 4), seed=0)  # the initial weights define the session
    params = [torch.tensor(v, requires_grad=True) for v in model.get_params().values()]
    X, y = torch.from_numpy(ref.X_train), torch.from_numpy(ref.y_train).reshape(-1, 1)

    def logits(X):
        a = X
        for k in range(0, 6, 2):
            a = torch.relu(a @ params[k] + params[k + 1])
        return a @ params[6] + params[7]

    want = []
    for _ in range(5):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(X), y)
        want.append(float(loss.detach()))
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= 0.5 * g
    np.testing.assert_allclose(reply["history"]["loss"], want, rtol=1e-10)
    net = reply["network"]
    assert [np.shape(layer["W"]) for layer in net["layers"]] == [(7, 4), (4, 4), (4, 4)]
    with torch.no_grad():
        want_y = torch.sigmoid(logits(X[:1]))[0, 0].item()
    assert net["borrower"]["y_hat"] == pytest.approx(want_y, rel=1e-10)
    status, body = api(client, "POST", f"/api/session/{sid}/trace", {"index": 0})
    assert status == 400 and "one hidden layer" in body["error"]
    assert _post(client, sid, "/gradcheck")["passed"]
