"""The explorer's JSON API through Flask's test client: every endpoint, and every way a
request can be wrong (wrong types, out of range, missing or unknown fields, unknown
session, oversized or malformed bodies), each answered by a 4xx JSON message."""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest
from explorer_client import with_tokens
from explorer_support import api, assert_close, new_session, reference_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_lab.data import FEATURES
from backprop_lab.explorer import params as P
from backprop_lab.explorer.server import create_app
from backprop_lab.explorer.sessions import Session


@pytest.fixture
def app():
    return with_tokens(create_app(max_sessions=4))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sid(client):
    return new_session(client)["session"]


# ---- the page ----------------------------------------------------------------------------
def test_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for asset in (
        "/static/js/main.js",
        "/static/explorer.css",
        "/static/vendor/uPlot.iife.min.js",
    ):
        assert asset in html
        reply = client.get(asset)
        assert reply.status_code == 200 and len(reply.get_data()) > 1000
    # every module the page imports, directly or through another, is served as JavaScript
    seen, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        reply = client.get(f"/static/js/{name}")
        assert reply.status_code == 200 and "javascript" in reply.mimetype, name
        source = reply.get_data(as_text=True)
        assert source.count("\n") < 500, f"{name} has {source.count(chr(10))} lines"
        for imported in re.findall(r'from "\./([a-z_]+\.js)"', source):
            if imported not in seen:
                todo.append(imported)
    assert len(seen) >= 8
    assert "http" not in html.split("<body>")[1].replace("http://www.w3.org", "")  # no CDN
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert client.get("/static/vendor/LICENSE-uPlot.txt").status_code == 200


def test_health(client):
    assert api(client, "GET", "/api/health") == (
        200,
        {"ok": True, "version": "0.1.0", "sessions": 0},
    )


# ---- creating a session ------------------------------------------------------------------
def test_new_session_holds_the_tutorial_network_and_the_bayes_reference(client):
    snap = new_session(client)
    assert snap["config"] == P.Config().to_dict()
    assert snap["config"]["hidden"] == 8 and snap["config"]["activation"] == "relu"
    ref = reference_run()
    assert snap["data"]["n_train"] == 800 and snap["data"]["n_test"] == 200
    assert_close(snap["data"]["default_rate_train"], ref.y_train.mean())
    bayes = snap["data"]["bayes"]
    assert_close(bayes["accuracy"], ref.bayes["accuracy"])
    assert_close(bayes["log_loss"], ref.bayes["log_loss"])
    # Given the 200 test borrowers, the Bayes rule [p > 1/2] is right on each with
    # probability max(p, 1 - p) (variance p (1 - p)), so its accuracy has mean
    # mean(max(p, 1 - p)) and standard error sqrt(sum p (1 - p)) / 200, about 0.03.
    # Labels paired with another borrower's p would score about 0.5: 8 errors off.
    p = ref.p_test
    se = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(bayes["accuracy"] - np.mean(np.maximum(p, 1 - p))) < 5 * se
    assert snap["history"] == {
        k: [] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    }
    assert snap["status"]["state"] == "training" and snap["status"]["epochs"] == 0
    net = snap["network"]
    initial = ref.params[0]
    np.testing.assert_array_equal(net["W1"], initial["W1"])
    np.testing.assert_array_equal(net["b1"], initial["b1"])
    np.testing.assert_array_equal(net["W2"], initial["W2"][:, 0])
    assert net["b2"] == initial["b2"][0]
    assert net["borrower"]["index"] == 0 and len(net["borrower"]["h"]) == 8
    assert_close(net["borrower"]["x"], ref.X_train[0])


