"""The tutorial's exercise checkers call correct code right and each kind of bug wrong."""

import numpy as np
import pytest

from backprop_lab import textbook
from backprop_lab.tutorial import exercises


def _grads(X, delta2, delta1, cache, *, mean=True):
    N = X.shape[0] if mean else 1
    return {
        "W1": X.T @ delta1 / N,
        "b1": delta1.sum(axis=0, keepdims=True) / N,
        "W2": cache["h"].T @ delta2 / N,
        "b2": delta2.sum(axis=0, keepdims=True) / N,
    }


def correct(X, y, y_hat, cache, params):
    delta2 = y_hat - y
    delta1 = (delta2 @ params["W2"].T) * (cache["z1"] > 0)
    return _grads(X, delta2, delta1, cache)


def no_relu_mask(X, y, y_hat, cache, params):
    delta2 = y_hat - y
    return _grads(X, delta2, delta2 @ params["W2"].T, cache)


def no_mean(X, y, y_hat, cache, params):
    delta2 = y_hat - y
    delta1 = (delta2 @ params["W2"].T) * (cache["z1"] > 0)
    return _grads(X, delta2, delta1, cache, mean=False)


def sign_flipped(X, y, y_hat, cache, params):
    delta2 = y - y_hat
    delta1 = (delta2 @ params["W2"].T) * (cache["z1"] > 0)
    return _grads(X, delta2, delta1, cache)


def mask_from_h_of_wrong_layer(X, y, y_hat, cache, params):
    delta2 = y_hat - y
    delta1 = (delta2 @ params["W2"].T) * cache["h"]  # ReLU(z1) in place of ReLU'(z1)
    return _grads(X, delta2, delta1, cache)


def only_db2_wrong(X, y, y_hat, cache, params):
    grads = correct(X, y, y_hat, cache, params)
    grads["b2"] = grads["b2"] * 1.01  # one percent off in one array
    return grads


def transposed_dW1(X, y, y_hat, cache, params):
    grads = correct(X, y, y_hat, cache, params)
    grads["W1"] = grads["W1"].T
    return grads


def missing_b1(X, y, y_hat, cache, params):
    grads = correct(X, y, y_hat, cache, params)
    del grads["b1"]
    return grads


def nan_dW2(X, y, y_hat, cache, params):
    grads = correct(X, y, y_hat, cache, params)
    grads["W2"] = np.full_like(grads["W2"], np.nan)
    return grads


def raises(X, y, y_hat, cache, params):
    raise KeyError("z3")


def returns_a_list(X, y, y_hat, cache, params):
    return list(correct(X, y, y_hat, cache, params).values())


@pytest.mark.parametrize("backward", [correct, textbook.backward])
def test_a_correct_backward_pass_is_right(backward, capsys):
    verdict = exercises.check_backward(backward)
    assert verdict.right, verdict.message
    assert verdict.message.startswith(f"{backward.__name__}: right: ")
    assert capsys.readouterr().out == verdict.message + "\n"


@pytest.mark.parametrize(
    ("backward", "says"),
    [
        (no_relu_mask, "dW1 is off"),
        (no_mean, "(it is 20 x the finite-difference slope)"),
        (sign_flipped, "(it is -1 x the finite-difference slope)"),
        (mask_from_h_of_wrong_layer, "dW1 is off"),
        (only_db2_wrong, "db2 is off by 0.005 of its largest entry (it is 1.01 x"),
        (transposed_dW1, "dW1 has shape (8, 7); W1 has shape (7, 8)"),
        (missing_b1, "no gradient for 'b1'"),
        (nan_dW2, "dW2 holds NaN or infinity"),
        (raises, "it raised KeyError: 'z3'"),
        (returns_a_list, "it returned list, not a dict of gradients"),
    ],
)
def test_each_bug_in_the_backward_pass_is_wrong(backward, says, capsys):
    verdict = exercises.check_backward(backward)
    assert not verdict.right
    assert verdict.message.startswith(f"{backward.__name__}: wrong: ")
    assert says in verdict.message
    assert capsys.readouterr().out == verdict.message + "\n"


def test_the_relu_mask_bug_leaves_the_output_layer_right():
    message = exercises.check_backward(no_relu_mask, quiet=True).message
    assert "dW1" in message and "db1" in message
    assert "dW2" not in message and "db2" not in message


def test_the_checker_data_keep_every_nudge_on_one_side_of_the_relu_kink():
    X, _, params = exercises.exercise_data()
    z1 = X @ params["W1"] + params["b1"]
    # Nudging W1[i, j] by h moves z1[:, j] by at most h max |X|, b1[j] by h.
    assert np.min(np.abs(z1)) > exercises.STEP * max(1.0, np.max(np.abs(X)))
    assert np.any(z1 < 0) and np.any(z1 > 0)  # the mask matters


def test_a_correct_tanh_backward_is_right():
    verdict = exercises.check_tanh_backward(lambda z, grad: grad / np.cosh(z) ** 2, quiet=True)
    assert verdict.right, verdict.message
    assert "right" in verdict.message


@pytest.mark.parametrize(
    "tanh_backward",
    [
        lambda z, grad: grad * (1 - z**2),  # in terms of z, not tanh(z)
        lambda z, grad: grad,  # the identity
        lambda z, grad: 1 - np.tanh(z) ** 2,  # forgot grad
        lambda z, grad: grad * (1 - np.tanh(z)),  # forgot the square
        lambda z, grad: grad * np.tanh(z) * (1 - np.tanh(z)),  # sigmoid's form
        lambda z, grad: grad * (1 - np.tanh(z) ** 2) * 1.001,  # a tenth of a percent off
        lambda z, grad: (grad * (1 - np.tanh(z) ** 2))[:, :1],  # wrong shape
        lambda z, grad: np.full_like(z, np.nan),
    ],
)
def test_a_wrong_tanh_backward_is_wrong(tanh_backward):
    verdict = exercises.check_tanh_backward(tanh_backward, quiet=True)
    assert not verdict.right
    assert ": wrong: " in verdict.message


def test_an_unwritten_tanh_backward_is_wrong_and_says_why():
    def my_tanh_backward(z, grad):
        raise NotImplementedError("write tanh's backward here")

    verdict = exercises.check_tanh_backward(my_tanh_backward, quiet=True)
    assert not verdict.right
    assert verdict.message == (
        "my_tanh_backward: wrong: it raised NotImplementedError: write tanh's backward here"
    )


def test_a_tanh_backward_right_entrywise_but_wrong_in_the_network_is_wrong():
    # Right on the checker's grid of z values (shape (20, 8)), wrong for other shapes: the
    # network check is what catches it.
    def shape_dependent(z, grad):
        right = grad * (1 - np.tanh(z) ** 2)
        return right if z.shape == (exercises.N_ROWS, 8) and z[0, 0] == -3.0 else 2 * right

    verdict = exercises.check_tanh_backward(shape_dependent, quiet=True)
    assert not verdict.right
    assert "in the tanh network" in verdict.message


def test_scaled_error_is_measured_against_the_array_scale():
    a = np.array([1.0, 1e-6])
    n = np.array([1.0, 2e-6])  # the small entry is off by 100% of itself
    assert exercises.scaled_error(a, n) == pytest.approx(1e-6 / 2)
    assert exercises.scaled_error(np.zeros(3), np.zeros(3)) == 0.0
