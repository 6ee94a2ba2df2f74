"""A model carries its parameters, never the rows it has seen.

Layers cache their last input or output for the backward pass, and the gradients of a
single row reveal that row (dL/dW1 = x^T g). A fitted classifier, a network that has been
trained or scored, and an explained network must pickle without any of that: every
prediction path computes without caching, ``fit`` clears the caches, and pickling or
copying a layer drops them. The checks search the pickle for the float64 bytes of every
value the model has seen.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from backprop_lab import BackpropClassifier
from backprop_lab.nn import get_loss, mlp
from backprop_lab.responsible.attributions import input_gradients, integrated_gradients


def windows(blob: bytes) -> set[bytes]:
    """Every 8-byte window of ``blob``: a float64 stored anywhere in it is one of them."""
    return {blob[i : i + 8] for i in range(len(blob) - 7)}


def values_found(blob: bytes, *arrays: np.ndarray) -> int:
    """How many entries of ``arrays`` occur in ``blob`` as little-endian float64 bytes."""
    present = windows(blob)
    found = 0
    for a in arrays:
        for value in np.asarray(a, dtype="<f8").ravel():
            found += value.tobytes() in present
    return found


def labelled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal features (every value distinct, none a round number) and labels
    from a logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 7))
    p = 1.0 / (1.0 + np.exp(-X @ np.array([0.8, -1.0, 1.2, -0.6, 1.5, -0.3, -0.7])))
    return X, (rng.random(n) < p).astype(int)


def fit_quietly(clf: BackpropClassifier, X: np.ndarray, y: np.ndarray) -> BackpropClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs, on purpose
        return clf.fit(X, y)


def test_the_search_finds_values_that_are_there():
    """The check below can fail: the parameters themselves are found in the pickle."""
    model = mlp(7, seed=0)
    assert values_found(pickle.dumps(model), model.params["W1"]) == model.params["W1"].size


def test_a_used_classifier_pickles_to_the_same_bytes_whatever_it_scored():
    X, y = labelled(2000, seed=0)
    clf = fit_quietly(BackpropClassifier(random_state=0, max_epochs=40), X, y)
    assert clf.early_stopping_  # the validation rows were scored after every epoch
    fitted = pickle.dumps(clf)
    rng = np.random.default_rng(1)
    few, many = rng.normal(size=(100, 7)), rng.normal(size=(50_000, 7))
    clf.predict_proba(few)
    after_few = pickle.dumps(clf)
    for method in (clf.predict_proba, clf.predict, clf.decision_function, clf.predict_log_proba):
        method(many)
    after_many = pickle.dumps(clf)
    # the same state, so the same bytes: the size does not grow with the rows scored
    assert after_few == fitted
    assert after_many == fitted
    assert values_found(after_many, X, few, many) == 0


def test_a_network_trained_by_the_reference_engine_keeps_no_training_rows():
    """A network above the fused engine's size limit trains with the NumPy layers,
    whose caches hold the last batch until ``fit`` clears them."""
    X, y = labelled(300, seed=2)
    clf = BackpropClassifier(
        hidden_layer_sizes=(64, 64), early_stopping=False, max_epochs=3, random_state=0
    )
    clf = fit_quietly(clf, X, y)
    assert clf.network_.n_parameters() > 4096  # beyond fused.AUTO_MAX_PARAMETERS
    assert values_found(pickle.dumps(clf), X) == 0


def test_partial_fit_keeps_no_rows_and_continues_after_unpickling():
    X, y = labelled(400, seed=3)
    clf = BackpropClassifier(hidden_layer_sizes=(64, 64), random_state=0, batch_size=50)
    clf.partial_fit(X, y)  # the reference engine: its caches held the last batch
    blob = pickle.dumps(clf)
    assert values_found(blob, X) == 0
    restored = pickle.loads(blob)
    restored.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_copies_and_clones_of_a_used_classifier_still_work():
    X, y = labelled(600, seed=4)
    clf = fit_quietly(BackpropClassifier(random_state=0, max_epochs=20), X, y)
    expected = clf.predict_proba(X)
    for other in (copy.deepcopy(clf), pickle.loads(pickle.dumps(clf))):
        np.testing.assert_array_equal(other.predict_proba(X), expected)
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "network_")
    np.testing.assert_array_equal(fit_quietly(fresh, X, y).predict_proba(X), expected)


def test_pickled_or_copied_networks_drop_caches_and_gradients_but_train_on():
    X, y = labelled(200, seed=5)
    y = y.astype(float).reshape(-1, 1)
    loss = get_loss("bce")
    model = mlp(7, hidden=(8, 6), seed=0)
    _, grads = model.loss_and_gradients(X[:1], y[:1], loss)  # one row: dW1 = x^T g shows x
    blob = pickle.dumps(model)
    assert values_found(blob, X) == 0
    assert values_found(blob, *(g[g != 0] for g in grads.values())) == 0  # 0: dead units
    for other in (pickle.loads(blob), copy.deepcopy(model)):
        with pytest.raises(RuntimeError, match="no gradients"):
            other.grads  # noqa: B018
        _, again = other.loss_and_gradients(X[:1], y[:1], loss)
        for name, g in grads.items():
            np.testing.assert_array_equal(again[name], g)


def test_predict_logits_equals_forward_and_leaves_the_caches_alone():
    X, _ = labelled(300, seed=6)
    model = mlp(7, hidden=(8, 6), activation="tanh", seed=0)
    z = model.forward(X[:10])
    cached = [dict(vars(layer)) for layer in model.layers]
    np.testing.assert_array_equal(model.predict_logits(X[:10]), z)  # the same operations
    model.predict_logits(X)
    for layer, before in zip(model.layers, cached, strict=True):
        assert vars(layer).keys() == before.keys()
        assert all(vars(layer)[k] is v for k, v in before.items())


def test_explanations_leave_no_rows_in_the_network():
    X, y = labelled(600, seed=7)
    clf = fit_quietly(BackpropClassifier(random_state=0, max_epochs=20), X, y)
    applicants = np.random.default_rng(8).normal(size=(25, 7))
    integrated_gradients(clf.network_, applicants, steps=8)
    input_gradients(clf.network_, applicants)
    assert values_found(pickle.dumps(clf), applicants) == 0
    assert all(not layer.grads for layer in clf.network_.layers)
