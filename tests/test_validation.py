"""Bad input gets a ValueError whose message names the problem."""

import numpy as np
import pytest

from backprop_lab.engine.gradcheck import gradient_check
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp


@pytest.fixture
def good():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 7)), (rng.random(20) < 0.5).astype(float)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.nan, r"X contains NaN at row 3, column 2"),
        (np.inf, r"X contains infinity at row 3, column 2"),
    ],
)
def test_non_finite_features(good, bad, message):
    X, y = good
    X[3, 2] = bad
    with pytest.raises(ValueError, match=message):
        train(mlp(7), X, y, epochs=1)


def test_labels_outside_zero_one(good):
    X, y = good
    y[5] = 2
    with pytest.raises(ValueError, match=r"y must hold only 0 and 1; found .*2.* at row 5"):
        train(mlp(7), X, y, epochs=1)


def test_mismatched_lengths(good):
    X, y = good
    with pytest.raises(ValueError, match="X has 20 rows but y has 19 labels"):
        train(mlp(7), X, y[:-1], epochs=1)


def test_empty_data():
    with pytest.raises(ValueError, match="X is empty: it has 0 rows"):
        train(mlp(7), np.empty((0, 7)), np.empty(0), epochs=1)


def test_wrong_number_of_features(good):
    X, y = good
    with pytest.raises(ValueError, match="X has 6 features but 7 were expected"):
        gradient_check(mlp(7), X[:, :6], y)


def test_one_dimensional_features(good):
    _, y = good
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        train(mlp(7), np.zeros(20), y, epochs=1)


def test_text_features(good):
    _, y = good
    with pytest.raises(ValueError, match="X must be numeric"):
        train(mlp(1), np.array([["a"]] * 20), y, epochs=1)


def test_class_indices_out_of_range(good):
    X, _ = good
    y = np.zeros(20, dtype=int)
    y[7] = 3
    with pytest.raises(ValueError, match=r"class indices 0..2; found .*3.* at row 7"):
        train(mlp(7, n_outputs=3), X, y, loss="softmax", epochs=1)


def test_bad_sample_weight(good):
    X, y = good
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        train(mlp(7), X, y, sample_weight=-np.ones(20), epochs=1)
