"""Edges of the engines: batches that weigh nothing, layers built without a generator,
the L2 term in the stored gradients, what validation loss means, bad class indices, and
why early stopping stopped.

Engine comparisons use the tolerance of tests/test_fused.py: float64 to 1e-12 relative.
The engines add the same terms in different orders; over a few hundred rows and epochs
that moves results by a few units of 1e-16 times the number of terms, about 1e-14.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from backprop_lab import BackpropClassifier
from backprop_lab.classifier import early_stopping
from backprop_lab.engine.fused import fused_loss_and_gradients
from backprop_lab.engine.gradcheck import gradient_check
from backprop_lab.engine.training import train
from backprop_lab.nn import Dense, ReLU, Sequential, SoftmaxCrossEntropy, get_loss, mlp
from backprop_lab.nn.init import initial_weights
from backprop_lab.nn.losses import BinaryCrossEntropy
from backprop_lab.nn.optim import GradientDescent

TOL = 1e-12
ENGINES = ["reference", "fused"]


def loss_and_gradients(engine, model, X, y, loss, **options):
    if engine == "reference":
        value, grads = model.loss_and_gradients(X, y, get_loss(loss), **options)
        return value, {name: g.copy() for name, g in grads.items()}
    return fused_loss_and_gradients(model, X, y, loss, **options)


# ---- a batch whose sample weights are all zero ------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_an_all_zero_weight_batch_has_loss_0_and_gradient_0(linear_data, engine, l2):
    """L = sum w_i l_i / sum w_i with 0/0 := 0; only the L2 penalty is left."""
    X, y = linear_data
    model = mlp(7, seed=0)
    value, grads = loss_and_gradients(
        engine, model, X[:10], y[:10, None], "bce", l2=l2, sample_weight=np.zeros(10)
    )
    W = {name: w for name, w in model.params.items() if name.startswith("W")}
    penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in W.values())
    assert value == pytest.approx(penalty, rel=TOL, abs=0.0)
    for name, g in grads.items():
        expected = l2 * W[name] if name in W else np.zeros_like(g)
        np.testing.assert_allclose(g, expected, rtol=TOL, atol=0.0)


def test_an_all_zero_weight_batch_has_accuracy_0():
    loss = BinaryCrossEntropy()
    z, y = np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]])
    assert loss.accuracy(z, y, np.zeros(2)) == 0.0
    assert SoftmaxCrossEntropy().accuracy(np.eye(2), np.array([0, 1]), np.zeros(2)) == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_mini_batches_that_weigh_nothing_are_not_divergence(linear_data, engine):
    """One row per batch, every other row of weight 0: with gradient descent such a batch
    is a step of size 0, so training equals stepping through the weighted rows alone."""
    X, y = linear_data
    w = (np.arange(len(y)) % 2 == 0).astype(float)
    model = mlp(7, seed=0)
    start = model.get_params()
    history = train(
        model,
        X,
        y,
        sample_weight=w,
        batch_size=1,
        epochs=1,
        seed=3,
        optimizer=GradientDescent(0.05),
        engine=engine,
    )
    assert history.status == "completed" and history.engine == engine
    # the same steps by hand, in train's order (one permutation per epoch from the seed)
    manual = mlp(7, seed=0)
    manual.set_params(start)
    loss, step = get_loss("bce"), GradientDescent(0.05)
    for i in np.random.default_rng(3).permutation(len(y)):
        if w[i] > 0:
            _, grads = manual.loss_and_gradients(X[[i]], y[[i], None], loss)
            step.step(manual.params, grads)
    for name, value in model.params.items():
        np.testing.assert_allclose(value, manual.params[name], rtol=TOL, atol=TOL)


def test_the_estimator_fits_with_batches_that_weigh_nothing(linear_data):
    """With 90% of the rows weighing 0, most batches of 8 weigh nothing (0.9^8 = 43%)."""
    X, y = linear_data
    w = np.where(np.random.default_rng(0).random(len(y)) < 0.9, 0.0, 1.0)
    clf = BackpropClassifier(batch_size=8, early_stopping=False, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # three epochs, on purpose
        clf.fit(X, y, sample_weight=w)
    assert len(clf.loss_curve_) == 3 and np.all(np.isfinite(clf.loss_curve_))


# ---- Dense layers and their generator ---------------------------------------------------
def test_layers_built_without_a_generator_get_their_own_weights():
    first, second = Dense(6, 6), Dense(6, 6)
    assert not np.array_equal(first.params["W"], second.params["W"])
    net = Sequential([Dense(6, 6), ReLU(), Dense(6, 6)])
    assert not np.array_equal(net.params["W1"], net.params["W2"])


def test_a_hand_built_network_is_reproducible_through_one_generator():
    def build(seed):
        rng = np.random.default_rng(seed)
        return Sequential(
            [Dense(7, 8, rng=rng), ReLU(), Dense(8, 8, rng=rng), ReLU(), Dense(8, 1, rng=rng)]
        )

    a, b = build(5), build(5)
    for name, value in a.params.items():
        np.testing.assert_array_equal(value, b.params[name])
    assert not np.array_equal(a.params["W2"], build(6).params["W2"])
    np.testing.assert_array_equal(Dense(4, 3, rng=7).params["W"], Dense(4, 3, rng=7).params["W"])


@pytest.mark.parametrize(("init", "seed"), [("he", 0), ("xavier", 11), ("small", 3)])
def test_mlp_draws_every_layer_from_one_generator_of_its_seed(init, seed):
    """mlp(seed=s) is unchanged: layer after layer from np.random.default_rng(s)."""
    model = mlp(7, hidden=(8, 8), n_outputs=2, init=init, seed=seed)
    rng = np.random.default_rng(seed)
    for name, shape in (("W1", (7, 8)), ("W2", (8, 8)), ("W3", (8, 2))):
        np.testing.assert_array_equal(model.params[name], initial_weights(init, *shape, rng))


# ---- the L2 term in the stored gradients ------------------------------------------------
def test_model_grads_are_the_gradients_loss_and_gradients_returns(linear_data):
    X, y = linear_data
    loss, l2 = get_loss("bce"), 0.3
    plain = mlp(7, seed=0).loss_and_gradients(X, y[:, None], loss)[1]
    plain = {name: g.copy() for name, g in plain.items()}
    model = mlp(7, seed=0)
    _, grads = model.loss_and_gradients(X, y[:, None], loss, l2=l2)
    for name, g in grads.items():
        np.testing.assert_array_equal(model.grads[name], g)
        penalty = l2 * model.params[name] if name.startswith("W") else 0.0
        np.testing.assert_array_equal(g, plain[name] + penalty)  # the same operations
    # the gradient check differentiates the same J
    assert gradient_check(model, X, y, l2=l2).passed


# ---- validation loss: the data loss, without the penalty --------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_validation_loss_is_the_data_loss_without_the_penalty(linear_data, engine):
    X, y = linear_data
    model = mlp(7, seed=0)
    expected = BinaryCrossEntropy().forward(model.forward(X[300:]), y[300:, None])
    history = train(
        model, X[:300], y[:300], l2=0.5, epochs=2, validation_data=(X[300:], y[300:]), engine=engine
    )
    assert history.engine == engine
    # the first entry is computed with the starting weights
    assert history.val_loss[0] == pytest.approx(expected, rel=TOL)
    # ... and the training loss does carry the penalty
    assert (
        history.loss[0]
        > BinaryCrossEntropy().forward(mlp(7, seed=0).forward(X[:300]), y[:300, None]) + 0.1
    )


# ---- class indices for the softmax ------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, 3])
def test_softmax_refuses_class_indices_outside_0_to_k_minus_1(bad):
    z = np.zeros((4, 3))
    y = np.array([0, 1, bad, 2])
    with pytest.raises(ValueError, match=rf"class indices 0\.\.2; found {bad} at row 2"):
        SoftmaxCrossEntropy().forward(z, y)
    model = mlp(2, hidden=(3,), n_outputs=3, seed=0)
    X = np.random.default_rng(0).normal(size=(4, 2))
    with pytest.raises(ValueError, match=rf"found {bad} at row 2"):
        model.loss_and_gradients(X, y, SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=rf"found {bad} at row 2"):
        fused_loss_and_gradients(model, X, y, "softmax")


# ---- why early stopping stopped ---------------------------------------------------------
def validation_loss_turning_nan_after(monkeypatch, n_calls):
    """The monitor's validation loss, NaN from its (n_calls + 1)-th evaluation on (the
    first evaluation is of the starting weights, then one per epoch)."""
    real, calls = early_stopping.TrainingMonitor._val_loss, []

    def val_loss(self, network):
        calls.append(None)
        return float("nan") if len(calls) > n_calls else real(self, network)

    monkeypatch.setattr(early_stopping.TrainingMonitor, "_val_loss", val_loss)


def test_early_stopping_on_a_non_finite_validation_loss_says_so(linear_data, monkeypatch):
    X, y = linear_data
    validation_loss_turning_nan_after(monkeypatch, 6)  # epochs 1..5 are real, 6 is NaN
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # one network (alpha=10): the patched loss counts epochs across every fit
        clf = BackpropClassifier(
            early_stopping=True, max_epochs=100, alpha=10.0, random_state=0
        ).fit(X, y)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1, messages
    assert "stopped at epoch 6: the validation log loss became nan" in messages[0]
    assert "keeping the weights of epoch" in messages[0]
    assert clf.n_iter_ == 6 and 1 <= clf.best_epoch_ <= 5


def test_a_validation_loss_that_is_nan_from_the_start_is_an_error(linear_data, monkeypatch):
    X, y = linear_data
    validation_loss_turning_nan_after(monkeypatch, 1)
    with pytest.raises(ValueError, match="epoch 1: the validation log loss became nan"):
        BackpropClassifier(early_stopping=True, random_state=0).fit(X, y)
