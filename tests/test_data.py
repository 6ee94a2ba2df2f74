"""Tests for the synthetic credit-risk generator and the data helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

from backprop_lab.data import (
    FEATURES,
    REFERENCE_MEAN,
    REFERENCE_STD,
    TRUE_WEIGHTS,
    CreditRiskData,
    Standardizer,
    bayes_optimal_accuracy,
    bayes_optimal_log_loss,
    expected_bayes_accuracy,
    make_credit_risk,
    stratified_split,
)

FLOAT_COLUMNS = (
    "age",
    "annual_income",
    "debt_to_income",
    "credit_history_years",
    "employment_years",
)
INT_COLUMNS = ("late_payments", "home_owner")


@pytest.fixture(scope="module")
def big() -> CreditRiskData:
    return make_credit_risk(20_000, seed=0)


def assert_constraints(data: CreditRiskData, n: int) -> None:
    X, y, p = data
    assert list(X.columns) == list(FEATURES)
    assert len(X) == len(y) == len(p) == n
    for col in FLOAT_COLUMNS:
        assert X[col].dtype == np.float64, col
    for col in INT_COLUMNS:
        assert X[col].dtype == np.int64, col
    assert y.name == "default" and y.dtype == np.int64
    assert p.name == "p_default" and p.dtype == np.float64
    age = X["age"]
    assert ((age >= 18) & (age <= 80)).all()
    assert (X["annual_income"] > 0).all()
    assert X["debt_to_income"].between(0, 1).all()
    assert (X["credit_history_years"] >= 0).all()
    assert (X["credit_history_years"] <= age - 18).all()
    assert (X["employment_years"] >= 0).all()
    assert (X["employment_years"] <= age - 16).all()
    assert (X["late_payments"] >= 0).all()
    assert set(X["home_owner"].unique()) <= {0, 1}
    assert set(y.unique()) <= {0, 1}
    assert p.between(0, 1).all()
    assert np.isfinite(X.to_numpy()).all()


# --- generator ---------------------------------------------------------------


def test_same_arguments_give_bit_identical_data() -> None:
    a = make_credit_risk(500, seed=7, noise=0.7, intercept=0.3, nonlinear=True)
    b = make_credit_risk(500, seed=7, noise=0.7, intercept=0.3, nonlinear=True)
    pd.testing.assert_frame_equal(a.frame(True), b.frame(True), check_exact=True)
    assert a.X.to_numpy().tobytes() == b.X.to_numpy().tobytes()


def test_different_seed_gives_different_data() -> None:
    a = make_credit_risk(200, seed=1)
    b = make_credit_risk(200, seed=2)
    assert not np.allclose(a.X["age"], b.X["age"])


def test_features_do_not_depend_on_label_settings() -> None:
    base = make_credit_risk(300, seed=3)
    other = make_credit_risk(300, seed=3, noise=2.0, intercept=-1.0, nonlinear=True)
    pd.testing.assert_frame_equal(base.X, other.X, check_exact=True)


def test_ranges_names_and_dtypes(big: CreditRiskData) -> None:
    assert_constraints(big, 20_000)
    assert big.X.index.equals(pd.RangeIndex(20_000))


def test_frame_joins_features_and_labels() -> None:
    data = make_credit_risk(50, seed=0)
    assert list(data.frame().columns) == [*FEATURES, "default"]
    full = data.frame(include_p_default=True)
    assert list(full.columns) == [*FEATURES, "default", "p_default"]
    pd.testing.assert_series_equal(full["p_default"], data.p_default)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    noise=st.floats(0, 5),
    intercept=st.floats(-5, 5),
    nonlinear=st.booleans(),
)
def test_constraints_hold_for_any_seed(
    n: int, seed: int, noise: float, intercept: float, nonlinear: bool
) -> None:
    data = make_credit_risk(n, seed, noise=noise, intercept=intercept, nonlinear=nonlinear)
    assert_constraints(data, n)


def test_documented_correlations(big: CreditRiskData) -> None:
    X = big.X
    rho = {
        (a, b): spearmanr(X[a], X[b]).statistic
        for a, b in [
            ("debt_to_income", "late_payments"),
            ("credit_history_years", "late_payments"),
            ("age", "home_owner"),
            ("annual_income", "home_owner"),
            ("age", "annual_income"),
        ]
    }
    assert rho["debt_to_income", "late_payments"] > 0.25
    assert rho["credit_history_years", "late_payments"] < -0.1
    assert rho["age", "home_owner"] > 0.2
    assert rho["annual_income", "home_owner"] > 0.15
    assert rho["age", "annual_income"] > 0.1


def test_reference_constants_match_the_population() -> None:
    X = make_credit_risk(200_000, seed=11).X
    for f in FEATURES:
        assert X[f].mean() == pytest.approx(REFERENCE_MEAN[f], rel=0.01), f
        assert X[f].std() == pytest.approx(REFERENCE_STD[f], rel=0.01), f


def test_logistic_regression_recovers_weight_signs() -> None:
    data = make_credit_risk(40_000, seed=5)
    Z = Standardizer().fit_transform(data.X)
    coef = LogisticRegression(max_iter=1000).fit(Z, data.y).coef_[0]
    strong = [f for f in FEATURES if abs(TRUE_WEIGHTS[f]) >= 0.35]
    assert set(strong) == {
        "annual_income",
        "debt_to_income",
        "credit_history_years",
        "late_payments",
        "employment_years",
    }
    for f in strong:
        assert np.sign(coef[FEATURES.index(f)]) == np.sign(TRUE_WEIGHTS[f]), f


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"nonlinear": True},
        {"intercept": 0.0},
        {"intercept": -2.0},
        {"noise": 0.6},
        {"noise": 2.0},
    ],
)
def test_default_rate_and_bayes_accuracy_follow_from_p_default(options: dict) -> None:
    # Given the borrowers, each label is an independent Bernoulli(p_i) draw. So the
    # default rate has mean mean(p) and the Bayes rule [p > 1/2] is right on row i with
    # probability max(p_i, 1 - p_i); both indicators have variance p_i (1 - p_i), so
    # both sample means have standard error sqrt(sum_i p_i (1 - p_i)) / n, about 0.003 at
    # n = 20000. Threshold 5 standard errors (largest seen over these options: 2.4).
    # Labels drawn with noise 1 while p_default uses 0.6 or 2, or paired with another
    # row's p, miss the accuracy check by 30 standard errors or more.
    data = make_credit_risk(20_000, seed=0, **options)
    p, y = data.p_default.to_numpy(), data.y.to_numpy()
    se = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(y.mean() - p.mean()) < 5 * se
    assert abs(bayes_optimal_accuracy(y, p) - expected_bayes_accuracy(p)) < 5 * se


def test_docstring_figures_regression_snapshot() -> None:
    # Regression snapshot, not a proof of correctness: make_credit_risk's docstring quotes
    # these figures, measured by the generator itself at n = 20000, seed 0 and rounded to
    # three decimals (so the tolerance is half of the last digit). The test above checks
    # the same quantities from first principles; this one keeps the docstring true and
    # shows any change to what a seed draws.
    quoted = {  # options: (default rate, Bayes-optimal accuracy or None)
        (): (0.454, 0.760),
        (("nonlinear", True),): (0.440, 0.776),
        (("intercept", 0.0),): (0.494, None),
        (("intercept", -2.0),): (0.206, None),
    }
    for options, (rate, accuracy) in quoted.items():
        data = make_credit_risk(20_000, seed=0, **dict(options))
        assert data.y.mean() == pytest.approx(rate, abs=5e-4), options
        if accuracy is not None:
            measured = bayes_optimal_accuracy(data.y, data.p_default)
            assert measured == pytest.approx(accuracy, abs=5e-4), options


@pytest.mark.parametrize("nonlinear", [False, True])
def test_p_default_is_calibrated(nonlinear: bool) -> None:
    data = make_credit_risk(40_000, seed=2, nonlinear=nonlinear)
    p, y = data.p_default.to_numpy(), data.y.to_numpy()
    bins = np.digitize(p, np.linspace(0, 1, 11)[1:-1])
    for b in np.unique(bins):
        mask = bins == b
        if mask.sum() < 500:
            continue
        se = math.sqrt(p[mask].mean() * (1 - p[mask].mean()) / mask.sum())
        assert abs(y[mask].mean() - p[mask].mean()) < 4 * se + 1e-9


def test_zero_noise_gives_deterministic_labels() -> None:
    data = make_credit_risk(1000, seed=4, noise=0.0)
    assert set(data.p_default.unique()) <= {0.0, 1.0}
    np.testing.assert_array_equal(data.y.to_numpy(), data.p_default.to_numpy().astype(np.int64))
    assert bayes_optimal_accuracy(data.y, data.p_default) == 1.0
    assert bayes_optimal_log_loss(data.y, data.p_default) < 1e-12


def test_nonlinear_risk_beats_logistic_regression_but_not_a_small_mlp() -> None:
    # Measured (seed 0): Bayes 0.7875, logistic regression 0.691, MLP(8) 0.778.
    data = make_credit_risk(7000, seed=0, nonlinear=True)
    X_tr, X_te, y_tr, y_te = stratified_split(data.X, data.y, test_size=2000, seed=0)
    scaler = Standardizer().fit(X_tr)
    Z_tr, Z_te = scaler.transform(X_tr), scaler.transform(X_te)
    bayes = bayes_optimal_accuracy(y_te, data.p_default.loc[X_te.index])
    lr = LogisticRegression(max_iter=1000).fit(Z_tr, y_tr).score(Z_te, y_te)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0)
    mlp_acc = mlp.fit(Z_tr, y_tr).score(Z_te, y_te)
    assert len(X_tr) == 5000 and len(X_te) == 2000
    assert bayes - lr >= 0.03
    assert bayes - mlp_acc <= 0.015


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": -5}, "n must be at least 1"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "noise": -0.1}, "noise"),
        ({"n": 10, "noise": float("nan")}, "noise"),
        ({"n": 10, "intercept": float("inf")}, "intercept"),
        ({"n": 10, "intercept": float("nan")}, "intercept"),
    ],
)
def test_bad_generator_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_credit_risk(**kwargs)


# --- Bayes-optimal metrics ---------------------------------------------------


def test_bayes_metrics_worked_by_hand() -> None:
    p = [0.9, 0.2, 0.6, 0.5]
    y = [1, 1, 0, 0]
    # Bayes predictions [p > 0.5] = [1, 0, 1, 0]; correct: yes, no, no, yes -> 2/4.
    assert bayes_optimal_accuracy(y, p) == 0.5
    # max(p, 1-p) = [0.9, 0.8, 0.6, 0.5] -> mean 2.8 / 4 = 0.7.
    assert expected_bayes_accuracy(p) == pytest.approx(0.7)
    # -(ln 0.9 + ln 0.2 + ln(1-0.6) + ln(1-0.5)) / 4
    #   = (0.10536 + 1.60944 + 0.91629 + 0.69315) / 4 = 0.83106
    expected = -(math.log(0.9) + math.log(0.2) + math.log(0.4) + math.log(0.5)) / 4
    assert bayes_optimal_log_loss(y, p) == pytest.approx(expected)
    assert bayes_optimal_log_loss(y, p) == pytest.approx(0.83106, abs=1e-5)
    assert bayes_optimal_log_loss(y, p) == pytest.approx(log_loss(y, p))


def test_log_loss_is_finite_for_certain_probabilities() -> None:
    assert bayes_optimal_log_loss([1, 0], [1.0, 0.0]) < 1e-15
    wrong = bayes_optimal_log_loss([1], [0.0])
    assert math.isfinite(wrong)
    assert wrong == pytest.approx(-math.log(np.finfo(np.float64).eps))


def test_bayes_metrics_accept_pandas(big: CreditRiskData) -> None:
    acc = bayes_optimal_accuracy(big.y, big.p_default)
    assert acc == bayes_optimal_accuracy(big.y.to_numpy(), big.p_default.to_numpy())
    assert expected_bayes_accuracy(big.p_default) == pytest.approx(acc, abs=0.01)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([1, 0], [0.5], "y has 2 labels but p_default has 1 values"),
        ([1, 2], [0.5, 0.5], "column 'y', row 1: must hold 0 or 1"),
        ([1, 0], [0.5, 1.5], r"column 'p_default', row 1: must be a probability in \[0, 1\]"),
        ([1, 0], [0.5, -0.1], r"column 'p_default', row 1: must be a probability in \[0, 1\]"),
        ([1, 0], [0.5, float("nan")], r"row 1: must be a probability in \[0, 1\]; found nan"),
        ([], [], "no rows: y is empty"),
    ],
)
def test_bad_metric_inputs(y: list, p: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bayes_optimal_accuracy(y, p)
    with pytest.raises(ValueError, match=match):
        bayes_optimal_log_loss(y, p)


def test_expected_bayes_accuracy_validates() -> None:
    with pytest.raises(ValueError, match="column 'p_default', row 1: must be a probability"):
        expected_bayes_accuracy([0.2, 1.2])


# --- Standardizer ------------------------------------------------------------


def test_standardizer_uses_training_statistics_only() -> None:
    train = np.array([[0.0, 10.0], [2.0, 30.0]])
    test = np.array([[3.0, 10.0]])
    scaler = Standardizer().fit(train)
    np.testing.assert_array_equal(scaler.mean_, [1.0, 20.0])
    np.testing.assert_array_equal(scaler.scale_, [1.0, 10.0])
    np.testing.assert_array_equal(scaler.transform(test), [[2.0, -1.0]])


def test_standardizer_on_dataframe(big: CreditRiskData) -> None:
    scaler = Standardizer()
    Z = scaler.fit_transform(big.X)
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float64
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-10)
    np.testing.assert_allclose(scaler.inverse_transform(Z), big.X.to_numpy(float), rtol=1e-12)


def test_standardizer_zero_variance_column() -> None:
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaler = Standardizer().fit(X)
    assert scaler.scale_[1] == 1.0
    Z = scaler.transform(X)
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    back = scaler.inverse_transform(Z)
    np.testing.assert_array_equal(back[:, 1], 5.0)
    np.testing.assert_allclose(back, X, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(1, 5)),
        elements=st.floats(-1e6, 1e6),
    )
)
def test_standardizer_round_trip(X: np.ndarray) -> None:
    scaler = Standardizer().fit(X)
    assert (scaler.scale_ > 0).all()
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, atol=1e-6)


def test_standardizer_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().inverse_transform(np.ones((2, 2)))
    scaler = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 columns but the Standardizer was fitted on 2"):
        scaler.transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        scaler.transform(np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="no rows"):
        Standardizer().fit(np.empty((0, 3)))


# --- stratified_split --------------------------------------------------------


def test_stratified_split_keeps_class_proportions(big: CreditRiskData) -> None:
    X_tr, X_te, y_tr, y_te = stratified_split(big.X, big.y, test_size=0.2, seed=0)
    assert len(X_te) == 4000 and len(X_tr) == 16_000
    rate = big.y.mean()
    assert abs(y_tr.mean() - rate) < 1e-3
    assert abs(y_te.mean() - rate) < 1e-3
    assert X_tr.index.equals(y_tr.index) and X_te.index.equals(y_te.index)
    assert X_tr.index.intersection(X_te.index).empty
    assert len(X_tr.index.union(X_te.index)) == 20_000


def test_stratified_split_is_deterministic() -> None:
    data = make_credit_risk(400, seed=0)
    a = stratified_split(data.X, data.y, seed=3)
    b = stratified_split(data.X, data.y, seed=3)
    c = stratified_split(data.X, data.y, seed=4)
    assert a[1].index.equals(b[1].index)
    assert not a[1].index.equals(c[1].index)


def test_stratified_split_on_arrays() -> None:
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0] * 15 + [1] * 5)
    X_tr, _, y_tr, y_te = stratified_split(X, y, test_size=0.2, seed=0)
    assert isinstance(X_tr, np.ndarray)
    assert y_te.sum() == 1 and y_tr.sum() == 4
