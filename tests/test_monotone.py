"""Monotone constraints (nn/monotone.py): the output never moves against a constraint,
for every input and at every stage of training; free inputs stay free; explanations
carry the constraint's sign; the constrained network's gradients and projected steps
equal PyTorch's.

Round-off. In exact arithmetic s_j (z(x + delta e_j) - z(x)) >= 0. Computed in float64,
each Dense layer's h = a W + b is a dot product of n_in + 1 terms, with
|fl(h) - h| <= gamma_{n_in+1} (|a| |W| + |b|), gamma_m = m u / (1 - m u), u = 2^-53
(Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.5), and an activation
adds at most u |phi(h)|. Every activation is 1-Lipschitz with |phi(h)| <= max(|h|, 1), so
with the absolute pass m_0 = |x|, M_l = |W_l|^T m_{l-1} + |b_l|, m_l = max(M_l, 1), the
error of the computed logit is at most L (gamma_{n+1} + u) M_L (n the widest fan-in,
L the number of Dense layers). A computed difference of two logits may thus be off by
the sum of their two bounds: that, and nothing more, is the tolerance below
(:func:`roundoff_bound`). A correct network sits far inside it (its observed wrong-way
moves are 0 or a few ulps of |z|; the bound is at least (n + 1) L ulps of M_L >= |z|).
The sign of a computed INPUT GRADIENT needs no tolerance: every term of the backward
sums has the constraint's sign (the proof in nn/monotone.py), and rounding a product, or
a sum of terms of one sign, never flips a sign.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab.classifier.estimator import BackpropClassifier
from backprop_lab.data import make_credit_risk
from backprop_lab.data.synthetic import FEATURES, TRUE_WEIGHTS
from backprop_lab.engine.gradcheck import gradient_check
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.monotone import MonotoneConstraint, ProjectedOptimizer, check_monotonic_cst
from backprop_lab.nn.optim import Adam
from backprop_lab.responsible.gradients import input_gradients

U = np.finfo(np.float64).eps / 2  # unit round-off of float64
ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid"]
#: The true signs of the generator's risk score: + raises the risk of default.
TRUE_SIGNS = [int(np.sign(TRUE_WEIGHTS[f])) for f in FEATURES]


def roundoff_bound(network, X):
    """L (gamma_{n+1} + u) M_L per row: the largest rounding error of the computed logit."""
    weights = [W for name, W in network.params.items() if name.startswith("W")]
    biases = [b for name, b in network.params.items() if name.startswith("b")]
    m = np.abs(X)
    for W, b in zip(weights, biases, strict=True):
        M = m @ np.abs(W) + np.abs(b)
        m = np.maximum(M, 1.0)
    n = max(W.shape[0] for W in weights) + 1
    gamma = n * U / (1 - n * U)
    return len(weights) * (gamma + U) * M[:, 0]


def wrong_way_moves(logit, network, X, j, sign, delta):
    """How far beyond round-off each row's logit moves against ``sign`` when x_j rises
    by ``delta`` (<= 0 everywhere for a monotone network)."""
    X2 = X.copy()
    X2[:, j] += delta
    change = sign * (logit(X2) - logit(X))
    return -change - (roundoff_bound(network, X) + roundoff_bound(network, X2))


def random_constrained_network(rng, n_in, signs, activation, hidden):
    """Random weights under the constraint, output weights too (not zero as in fit)."""
    net = mlp(n_in, hidden=hidden, activation=activation, seed=int(rng.integers(2**31)))
    params = net.params
    for name in params:
        params[name][...] = rng.normal(scale=2.0, size=params[name].shape)
    MonotoneConstraint.for_network(signs, net).orient(params)
    return net


# ---- validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cst", "message"),
    [
        ([1, 2, 0], r"monotonic_cst must be an array-like of -1, 0 or 1. Observed values: \[2\]"),
        ([1, 0], r"monotonic_cst has shape \(2,\) but the input data X has 3 features"),
        ([[1, 0, 0]], "one-dimensional"),
        (["up", 0, 0], r"Observed values: \['up'\]"),
        ({"c": 1, "zz": -1}, r"monotonic_cst contains 1 unexpected feature names: \['zz'\]"),
        ({"a": 3}, r"monotonic_cst\['a'\] must be either -1, 0 or 1. Got 3"),
    ],
)
def test_bad_constraints_are_refused_with_scikit_learn_messages(cst, message):
    with pytest.raises(ValueError, match=message):
        check_monotonic_cst(cst, 3, ["a", "b", "c"])


def test_estimator_validates_at_fit_and_refuses_multiclass():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    with pytest.raises(ValueError, match="has shape \\(2,\\) but the input data X has 3"):
        BackpropClassifier(monotonic_cst=[1, 0]).fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match="not supported for multiclass classification"):
        BackpropClassifier(monotonic_cst=[1, 0, 0]).fit(X, rng.integers(0, 3, 60))
    with pytest.raises(ValueError, match="not fitted on data with feature names"):
        BackpropClassifier(monotonic_cst={"a": 1}).fit(X, (X[:, 0] > 0).astype(int))
    # all zeros is no constraint: the same fit as None, bit for bit
    y = (X[:, 0] > 0).astype(int)
    free = BackpropClassifier(max_epochs=5, random_state=0).fit(X, y)
    zeros = BackpropClassifier(max_epochs=5, random_state=0, monotonic_cst=[0, 0, 0]).fit(X, y)
    np.testing.assert_array_equal(free.decision_function(X), zeros.decision_function(X))


def test_dict_constraint_by_column_name():
    data = make_credit_risk(300, seed=1)
    frame = (data.X - data.X.mean()) / data.X.std()
    clf = BackpropClassifier(
        max_epochs=20, random_state=0, monotonic_cst={"late_payments": 1, "annual_income": -1}
    ).fit(frame, data.y)
    j, k = FEATURES.index("late_payments"), FEATURES.index("annual_income")
    g = input_gradients(clf.network_, frame.to_numpy())
    assert (g[:, j] >= 0).all() and (g[:, k] <= 0).all()
    assert list(clf.feature_names_in_) == list(FEATURES)


# ---- monotone for every input: random networks under the constraint ------------------------
@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    activation=st.sampled_from(ACTIVATIONS),
    hidden=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    delta=st.floats(1e-9, 10.0),
    scale=st.sampled_from([0.1, 1.0, 30.0]),
)
def test_random_constrained_networks_are_monotone(seed, activation, hidden, delta, scale):
    """Any weights satisfying (C), any rows, any increment: never the wrong way."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 7))
    signs = rng.choice([-1, 0, 1], size=n_in)
    signs[rng.integers(n_in)] = rng.choice([-1, 1])  # at least one constrained input
    net = random_constrained_network(rng, n_in, signs, activation, tuple(hidden))
    X = rng.normal(scale=scale, size=(64, n_in))
    for j in np.flatnonzero(signs):
        moves = wrong_way_moves(net.predict_logits, net, X, j, signs[j], delta)
        assert moves.max() <= 0, (j, moves.max())


