"""Explanations by backprop to the inputs: gradients, integrated gradients, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from backprop_lab.data import (
    FEATURES,
    REFERENCE_STD,
    TRUE_WEIGHTS,
    Standardizer,
    make_credit_risk,
)
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import Adam, GradientDescent
from backprop_lab.responsible.attributions import (
    attributions_by_feature,
    global_importance,
    gradient_times_input,
    gradients_per_original_unit,
    input_gradients,
    integrated_gradients,
    logits,
    reason_text,
    reference_baseline,
    to_original_units,
    top_reasons,
)
from backprop_lab.responsible.figures import importance_figure, save_figure


def _credit(n: int = 1500, seed: int = 0):
    data = make_credit_risk(n, seed=seed)
    scaler = Standardizer().fit(data.X)
    return data, scaler, scaler.transform(data.X)


@pytest.fixture(scope="module")
def credit():
    return _credit()


@pytest.fixture(scope="module")
def trained_relu(credit):
    _, _, Z = credit
    model = mlp(7, hidden=(8,), seed=1)
    train(model, Z, credit[0].y.to_numpy(), optimizer=Adam(0.02), epochs=200)
    return model


# ---- input gradients -------------------------------------------------------------


def test_input_gradients_of_a_linear_model_are_its_weights() -> None:
    model = mlp(3, hidden=(), seed=0)  # f(x) = x W + b
    W = model.params["W1"][:, 0]
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(input_gradients(model, X), np.tile(W, (5, 1)), rtol=0, atol=0)
    np.testing.assert_allclose(logits(model, X), X @ W + model.params["b1"][0], rtol=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_backprop_input_gradients_match_finite_differences(activation: str) -> None:
    model = mlp(7, hidden=(6, 5), activation=activation, seed=3)
    X = np.random.default_rng(1).normal(size=(20, 7))
    exact = input_gradients(model, X)
    numeric = input_gradients(lambda A: model.forward(A), X, eps=1e-6)
    assert exact.shape == (20, 7)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-9)


def test_multi_output_network_needs_a_class() -> None:
    model = mlp(4, hidden=(5,), n_outputs=3, activation="tanh", seed=0)
    X = np.random.default_rng(2).normal(size=(6, 4))
    with pytest.raises(ValueError, match="3 outputs; choose the class"):
        input_gradients(model, X)
    with pytest.raises(ValueError, match=r"output must be in 0\.\.2"):
        input_gradients(model, X, output=3)
    for k in range(3):
        exact = input_gradients(model, X, output=k)
        numeric = input_gradients(lambda A: model.forward(A), X, output=k, eps=1e-6)
        np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-9)
    ig = integrated_gradients(model, X, output=2)
    assert ig.max_gap <= 1e-3
    np.testing.assert_allclose(ig.logits, model.forward(X)[:, 2])


def test_gradient_times_input_by_hand() -> None:
    # f(x) = 2 x1 - 3 x2 + 1: gradient (2, -3); baseline (1, 1).
    model = mlp(2, hidden=(), seed=0)
    model.set_params({"W1": np.array([[2.0], [-3.0]]), "b1": np.array([1.0])})
    X = np.array([[3.0, 0.0], [0.0, 2.0]])
    got = gradient_times_input(model, X, baseline=[1.0, 1.0])
    np.testing.assert_array_equal(got, [[4.0, 3.0], [-2.0, -3.0]])
    np.testing.assert_array_equal(gradient_times_input(model, X), [[6.0, 0.0], [0.0, -6.0]])


def test_bad_inputs_are_named() -> None:
    model = mlp(3, seed=0)
    with pytest.raises(ValueError, match="X has 2 features but 3 were expected"):
        input_gradients(model, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="X contains NaN at row 1, column 0"):
        input_gradients(model, np.array([[0.0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="baseline must have shape"):
        integrated_gradients(model, np.zeros((4, 3)), baseline=np.zeros(2))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        integrated_gradients(model, np.zeros((4, 3)), steps=0)
    with pytest.raises(ValueError, match="rule must be"):
        integrated_gradients(model, np.zeros((4, 3)), rule="simpson")


# ---- integrated gradients --------------------------------------------------------


def test_integrated_gradients_of_one_relu_unit_by_hand() -> None:
    # f(x) = 2 relu(x1 - x2) + 0.5. From baseline (0, 0) to x = (3, 1) the unit is on
    # along the whole path, so IG = (2, -2) * (3, 1) = (6, -2), summing to f(x) - f(0) = 4.
    model = mlp(2, hidden=(1,), seed=0)
    model.set_params(
        {
            "W1": np.array([[1.0], [-1.0]]),
            "b1": np.array([0.0]),
            "W2": np.array([[2.0]]),
            "b2": np.array([0.5]),
        }
    )
    ig = integrated_gradients(model, np.array([[3.0, 1.0]]))
    np.testing.assert_allclose(ig.attributions, [[6.0, -2.0]], rtol=1e-14)
    assert ig.logits[0] == 4.5 and ig.baseline_logits[0] == 0.5
    # From (1, 3) the unit is off (x1 < x2) until the path ... never turns on: IG = 0.
    ig = integrated_gradients(model, np.array([[1.0, 3.0]]))
    np.testing.assert_array_equal(ig.attributions, [[0.0, 0.0]])
    # Baseline (0, 2) to x = (4, 0): x1 - x2 = -2 + 6t crosses 0 at t = 1/3; f(x) - f(x') = 8.
    # The true IG is (4, -2) * 2 * (2/3) = (16/3, 8/3); the quadrature gets it to 1e-3.
    for rule in ("riemann", "trapezoid"):
        ig = integrated_gradients(model, np.array([[4.0, 0.0]]), baseline=[0.0, 2.0], rule=rule)
        np.testing.assert_allclose(ig.attributions, [[16 / 3, 8 / 3]], atol=1e-3)
        assert abs(ig.gaps[0]) <= 1e-3
    # With the kink exactly at the baseline (x1 - x2 = 2t is 0 at t = 0), the trapezoid
    # rule's end-point term uses ReLU'(0) = 0 and loses 1/(2m) of the integral, which
    # refinement must shrink below the tolerance; the midpoint rule is exact at once.
    ig = integrated_gradients(model, np.array([[3.0, 1.0]]), rule="trapezoid")
    assert abs(ig.gaps[0]) <= 1e-3 and ig.steps[0] > 64


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("trained", [False, True])
def test_completeness_within_1e3_with_defaults(credit, activation: str, trained: bool) -> None:
    data, _, Z = credit
    model = mlp(7, hidden=(8,), activation=activation, seed=1)
    if trained:
        train(model, Z, data.y.to_numpy(), optimizer=Adam(0.02), epochs=200)
    X = Z[:400]
    ig = integrated_gradients(model, X)
    f_x, f_0 = logits(model, X), logits(model, np.zeros_like(X))
    gaps = ig.attributions.sum(axis=1) - (f_x - f_0)
    assert np.max(np.abs(gaps)) <= 1e-3
    np.testing.assert_allclose(ig.gaps, gaps, atol=1e-12)
    assert ig.passed and ig.max_gap <= 1e-3
    assert ig.steps.min() == 64


def test_kinks_need_more_steps_than_the_default(trained_relu, credit) -> None:
    X = credit[2][:400]
    coarse = integrated_gradients(trained_relu, X, max_steps=64)
    refined = integrated_gradients(trained_relu, X)
    # Without refinement a path crossing a ReLU kink misses completeness by far more
    # than 1e-3 (measured: about 0.02); refinement doubles steps only where needed.
    assert coarse.max_gap > 5e-3 and not coarse.passed
    assert refined.max_gap <= 1e-3
    assert (refined.steps > 64).any() and (refined.steps == 64).any()
    done = coarse.complete
    np.testing.assert_array_equal(refined.attributions[done], coarse.attributions[done])


def test_riemann_rule_and_callable_models_agree(credit) -> None:
    model = mlp(7, hidden=(8,), activation="tanh", seed=2)
    X = credit[2][:50]
    trapezoid = integrated_gradients(model, X, rule="trapezoid")
    riemann = integrated_gradients(model, X)
    by_callable = integrated_gradients(lambda A: model.forward(A), X, rule="trapezoid")
    assert riemann.max_gap <= 1e-3
    np.testing.assert_allclose(riemann.attributions, trapezoid.attributions, atol=2e-3)
    np.testing.assert_allclose(by_callable.attributions, trapezoid.attributions, atol=1e-6)


def test_baselines(credit, trained_relu) -> None:
    _, _, Z = credit
    X = Z[:30]
    p = 1 / (1 + np.exp(-logits(trained_relu, Z)))
    base = reference_baseline(Z, p, threshold=0.5)
    near = (p >= 0.45) & (p < 0.5)
    assert near.sum() >= 20
    np.testing.assert_allclose(base, Z[near].mean(axis=0), rtol=1e-12)
    a = integrated_gradients(trained_relu, X, baseline=base)
    b = integrated_gradients(trained_relu, X, baseline=np.tile(base, (30, 1)))
    np.testing.assert_array_equal(a.attributions, b.attributions)
    # one row through the network vs the same row in a batch of 30: equal up to BLAS rounding
    np.testing.assert_allclose(
        a.baseline_logits, logits(trained_relu, base[None, :])[0], rtol=1e-12
    )
    # The mean of near-cut-off applicants is itself close to the cut-off (log-odds 0);
    # measured 0.18, not exactly 0, because the network is not linear.
    assert abs(a.baseline_logits[0]) < 0.5
    assert a.max_gap <= 1e-3


def test_reference_baseline_by_hand() -> None:
    X = np.arange(10, dtype=float).reshape(5, 2)
    p = [0.10, 0.46, 0.48, 0.60, 0.49]
    # approved within 0.05 of the cut-off 0.5: rows 1, 2, 4.
    np.testing.assert_allclose(reference_baseline(X, p, 0.5, min_rows=2), X[[1, 2, 4]].mean(axis=0))
    # too few near rows: the 4 approved rows closest to the threshold (4, 2, 1, 0).
    np.testing.assert_allclose(reference_baseline(X, p, 0.5, min_rows=4), X[[0, 1, 2, 4]].mean(0))
    with pytest.raises(ValueError, match="no applicant is approved"):
        reference_baseline(X, p, 0.05)
    with pytest.raises(ValueError, match="5 rows but p_default has 2"):
        reference_baseline(X, [0.1, 0.2])


def test_true_weights_rank_like_mean_absolute_attributions() -> None:
    # The hidden score is s = sum_j w_j (x_j - m_j) / sd_j with the frozen population
    # mean m_j and sd_j (REFERENCE_STD). The network sees z_j = (x_j - mean_j) / std_j
    # (sample statistics), so the true score's coefficient on z_j is w_j std_j / sd_j,
    # and the true integrated gradient from the zero baseline (the sample mean) is
    # w_j std_j / sd_j * z_ij exactly (the score is linear). "True weight times spread"
    # is therefore mean_i |w_j (x_ij - mean_j) / sd_j| = |w_j| * E|x_j - mean_j| / sd_j:
    # the weight times the feature's mean absolute deviation in reference-sd units.
    data = make_credit_risk(5000, seed=0)
    scaler = Standardizer().fit(data.X)
    Z = scaler.transform(data.X)
    model = mlp(7, hidden=(8,), seed=0)
    train(model, Z, data.y.to_numpy(), optimizer=GradientDescent(0.1), epochs=1000)
    ig = integrated_gradients(model, Z[:2000])
    assert ig.max_gap <= 1e-3
    importance = global_importance(attributions_by_feature(ig.attributions, FEATURES))
    learned = importance.set_index("feature")["mean_abs_attribution"]
    X = data.X.iloc[:2000]
    true = {
        f: abs(TRUE_WEIGHTS[f])
        * np.mean(np.abs(X[f] - scaler.mean_[FEATURES.index(f)]))
        / REFERENCE_STD[f]
        for f in FEATURES
    }
    rho = spearmanr([learned[f] for f in FEATURES], [true[f] for f in FEATURES]).statistic
    assert rho >= 0.9  # measured 0.964: only debt_to_income and late_payments swap
    assert set(importance["feature"][:2]) == {"debt_to_income", "late_payments"}
    assert list(importance["feature"][-2:]) in (["home_owner", "age"], ["age", "home_owner"])


# ---- back to the applicant's terms -----------------------------------------------


def test_one_hot_columns_are_summed_to_their_source() -> None:
    a = np.array([[0.5, 0.1, -0.2, 0.3], [1.0, 0.0, 0.4, -0.1]])
    names = ["income", "region=north", "region=south", "age"]
    sources = ["income", "region", "region", "age"]
    table = attributions_by_feature(a, names, sources, index=["ann", "bob"])
    assert list(table.columns) == ["income", "region", "age"]
    assert list(table.index) == ["ann", "bob"]
    np.testing.assert_allclose(table.to_numpy(), [[0.5, -0.1, 0.3], [1.0, 0.4, -0.1]])
    np.testing.assert_allclose(table.sum(axis=1), a.sum(axis=1))
    plain = attributions_by_feature(a, names)
    assert list(plain.columns) == names
    with pytest.raises(ValueError, match="source_columns has 2 names but there are 4"):
        attributions_by_feature(a, names, ["x", "y"])


def test_original_units_and_per_unit_gradients(credit, trained_relu) -> None:
    data, scaler, Z = credit
    raw = to_original_units(Z[:20], scaler.mean_, scaler.scale_)
    np.testing.assert_allclose(raw, data.X.to_numpy(float)[:20], rtol=1e-12)
    per_unit = gradients_per_original_unit(input_gradients(trained_relu, Z[:20]), scaler.scale_)

    def f_raw(x_raw: np.ndarray) -> np.ndarray:  # the network as a function of raw values
        return trained_relu.forward((x_raw - scaler.mean_) / scaler.scale_)

    numeric = input_gradients(f_raw, raw, eps=1e-4)
    np.testing.assert_allclose(per_unit, numeric, rtol=1e-4, atol=1e-12)
    # income in currency units: about -0.6 / 28180 log-odds per unit, far below 1e-4.
    assert abs(per_unit[:, 1]).max() < 1e-4
    with pytest.raises(ValueError, match="non-zero"):
        gradients_per_original_unit(np.ones((1, 2)), [1.0, 0.0])


def test_top_reasons_by_hand() -> None:
    A = pd.DataFrame(
        {
            "late_payments": [0.84, -0.3, 0.2],
            "debt_to_income": [0.31, 0.5, -0.1],
            "annual_income": [-0.2, 0.05, -0.4],
            "region": [0.6, 0.005, -0.2],
            "age": [0.1, 0.2, -0.3],
        },
        index=[101, 102, 103],
    )
    values = pd.DataFrame(
        {
            "late_payments": [6, 0, 2],
            "debt_to_income": [0.4537, 0.61, 0.2],
            "annual_income": [51580.4, 23000.0, 90000.0],
            "region": ["north", "south", "east"],
            "age": [33.25, 61.0, 48.0],
            "unused": [1, 2, 3],
        },
        index=[101, 102, 103],
    )
    reasons = top_reasons(A, values, k=3)
    assert list(reasons.columns) == [
        "applicant",
        "rank",
        "feature",
        "value",
        "contribution",
        "reason",
    ]
    assert reasons["applicant"].tolist() == [101, 101, 101, 102, 102, 102, 103]
    assert reasons["feature"].tolist() == [
        "late_payments",
        "region",
        "debt_to_income",
        "debt_to_income",
        "age",
        "annual_income",
        "late_payments",
    ]
    assert reasons["rank"].tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert reasons["reason"].iloc[0] == (
        "late_payments = 6 (raised risk by +0.84 on the log-odds scale)"
    )
    assert (
        reasons["reason"].iloc[1] == "region = north (raised risk by +0.60 on the log-odds scale)"
    )
    assert reasons["reason"].iloc[2] == (
        "debt_to_income = 0.454 (raised risk by +0.31 on the log-odds scale)"
    )
    assert reasons["reason"].iloc[5] == (
        "annual_income = 23,000 (raised risk by +0.05 on the log-odds scale)"
    )
    # region 0.005 < min_contribution 0.01: not a reason; default k is 4.
    assert "region" not in set(reasons.loc[reasons["applicant"] == 102, "feature"])
    assert top_reasons(A, values).groupby("applicant").size().max() == 4
    assert len(top_reasons(A, values, k=1)) == 3
    assert (
        reason_text("age", 33.25, -0.123)
        == "age = 33.2 (lowered risk by -0.12 on the log-odds scale)"
    )
    with pytest.raises(ValueError, match="no column for feature"):
        top_reasons(A, values.drop(columns="age"))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        top_reasons(A, values, k=0)


def test_global_importance_by_hand(tmp_path) -> None:
    A = pd.DataFrame({"a": [1.0, -3.0], "b": [0.5, 0.5], "c": [0.0, 0.0]})
    values = pd.DataFrame({"a": [10.0, 2.0], "b": [1.0, 3.0], "c": ["x", "y"]})
    table = global_importance(A, values)
    assert table["feature"].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(table["mean_abs_attribution"], [2.0, 0.5, 0.0])
    np.testing.assert_allclose(table["mean_attribution"], [-1.0, 0.5, 0.0])
    np.testing.assert_allclose(table["share"], [0.8, 0.2, 0.0])
    assert table["direction"].tolist() == [1, 0, 0]  # b's attribution is constant, c categorical

    fig = importance_figure(table)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean |attribution| (log-odds of default)"
    assert "Which features drive" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b", "a"]
    path = save_figure(fig, tmp_path / "importance.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