def test_new_session_takes_every_config_field(client):
    config = {
        "seed": 7,
        "n": 300,
        "noise": 0.5,
        "nonlinear": True,
        "hidden": 3,
        "depth": 1,
        "activation": "tanh",
        "init": "xavier",
        "lr": 0.05,
        "batch_size": 16,
        "backprop": False,
        "optimizer": "momentum",
        "l2": 0.0,  # the reference's loss has no penalty
        "bug": "none",
    }
    snap = new_session(client, **config)
    assert snap["config"] == config
    assert np.shape(snap["network"]["W1"]) == (7, 3)
    data = {k: config[k] for k in ("seed", "n", "noise", "nonlinear", "hidden", "activation")}
    ref = reference_run(**data, init="xavier", epochs=1)  # the loss of the initial weights
    np.testing.assert_array_equal(snap["network"]["W1"], ref.params[0]["W1"])
    assert snap["data"]["n_train"] == 240
    assert_close(snap["data"]["default_rate_train"], ref.y_train.mean())
    assert_close(snap["data"]["bayes"]["log_loss"], ref.bayes["log_loss"])
    assert snap["status"]["state"] == "forward-only"
    # forward only: every epoch is the loss of the initial weights on these borrowers
    _, step = api(client, "POST", f"/api/session/{snap['session']}/step", {"epochs": 2})
    assert_close(step["history"]["loss"], ref.history["loss"] * 2)
    assert_close(step["history"]["val_loss"], ref.history["val_loss"] * 2)


# ---- training ------------------------------------------------------------------------------
def test_step_records_the_reference_gradient_descent(client, sid):
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 20})
    assert status == 200
    ref = reference_run(epochs=20)
    assert reply["history"]["epoch"] == list(range(20))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert_close(reply["history"][key], ref.history[key], err_msg=key)
    assert reply["history"]["loss"][-1] < reply["history"]["loss"][0] - 0.25  # it learns
    assert_close(reply["network"]["W1"], ref.final["W1"])
    assert_close(reply["network"]["W2"], ref.final["W2"][:, 0])
    assert reply["status"]["epochs"] == 20


def test_small_steps_add_up_to_one_long_run_with_mini_batches(client):
    a = new_session(client, batch_size=32, lr=0.1)["session"]
    b = new_session(client, batch_size=32, lr=0.1)["session"]
    losses = []
    for epochs in (1, 1, 3, 2):
        losses += api(client, "POST", f"/api/session/{a}/step", {"epochs": epochs})[1]["history"][
            "loss"
        ]
    _, once = api(client, "POST", f"/api/session/{b}/step", {"epochs": 7})
    assert losses == once["history"]["loss"]
    # ... and both are seven epochs of mini-batch gradient descent
    assert_close(losses, reference_run(batch_size=32, lr=0.1, epochs=7).history["loss"])
    _, net_a = api(client, "POST", f"/api/session/{a}/network", {"index": 0})
    _, net_b = api(client, "POST", f"/api/session/{b}/network", {"index": 0})
    assert net_a == net_b


def test_forward_only_keeps_the_loss_flat_and_the_weights_fixed(client, sid):
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 3})
    status, reply = api(client, "POST", f"/api/session/{sid}/settings", {"backprop": False})
    assert status == 200 and reply["status"]["state"] == "forward-only"
    before = api(client, "GET", f"/api/session/{sid}")[1]["network"]
    _, step = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 5})
    assert len(set(step["history"]["loss"])) == 1 and len(step["history"]["loss"]) == 5
    assert step["network"]["W1"] == before["W1"] and step["network"]["W2"] == before["W2"]
    assert step["history"]["epoch"] == [3, 4, 5, 6, 7]


def test_a_too_large_learning_rate_diverges_and_the_session_keeps_working(client, sid):
    api(client, "POST", f"/api/session/{sid}/settings", {"lr": 10})
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 50})
    assert status == 200
    st_ = reply["status"]
    assert st_["state"] == "diverged" and st_["diverged_at"] == 5 and st_["epochs"] == 5
    assert "exceeds 10 x the first epoch's" in st_["reason"]
    # the same run by the reference: epoch 5 is the first whose loss exceeds 10 x epoch 0's
    losses = reference_run(lr=10, epochs=6).history["loss"]
    ref = reference_run(lr=10, epochs=5)
    assert [loss > 10 * losses[0] for loss in losses] == [False] * 5 + [True]
    assert_close(reply["history"]["loss"], losses[:5])
    assert_close(reply["network"]["W1"], ref.final["W1"])  # the weights epoch 5 started from
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 1})
    assert status == 409 and "diverged at epoch 5" in reply["error"]
    # the trace and the page's other calls still answer
    assert api(client, "POST", f"/api/session/{sid}/trace", {"index": 1})[0] == 200
    _, snap = api(client, "POST", f"/api/session/{sid}/reset", {"lr": 0.5})
    assert snap["status"]["state"] == "training" and snap["status"]["epochs"] == 0
    assert api(client, "POST", f"/api/session/{sid}/step", {"epochs": 2})[0] == 200


