"""Gradient checking: passes on correct code, fails on planted bugs, handles ReLU kinks.

The sweep over the settings the package itself uses is in test_gradcheck_sweep.py.
"""

import numpy as np
import pytest
from planted_bugs import BCEWithoutMean, DenseTransposed, ReLUWithoutMask, WrongSignL2

from backprop_lab.engine.gradcheck import (
    GOOD,
    RESOLUTION,
    WRONG,
    gradient_check,
    relative_error,
    roundoff_bound,
)
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.layers import Dense, ReLU
from backprop_lab.nn.model import Sequential
from backprop_lab.nn.optim import GradientDescent


def test_relative_error_is_measured_against_the_arrays_scale():
    a, n = np.array([1.0, 0.0, 2.0]), np.array([1.0 + 1e-8, 0.0, -2.0])
    # scale = ||a||_inf + ||n||_inf = 2 + 2
    np.testing.assert_allclose(relative_error(a, n), [1e-8 / 4.0, 0.0, 4.0 / 4.0])
    # a floor above the scale takes its place
    np.testing.assert_allclose(relative_error(a, n, floor=8.0), [1e-8 / 8.0, 0.0, 4.0 / 8.0])
    # both sides zero (a dead unit): 0, not 0/0
    np.testing.assert_array_equal(relative_error(np.zeros(3), np.zeros(3)), np.zeros(3))


def test_roundoff_bound_is_the_stencils_worst_case():
    """E = (u / h) (3/2 M + 3/4 ||θ|| s): (8 * 2 + 2) u M / 12h plus the rounded steps."""
    u = np.finfo(np.float64).eps
    assert roundoff_bound(0.7, 1e-5) == pytest.approx(1.5 * u * 0.7 / 1e-5)
    assert roundoff_bound(0.7, 1e-5, 2.0, 0.1) == pytest.approx(u / 1e-5 * (1.05 + 0.15))
    assert roundoff_bound(0.7, 1e-6) == pytest.approx(10 * roundoff_bound(0.7, 1e-5))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 1.0])
def test_passes_at_init_and_after_burn_in(linear_data, activation, l2):
    X, y = linear_data
    model = mlp(7, hidden=(8,), activation=activation, seed=0)
    at_init = gradient_check(model, X, y, l2=l2)
    # below RESOLUTION = GOOD / 10 by construction (the module docstring's derivation)
    assert at_init.passed and at_init.max_rel_error < RESOLUTION, at_init.table()
    initial = model.get_params()
    train(model, X, y, optimizer=GradientDescent(0.1), epochs=30, l2=l2)
    assert not all(np.array_equal(initial[k], v) for k, v in model.params.items())  # trained
    trained = model.get_params()
    after = gradient_check(model, X, y, l2=l2)
    assert after.passed and after.max_rel_error < RESOLUTION, after.table()
    # every entry of every array was checked or counted as left out ...
    assert sum(p.n_checked + p.n_unchecked for p in after.params) == model.n_parameters()
    # ... and the check left the model's parameters exactly as they were
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, trained[name])


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


def _one_unit_network():
    model = mlp(2, hidden=(1,), seed=0)
    model.set_params({"W1": [[1.0], [0.0]], "b1": [0.0], "W2": [[1.0]], "b2": [0.0]})
    return model


def test_kinks_are_rechecked_with_a_smaller_step():
    """A pre-activation within 2h of zero: that entry is re-checked with a step that keeps
    every unit on its side of the kink, and counted."""
    X = np.array([[1e-7, 0.0], [1.0, 1.0]])  # row 0 puts z1 = 1e-7, inside the step h = 1e-5
    y = np.array([1.0, 0.0])
    result = gradient_check(_one_unit_network(), X, y)
    b1 = result.params[1]
    # nudging b1 by 2h' moves z1 by 2h': crosses 0 at h' = h, h/10, h/100, not at h/1000
    assert b1.n_kinks == 1 and b1.n_kinks_rechecked == 1 and b1.step[0] == pytest.approx(1e-8)
    assert result.n_kinks == result.n_kinks_rechecked > 0 and result.n_unchecked == 0
    assert result.passed and result.max_rel_error < RESOLUTION, result.table()
    assert all(p.checked.all() for p in result.params)


def test_an_entry_exactly_on_a_kink_is_left_out_and_counted():
    """z1 = 0 exactly: every step crosses the kink, where the derivative does not exist."""
    X = np.array([[0.0, 1.0], [1.0, 1.0]])  # row 0: z1 = 1 * 0 + 0 * 1 + 0 = 0
    y = np.array([1.0, 0.0])
    result = gradient_check(_one_unit_network(), X, y)
    b1 = result.params[1]
    assert b1.n_kinks == 1 and b1.n_kinks_rechecked == 0 and b1.n_unchecked == 1
    assert not b1.checked[0] and np.isnan(b1.error[0])
    # b1 and W1[1, 0] (row 0's second input is 1) move z1 off 0; W1[0, 0] (input 0) does not
    assert result.n_unchecked == 2 and not result.params[0].checked[1, 0]
    assert "2 entries sit on a ReLU kink and were not checked" in result.table()
    assert sum(p.n_checked + p.n_unchecked for p in result.params) == 5
    assert result.passed


