"""Gradient checking: passes on correct code, fails on planted bugs, handles ReLU kinks."""

import numpy as np
import pytest

from backprop_lab.engine.gradcheck import GOOD, gradient_check, relative_error
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.layers import Dense, ReLU
from backprop_lab.nn.losses import BinaryCrossEntropy
from backprop_lab.nn.model import Sequential
from backprop_lab.nn.optim import GradientDescent


def test_relative_error_formula():
    a, n = np.array([1.0, 0.0, 2.0]), np.array([1.0 + 1e-8, 0.0, -2.0])
    np.testing.assert_allclose(relative_error(a, n), [1e-8 / (2.0 + 1e-8), 0.0, 1.0])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 1.0])
def test_passes_at_init_and_after_burn_in(linear_data, activation, l2):
    X, y = linear_data
    model = mlp(7, hidden=(8,), activation=activation, seed=0)
    at_init = gradient_check(model, X, y, l2=l2)
    assert at_init.passed and at_init.max_rel_error < GOOD
    before = model.get_params()
    train(model, X, y, optimizer=GradientDescent(0.1), epochs=30, l2=l2)
    after = gradient_check(model, X, y, l2=l2)
    assert after.passed, after.table()
    # every entry of every array was checked or flagged; parameters untouched by the check
    assert sum(p.n_checked + p.n_kinks for p in after.params) == model.n_parameters()
    assert not all(np.array_equal(before[k], v) for k, v in model.params.items())


def test_every_loss_and_deeper_network(linear_data):
    X, _ = linear_data
    rng = np.random.default_rng(0)
    model = mlp(7, hidden=(6, 5, 4), n_outputs=3, activation="tanh", seed=1)
    assert gradient_check(model, X[:60], rng.integers(0, 3, 60), loss="softmax").passed
    model = mlp(7, hidden=(5,), n_outputs=2, activation="sigmoid", seed=1)
    assert gradient_check(model, X[:60], rng.normal(size=(60, 2)), loss="mse").passed


def test_restores_parameters_exactly(linear_data):
    X, y = linear_data
    model = mlp(7, seed=4)
    before = model.get_params()
    gradient_check(model, X, y)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_flags_kinks_instead_of_failing():
    """A pre-activation within h of zero: the entry is flagged, not reported as an error."""
    model = mlp(2, hidden=(1,), seed=0)
    model.set_params({"W1": [[1.0], [0.0]], "b1": [0.0], "W2": [[1.0]], "b2": [0.0]})
    X = np.array([[1e-7, 0.0], [1.0, 1.0]])  # row 0 puts z1 = 1e-7, inside the step h = 1e-5
    y = np.array([1.0, 0.0])
    result = gradient_check(model, X, y)
    assert result.n_kinks > 0
    assert result.passed


# ---- planted bugs: each must make the check fail -------------------------------------
class ReLUWithoutMask(ReLU):
    def backward(self, g):
        return g  # bug: forgets ReLU'(x)


class DenseTransposed(Dense):
    def backward(self, g, need_input_grad=True):
        self.grads["W"] = self.x.T @ g
        self.grads["b"] = g.sum(axis=0)
        return g @ self.params["W"]  # bug: W instead of W^T (square layer, so shapes agree)


class BCEWithoutMean(BinaryCrossEntropy):
    def backward(self):
        return self.dl_dz(self.z, self.y)  # bug: forgets the 1/N of the mean


def _net(relu_cls=ReLU, dense_cls=Dense):
    rng = np.random.default_rng(0)
    return Sequential(
        [
            Dense(7, 8, rng=rng),
            relu_cls(),
            dense_cls(8, 8, rng=rng),
            relu_cls(),
            Dense(8, 1, rng=rng),
        ]
    )


@pytest.mark.parametrize(
    ("model", "loss"),
    [
        (_net(relu_cls=ReLUWithoutMask), "bce"),
        (_net(dense_cls=DenseTransposed), "bce"),
        (_net(), BCEWithoutMean()),
    ],
    ids=["missing-relu-mask", "transposed-weight", "missing-1/N"],
)
@pytest.mark.parametrize("l2", [0.0, 5.0])
def test_fails_on_planted_bugs(linear_data, model, loss, l2):
    X, y = linear_data
    result = gradient_check(model, X, y, loss=loss, l2=l2)
    assert not result.passed
    assert result.max_rel_error > 1e-2, result.table()


def test_table_names_every_array(linear_data):
    X, y = linear_data
    table = gradient_check(mlp(7), X, y).table()
    for name in ("W1", "b1", "W2", "b2", "PASS"):
        assert name in table