def test_a_non_finite_loss_is_divergence_and_the_json_stays_valid(app, client, sid):
    with app.extensions["explorer_sessions"].use(sid) as session:
        session.model.params["W2"][:] = 1e308  # the first forward pass overflows
    reply = client.post(f"/api/session/{sid}/step", json={"epochs": 3})
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "NaN" not in text and "Infinity" not in text
    payload = json.loads(text)
    assert payload["status"]["state"] == "diverged" and payload["status"]["diverged_at"] == 0
    assert payload["status"]["reason"].startswith("loss became")
    assert payload["history"]["loss"] == [] and payload["history"]["val_loss"] == []
    assert payload["network"]["W2"] == [1e308] * 8  # the weights it had at the start
    assert payload["network"]["borrower"]["z2"] is None  # inf is sent as null


def test_settings_change_lr_batch_and_mode_without_resetting(client, sid):
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 2})
    status, reply = api(
        client, "POST", f"/api/session/{sid}/settings", {"lr": 0.01, "batch_size": 1}
    )
    assert status == 200
    assert reply["config"]["lr"] == 0.01 and reply["config"]["batch_size"] == 1
    assert reply["status"]["epochs"] == 2
    assert reply["status"]["max_epochs_per_step"] == P.MAX_UPDATES_PER_STEP // 800 == 25
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 26})
    assert status == 400 and "at most 25 per step" in reply["error"]
    assert (
        api(client, "POST", f"/api/session/{sid}/settings", {"batch_size": None})[1]["config"][
            "batch_size"
        ]
        is None
    )


def test_reset_rebuilds_with_the_changed_fields_only(client, sid):
    api(client, "POST", f"/api/session/{sid}/settings", {"lr": 0.2})
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 3})
    status, snap = api(client, "POST", f"/api/session/{sid}/reset", {"hidden": 4, "seed": 3})
    assert status == 200 and snap["session"] == sid
    assert (
        snap["config"]["hidden"] == 4
        and snap["config"]["seed"] == 3
        and snap["config"]["lr"] == 0.2
    )
    assert snap["status"]["epochs"] == 0 and snap["history"]["loss"] == []
    np.testing.assert_array_equal(
        snap["network"]["W1"], reference_run(hidden=4, seed=3).params[0]["W1"]
    )
    assert api(client, "POST", f"/api/session/{sid}/reset")[0] == 200  # no body: same config


def test_a_session_stops_at_its_epoch_limit(client, sid, monkeypatch):
    monkeypatch.setattr(P, "MAX_EPOCHS_PER_SESSION", 6)
    assert api(client, "POST", f"/api/session/{sid}/step", {"epochs": 6})[0] == 200
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 1})
    assert status == 409 and "reset" in reply["error"]


# ---- borrowers, network, gradient check ---------------------------------------------------
def test_borrower_gives_raw_features_label_and_true_probability(client, sid):
    status, reply = api(client, "GET", f"/api/session/{sid}/borrower?index=5")
    ref = reference_run()
    assert status == 200 and reply["index"] == 5
    assert reply["features"] == {f: float(ref.raw_train.loc[5, f]) for f in FEATURES}
    assert reply["label"] == int(ref.y_train[5]) and reply["p_default"] == ref.p_train[5]