def test_the_check_catches_an_unconstrained_network():
    """The same check on the same kind of network without the constraint fails: it can."""
    rng = np.random.default_rng(5)
    net = mlp(3, hidden=(8,), activation="tanh", seed=5)
    for W in net.params.values():
        W[...] = rng.normal(scale=2.0, size=W.shape)
    X = rng.normal(size=(64, 3))
    assert wrong_way_moves(net.predict_logits, net, X, 0, 1, 0.5).max() > 0


# ---- monotone at every stage of training, as the estimator scores ----------------------------
@pytest.fixture(scope="module")
def credit():
    """Standardised synthetic borrowers (nonlinear risk: age has a U-shaped effect)."""
    data = make_credit_risk(800, seed=3, nonlinear=True)
    X = data.X.to_numpy(np.float64)
    return (X - X.mean(axis=0)) / X.std(axis=0), data.y.to_numpy()


#: age free (its true effect is U-shaped), every other feature at its true sign.
CST = [0, *TRUE_SIGNS[1:]]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("epochs", [1, 10, 300])
def test_trained_classifier_is_monotone_at_every_stage(credit, activation, epochs):
    X, y = credit
    clf = BackpropClassifier(
        activation=activation,
        max_epochs=epochs,
        early_stopping=False,
        random_state=0,
        monotonic_cst=CST,
        alpha=1.0,
    ).fit(X, y)
    assert clf.n_iter_ == epochs or epochs == 300
    rng = np.random.default_rng(epochs)
    rows = np.vstack([X, rng.normal(scale=3.0, size=(200, X.shape[1]))])
    for j in np.flatnonzero(CST):
        for delta in (1e-8, 0.1, 2.0):
            moves = wrong_way_moves(clf.decision_function, clf.network_, rows, j, CST[j], delta)
            assert moves.max() <= 0
            p = clf.predict_proba(rows)[:, 1]
            shifted = rows.copy()
            shifted[:, j] += delta
            # p = sigma(z) is 1/4-Lipschitz: the logit's tolerance carries over, plus the
            # rounding of two sigmoids (2 u each, relative to p <= 1)
            tol = roundoff_bound(clf.network_, rows) + roundoff_bound(clf.network_, shifted)
            dp = CST[j] * (clf.predict_proba(shifted)[:, 1] - p)
            assert (dp >= -(tol / 4 + 4 * U)).all()
    g = input_gradients(clf.network_, rows)
    assert (g * np.array(CST) >= 0).all()  # exact: see the module docstring