def test_says_when_gradients_are_too_small_to_resolve(linear_data):
    """W2 = 1e-9 makes W1's and b1's gradients ~1e-9 of the loss's: below GOOD * floor
    (about 2e-10), where even a wholly wrong gradient would pass. The table says so."""
    X, y = linear_data
    model = mlp(7, hidden=(8,), activation="tanh", seed=0)
    model.params["W2"][:] = 1e-9
    result = gradient_check(model, X, y)
    assert result.passed
    assert [p.name for p in result.params if not p.resolved] == ["W1", "b1"]
    assert "W1, b1: gradients below what the differences resolve" in result.table()
    assert "resolve" not in gradient_check(mlp(7), X, y).table()


def test_rejects_a_step_that_is_not_positive(linear_data):
    X, y = linear_data
    for eps in (0.0, -1e-5, float("nan")):
        with pytest.raises(ValueError, match="step eps must be a positive number"):
            gradient_check(mlp(7), X, y, eps=eps)


def test_float32_model_is_checked_on_a_float64_copy(linear_data):
    """theta +- h and J rounded in float32 made every float32 check read 1.0; the check
    now differences a float64 copy and leaves the float32 model as it was."""
    X, y = linear_data
    model = mlp(7, hidden=(8,), activation="tanh", seed=0, dtype=np.float32)
    train(model, X, y, optimizer=GradientDescent(0.1), epochs=30)
    before = model.get_params()
    result = gradient_check(model, X, y, l2=0.01)
    assert result.passed and result.max_rel_error < RESOLUTION, result.table()
    for name, value in model.params.items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, before[name])
    # The model's own float32 gradient differs from the float64 one by float32 round-off:
    # nonzero, and far inside WRONG (u32 = 1.2e-7 per operation; measured below 1e-6).
    assert 0.0 < result.dtype_error < WRONG / 100
    assert gradient_check(mlp(7), X, y).dtype_error is None


def test_small_entries_are_not_held_to_a_tighter_standard(linear_data):
    """The reported failure: an entry far smaller than its array's largest (here a column
    of W1 scaled down by W2[0] = 1e-6) carries the same absolute round-off as the others.
    Divided by its own size that round-off exceeds GOOD; divided by the array's scale it
    does not."""
    X, y = linear_data
    model = mlp(7, hidden=(8,), activation="tanh", seed=0)
    model.params["W2"][0, 0] = 1e-6
    result = gradient_check(model, X, y)
    assert result.passed and result.max_rel_error < RESOLUTION, result.table()
    W1 = result.params[0]
    a, n = W1.analytic[:, 0], W1.numeric[:, 0]
    assert np.abs(a).max() < 1e-4 * np.abs(W1.analytic).max()  # the column is tiny
    per_entry = np.abs(a - n) / (np.abs(a) + np.abs(n))  # the textbook measure
    assert per_entry.max() > GOOD


# ---- planted bugs: each must make the check fail -------------------------------------
def _net(relu_cls=ReLU, dense_cls=Dense, model_cls=Sequential):
    rng = np.random.default_rng(0)
    return model_cls(
        [
            Dense(7, 8, rng=rng),
            relu_cls(),
            dense_cls(8, 8, rng=rng),
            relu_cls(),
            Dense(8, 1, rng=rng),
        ]
    )


# Each planted bug is off by a fair share of its array's scale, so its error is far above
# WRONG; the smallest here is 0.26 (the L2 sign with l2 = 0.01), 2.6e6 times GOOD.
@pytest.mark.parametrize(
    ("model", "loss", "l2"),
    [
        (_net(relu_cls=ReLUWithoutMask), "bce", 0.0),
        (_net(relu_cls=ReLUWithoutMask), "bce", 5.0),
        (_net(dense_cls=DenseTransposed), "bce", 0.0),
        (_net(dense_cls=DenseTransposed), "bce", 5.0),
        (_net(), BCEWithoutMean(), 0.0),
        (_net(), BCEWithoutMean(), 5.0),
        (_net(model_cls=WrongSignL2), "bce", 0.01),
        (_net(model_cls=WrongSignL2), "bce", 5.0),
    ],
    ids=[
        "missing-relu-mask",
        "missing-relu-mask-l2",
        "transposed-weight",
        "transposed-weight-l2",
        "missing-1/N",
        "missing-1/N-l2",
        "wrong-sign-of-small-l2",
        "wrong-sign-of-l2",
    ],
)
def test_fails_on_planted_bugs(linear_data, model, loss, l2):
    X, y = linear_data
    result = gradient_check(model, X, y, loss=loss, l2=l2)
    assert not result.passed
    assert result.max_rel_error > WRONG, result.table()


def test_table_names_every_array(linear_data):
    X, y = linear_data
    table = gradient_check(mlp(7), X, y).table()
    for name in ("W1", "b1", "W2", "b2", "PASS"):
        assert name in table