def test_network_values_are_the_engine_forward_pass(client, sid):
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 4})
    ref = reference_run(epochs=4)
    _, net = api(client, "POST", f"/api/session/{sid}/network", {"index": 9})
    out = ref.forward(ref.X_train[9:10])
    for key in ("z1", "h"):
        assert_close(net["borrower"][key], out[key][0], err_msg=key)
    for key in ("z2", "y_hat"):
        assert_close(net["borrower"][key], out[key][0, 0], err_msg=key)
    assert_close(net["borrower"]["x"], ref.X_train[9])
    custom = {name: float(ref.raw_train.loc[2, name]) for name in FEATURES}
    _, net2 = api(client, "POST", f"/api/session/{sid}/network", {"features": custom, "label": 1})
    assert_close(net2["borrower"]["x"], ref.X_train[2])
    assert net2["borrower"]["index"] is None and net2["borrower"]["label"] == 1
    z1_all = ref.forward(ref.X_train)["z1"]
    assert net["dead"] == [bool(d) for d in np.all(z1_all <= 0, axis=0)]


def test_dead_relu_units_are_reported(client):
    # large steps (without diverging) push some ReLU units below zero for every borrower
    sid = new_session(client, lr=8, hidden=16, seed=1)["session"]
    _, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 5})
    assert reply["status"]["state"] == "training"
    ref = reference_run(lr=8, hidden=16, seed=1, epochs=5)
    z1 = ref.forward(ref.X_train)["z1"]
    expected = np.all(z1 <= 0, axis=0)
    assert reply["network"]["dead"] == expected.tolist()
    assert 0 < sum(expected) < 16  # the run does kill some units, not all
    # a dead unit passes no gradient back: its incoming weights get exactly zero
    _, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": 0})
    dW1 = np.asarray(trace["values"]["dW1"])
    assert np.all(dW1[:, expected] == 0.0)


def test_gradient_check_runs_on_the_current_weights(client, sid):
    api(client, "POST", f"/api/session/{sid}/step", {"epochs": 5})
    status, reply = api(client, "POST", f"/api/session/{sid}/gradcheck")
    assert status == 200 and reply["passed"] is True
    assert reply["rows"] == P.GRADCHECK_ROWS and reply["max_rel_error"] < 1e-7
    assert [r["param"] for r in reply["table"]] == ["W1", "b1", "W2", "b2"]
    assert [r["shape"] for r in reply["table"]] == ["7x8", "8", "8x1", "1"]
    assert sum(r["checked"] + r["kinks_excluded"] for r in reply["table"]) == 7 * 8 + 8 + 8 + 1
    assert all(0 <= r["kinks_rechecked"] <= r["kinks"] for r in reply["table"])
    assert all(r["scale"] > 0 and r["floor"] > 0 for r in reply["table"])
    assert "PASS" in reply["text"]


def test_gradient_check_of_overflowing_weights_fails_and_the_json_stays_valid(app, client, sid):
    with app.extensions["explorer_sessions"].use(sid) as session:
        session.model.params["W2"][:] = 1e308  # every logit overflows to inf
    reply = client.post(f"/api/session/{sid}/gradcheck")
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "NaN" not in text and "Infinity" not in text
    payload = json.loads(text)
    assert payload["passed"] is False and payload["max_rel_error"] is None


# ---- sessions --------------------------------------------------------------------------------
def test_two_sessions_do_not_interfere(client):
    a = new_session(client)["session"]
    b = new_session(client, hidden=5, activation="sigmoid")["session"]
    api(client, "POST", f"/api/session/{a}/step", {"epochs": 10})
    snap_b = api(client, "GET", f"/api/session/{b}")[1]
    assert snap_b["status"]["epochs"] == 0 and np.shape(snap_b["network"]["W1"]) == (7, 5)
    api(client, "POST", f"/api/session/{b}/settings", {"lr": 3})
    assert api(client, "GET", f"/api/session/{a}")[1]["config"]["lr"] == 0.5


