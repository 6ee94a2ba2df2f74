"""BackpropClassifier in scikit-learn's world: labels, pipelines, search, reproducibility."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from backprop_lab import BackpropClassifier
from backprop_lab.data import make_credit_risk
from backprop_lab.nn import SoftmaxCrossEntropy, mlp
from backprop_lab.nn.losses import BinaryCrossEntropy


@pytest.fixture(scope="module")
def credit():
    data = make_credit_risk(1500, seed=3)
    rng = np.random.default_rng(3)
    frame = data.X.assign(purpose=rng.choice(["car", "home", "study", "other"], len(data.X)))
    return frame, data.y.to_numpy()


def scaled(frame):
    numeric = frame.drop(columns="purpose")
    return pd.DataFrame(StandardScaler().fit_transform(numeric), columns=numeric.columns)


def test_binary_probabilities_are_the_sigmoid_of_the_logit(linear_data):
    X, y = linear_data
    clf = BackpropClassifier(random_state=0).fit(X, y)
    z = clf.decision_function(X)
    assert z.shape == (400,)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], expit(z), rtol=1e-15)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    assert np.array_equal(clf.predict(X), clf.classes_[(z > 0).astype(int)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-14)
    # the labels come from a logistic model: the network does as well as the right model
    assert clf.score(X, y) >= LogisticRegression().fit(X, y).score(X, y) - 0.01
    assert clf.network_.n_outputs == 1


def test_multiclass_uses_softmax_and_string_labels():
    X, y = make_blobs(300, centers=3, n_features=4, random_state=0)
    labels = np.array(["low", "mid", "high"])[y]
    clf = BackpropClassifier(random_state=0).fit(X, labels)
    assert clf.classes_.tolist() == ["high", "low", "mid"]
    assert clf.network_.n_outputs == 3
    z = clf.decision_function(X)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(z, axis=1), rtol=1e-15)
    assert clf.score(X, labels) > 0.95
    assert set(clf.predict(X)) <= set(labels)


def test_docstring_states_both_output_gradients():
    doc = BackpropClassifier.__module__
    import backprop_lab.classifier.estimator as module

    assert doc == "backprop_lab.classifier.estimator"
    assert "dl/dz = p - y" in module.__doc__
    assert "dl/dz = p - onehot(y)" in module.__doc__
    # ... and the losses it points to implement exactly those
    z = np.array([[0.3, -1.0, 2.0]])
    y = np.array([2])
    np.testing.assert_allclose(
        SoftmaxCrossEntropy().dl_dz(z, y), softmax(z, axis=1) - np.eye(3)[y], rtol=1e-15
    )
    zb, yb = np.array([[0.7]]), np.array([[1.0]])
    np.testing.assert_allclose(BinaryCrossEntropy().dl_dz(zb, yb), expit(zb) - yb, rtol=1e-15)


def test_same_random_state_same_fit_bit_for_bit(credit):
    frame, y = credit
    X = scaled(frame)
    a = BackpropClassifier(random_state=7, batch_size=64).fit(X, y)
    b = BackpropClassifier(random_state=7, batch_size=64).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = BackpropClassifier(random_state=8, batch_size=64).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_early_stopping_keeps_the_best_validation_epoch(credit):
    frame, y = credit
    X = scaled(frame)
    clf = BackpropClassifier(random_state=0, early_stopping=True, n_iter_no_change=10)
    clf.fit(X, y)
    assert clf.early_stopping_ is True
    scores = clf.validation_scores_
    assert clf.n_iter_ == len(scores) < clf.max_epochs
    assert clf.best_loss_ == min(scores)
    assert clf.best_epoch_ == int(np.argmin(scores)) + 1
    assert clf.n_iter_ - clf.best_epoch_ >= 10  # stopped after the patience ran out


def test_early_stopping_auto_needs_enough_rows_of_each_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (rng.random(400) < 0.1).astype(int)  # ~40 defaults: ~8 in a 20% validation split
    clf = BackpropClassifier(random_state=0, max_epochs=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.early_stopping_ is False and clf.validation_scores_ == []
    y = (rng.random(400) < 0.5).astype(int)  # ~200 of each: 40 each in validation
    assert BackpropClassifier(random_state=0).fit(X, y).early_stopping_ is True


def test_the_untrained_network_predicts_the_base_rate():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    y = (rng.random(200) < 0.2).astype(int)
    clf = BackpropClassifier(random_state=0, early_stopping=False, max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # the first recorded objective is from the initial network, whose output weights are
    # zero: the log loss of predicting the base rate p for every row,
    # -[p log p + (1 - p) log(1 - p)], plus the L2 term (alpha / 2N) ||W1||^2
    p = y.mean()
    W1 = mlp(5, (8,), 1, init="he", seed=_init_seed(0)).params["W1"]
    penalty = 10.0 / (2 * 200) * np.sum(W1**2)
    assert clf.loss_curve_[0] == pytest.approx(
        -(p * np.log(p) + (1 - p) * np.log(1 - p)) + penalty, rel=1e-12
    )
    assert np.all(clf.network_.params["W2"] != 0)  # one epoch moved the output weights


def _init_seed(random_state):
    """The seed fit draws for the initial weights (the second of three)."""
    return int(np.random.RandomState(random_state).randint(0, 2**31 - 1, size=3)[1])


def test_pipeline_with_column_transformer_cross_validation_and_grid_search(credit):
    frame, y = credit
    numeric = [c for c in frame.columns if c != "purpose"]
    pipe = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["purpose"]),
            ]
        ),
        BackpropClassifier(random_state=0),
    )
    scores = cross_val_score(pipe, frame, y, cv=StratifiedKFold(3), scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.78
    search = GridSearchCV(
        pipe,
        {"backpropclassifier__hidden_layer_sizes": [(4,), (8,)]},
        cv=StratifiedKFold(2),
        scoring="neg_log_loss",
    ).fit(frame, y)
    assert search.best_params_["backpropclassifier__hidden_layer_sizes"] in [(4,), (8,)]
    assert -search.best_score_ < 0.55  # Bayes log loss of this data is about 0.49
    assert search.predict_proba(frame).shape == (len(frame), 2)


def test_clone_pickle_and_feature_names(credit):
    frame, y = credit
    X = scaled(frame)
    clf = BackpropClassifier(hidden_layer_sizes=(5,), alpha=1.0, random_state=2).fit(X, y)
    assert clf.feature_names_in_.tolist() == list(X.columns)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "network_")
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_partial_fit_streams_epochs_and_keeps_optimizer_state(linear_data):
    X, y = linear_data
    clf = BackpropClassifier(random_state=0, batch_size=50)
    for _ in range(30):
        clf.partial_fit(X, y, classes=[0.0, 1.0])
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] - 0.1
    assert clf._optimizer.t == 30 * 8  # Adam steps: 8 batches per epoch, never reset
    with pytest.raises(ValueError, match="not one of classes"):
        clf.partial_fit(X[:3], np.array([0.0, 1.0, 2.0]))


def test_warm_start_continues_from_the_current_weights(linear_data):
    X, y = linear_data
    clf = BackpropClassifier(random_state=0, early_stopping=False, max_epochs=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.network_.get_params()
        clf.fit(X, y)
    assert len(clf.loss_curve_) == 10
    assert clf.loss_curve_[5] < clf.loss_curve_[0]  # the second fit did not restart
    assert not np.array_equal(first["W1"], clf.network_.get_params()["W1"])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X, np.where(y == 1, 2, y))


def test_class_weight_balanced_raises_minority_probabilities():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 3))
    y = (rng.random(600) < expit(X[:, 0] - 2.5)).astype(int)
    plain = BackpropClassifier(random_state=0).fit(X, y)
    balanced = BackpropClassifier(random_state=0, class_weight="balanced").fit(X, y)
    assert plain.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), abs=0.03)
    assert balanced.predict_proba(X)[:, 1].mean() > 0.3


def test_bad_parameters_and_data_get_clear_errors(linear_data):
    X, y = linear_data
    with pytest.raises(ValueError, match="hidden_layer_sizes must be positive"):
        BackpropClassifier(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        BackpropClassifier(optimizer="sgd").fit(X, y)
    with pytest.raises(ValueError, match="early_stopping must be"):
        BackpropClassifier(early_stopping="yes").fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        BackpropClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match=r"diverged at epoch 1: .*StandardScaler\) or lower"):
        BackpropClassifier(early_stopping=False).fit(X * 1e5, y)  # inputs not standardised


def test_dataframe_input_with_string_labels(credit):
    frame, y = credit
    X = scaled(frame)
    labels = pd.Series(np.where(y == 1, "default", "repaid"))
    clf = BackpropClassifier(random_state=0).fit(X, labels)
    assert clf.classes_.tolist() == ["default", "repaid"]
    # classes_[1] ('repaid') is the positive output: P(repaid) = sigmoid(z)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expit(clf.decision_function(X)))
