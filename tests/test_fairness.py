"""Fairness audit: hand-computed metrics, bootstrap intervals, planted bias, Regulation B."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from backprop_lab._util.validation import InputError
from backprop_lab.data import (
    FEATURES,
    GROUP_COLUMN,
    Standardizer,
    make_credit_risk,
    planted_approval_gap,
    stratified_split,
)
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent
from backprop_lab.responsible.attributions import attributions_by_feature, integrated_gradients
from backprop_lab.responsible.fairness import (
    _across,
    _replicate_rates,
    age_adverse_check,
    age_bands,
    audit,
    audit_records,
    audit_to_json,
)
from backprop_lab.responsible.figures import audit_figure, save_figure

# A tiny example worked by hand (threshold 0.5: approved when p < 0.5).
#   group A: default [1, 0, 0, 1], p [0.8, 0.3, 0.6, 0.4] -> approved [0, 1, 0, 1]
#   group B: default [0, 0, 1, 1], p [0.2, 0.1, 0.7, 0.3] -> approved [1, 1, 0, 1]
Y = np.array([1, 0, 0, 1, 0, 0, 1, 1])
P = np.array([0.8, 0.3, 0.6, 0.4, 0.2, 0.1, 0.7, 0.3])
G = np.array(["A"] * 4 + ["B"] * 4)


def value(table: pd.DataFrame, metric: str, group: str | None = None) -> pd.Series:
    rows = table[table["metric"] == metric]
    rows = rows[rows["group"].isna()] if group is None else rows[rows["group"] == group]
    assert len(rows) == 1, (metric, group)
    return rows.iloc[0]


# ---- groups ----------------------------------------------------------------------


def test_age_bands_default_edges() -> None:
    ages = pd.Series([18, 24.9, 25, 39.99, 40, 61.9, 62, 80], name="age")
    bands = age_bands(ages)
    assert bands.tolist() == [
        "under 25",
        "under 25",
        "25-39",
        "25-39",
        "40-61",
        "40-61",
        "62 and over",
        "62 and over",
    ]
    assert list(bands.cat.categories) == ["under 25", "25-39", "40-61", "62 and over"]
    assert bands.cat.ordered and bands.name == "age_band"


def test_age_bands_custom_bins_and_errors() -> None:
    assert age_bands([1.0, 2.5, 7.0], bins=[2.5, 5.5]).tolist() == [
        "under 2.5",
        "2.5 to under 5.5",
        "5.5 and over",
    ]
    assert age_bands([30, 70], bins=[65], labels=["working", "retired"]).tolist() == [
        "working",
        "retired",
    ]
    with pytest.raises(InputError, match="column 'age', row 1: must hold finite numbers"):
        age_bands(pd.Series([30.0, np.nan], name="age"))
    with pytest.raises(ValueError, match="strictly increasing"):
        age_bands([30], bins=[40, 25])
    with pytest.raises(ValueError, match="3 bands; got 2 labels"):
        age_bands([30], bins=[40, 60], labels=["a", "b"])


# ---- the audit, by hand ------------------------------------------------------------


def test_audit_matches_a_hand_computation() -> None:
    table = audit(Y, P, G, n_bootstrap=200, seed=0)
    assert list(table.columns) == ["scope", "group", "metric", "value", "ci_low", "ci_high", "note"]
    expected = {
        # group A: approval 2/4; repaid rows 1 (approved), 2 (declined) -> TPR 1/2;
        # defaulted rows 0 (declined), 3 (approved) -> FPR 1/2.
        ("A", "count"): 4,
        ("A", "selection_rate"): 0.5,
        ("A", "true_positive_rate"): 0.5,
        ("A", "false_positive_rate"): 0.5,
        ("A", "default_rate"): 0.5,
        ("A", "mean_predicted"): 0.525,
        ("A", "calibration_gap"): 0.025,
        # (0.2^2 + 0.3^2 + 0.6^2 + 0.6^2) / 4
        ("A", "brier_score"): 0.2125,
        # defaults {0.8, 0.4} vs repaid {0.3, 0.6}: 3 of 4 pairs ordered right
        ("A", "roc_auc"): 0.75,
        # group B: approval 3/4; TPR 2/2; FPR 1/2
        ("B", "selection_rate"): 0.75,
        ("B", "true_positive_rate"): 1.0,
        ("B", "false_positive_rate"): 0.5,
        ("B", "mean_predicted"): 0.325,
        ("B", "calibration_gap"): -0.175,
        ("B", "brier_score"): 0.1575,
        ("B", "roc_auc"): 1.0,
        # reference = the first of the equally large groups, A
        ("B", "selection_rate_diff"): 0.25,
        ("B", "true_positive_rate_diff"): 0.5,
        ("B", "false_positive_rate_diff"): 0.0,
        (None, "demographic_parity_difference"): 0.25,
        (None, "demographic_parity_ratio"): 0.5 / 0.75,
        (None, "equal_opportunity_difference"): 0.5,
        (None, "equalized_odds_difference"): 0.5,
    }
    for (group, metric), want in expected.items():
        assert value(table, metric, group)["value"] == pytest.approx(want, abs=1e-12), (
            group,
            metric,
        )
    assert table.attrs["reference"] == "A"
    assert table.attrs["approval_rule"] == "approved when p_default < 0.5"
    # ... and the same numbers straight from fairlearn, with approval as the positive
    # prediction and repayment as the positive label.
    repaid, approved = 1 - Y, (P < 0.5).astype(int)
    frame = MetricFrame(
        metrics={"s": selection_rate, "t": true_positive_rate, "f": false_positive_rate},
        y_true=repaid,
        y_pred=approved,
        sensitive_features=G,
    )
    assert frame.by_group.loc["B", "s"] == value(table, "selection_rate", "B")["value"]
    assert value(table, "demographic_parity_difference")["value"] == demographic_parity_difference(
        repaid, approved, sensitive_features=G
    )
    assert value(table, "equalized_odds_difference")["value"] == equalized_odds_difference(
        repaid, approved, sensitive_features=G
    )
    # No interval for counts and ROC AUC; intervals contain their point estimate.
    assert math.isnan(value(table, "count", "A")["ci_low"])
    assert math.isnan(value(table, "roc_auc", "A")["ci_high"])
    rates = table[table["metric"].isin(["selection_rate", "brier_score", "mean_predicted"])]
    assert (
        (rates["ci_low"] <= rates["value"] + 1e-12) & (rates["value"] <= rates["ci_high"] + 1e-12)
    ).all()


def test_bootstrap_replicates_use_the_same_definitions_as_fairlearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = rng.random(300)
    g = rng.choice(["x", "y", "z"], 300)
    approved = (p < 0.5).astype(np.int64)
    table = audit(y, p, g, n_bootstrap=0)
    per_group = []
    for name in ["x", "y", "z"]:
        rows = np.flatnonzero(g == name)
        rates = _replicate_rates(y, p, approved, rows[None, :])  # the sample itself
        per_group.append(rates)
        for metric, got in rates.items():
            assert got[0] == pytest.approx(value(table, metric, name)["value"], abs=1e-12)
    stacked = {m: np.stack([r[m] for r in per_group], axis=1) for m in per_group[0]}
    for metric, got in _across(stacked).items():
        assert got[0] == pytest.approx(value(table, metric)["value"], abs=1e-12), metric
    # n_bootstrap=0: no intervals at all
    assert table["ci_low"].isna().all()


def test_bootstrap_is_seeded_and_stratified_by_group() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.where(np.arange(400) < 100, 0.1, rng.random(400))  # group "a": all approved
    g = np.where(np.arange(400) < 100, "a", "b")
    first = audit(y, p, g, n_bootstrap=300, seed=3)
    pd.testing.assert_frame_equal(first, audit(y, p, g, n_bootstrap=300, seed=3))
    other = audit(y, p, g, n_bootstrap=300, seed=4)
    assert not np.allclose(first["ci_low"].fillna(0), other["ci_low"].fillna(0))
    # Resampling within groups: group a's rows are always group a's, all approved.
    sel = value(first, "selection_rate", "a")
    assert (sel["value"], sel["ci_low"], sel["ci_high"]) == (1.0, 1.0, 1.0)
    assert first.attrs["reference"] == "b"  # the larger group


def test_one_class_groups_give_null_with_a_reason() -> None:
    y = np.concatenate([Y, [0, 0]])
    p = np.concatenate([P, [0.1, 0.6]])
    g = np.concatenate([G, ["C", "C"]])
    table = audit(y, p, g, n_bootstrap=50)
    auc = value(table, "roc_auc", "C")
    assert math.isnan(auc["value"]) and "ROC AUC is undefined" in auc["note"]
    fpr = value(table, "false_positive_rate", "C")
    assert math.isnan(fpr["value"]) and fpr["note"] == "no applicant in the group defaulted"
    assert value(table, "true_positive_rate", "C")["value"] == 0.5
    # C has repaid applicants, so it counts for equal opportunity (TPRs 0.5, 1, 0.5) ...
    assert value(table, "equal_opportunity_difference")["value"] == 0.5
    # ... but not for the FPR half of equalized odds.
    eo = value(table, "equalized_odds_difference")
    assert eo["value"] == 0.5 and eo["note"] == "left out (one class only): C"
    records = audit_records(table)
    auc_record = next(r for r in records if r["group"] == "C" and r["metric"] == "roc_auc")
    assert auc_record["value"] is None and auc_record["ci_low"] is None
    text = audit_to_json(table)
    assert "NaN" not in text and "Infinity" not in text
    payload = json.loads(text)
    assert payload["settings"]["threshold"] == 0.5
    assert payload["descriptions"]["selection_rate"].startswith("approval rate")
    assert len(payload["metrics"]) == len(table)


def test_bad_audit_inputs_are_named() -> None:
    with pytest.raises(InputError, match="column 'y_true', row 2: must hold 0 or 1"):
        audit([0, 1, 2], [0.1, 0.2, 0.3], ["a", "b", "a"])
    with pytest.raises(InputError, match="column 'p_pred', row 1: must be a probability"):
        audit([0, 1], [0.1, 1.2], ["a", "b"])
    with pytest.raises(ValueError, match="groups has 3 values but there are 2"):
        audit([0, 1], [0.1, 0.2], ["a", "b", "c"])
    with pytest.raises(InputError, match="column 'groups', row 1: group is missing"):
        audit([0, 1], [0.1, 0.2], ["a", None])
    with pytest.raises(ValueError, match="reference group 'z' is not among"):
        audit(Y, P, G, reference="z")
    with pytest.raises(ValueError, match="threshold"):
        audit(Y, P, G, threshold=0.0)


# ---- planted bias -----------------------------------------------------------------


def test_planted_bias_leaves_the_unbiased_draw_untouched() -> None:
    plain = make_credit_risk(3000, seed=4)
    biased = make_credit_risk(3000, seed=4, planted_bias=1.0)
    assert list(plain.X.columns) == list(FEATURES)
    assert list(biased.X.columns) == [*FEATURES, GROUP_COLUMN]
    pd.testing.assert_frame_equal(biased.X[list(FEATURES)], plain.X, check_exact=True)
    group = biased.X[GROUP_COLUMN].to_numpy()
    assert biased.X[GROUP_COLUMN].dtype == np.int64
    assert group.mean() == pytest.approx(0.3, abs=0.02)
    np.testing.assert_array_equal(biased.y[group == 0], plain.y[group == 0])
    # p_default: exactly sigma(logit(p_plain) + 1) for group 1.
    lp = np.log(plain.p_default / (1 - plain.p_default))
    np.testing.assert_allclose(biased.p_default, expit(lp + group), rtol=1e-12)
    control = make_credit_risk(3000, seed=4, planted_bias=0.0)
    np.testing.assert_array_equal(control.y, plain.y)
    np.testing.assert_array_equal(control.X[GROUP_COLUMN], group)
    with pytest.raises(ValueError, match="planted_bias must be finite"):
        make_credit_risk(10, planted_bias=float("nan"))
    with pytest.raises(ValueError, match="bias_group_share"):
        make_credit_risk(10, planted_bias=1.0, bias_group_share=1.0)


def test_planted_size_in_log_odds_is_recovered_by_logistic_regression() -> None:
    data = make_credit_risk(20_000, seed=6, planted_bias=0.8)
    scaler = Standardizer().fit(data.X)
    coef = LogisticRegression(C=1e6).fit(scaler.transform(data.X), data.y).coef_[0]
    # back to raw units: the group column is 0/1, so its coefficient is the log-odds shift
    assert coef[-1] / scaler.scale_[-1] == pytest.approx(0.8, abs=0.1)


# planted_approval_gap's Monte Carlo sample (its default n).
GAP_SAMPLE = 400_000


def _interval_share(planted_bias: float, threshold: float, noise: float, nonlinear: bool):
    """The approval gap from its closed form, estimated on fresh borrowers, with its
    standard error.

    Approve when p = sigma(s / noise) < t, that is when u = s / noise < logit(t). The bias
    shifts u by b / noise, so for b > 0 it turns away exactly the borrowers with
    logit(t) - b / noise <= u < logit(t): the gap is the share of u in that interval
    (minus the share in [logit(t), logit(t) - b / noise) for b < 0). u = logit(p_default)
    of make_credit_risk with another seed than planted_approval_gap's; the share is a
    binomial proportion, standard error sqrt(g (1 - g) / n).
    """
    data = make_credit_risk(GAP_SAMPLE, seed=1, noise=noise, nonlinear=nonlinear)
    u, cut = logit(data.p_default.to_numpy()), logit(threshold)
    low, high = sorted((cut - planted_bias / noise, cut))
    share = float(np.mean((low <= u) & (u < high)))
    return math.copysign(share, planted_bias), math.sqrt(share * (1 - share) / GAP_SAMPLE)


@pytest.mark.parametrize(
    ("planted_bias", "threshold", "noise", "nonlinear"),
    [
        (1.0, 0.5, 1.0, False),
        (-1.0, 0.5, 1.0, False),
        (0.8, 0.3, 1.5, False),
        (2.0, 0.7, 0.5, True),
    ],
)
def test_planted_approval_gap_is_the_share_the_bias_pushes_over_the_threshold(
    planted_bias: float, threshold: float, noise: float, nonlinear: bool
) -> None:
    gap = planted_approval_gap(planted_bias, threshold=threshold, noise=noise, nonlinear=nonlinear)
    expected, se = _interval_share(planted_bias, threshold, noise, nonlinear)
    # Two independent Monte Carlo estimates of the same share, each with standard error
    # se (both use 400 000 borrowers): their difference has sd sqrt(2) se, about 0.001.
    # Threshold 5 sd (largest seen over these cases: 1.2 sd). A sign, threshold or noise
    # handled wrongly moves the gap by far more (0.4 for the sign alone).
    assert abs(gap - expected) < 5 * math.sqrt(2) * se


def test_planted_approval_gap() -> None:
    assert planted_approval_gap(0.0) == 0.0
    gaps = [planted_approval_gap(b) for b in (0.5, 1.0, 2.0)]
    assert 0 < gaps[0] < gaps[1] < gaps[2] < 1
    assert planted_approval_gap(-1.0) < 0
    # The README quotes 0.234 for b = 1 (rounded to three decimals): within the Monte
    # Carlo error of the closed form above, 5 sd plus the rounding.
    expected, se = _interval_share(1.0, 0.5, 1.0, False)
    assert abs(0.234 - expected) < 5 * se + 5e-4
    # A perfect lender (the true p_default) shows that gap between the groups. The
    # difference of the two groups' approval rates has standard error
    # sqrt(a0 (1 - a0) / n0 + a1 (1 - a1) / n1), about 0.0023 at 200 000 borrowers, and
    # gaps[1] its own (sqrt(g (1 - g) / 400 000), about 0.0007): threshold 5 sd combined.
    data = make_credit_risk(200_000, seed=9, planted_bias=1.0)
    g = data.X[GROUP_COLUMN].to_numpy()
    approved = data.p_default.to_numpy() < 0.5
    a0, a1 = approved[g == 0].mean(), approved[g == 1].mean()
    se_groups = math.sqrt(a0 * (1 - a0) / np.sum(g == 0) + a1 * (1 - a1) / np.sum(g == 1))
    se_gap = math.sqrt(gaps[1] * (1 - gaps[1]) / GAP_SAMPLE)
    assert abs((a0 - a1) - gaps[1]) < 5 * math.hypot(se_groups, se_gap)


def _audit_trained_model(planted_bias: float, seed: int, confidence: float = 0.95):
    data = make_credit_risk(10_000, seed=seed, planted_bias=planted_bias)
    X_tr, X_te, y_tr, y_te = stratified_split(data.X, data.y, test_size=4000, seed=0)
    scaler = Standardizer().fit(X_tr)
    model = mlp(8, hidden=(8,), seed=0)  # the seven features and the group column
    train(
        model, scaler.transform(X_tr), y_tr.to_numpy(), optimizer=GradientDescent(0.5), epochs=1000
    )
    p = expit(model.forward(scaler.transform(X_te))[:, 0])
    table = audit(y_te, p, X_te[GROUP_COLUMN], n_bootstrap=500, seed=0, confidence=confidence)
    return table, data, X_te


# How far the audited gap strays from the planted size. The bootstrap interval reflects
# resampling of the 4000 test applicants only, not the network's own estimation error
# from its 6000 training rows, so it covers the planted size less often than 95%
# (measured over data seeds 0-11: 10 of 12). The point estimate itself stayed within
# 0.045 of the planted 0.234 on all 12 seeds (errors -0.044 to +0.045, sd 0.025); the
# tolerance below is 0.07, about 2.8 sd. Seeds 0 and 5 are the two whose interval missed.
PLANTED_TOLERANCE = 0.07


@pytest.mark.parametrize("seed", [0, 5])
def test_audit_finds_a_planted_bias_of_the_planted_size(seed: int) -> None:
    size = planted_approval_gap(1.0)  # 0.234 approval-rate points
    table, data, X_te = _audit_trained_model(1.0, seed=seed)
    dp = value(table, "demographic_parity_difference")
    assert dp["value"] == pytest.approx(size, abs=PLANTED_TOLERANCE)
    assert dp["ci_low"] > 0.1  # far from zero (lowest over seeds 0-11: 0.157)
    diff = value(table, "selection_rate_diff", "1")
    assert diff["note"] == "1 minus 0"
    assert diff["ci_high"] < 0  # group 1 is approved less often
    assert diff["value"] == pytest.approx(-size, abs=PLANTED_TOLERANCE)
    # The model is calibrated within each group: it learned the bias, it did not invent
    # it. Mean predicted minus observed default rate stays small in both groups
    # (largest over seeds 0-11: 0.028).
    for group in ("0", "1"):
        assert abs(value(table, "calibration_gap", group)["value"]) < 0.04
    # A perfect model (the true probabilities) on the same applicants shows the same gap.
    truth = audit(
        data.y.loc[X_te.index], data.p_default.loc[X_te.index], X_te[GROUP_COLUMN], n_bootstrap=0
    )
    t = value(truth, "demographic_parity_difference")
    assert t["value"] == pytest.approx(size, abs=0.05)
    assert dp["value"] == pytest.approx(t["value"], abs=0.05)  # measured |model - truth| <= 0.041


@pytest.mark.parametrize("seed", [0, 5])
def test_audit_finds_no_bias_when_none_is_planted(seed: int) -> None:
    # Three 95% intervals all cover 0 only about 86% of the time even without bias
    # (seed 0 missed once at 95%), so this asks for 99% intervals: over data seeds 0-11
    # every one of the 36 covered 0.
    table, _, _ = _audit_trained_model(0.0, seed=seed, confidence=0.99)
    for metric in ("selection_rate_diff", "true_positive_rate_diff", "false_positive_rate_diff"):
        row = value(table, metric, "1")
        assert row["ci_low"] <= 0 <= row["ci_high"], metric
    # max - min is never negative, so its interval cannot contain 0; it stays small
    # (over seeds 0-11: at most 0.033, upper 99% bound at most 0.076).
    dp = value(table, "demographic_parity_difference")
    assert dp["value"] < 0.05 and dp["ci_high"] < 0.09
    assert value(table, "demographic_parity_ratio")["ci_high"] > 0.95


def test_audit_figure(tmp_path) -> None:
    table = audit(Y, P, G, n_bootstrap=100)
    fig = audit_figure(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    assert ax.get_ylabel() == "rate"
    assert "demographic-parity difference 0.250" in ax.get_title()
    heights = sorted(round(b.get_height(), 6) for b in ax.patches)
    assert heights == [0.5, 0.5, 0.5, 0.5, 0.75, 1.0]
    assert save_figure(fig, tmp_path / "audit.png").stat().st_size > 10_000


# ---- Regulation B: age of elderly applicants --------------------------------------


def test_age_adverse_check_by_hand() -> None:
    ages = np.array([22, 23, 30, 35, 45, 50, 55, 63, 70, 75])
    attribution = np.array([0.5, 0.4, 0.2, 0.1, -0.1, -0.3, -0.2, -0.25, -0.1, 0.05])
    # classes: under 25 median 0.45; 25-39 median 0.15; 40-61 median -0.2 (most favoured).
    result = age_adverse_check(attribution, ages)
    assert result.most_favoured_class == "40-61"
    assert result.most_favoured_value == pytest.approx(-0.2)
    assert result.classes["class"].tolist() == ["under 25", "25-39", "40-61"]
    assert result.n_elderly == 3
    assert result.n_adverse == 2  # -0.1 and 0.05 are less favourable than -0.2
    assert result.share_adverse == pytest.approx(2 / 3)
    assert result.n_raises_risk == 1 and result.share_raises_risk == pytest.approx(1 / 3)
    assert not result.passed
    assert age_adverse_check(attribution, ages, tolerance=0.3).passed
    d = result.to_dict()
    assert d["passed"] is False and d["classes"][2] == {
        "class": "40-61",
        "count": 3,
        "median_attribution": pytest.approx(-0.2),
    }
    json.dumps(d, allow_nan=False)
    with pytest.raises(ValueError, match="no applicant is under 62"):
        age_adverse_check([0.1], [70])
    with pytest.raises(InputError, match="column 'age', row 0"):
        age_adverse_check([0.1], [np.nan])


def _age_attributions(nonlinear: bool):
    data = make_credit_risk(5000, seed=2, nonlinear=nonlinear)
    scaler = Standardizer().fit(data.X)
    Z = scaler.transform(data.X)
    model = mlp(7, hidden=(8,), seed=0)
    train(model, Z, data.y.to_numpy(), optimizer=GradientDescent(0.5), epochs=1000)
    X = Z[:1500]
    ig = integrated_gradients(model, X)
    A = attributions_by_feature(ig.attributions, FEATURES)
    return A["age"].to_numpy(), data.X["age"].to_numpy()[:1500]


def test_age_adverse_check_on_trained_models() -> None:
    # Linear risk: age lowers risk (weight -0.15), so the elderly are almost never worse
    # off. An attribution includes the network's interactions with other features, so
    # a few individual values can stray: measured 1 elderly applicant of 173.
    linear = age_adverse_check(*_age_attributions(nonlinear=False))
    assert linear.n_elderly == 173
    assert linear.share_adverse < 0.02 and linear.n_raises_risk == 0
    # Nonlinear risk has a U-shape in age (2.5 |age - 45| / 15): a model that learns it
    # gives every elderly applicant an adverse value for age, which the check flags.
    curved = age_adverse_check(*_age_attributions(nonlinear=True))
    assert not curved.passed
    assert curved.share_adverse == 1.0 and curved.share_raises_risk == 1.0