def test_sessions_train_in_parallel_threads_without_mixing(app):
    clients = [app.test_client() for _ in range(3)]
    sids = [new_session(c, seed=i)["session"] for i, c in enumerate(clients)]
    results: dict[int, list] = {}

    def work(i):
        losses = []
        for _ in range(4):
            losses += api(clients[i], "POST", f"/api/session/{sids[i]}/step", {"epochs": 3})[1][
                "history"
            ]["loss"]
        results[i] = losses

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        assert_close(results[i], reference_run(seed=i, epochs=12).history["loss"])


def test_least_recently_used_session_is_evicted():
    app = with_tokens(create_app(max_sessions=2))
    client = app.test_client()
    first = new_session(client)["session"]
    second = new_session(client)["session"]
    assert api(client, "GET", f"/api/session/{first}")[0] == 200  # first is now the most recent
    third = new_session(client)["session"]
    assert app.extensions["explorer_sessions"].ids() == [first, third]
    status, reply = api(client, "POST", f"/api/session/{second}/step", {"epochs": 1})
    assert status == 404 and "unknown session" in reply["error"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "/reset", {}),
        ("POST", "/settings", {"lr": 0.1}),
        ("POST", "/step", {"epochs": 1}),
        ("POST", "/network", {"index": 0}),
        ("GET", "/borrower?index=0", None),
        ("POST", "/trace", {"index": 0}),
        ("POST", "/gradcheck", None),
    ],
)
def test_unknown_session_is_a_404_on_every_endpoint(client, method, suffix, body):
    status, reply = api(client, method, f"/api/session/no-such-session{suffix}", body)
    assert status == 404 and "unknown session" in reply["error"]


# ---- bad requests -----------------------------------------------------------------------------
BAD_CONFIGS = [
    ({"lr": "0.1"}, "lr must be a number"),
    ({"lr": True}, "lr must be a number"),
    ({"lr": 0}, "lr must be between 0.0001 and 10"),
    ({"lr": 10.5}, "lr must be between 0.0001 and 10"),
    ({"lr": None}, "lr must be a number"),
    ({"hidden": 0}, "hidden must be between 1 and 16"),
    ({"hidden": 17}, "hidden must be between 1 and 16"),
    ({"hidden": 8.0}, "hidden must be an integer"),
    ({"hidden": [8]}, "hidden must be an integer"),
    ({"activation": "leaky_relu"}, "activation must be one of relu, tanh, sigmoid"),
    ({"activation": 1}, "activation must be one of"),
    ({"init": "zeros"}, "init must be one of he, xavier, small"),
    ({"n": 99}, "n must be between 100 and 5000"),
    ({"n": 10**12}, "n must be between 100 and 5000"),
    ({"noise": -0.1}, "noise must be between 0 and 3"),
    ({"noise": 3.5}, "noise must be between 0 and 3"),
    ({"seed": -1}, "seed must be between 0 and 4294967295"),
    ({"seed": 2**40}, "seed must be between 0 and 4294967295"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"nonlinear": "yes"}, "nonlinear must be true or false"),
    ({"backprop": 1}, "backprop must be true or false"),
    ({"batch_size": 0}, "batch_size must be between 1 and 4000"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"batch_size": 801}, "batch_size must be at most the 800 training rows"),
    ({"bogus": 1}, "unknown field 'bogus'"),
]


@pytest.mark.parametrize(("body", "message"), BAD_CONFIGS)
def test_bad_configuration_is_refused_on_create_and_reset(client, sid, body, message):
    for path in ("/api/session", f"/api/session/{sid}/reset"):
        status, reply = api(client, "POST", path, body)
        assert status == 400 and message in reply["error"], (path, reply)


def test_config_json_that_is_not_an_object_or_not_finite(client):
    for raw, message in [
        ("[1, 2]", "must be a JSON object"),
        ('"lr"', "must be a JSON object"),
        ('{"lr": 1e999}', "lr must be finite"),
        ('{"lr": NaN}', "malformed JSON body"),
        ('{"lr": Infinity}', "malformed JSON body"),
    ]:
        reply = client.post("/api/session", data=raw, content_type="application/json")
        assert reply.status_code == 400 and message in reply.get_json()["error"], raw


