"""BackpropClassifier in scikit-learn's world: labels, pipelines, search, reproducibility."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from backprop_lab import BackpropClassifier
from backprop_lab.data import make_credit_risk
from backprop_lab.nn import mlp


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


def _torch_objective(params, X, y_index, n_classes, weights, l2):
    """The objective of the module docstring, written with PyTorch operations:
    J = sum_i w_i l_i / sum_i w_i + (l2 / 2) sum_l ||W_l||^2, with l the binary
    cross-entropy of sigmoid(z) (target [y = classes_[1]]) for two classes and the
    cross-entropy of softmax(z) for more, z from the tanh network."""
    a = torch.from_numpy(X)
    n_dense = len(params) // 2
    for i in range(1, n_dense + 1):
        a = a @ params[f"W{i}"] + params[f"b{i}"]
        if i < n_dense:
            a = torch.tanh(a)
    if n_classes == 2:
        target = torch.from_numpy(y_index.astype(np.float64))
        rows = F.binary_cross_entropy_with_logits(a[:, 0], target, reduction="none")
    else:
        rows = F.cross_entropy(a, torch.from_numpy(y_index), reduction="none")
    w = torch.from_numpy(weights)
    penalty = sum((W**2).sum() for name, W in params.items() if name.startswith("W"))
    return (w * rows).sum() / w.sum() + 0.5 * l2 * penalty


@pytest.mark.parametrize("labels", [np.array(["no", "yes"]), np.array(["a", "b", "c"])])
def test_a_gradient_step_descends_the_documented_objective(labels):
    """One full-batch gradient-descent epoch moves the weights by -lr dJ/dtheta, with J the
    module docstring's objective (loss by number of classes, sample and class weights, L2
    scaled by the total sample weight) differentiated by PyTorch autograd, not by the
    engine. A wrong loss, label order, weighting or penalty scale changes the step."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 4))
    k = len(labels)
    y_index = np.minimum((rng.random(120) * k + 0.8 * X[:, 0]).astype(int).clip(0), k - 1)
    y = labels[y_index]
    sample_weight = rng.uniform(0.5, 2.0, size=120)
    class_weight = {labels[0]: 2.0, labels[-1]: 0.5}
    lr, alpha = 0.1, 3.0
    clf = BackpropClassifier(
        hidden_layer_sizes=(5,),
        activation="tanh",
        optimizer="gd",
        learning_rate=lr,
        alpha=alpha,
        max_epochs=1,
        early_stopping=False,
        class_weight=class_weight,
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=sample_weight)  # one epoch: output weights no longer 0
        before = clf.network_.get_params()
        clf.fit(X, y, sample_weight=sample_weight)  # warm start: one more step from there
    after = clf.network_.get_params()
    assert clf.classes_.tolist() == sorted(labels)

    weights = sample_weight * np.array([class_weight.get(label, 1.0) for label in y])
    l2 = alpha / sample_weight.sum()  # a row of weight 2 counts as two rows
    params = {name: torch.tensor(value, requires_grad=True) for name, value in before.items()}
    J = _torch_objective(params, X, y_index, k, weights, l2)
    J.backward()
    # float64 throughout; the two computations differ by round-off in sums of 120 rows,
    # a few 1e-16 relative (measured: 8e-15 at most). 1e-11 leaves a factor of 1000.
    assert clf.loss_curve_[-1] == pytest.approx(J.item(), rel=1e-11)
    for name, value in before.items():
        expected = value - lr * params[name].grad.numpy()
        np.testing.assert_allclose(after[name], expected, rtol=1e-11, atol=1e-14, err_msg=name)


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
    # a numeric alpha trains one network (alpha='auto' may average fold networks)
    clf = BackpropClassifier(random_state=0, alpha=10.0, early_stopping=True, n_iter_no_change=10)
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
    clf = BackpropClassifier(random_state=0, alpha=10.0, early_stopping=False, max_epochs=1)
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
    grid = [(4,), (8,)]
    search = GridSearchCV(
        pipe,
        {"backpropclassifier__hidden_layer_sizes": grid},
        cv=StratifiedKFold(2),
        scoring="neg_log_loss",
    ).fit(frame, y)

    def candidate(sizes):
        return clone(pipe).set_params(backpropclassifier__hidden_layer_sizes=sizes)

    # The search's choice, recomputed: each candidate's mean held-out log loss on the
    # same two folds; the best is the lowest.
    mean_loss = []
    for sizes in grid:
        losses = []
        for train, test in StratifiedKFold(2).split(frame, y):
            model = candidate(sizes).fit(frame.iloc[train], y[train])
            losses.append(log_loss(y[test], model.predict_proba(frame.iloc[test])))
        mean_loss.append(np.mean(losses))
    assert mean_loss[0] != mean_loss[1]  # the size matters: no tie to break
    best = int(np.argmin(mean_loss))
    assert search.best_params_ == {"backpropclassifier__hidden_layer_sizes": grid[best]}
    # the same fits on the same rows: equal up to summation order in the mean of two folds
    assert -search.best_score_ == pytest.approx(mean_loss[best], rel=1e-12)
    assert -search.best_score_ < 0.55  # Bayes log loss of this data is about 0.49
    # the refit model is the best candidate fitted afresh on every row
    refit = candidate(grid[best]).fit(frame, y)
    np.testing.assert_array_equal(search.predict_proba(frame), refit.predict_proba(frame))
    # alpha='auto' averages n_networks_ fold networks side by side in one network
    best_clf = search.best_estimator_[-1]
    assert best_clf.network_.params["W1"].shape[1] == best_clf.n_networks_ * grid[best][0]


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
    clf = BackpropClassifier(
        random_state=0, alpha=10.0, early_stopping=False, max_epochs=5, warm_start=True
    )
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


