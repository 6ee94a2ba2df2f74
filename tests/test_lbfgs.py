"""L-BFGS: the flat objective's gradient, its block form, the solver, and train(optimizer="lbfgs").

The objective is checked against PyTorch autograd in float64 (the independent oracle,
as in test_engine_vs_torch.py) and against central differences; the sum of blocks
against the one-batch objective for any partition of the rows; the solver against
scikit-learn's LogisticRegression on a convex problem, with the tolerance derived from
the stopping rule.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from test_engine_vs_torch import make_targets, torch_objective

from backprop_lab.engine.fused import set_threads
from backprop_lab.engine.lbfgs import (
    LBFGS,
    ModelObjective,
    block_loss_and_gradient,
    flat_network,
    minimize_lbfgs,
    penalised,
)
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent

EPS = np.finfo(np.float64).eps


def random_problem(seed: int, loss: str, hidden: tuple[int, ...], n: int, activation="tanh"):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 6))
    n_out = 1 if loss == "bce" else int(rng.integers(2, 4))
    model = mlp(n_in, hidden=hidden, n_outputs=n_out, activation=activation, seed=seed)
    X = rng.normal(size=(n, n_in))
    y = make_targets(loss, rng, n, n_out)
    return rng, model, X, y


# ---- the objective's gradient ------------------------------------------------------------------
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=2),
    activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
    loss=st.sampled_from(["bce", "softmax", "mse"]),
    n=st.sampled_from([1, 5, 300]),
    l2=st.sampled_from([0.0, 0.3]),
    weighted=st.booleans(),
    engine=st.sampled_from(["fused", "reference"]),
    seed=st.integers(0, 2**16),
)
def test_flat_objective_equals_pytorch(hidden, activation, loss, n, l2, weighted, engine, seed):
    """J and dJ/dtheta at a random theta (not the model's own weights, so the flat order
    is exercised) equal autograd's in float64: 1e-12 relative for J and 1e-10 for the
    gradient, the bounds test_engine_vs_torch.py holds the layers to (round-off of sums
    of a few hundred float64 terms is ~1e-14)."""
    rng, model, X, y = random_problem(seed, loss, tuple(hidden), n, activation)
    weights = rng.uniform(0.1, 2.0, size=n) if weighted else None
    objective = ModelObjective(model, X, y, loss=loss, l2=l2, sample_weight=weights, engine=engine)
    assert objective.network.engine == engine
    theta = rng.normal(scale=0.7, size=objective.network.n_params)
    value, grad = objective(theta)

    params = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for k, v in objective.network.unflatten(theta).items()
    }
    w = np.ones(n) if weights is None else weights
    expected = torch_objective(params, X, y, loss, activation, l2, w)
    expected.backward()
    expected_grad = objective.network.flatten({k: p.grad.numpy() for k, p in params.items()})
    assert value == pytest.approx(expected.item(), rel=1e-12, abs=1e-300)
    scale = max(1.0, float(np.abs(expected_grad).max()))
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-13 * scale)


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_flat_objective_equals_central_differences(engine):
    """(J(theta + h d) - J(theta - h d)) / 2h = g.d along random directions. With h = 1e-5
    the truncation error is h^2/6 |J'''| (~1e-11 for this tanh network with O(1)
    derivatives) and the round-off eps |J| / h ~ 1e-11: 1e-7 relative to |g||d| is
    10^3 times wider than both."""
    rng, model, X, y = random_problem(7, "bce", (5, 3), 200)
    objective = ModelObjective(model, X, y, l2=0.1, engine=engine)
    theta = rng.normal(scale=0.5, size=objective.network.n_params)
    _, grad = objective(theta)
    h = 1e-5
    for _ in range(5):
        d = rng.normal(size=theta.size)
        d /= np.linalg.norm(d)
        numeric = (objective(theta + h * d)[0] - objective(theta - h * d)[0]) / (2 * h)
        assert abs(numeric - grad @ d) <= 1e-7 * np.linalg.norm(grad)


def test_flat_order_is_the_fused_engines():
    """theta = [W1.ravel(), b1, W2.ravel(), b2, ...] in the same order as the kernels',
    and unflatten inverts flatten."""
    from backprop_lab.engine.fused import compile_network

    model = mlp(4, hidden=(3, 2), seed=1)
    network = flat_network(model, "bce", engine="fused")
    theta = network.flatten(model.params)
    np.testing.assert_array_equal(theta, compile_network(model).flatten(model.params))
    restored = network.unflatten(theta)
    for name, value in model.params.items():
        np.testing.assert_array_equal(restored[name], value)
    assert network.penalised.sum() == sum(v.size for k, v in model.params.items() if k[0] == "W")


def test_objective_leaves_the_model_alone():
    """Evaluating at other parameters never changes the caller's model (reference engine,
    which sets parameters on its own copy) and keeps no rows in its layers' caches."""
    rng, model, X, y = random_problem(3, "bce", (4,), 50)
    before = model.get_params()
    objective = ModelObjective(model, X, y, engine="reference")
    objective(rng.normal(size=objective.network.n_params))
    for name, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[name])
    assert all(not getattr(layer, "cache", None) for layer in objective.network.model.layers)


# ---- the block form ------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    loss=st.sampled_from(["bce", "softmax", "mse"]),
    engine=st.sampled_from(["fused", "reference"]),
    weighting=st.sampled_from(["none", "positive", "with zeros"]),
    cuts=st.lists(st.integers(1, 299), max_size=12),
    l2=st.sampled_from([0.0, 0.05]),
    seed=st.integers(0, 2**16),
)
def test_block_sums_equal_the_whole_objective(loss, engine, weighting, cuts, l2, seed):
    """For any partition of the rows into blocks (cut points drawn by hypothesis, blocks of
    one row and blocks of zero weight included), the summed block sums give the one-batch
    J and dJ/dtheta.

    Both sides add the same N = 300 row terms in different orders (and the one-batch side
    divides each by sum w first). Recursive summation of n terms errs by at most
    (n - 1) eps sum |terms|, so the two differ by at most 2 N eps sum_i |w_i dl_i/dtheta| / W
    per gradient entry (the |terms| come from single-row blocks); 4 N eps is used. J's
    terms are non-negative: relative error <= 4 N eps ~ 3e-13, inside the 1e-12 asked for.
    """
    n = 300
    rng, model, X, y = random_problem(seed, loss, (4,), n)
    weights = None
    if weighting != "none":
        weights = rng.uniform(0.1, 3.0, size=n)
        if weighting == "with zeros":
            weights[rng.random(n) < 0.3] = 0.0
            if cuts:
                weights[: min(cuts)] = 0.0  # the first block weighs nothing
    objective = ModelObjective(model, X, y, loss=loss, l2=l2, sample_weight=weights, engine=engine)
    network = objective.network
    theta = rng.normal(scale=0.5, size=network.n_params)
    value, grad = objective(theta)

    bounds = [0, *sorted(set(cuts)), n]
    total_loss, total_grad, total_weight = 0.0, np.zeros(network.n_params), 0.0
    for lo, hi in itertools.pairwise(bounds):
        block = block_loss_and_gradient(
            network, theta, X[lo:hi], y[lo:hi], None if weights is None else weights[lo:hi]
        )
        total_loss += block.loss_sum
        total_grad += block.grad_sum
        total_weight += block.weight_sum
    block_value, block_grad = penalised(network, theta, total_loss, total_grad, total_weight, l2)

    magnitudes = sum(
        np.abs(
            block_loss_and_gradient(
                network,
                theta,
                X[i : i + 1],
                y[i : i + 1],
                None if weights is None else weights[i : i + 1],
            ).grad_sum
        )
        for i in range(n)
    )
    assert block_value == pytest.approx(value, rel=4 * n * EPS, abs=0)
    assert np.all(np.abs(block_grad - grad) <= 4 * n * EPS * magnitudes / total_weight + 1e-300)


def test_block_weights_may_all_be_zero():
    """A block whose rows all weigh 0 contributes (0, 0, 0); a zero total gives J = penalty."""
    _, model, X, y = random_problem(1, "bce", (3,), 20)
    network = flat_network(model, "bce")
    theta = network.flatten(model.params)
    block = block_loss_and_gradient(network, theta, X, y, np.zeros(20))
    assert block.loss_sum == 0.0 and block.weight_sum == 0.0
    assert not block.grad_sum.any()
    value, grad = penalised(network, theta, 0.0, block.grad_sum, 0.0, l2=2.0)
    W = theta[network.penalised]
    assert value == pytest.approx(W @ W, rel=1e-15)
    np.testing.assert_array_equal(grad[~network.penalised], 0.0)


# ---- the solver ------------------------------------------------------------------------------------
def test_minimize_lbfgs_on_a_quadratic():
    """J = 1/2 (theta - c)^T A (theta - c): the minimum c, with ||theta - c|| <= ||g|| /
    lambda_min(A) <= sqrt(n) tol / lambda_min; the history is J after each iteration and
    the callback sees the same values."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    A = Q @ np.diag([1.0, 2.0, 4.0, 8.0, 16.0, 50.0]) @ Q.T
    c = rng.normal(size=6)
    seen = []

    def objective(theta):
        r = theta - c
        return 0.5 * r @ A @ r, A @ r

    tol = 1e-9
    result = minimize_lbfgs(
        objective, np.zeros(6), tol=tol, ftol=0.0, callback=lambda k, t, v: seen.append((k, v))
    )
    assert result.converged and not result.stopped
    assert np.linalg.norm(result.theta - c) <= np.sqrt(6) * tol / 1.0
    assert result.history == [v for _, v in seen] and [k for k, _ in seen] == list(
        range(1, result.n_iter + 1)
    )
    assert result.loss == result.history[-1]
    assert result.n_fun >= result.n_iter + 1


def test_callback_stops_and_bounds_hold():
    c = np.array([1.0, -2.0, 3.0])

    def objective(theta):
        return float(((theta - c) ** 2).sum()), 2 * (theta - c)

    stopped = minimize_lbfgs(objective, np.zeros(3), callback=lambda k, t, v: k == 1)
    assert stopped.stopped and not stopped.converged and stopped.n_iter == 1
    bounded = minimize_lbfgs(objective, np.full(3, -5.0), bounds=(0.0, np.inf), ftol=0.0)
    np.testing.assert_allclose(bounded.theta, [1.0, 0.0, 3.0], atol=1e-8)
    assert bounded.converged


def test_nonfinite_objective_ends_the_run_with_the_last_iterate():
    """scipy's line search cannot handle inf (it reports convergence at a wrong point):
    the run ends, diverged, keeping the last accepted iterate."""

    def objective(theta):
        if theta[0] > 2.5:
            return np.inf, np.zeros_like(theta)
        return float(((theta - 3) ** 2).sum()), 2 * (theta - 3)

    result = minimize_lbfgs(objective, np.zeros(2))
    assert result.diverged and not result.converged
    assert "not finite" in result.message
    assert np.all(result.theta <= 2.5)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"ftol": float("nan")}, "ftol"),
        ({"bounds": (1.0, 0.0)}, "lower bound"),
    ],
)
def test_minimize_lbfgs_refuses_bad_settings(bad, message):
    with pytest.raises(ValueError, match=message):
        minimize_lbfgs(lambda t: (float(t @ t), 2 * t), np.ones(2), **bad)


# ---- a convex case: logistic regression --------------------------------------------------------------
def logistic_data(n=400, seed=42):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 7))
    w = np.array([0.8, -1.0, 1.2, -0.6, 1.5, -0.3, -0.7])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w + 0.4)))).astype(float)
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_reaches_sklearns_logistic_regression(weighted):
    """A network with no hidden layer is logistic regression. scikit-learn minimises
    C sum_i s_i l_i + ||w||^2 / 2; divided by C sum_i s_i that is our
    J = sum s_i l_i / sum s_i + (l2 / 2) ||w||^2 with l2 = 1 / (C sum_i s_i), the same
    minimiser (the intercept unpenalised in both).

    L-BFGS stopped (ftol = 0) at max_i |g_i| <= tol has ||g||_2 <= sqrt(8) tol; J is
    mu-strongly convex near the optimum with mu = lambda_min of its Hessian
    X1^T diag(s p (1 - p)) X1 / sum s + l2 diag(1, .., 1, 0), so the distance to the
    optimum is at most ||g||_2 / mu (to first order): the threshold sqrt(8) tol / mu.
    The run uses tol / 10, so a correct solver lands 10x inside it (the bound is nearly
    tight: L-BFGS's last error lies along the flattest direction). scikit-learn is run
    to tol 1e-12, far inside."""
    X, y = logistic_data()
    rng = np.random.default_rng(1)
    s = rng.uniform(0.2, 3.0, size=len(y)) if weighted else np.ones(len(y))
    C = 0.5
    l2 = 1.0 / (C * s.sum())
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=s)
    expected = np.concatenate([reference.coef_.ravel(), reference.intercept_])

    model = mlp(7, hidden=(), seed=0)
    tol = 1e-6
    history = train(
        model,
        X,
        y,
        optimizer=LBFGS(tol=tol / 10, ftol=0.0),
        epochs=1000,
        l2=l2,
        sample_weight=None if not weighted else s,
    )
    assert history.converged, history.message
    theta = np.concatenate([model.params["W1"].ravel(), model.params["b1"]])

    X1 = np.column_stack([X, np.ones(len(y))])
    p = 1.0 / (1.0 + np.exp(-(X1 @ expected)))
    hessian = X1.T @ (X1 * (s * p * (1 - p))[:, None]) / s.sum() + l2 * np.diag([1.0] * 7 + [0.0])
    mu = np.linalg.eigvalsh(hessian)[0]
    bound = np.sqrt(8) * tol / mu
    assert np.linalg.norm(theta - expected) <= bound


def test_lbfgs_beats_gradient_descent_on_logistic_regression():
    """Inputs of scales 0.1 to 10 (unstandardised columns) make J ill-conditioned. Gradient
    descent with step 1/L, L = lambda_max(X1^T X1) / (4N) + l2 >= the largest curvature
    of J (p (1 - p) <= 1/4), decreases J every epoch but slowly along flat directions;
    100 L-BFGS iterations from the same start reach a lower J than 1000 such epochs."""
    X, y = logistic_data()
    X = X * np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
    l2 = 0.01
    X1 = np.column_stack([X, np.ones(len(y))])
    lr = 1.0 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * len(y)) + l2)
    gd_model, lbfgs_model = mlp(7, hidden=(), seed=0), mlp(7, hidden=(), seed=0)
    gd = train(gd_model, X, y, optimizer=GradientDescent(lr), epochs=1000, l2=l2)
    lbfgs = train(lbfgs_model, X, y, optimizer=LBFGS(tol=0.0), epochs=100, l2=l2)
    assert gd.status == "completed" and np.all(np.diff(gd.loss) < 0)
    gd_final = ModelObjective(gd_model, X, y, l2=l2)
    lbfgs_final = ModelObjective(lbfgs_model, X, y, l2=l2)
    assert lbfgs_final(lbfgs_final.theta0)[0] < gd_final(gd_final.theta0)[0]
    assert lbfgs.evaluations <= 2 * lbfgs.epochs + 5  # about one pass over the rows per iteration


def test_lbfgs_runs_are_reproducible_bit_for_bit():
    """Same data and start: the same weights and history, whatever the thread count
    (the fused engine's sums have a fixed order)."""
    _, _, X, y = random_problem(5, "bce", (6,), 5000, activation="relu")
    runs = []
    for threads in (1, 2, 1):
        set_threads(threads)
        try:
            net = mlp(X.shape[1], hidden=(6,), seed=5)
            history = train(net, X, y, optimizer="lbfgs", epochs=30, l2=1e-3)
        finally:
            set_threads(None)
        runs.append((net.get_params(), history.loss))
    for params, losses in runs[1:]:
        assert losses == runs[0][1]
        for name, value in params.items():
            np.testing.assert_array_equal(value, runs[0][0][name])


# ---- train(optimizer="lbfgs") ------------------------------------------------------------------------
def test_train_lbfgs_history_and_callback():
    X, y = logistic_data()
    model = mlp(7, hidden=(4,), seed=0)
    seen = []

    def callback(epoch, network, history):
        seen.append((epoch, len(history.loss), network.get_params()["W1"].copy()))
        return epoch == 4

    history = train(
        model,
        X[:300],
        y[:300],
        optimizer="lbfgs",
        epochs=100,
        validation_data=(X[300:], y[300:]),
        callback=callback,
    )
    assert history.epochs == 5 and len(history.val_loss) == 5 and history.accuracy == []
    assert [e for e, _, _ in seen] == [0, 1, 2, 3, 4]
    assert all(n == e + 1 for e, n, _ in seen)
    np.testing.assert_array_equal(seen[-1][2], model.params["W1"])  # the model is the iterate
    assert not history.converged and history.engine == "fused"
    assert all(b < a for a, b in zip(history.loss, history.loss[1:], strict=False))


@pytest.mark.parametrize(
    "options", [{"batch_size": 32}, {"backprop": False}, {"track_gradients": True}]
)
def test_train_lbfgs_refuses_minibatch_options(options):
    X, y = logistic_data(50)
    with pytest.raises(ValueError, match="full-batch"):
        train(mlp(7, seed=0), X, y, optimizer="lbfgs", **options)


def test_train_refuses_unknown_optimizer_names():
    X, y = logistic_data(50)
    with pytest.raises(ValueError, match="'lbfgs' or an LBFGS"):
        train(mlp(7, seed=0), X, y, optimizer="adam")


def test_lbfgs_bounds_by_parameter_name():
    """L-BFGS-B's bounds keep named weights non-negative through the whole run."""
    X, y = logistic_data()
    model = mlp(7, hidden=(), seed=0)
    train(model, X, y, optimizer=LBFGS(bounds={"W1": (0.0, np.inf)}), epochs=200)
    W = model.params["W1"].ravel()
    assert W.min() >= 0.0
    assert (W == 0.0).sum() == 4  # the true weights of features 1, 3, 5, 6 are negative


def test_float32_model_computes_in_float32():
    """A float32 model: J and g are float64 numbers computed from float32 activations,
    within float32 round-off (1e-5 relative, as test_fused.py's TOL) of the float64 model's
    at the same (float32-representable) theta; L-BFGS still lowers J."""
    X, y = logistic_data()
    model32 = mlp(7, hidden=(4,), seed=0, dtype=np.float32)
    model64 = mlp(7, hidden=(4,), seed=0)
    model64.set_params(model32.get_params())
    o32, o64 = ModelObjective(model32, X, y, l2=0.01), ModelObjective(model64, X, y, l2=0.01)
    theta = o32.theta0
    v32, g32 = o32(theta)
    v64, g64 = o64(theta)
    assert isinstance(v32, float) and g32.dtype == np.float64
    assert v32 == pytest.approx(v64, rel=1e-5)
    assert np.abs(g32 - g64).max() <= 1e-5 * np.abs(g64).max()
    history = train(model32, X, y, optimizer="lbfgs", epochs=50, l2=0.01)
    assert history.loss[-1] < v32 and model32.dtype == np.float32