BAD_STEPS = [
    ({}, "missing field 'epochs'"),
    ({"epochs": 0}, "epochs must be between 1 and 200"),
    ({"epochs": 201}, "epochs must be between 1 and 200"),
    ({"epochs": "5"}, "epochs must be an integer"),
    ({"epochs": 1.5}, "epochs must be an integer"),
    ({"epochs": 1, "speed": 2}, "unknown field 'speed'"),
    ({"epochs": 1, "borrower": 3}, "the borrower must be a JSON object"),
    ({"epochs": 1, "borrower": {"index": 800}}, "index must be between 0 and 799"),
]


@pytest.mark.parametrize(("body", "message"), BAD_STEPS)
def test_bad_step_requests(client, sid, body, message):
    status, reply = api(client, "POST", f"/api/session/{sid}/step", body)
    assert status == 400 and message in reply["error"]
    assert api(client, "GET", f"/api/session/{sid}")[1]["status"]["epochs"] == 0  # nothing ran


GOOD_FEATURES = {
    "age": 40.0,
    "annual_income": 50000.0,
    "debt_to_income": 0.3,
    "credit_history_years": 10.0,
    "late_payments": 1,
    "home_owner": 0,
    "employment_years": 8.0,
}


def _with(**changes):
    features = dict(GOOD_FEATURES)
    for key, value in changes.items():
        if value is _DROP:
            del features[key]
        else:
            features[key] = value
    return {"features": features, "label": 1}


_DROP = object()
BAD_BORROWERS = [
    ({"index": -1}, "index must be between 0 and 799"),
    ({"index": 800}, "index must be between 0 and 799"),
    ({"index": "3"}, "index must be an integer"),
    ({"index": 3, "label": 1}, "'label' goes with 'features'"),
    ({}, "give either 'index'"),
    ({"index": 1, "features": GOOD_FEATURES, "label": 0}, "give either 'index'"),
    ({"features": GOOD_FEATURES}, "missing field 'label'"),
    ({"features": GOOD_FEATURES, "label": 2}, "label must be between 0 and 1"),
    ({"features": GOOD_FEATURES, "label": True}, "label must be an integer"),
    ({"features": [1, 2, 3], "label": 0}, "'features' must be a JSON object"),
    (_with(age=_DROP), "missing feature 'age'"),
    (_with(shoe_size=42), "unknown field 'shoe_size'"),
    (_with(age=500), "age must be between 18 and 100"),
    (_with(annual_income=-1), "annual_income must be between 0 and 1e+07"),
    (_with(debt_to_income="high"), "debt_to_income must be a number"),
    (_with(late_payments=1.5), "late_payments must be a whole number"),
    (_with(home_owner=0.5), "home_owner must be a whole number"),
    (_with(employment_years=None), "employment_years must be a number"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BORROWERS)
@pytest.mark.parametrize("endpoint", ["trace", "network"])
def test_bad_borrowers(client, sid, endpoint, body, message):
    status, reply = api(client, "POST", f"/api/session/{sid}/{endpoint}", body)
    assert status == 400 and message in reply["error"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "missing query parameter 'index'"),
        ("?index=abc", "index must be an integer"),
        ("?index=1e3", "index must be an integer"),
        ("?index=%C2%B2", "index must be an integer"),
        ("?index=-1", "index must be between 0 and 799"),
        ("?index=800", "index must be between 0 and 799"),
        ("?index=" + "9" * 40, "index must be an integer"),
    ],
)
def test_bad_borrower_queries(client, sid, query, message):
    status, reply = api(client, "GET", f"/api/session/{sid}/borrower{query}")
    assert status == 400 and message in reply["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give at least one of lr, batch_size, backprop"),
        ({"hidden": 4}, "unknown field 'hidden' in the settings"),
        ({"lr": 20}, "lr must be between"),
        ({"batch_size": 900}, "batch_size must be at most the 800 training rows"),
        ({"backprop": "no"}, "backprop must be true or false"),
    ],
)
def test_bad_settings(client, sid, body, message):
    status, reply = api(client, "POST", f"/api/session/{sid}/settings", body)
    assert status == 400 and message in reply["error"]
    assert api(client, "GET", f"/api/session/{sid}")[1]["config"] == P.Config().to_dict()


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (b"{", "application/json", 400, "malformed JSON body"),
        (b'{"epochs": 1,}', "application/json", 400, "malformed JSON body"),
        (b"\xff\xfe{}", "application/json", 400, "malformed JSON body"),
        (b"[" * 5_000 + b"]" * 5_000, "application/json", 400, "malformed JSON body"),
        (b'{"epochs": 1}', "text/plain", 415, "Content-Type: application/json"),
        (b"", "application/json", 400, "needs a JSON body"),
        (b'{"epochs": 1, "pad": "' + b"x" * 20_000 + b'"}', "application/json", 413, "too large"),
    ],
)
def test_malformed_or_oversized_bodies(client, sid, data, content_type, status, message):
    reply = client.post(f"/api/session/{sid}/step", data=data, content_type=content_type)
    assert reply.status_code == status and message in reply.get_json()["error"]
    assert "Traceback" not in reply.get_data(as_text=True)


