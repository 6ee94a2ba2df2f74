"""BackpropClassifier(optimizer="lbfgs") and ``backprop-lab train --optimizer lbfgs``.

With no hidden layer the classifier is (multinomial) logistic regression, whose optimum
scikit-learn's LogisticRegression computes independently: the fitted parameters are
compared with a tolerance derived from the stopping rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_sample_weight

from backprop_lab.classifier.estimator import BackpropClassifier
from backprop_lab.engine.lbfgs import ModelObjective


def logistic_data(n: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logits = X @ rng.normal(size=(4, n_classes)) + rng.normal(size=n_classes)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=row) for row in p])
    return X, y


def fitted_theta(clf: BackpropClassifier) -> np.ndarray:
    """[W.ravel(), b] of a network with no hidden layer, b centred for K > 2 classes (the
    softmax is unchanged by adding a constant to every b_k, which J does not penalise)."""
    W, b = clf.network_.params["W1"], clf.network_.params["b1"].copy()
    return np.concatenate([W.ravel(), b - b.mean() if b.size > 1 else b])


@pytest.mark.parametrize(
    "n_classes, weighting",
    [(2, "none"), (2, "sample"), (3, "none"), (3, "balanced")],
)
def test_lbfgs_classifier_is_logistic_regression_at_the_optimum(n_classes, weighting):
    """BackpropClassifier's J = sum w_i l_i / sum w_i + alpha / (2 sum s_i) ||W||^2 and
    LogisticRegression's C sum w_i l_i + ||W||^2 / 2 have the same minimiser when
    C = 1 / alpha (w_i = s_i, or s_i times 'balanced' class weights, whose sum over rows
    is N = sum s_i when s_i = 1).

    The distance between the two minimisers is bounded by ||g||_2 / mu, g our final
    gradient (max_i |g_i| <= tol / 10 at an L-BFGS stop by the gradient), mu the smallest
    curvature of J away from the softmax's flat direction (every b_k shifted alike; both
    sides are compared with b centred). mu comes from the Hessian by central differences
    of the gradient. The threshold uses sqrt(P) tol / mu: 10x the bound for a run to tol / 10.
    """
    X, y = logistic_data(600, n_classes)
    rng = np.random.default_rng(1)
    s = rng.uniform(0.3, 2.0, size=len(y)) if weighting == "sample" else None
    alpha, tol = 2.0, 1e-6
    class_weight = "balanced" if weighting == "balanced" else None
    clf = BackpropClassifier(
        hidden_layer_sizes=(),
        optimizer="lbfgs",
        alpha=alpha,
        early_stopping=False,
        tol=tol / 10,
        n_iter_no_change=10_000,
        max_epochs=10_000,
        class_weight=class_weight,
        random_state=0,
    ).fit(X, y, sample_weight=s)
    reference = LogisticRegression(
        C=1 / alpha, tol=1e-12, max_iter=100_000, class_weight=class_weight
    )
    reference.fit(X, y, sample_weight=s)
    if n_classes == 2:
        expected = np.concatenate([reference.coef_.ravel(), reference.intercept_])
    else:
        b = reference.intercept_
        expected = np.concatenate([reference.coef_.T.ravel(), b - b.mean()])

    weights = np.ones(len(y)) if s is None else s
    if class_weight:
        weights = weights * compute_sample_weight(class_weight, y)
    targets = y.astype(float).reshape(-1, 1) if n_classes == 2 else y
    objective = ModelObjective(
        clf.network_,
        X,
        targets,
        loss="bce" if n_classes == 2 else "softmax",
        l2=alpha / (len(y) if s is None else s.sum()),
        sample_weight=weights,
    )
    theta = objective.theta0
    h, P = 1e-5, theta.size
    hessian = np.column_stack(
        [(objective(theta + h * e)[1] - objective(theta - h * e)[1]) / (2 * h) for e in np.eye(P)]
    )
    curvatures = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    mu = curvatures[1] if n_classes > 2 else curvatures[0]  # [0] ~ 0: the flat direction
    distance = np.linalg.norm(fitted_theta(clf) - expected)
    assert distance <= np.sqrt(P) * tol / mu, (distance, np.sqrt(P) * tol / mu)


def test_lbfgs_classifier_converges_without_warnings_and_records_iterations():
    X, y = logistic_data(500, 2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = BackpropClassifier(optimizer="lbfgs", early_stopping=False, random_state=0).fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) >= 2
    assert all(b < a for a, b in zip(clf.loss_curve_, clf.loss_curve_[1:], strict=False))
    assert clf.best_epoch_ == clf.n_iter_ and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ == []


def test_lbfgs_classifier_stops_at_max_epochs_with_a_warning():
    X, y = logistic_data(500, 2, seed=3)
    with pytest.warns(ConvergenceWarning, match="raise max_epochs$"):
        clf = BackpropClassifier(
            optimizer="lbfgs", early_stopping=False, max_epochs=3, random_state=0
        ).fit(X, y)
    assert clf.n_iter_ == 3


def test_lbfgs_early_stopping_keeps_the_best_validation_iteration():
    """Validation log loss after every iteration; the weights of the best one are kept,
    so the fitted model's validation loss is ``best_loss_``."""
    X, y = logistic_data(3000, 2, seed=5)
    clf = BackpropClassifier(
        optimizer="lbfgs",
        hidden_layer_sizes=(16,),
        alpha=0.0,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    scores = clf.validation_scores_
    assert clf.early_stopping_ and clf.n_iter_ == len(scores) == len(clf.loss_curve_)
    assert clf.best_loss_ == min(scores) and clf.best_epoch_ == int(np.argmin(scores)) + 1


def test_lbfgs_fits_are_reproducible():
    X, y = logistic_data(800, 3, seed=2)
    a = BackpropClassifier(optimizer="lbfgs", random_state=4).fit(X, y)
    b = BackpropClassifier(optimizer="lbfgs", random_state=4).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_lbfgs_refuses_mini_batches_and_has_no_partial_fit():
    X, y = logistic_data(100, 2)
    with pytest.raises(ValueError, match="batch_size=None"):
        BackpropClassifier(optimizer="lbfgs", batch_size=32).fit(X, y)
    assert not hasattr(BackpropClassifier(optimizer="lbfgs"), "partial_fit")
    assert hasattr(BackpropClassifier(), "partial_fit")


def test_unknown_optimizer_is_refused():
    X, y = logistic_data(100, 2)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        BackpropClassifier(optimizer="newton").fit(X, y)


def test_cli_train_with_lbfgs(tmp_path, capsys):
    """``train --optimizer lbfgs`` reports L-BFGS iterations; the saved model loads with
    its optimizer and scores; --batch-size is refused before anything is written."""
    from cli_support import run, write_loans

    from backprop_lab.classifier.tabular_model import load_model

    data = write_loans(tmp_path / "loans.csv", n=3000)
    out = tmp_path / "m.blab"
    status, stdout, err = run(
        ["train", data, "--target", "default", "--optimizer", "lbfgs", "-o", out], capsys
    )
    assert status == 0, err
    assert "L-BFGS iterations run" in stdout and "weights kept from L-BFGS iteration" in stdout
    model = load_model(out)
    assert model.classifier.optimizer == "lbfgs" and model.classifier.n_iter_ >= 1
    # the generator's Bayes AUC is about 0.84; on 600 held-out rows its sampling sd is ~0.015
    assert model.metrics["roc_auc"] > 0.75

    refused = tmp_path / "refused.blab"
    argv = ["train", data, "--target", "default", "--optimizer", "lbfgs", "--batch-size", "64"]
    status, _, err = run([*argv, "-o", refused], capsys)
    assert status != 0 and "--batch-size does not apply" in err and not refused.exists()