def test_warm_start_after_alpha_auto_continues_the_averaged_network(linear_data):
    X, y = linear_data
    clf = BackpropClassifier(random_state=0, early_stopping=False, max_epochs=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.network_.get_params()
        assert clf.n_networks_ > 1 and first["W1"].shape[1] == clf.n_networks_ * 8
        clf.fit(X, y)  # continues the one averaged network, with the alpha chosen first
    after = clf.network_.get_params()
    assert after["W1"].shape == first["W1"].shape
    assert not np.array_equal(first["W1"], after["W1"])
    assert clf.alpha_ in clf.cv_log_loss_


def test_class_weight_balanced_raises_minority_probabilities():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 3))
    y = (rng.random(600) < expit(X[:, 0] - 2.5)).astype(int)  # 49 defaults: 8%
    # one network (numeric alpha): the property below is of one minimum of J
    plain = BackpropClassifier(random_state=0, alpha=10.0).fit(X, y)
    balanced = BackpropClassifier(random_state=0, alpha=10.0, class_weight="balanced").fit(X, y)
    # ~10 defaults in a validation split: 'auto' trains on every row without early stopping
    assert not plain.early_stopping_ and not balanced.early_stopping_
    # At a minimum of J the output bias's gradient, sum_i w_i (p_i - y_i) / sum_i w_i, is
    # zero (the L2 penalty leaves biases alone): the weighted mean prediction equals the
    # weighted default rate, y.mean() unweighted and exactly 1/2 with balanced weights
    # (each class then carries half the total weight). Training stops a little short: once
    # J has not fallen by tol in n_iter_no_change = 25 epochs. Along the bias,
    # J ~ J* + (h / 2)(b - b*)^2 with h = sum_i w_i p_i (1 - p_i) / sum_i w_i, and the
    # gradient is g = h (b - b*); 25 Adam steps of about lr = 0.01 (0.25 in all) would
    # have lowered J by g^2 / (2 h) > tol unless |g| < sqrt(2 h tol): 0.004 plain and 0.006
    # balanced here. Measured: 2e-4 and 7e-4 (at most 9e-4 over data seeds 4-7).
    for clf, w, rate in [
        (plain, np.ones(len(y)), y.mean()),
        (balanced, compute_sample_weight("balanced", y), 0.5),
    ]:
        p = clf.predict_proba(X)[:, 1]
        bound = np.sqrt(2 * np.average(p * (1 - p), weights=w) * clf.tol)
        assert abs(np.average(p, weights=w) - rate) < bound
    assert balanced.predict_proba(X)[:, 1].mean() > 0.3  # the minority's probabilities rose


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


def test_scoring_in_blocks_equals_one_pass_of_the_layers(monkeypatch):
    """network_logits scores SCORE_BLOCK_ROWS rows at a time (memory bounded); each row's
    logit is the same dot products as in one pass over all rows. BLAS may add a product's
    terms in another order for another number of rows, so the blocks are held to 1e-13
    (relative and absolute): a logit here sums at most 16 terms of size about 1 per layer,
    and rounding them in any order moves it by less than 16 x 1.1e-16 = 1.8e-15 per
    layer, far inside; a block scored wrongly (shifted rows, a lost block) is off by O(1)."""
    from backprop_lab.classifier import network_scoring
    from backprop_lab.nn import mlp

    network = mlp(7, hidden=(16, 8), n_outputs=2, seed=3)
    X = np.random.default_rng(4).normal(size=(1000, 7))
    whole = network.predict_logits(X)
    monkeypatch.setattr(network_scoring, "SCORE_BLOCK_ROWS", 64)  # 15 full blocks and 40 rows
    blocks = network_scoring.network_logits(network, X)
    assert blocks.shape == whole.shape == (1000, 2)
    np.testing.assert_allclose(blocks, whole, rtol=1e-13, atol=1e-13)
    one = network_scoring.network_logits(mlp(7, seed=3), X)  # one output: shape (N,)
    assert one.shape == (1000,)
    assert network_scoring.network_logits(network, X[:0]).shape == (0, 2)