def test_wrong_method_and_unknown_route_answer_json(client, sid):
    status, reply = api(client, "GET", f"/api/session/{sid}/step")
    assert status == 405 and "method GET is not allowed" in reply["error"]
    status, reply = api(client, "GET", "/api/nothing-here")
    assert status == 404 and reply["error"] == "no such page or API endpoint"
    reply = client.get("/static/../../server.py")
    assert reply.status_code == 404


def test_requests_for_other_host_names_are_refused(client):
    reply = client.get("/api/health", headers={"Host": "attacker.example:8000"})
    assert reply.status_code == 403 and "127.0.0.1 or localhost" in reply.get_json()["error"]
    assert client.get("/api/health", headers={"Host": "127.0.0.1:5000"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "[::1]:5000"}).status_code == 200


def test_an_unexpected_error_is_a_plain_500_without_traceback(client, sid, monkeypatch, capsys):
    def broken(self, weight=None):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Session, "gradcheck", broken)
    reply = client.post(f"/api/session/{sid}/gradcheck")
    assert reply.status_code == 500
    body = reply.get_data(as_text=True)
    assert json.loads(body) == {"error": "internal error; the server's log has the details"}
    assert "secret" not in body and "Traceback" not in body
    assert "secret internals" in capsys.readouterr().err  # but the server's log has it


# ---- no request can make the server fail -------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
config_like = st.fixed_dictionaries(
    {},
    optional={
        "lr": st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=3)),
        "hidden": st.one_of(st.integers(-5, 40), st.floats(allow_nan=False)),
        "activation": st.sampled_from(["relu", "tanh", "sigmoid", "elu", ""]),
        "batch_size": st.one_of(st.none(), st.integers(-3, 5000)),
        "n": st.integers(50, 6000),
        "noise": st.floats(allow_nan=False),
        "backprop": st.one_of(st.booleans(), st.integers(0, 1)),
        "optimizer": st.sampled_from(["gd", "momentum", "adam", "sgd", ""]),
        "l2": st.one_of(st.floats(allow_nan=False), st.integers(-1, 3)),
        "bug": st.sampled_from(["none", "no_fprime", "no_mean", "other"]),
        "weight": st.fixed_dictionaries({"input": st.integers(-1, 8), "unit": st.integers(-1, 9)}),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(json_values, config_like),
    endpoint=st.sampled_from(
        ["/api/session", "reset", "settings", "step", "network", "trace", "gradcheck"]
    ),
)
def test_any_json_body_gets_a_json_answer_never_a_500(client, sid, body, endpoint):
    path = endpoint if endpoint.startswith("/") else f"/api/session/{sid}/{endpoint}"
    reply = client.post(path, json=body)
    assert reply.status_code in (200, 201, 400, 404, 409, 413, 415)
    payload = reply.get_json()
    assert isinstance(payload, dict)
    if reply.status_code >= 400:
        assert isinstance(payload["error"], str) and payload["error"]