@pytest.fixture(scope="module")
def stages(credit):
    """The classifier's network at several stages: random weights under the constraint
    (nonzero output weights; scored through the estimator), after 1 and 10 epochs, and
    trained to early stopping."""
    X, y = credit
    rng = np.random.default_rng(11)
    random_net = random_constrained_network(rng, 7, np.array(CST), "relu", (8,))
    models = {"random": BackpropClassifier.from_network(random_net, [0, 1], monotonic_cst=CST)}
    for epochs in (1, 10, 1000):
        models[epochs] = BackpropClassifier(
            max_epochs=epochs, random_state=epochs, monotonic_cst=CST, alpha=1.0
        ).fit(X, y)
    return models


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    row=st.lists(st.floats(-6.0, 6.0), min_size=7, max_size=7),
    j=st.sampled_from([int(j) for j in np.flatnonzero(CST)]),
    delta=st.floats(1e-12, 12.0),
    stage=st.sampled_from(["random", 1, 10, 1000]),
)
def test_any_row_any_increment_any_stage(stages, row, j, delta, stage):
    """Hypothesis draws the applicant, the constrained feature and the increment."""
    clf = stages[stage]
    X = np.array([row])
    moves = wrong_way_moves(clf.decision_function, clf.network_, X, j, CST[j], delta)
    assert moves.max() <= 0


def test_partial_fit_and_warm_start_stay_monotone(credit):
    X, y = credit
    clf = BackpropClassifier(random_state=1, monotonic_cst=CST, learning_rate=0.1)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1])
    assert (input_gradients(clf.network_, X) * np.array(CST) >= 0).all()
    clf.set_params(warm_start=True, max_epochs=5, early_stopping=False)
    clf.fit(X, y)
    assert MonotoneConstraint(CST, [7, 8, 1]).violation(clf.network_.params) is None


def test_free_feature_keeps_a_non_monotone_effect(credit):
    """age is free and truly U-shaped: the constrained network still bends in it, its
    logit falling with age for some applicants and rising for others."""
    X, y = credit
    clf = BackpropClassifier(random_state=0, monotonic_cst=CST, alpha=1.0).fit(X, y)
    g_age = input_gradients(clf.network_, X)[:, 0]
    assert (g_age < 0).mean() > 0.1 and (g_age > 0).mean() > 0.1


def test_negative_sign_only(credit):
    X, y = credit
    cst = [0, -1, 0, 0, 0, 0, 0]  # annual_income: risk only falls
    clf = BackpropClassifier(random_state=2, monotonic_cst=cst, max_epochs=50).fit(X, y)
    rows = np.random.default_rng(0).normal(scale=2.0, size=(500, 7))
    assert wrong_way_moves(clf.decision_function, clf.network_, rows, 1, -1, 0.3).max() <= 0


# ---- gradients and projected steps against PyTorch ----------------------------------------
def torch_logits(params, X, activation):
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    a = torch.from_numpy(X)
    n = len(params) // 2
    for i in range(1, n + 1):
        a = a @ params[f"W{i}"] + params[f"b{i}"]
        if i < n:
            a = act(a)
    return a


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_constrained_network_gradients_match_finite_differences_and_pytorch(activation):
    """The constraint changes no gradient: backprop on a constrained network checked
    against finite differences and against autograd, and projected Adam steps against
    torch's Adam followed by the same clamp, step by step."""
    rng = np.random.default_rng(7)
    signs = np.array([1, -1, 0, 1])
    net = random_constrained_network(rng, 4, signs, activation, (6, 5))
    X = rng.normal(size=(40, 4))
    y = (rng.random((40, 1)) < 0.4).astype(float)
    assert gradient_check(net, X, y, "bce", l2=0.1).passed

    constraint = MonotoneConstraint.for_network(signs, net)
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in net.params.items()}
    masks = {f"W{i}": torch.from_numpy(m) for i, m in enumerate(constraint.masks, start=1)}
    opt_t = torch.optim.Adam(params.values(), lr=0.05)
    history = train(
        net,
        X,
        y,
        loss="bce",
        optimizer=ProjectedOptimizer(Adam(0.05), constraint),
        epochs=15,
        l2=0.1,
        engine="auto",
    )
    assert history.engine == "reference"  # the fused engine has no projection
    with pytest.raises(ValueError, match="ProjectedOptimizer has no fused implementation"):
        train(net, X, y, optimizer=ProjectedOptimizer(Adam(0.05), constraint), engine="fused")
    clamped = 0
    for _ in range(15):
        opt_t.zero_grad()
        z = torch_logits(params, X, activation)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y))
        loss = loss + 0.05 * sum((p**2).sum() for k, p in params.items() if k[0] == "W")
        loss.backward()
        opt_t.step()
        with torch.no_grad():
            for name, m in masks.items():
                wrong = m * params[name] < 0
                clamped += int(wrong.sum())
                params[name][wrong] = 0.0
    assert clamped > 0  # the projection did work here
    for name, value in net.params.items():
        np.testing.assert_allclose(value, params[name].detach().numpy(), rtol=1e-9, atol=1e-12)
    assert constraint.violation(net.params) is None
