"""The tutorial's hand-written network, and the general engine configured the same way."""

import numpy as np
import pytest

from backprop_lab import textbook as tb
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent


@pytest.mark.parametrize("scale", [0.01, 0.5])
def test_engine_matches_textbook_over_50_epochs(linear_data, scale):
    X, y = linear_data
    params = tb.init_params(seed=1, scale=scale)
    final, losses, accuracies = tb.train_model(X, y.reshape(-1, 1), params, lr=0.1, epochs=50)
    model = mlp(7, hidden=(8,))
    model.set_params(params)
    history = train(model, X, y, optimizer=GradientDescent(0.1), epochs=50)
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(history.accuracy, accuracies)
    for name, value in final.items():
        np.testing.assert_allclose(
            model.params[name], value.reshape(model.params[name].shape), rtol=1e-12, atol=1e-15
        )


def test_forward_only_is_exactly_flat(linear_data):
    X, y = linear_data
    params = tb.init_params(seed=0)
    final, losses, accuracies = tb.train_model(X, y.reshape(-1, 1), params, 0.1, 20, backprop=False)
    assert len(set(losses)) == 1 and len(set(accuracies)) == 1
    for name in params:
        np.testing.assert_array_equal(final[name], params[name])


def test_backprop_lowers_the_loss(linear_data):
    X, y = linear_data
    _, losses, _ = tb.train_model(X, y.reshape(-1, 1), tb.init_params(scale=0.5), 0.1, 200)
    assert losses[-1] < losses[0] - 0.1


def test_refuses_flat_labels_against_column_predictions(linear_data):
    """y of shape (N,) minus y_hat of shape (N, 1) would broadcast to (N, N)."""
    X, y = linear_data
    params = tb.init_params()
    y_hat, cache = tb.forward(X, params)
    with pytest.raises(ValueError, match=r"labels have shape \(400,\).*\(400, 1\)"):
        tb.backward(X, y, y_hat, cache, params)
    with pytest.raises(ValueError, match="reshape"):
        tb.binary_cross_entropy(y, y_hat)
    with pytest.raises(ValueError, match="broadcast"):
        tb.train_model(X, y, params, 0.1, 1)


def test_stable_for_saturated_logits():
    """No overflow warning for |z2| up to 1e4; finite loss when y_hat rounds to 0 or 1."""
    z2 = np.array([[1e4], [-1e4], [50.0]])
    y = np.array([[0.0], [1.0], [1.0]])
    with np.errstate(
        over="raise", divide="raise", invalid="raise"
    ):  # underflow to 0 is exact enough
        y_hat = tb.sigmoid(z2)
        from_logits = tb.binary_cross_entropy(y, y_hat, z2)
        clipped = tb.binary_cross_entropy(y, y_hat)
    assert y_hat[0, 0] == 1.0 and y_hat[1, 0] == 0.0
    assert from_logits == pytest.approx((1e4 + 1e4 + np.log1p(np.exp(-50.0))) / 3, rel=1e-12)
    assert np.isfinite(clipped)


def test_backward_matches_finite_differences_for_one_weight(linear_data):
    """The tutorial's own check, on W1[0, 0]."""
    X, y = linear_data
    y = y.reshape(-1, 1)
    params = tb.init_params(scale=0.5, seed=2)
    y_hat, cache = tb.forward(X, params)
    grads = tb.backward(X, y, y_hat, cache, params)
    h = 1e-6
    plus = {k: v.copy() for k, v in params.items()}
    minus = {k: v.copy() for k, v in params.items()}
    plus["W1"][0, 0] += h
    minus["W1"][0, 0] -= h
    numeric = (
        tb.binary_cross_entropy(y, *_yhat_z2(X, plus))
        - tb.binary_cross_entropy(y, *_yhat_z2(X, minus))
    ) / (2 * h)
    assert grads["W1"][0, 0] == pytest.approx(numeric, rel=1e-6)


def _yhat_z2(X, params):
    y_hat, cache = tb.forward(X, params)
    return y_hat, cache["z2"]
