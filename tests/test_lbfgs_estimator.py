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


def test_auto_takes_lbfgs_for_large_full_batches(monkeypatch):
    """optimizer='auto' (the default): Adam below LBFGS_MIN_ROWS rows or with mini-batches,
    L-BFGS from it on; ``optimizer_`` records the choice. The threshold is lowered here
    so that a small fit crosses it."""
    from backprop_lab.classifier import estimator

    X, y = logistic_data(400, 2, seed=1)
    assert BackpropClassifier().optimizer == "auto"
    monkeypatch.setattr(estimator, "LBFGS_MIN_ROWS", 401)
    assert BackpropClassifier(random_state=0).fit(X, y).optimizer_ == "adam"
    monkeypatch.setattr(estimator, "LBFGS_MIN_ROWS", 400)
    clf = BackpropClassifier(random_state=0).fit(X, y)
    assert clf.optimizer_ == "lbfgs"
    lbfgs = BackpropClassifier(optimizer="lbfgs", random_state=0).fit(X, y)
    assert clf.loss_curve_ == lbfgs.loss_curve_
    with pytest.warns(ConvergenceWarning):  # 5 epochs: stopped while improving, on purpose
        minibatch = BackpropClassifier(batch_size=50, max_epochs=5, random_state=0).fit(X, y)
    assert minibatch.optimizer_ == "adam"
    assert clf.partial_fit(X, y).optimizer_ == "adam"  # partial_fit: one stochastic epoch


def test_model_file_records_the_optimizer_that_ran(tmp_path):
    import pandas as pd

    from backprop_lab.classifier.fitting import fit_tabular
    from backprop_lab.classifier.tabular_model import load_model

    X, y = logistic_data(600, 2, seed=2)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]).assign(default=y)
    model = fit_tabular(frame, "default", optimizer="lbfgs")
    model.save(tmp_path / "m.blab")
    loaded = load_model(tmp_path / "m.blab").classifier
    assert loaded.optimizer == "lbfgs" and loaded.optimizer_ == "lbfgs"
    assert loaded.loss_curve_ == model.classifier.loss_curve_


# ---- what a large train spends outside the optimiser ----------------------------------------------
def test_numbers_parsed_once_are_the_numbers_parsed_twice():
    """fit_tabular keeps the cells infer_column_types parsed: the same float64 columns as
    parsing again, and text in a numeric column is still reported by row."""
    import pandas as pd

    from backprop_lab.data.columns import infer_column_types, with_numbers

    frame = pd.DataFrame(
        {"a": ["1", " 2.5", "1e3"], "b": ["x", "y", "x"], "c": ["4", None, "5"]}, dtype=str
    )
    parsed: dict[str, np.ndarray] = {}
    num, cat = infer_column_types(frame, parsed=parsed)
    assert num == ["a", "c"] and cat == ["b"] and list(parsed) == ["a"]  # c has a gap
    once = with_numbers(frame, num, parsed=parsed)
    twice = with_numbers(frame, num)
    pd.testing.assert_frame_equal(once, twice)
    bad = frame.assign(a=["1", "two", "3"])
    with pytest.raises(ValueError, match="row 2"):
        with_numbers(bad, ["a"], parsed={"a": np.array([1.0, np.nan, 3.0])})


def test_fused_loss_is_the_objective_without_penalty():
    from backprop_lab.engine.fused import fused_loss, fused_loss_and_gradients
    from backprop_lab.nn import mlp

    X, y = logistic_data(300, 3, seed=4)
    model = mlp(4, hidden=(5,), n_outputs=3, seed=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=300)
    value = fused_loss(model, X, y, "softmax", sample_weight=w)
    assert value == fused_loss_and_gradients(model, X, y, "softmax", sample_weight=w)[0]


@pytest.mark.parametrize(
    "cells",
    [["0", " 1", "1 ", "0"], ["no", "yes", " no"], ["1", "2", "3e0"], ["1e20", "0"], ["1", "x"]],
)
def test_target_parsed_from_csv_text_as_from_python_strings(cells):
    """parse_target's shortcut for text read from CSV (numbers before stripping) gives the
    labels of the stripped cells, as the path for other columns does."""
    import pandas as pd

    from backprop_lab.data.columns import parse_target

    fast = parse_target(pd.Series(cells, dtype=pd.StringDtype(na_value=np.nan)))
    slow = parse_target(pd.Series(cells, dtype=object))
    assert fast.dtype == slow.dtype
    np.testing.assert_array_equal(fast, slow)


def test_fractional_target_is_refused_naming_the_cell():
    import pandas as pd

    from backprop_lab.data.columns import parse_target

    with pytest.raises(ValueError, match=r"row 2: label '2\.5' is not a whole number"):
        parse_target(pd.Series(["1", " 2.5"], dtype=pd.StringDtype(na_value=np.nan)))


def test_lbfgs_keeps_monotone_constraints_by_bounds():
    """With monotonic_cst, L-BFGS-B's bounds hold every weight to its allowed sign (the
    constraint's own check finds no violation), and
    the fit still lowers J from the start."""
    from backprop_lab.nn.monotone import MonotoneConstraint

    X, y = logistic_data(1500, 2, seed=6)
    clf = BackpropClassifier(
        optimizer="lbfgs",
        hidden_layer_sizes=(6,),
        monotonic_cst=[1, -1, 0, 1],
        early_stopping=False,
        random_state=0,
    )
    clf.fit(X, y)
    constraint = MonotoneConstraint.for_network([1, -1, 0, 1], clf.network_)
    assert constraint.violation(clf.network_.params) is None
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    bounds = constraint.bounds()
    W1 = clf.network_.params["W1"]
    assert np.all(W1 >= bounds["W1"][0]) and np.all(W1 <= bounds["W1"][1])
    assert np.isinf(bounds["W1"][0][2]).all() and np.isinf(bounds["W1"][1][2]).all()  # free


def test_numbers_parsed_once_are_checked_like_numbers_parsed_twice():
    """Kept parsed cells go through the same checks: too large a magnitude is refused with
    the cell as written."""
    import pandas as pd

    from backprop_lab.data.columns import infer_column_types, with_numbers

    frame = pd.DataFrame({"a": ["1", "1e20", "3"]}, dtype=str)
    parsed: dict[str, np.ndarray] = {}
    num, _ = infer_column_types(frame, parsed=parsed)
    with pytest.raises(ValueError, match=r"row 2: number '1e20' is too large") as once:
        with_numbers(frame, num, parsed=parsed)
    with pytest.raises(ValueError) as twice:
        with_numbers(frame, num)
    assert str(once.value) == str(twice.value)
