"""Credit metrics: each number checked against an independent computation."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from backprop_lab.classifier.figures import plot_credit_curves
from backprop_lab.classifier.metrics import (
    credit_metrics,
    decile_table,
    format_credit_metrics,
    multiclass_metrics,
)


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 5, 1000)
    y = (rng.random(1000) < p).astype(int)
    return y, p


def test_auc_gini_ks_against_first_principles(scores):
    y, p = scores
    m = credit_metrics(y, p)
    # AUC = P(score of a defaulter > score of a non-defaulter), ties counting one half
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert m["roc_auc"] == pytest.approx(pairs, rel=1e-12)
    assert m["gini"] == pytest.approx(2 * pairs - 1, rel=1e-12)
    # KS = max over thresholds of TPR - FPR
    fpr, tpr, _ = roc_curve(y, p)
    assert m["ks"] == pytest.approx(np.max(tpr - fpr), rel=1e-12)
    assert m["ks_pvalue"] < 1e-6


def test_losses_rates_and_confusion_matrix(scores):
    y, p = scores
    m = credit_metrics(y, p, threshold=0.3)
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # ECE from first principles: ten bins of width 0.1 (no p lies exactly on an edge)
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        np.mean(bins == b) * abs(p[bins == b].mean() - y[bins == b].mean())
        for b in range(10)
        if np.any(bins == b)
    )
    assert m["expected_calibration_error"] == pytest.approx(ece, rel=1e-12)
    flagged = p >= 0.3
    cm = m["confusion_matrix"]
    assert cm == {
        "tn": int(np.sum(~flagged & (y == 0))),
        "fp": int(np.sum(flagged & (y == 0))),
        "fn": int(np.sum(~flagged & (y == 1))),
        "tp": int(np.sum(flagged & (y == 1))),
    }
    assert m["accuracy"] == pytest.approx((cm["tn"] + cm["tp"]) / 1000)
    assert m["true_positive_rate"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fn"]))
    assert m["defaults"] == y.sum() and m["default_rate"] == pytest.approx(y.mean())
    json.dumps(m)  # JSON-ready


def test_deciles_partition_rows_by_score(scores):
    y, p = scores
    table = decile_table(y, p)
    assert table["rows"].tolist() == [100] * 10
    assert table["defaults"].sum() == y.sum()
    assert np.all(np.diff(table["predicted_rate"]) > 0)
    assert np.all(table["max_score"].to_numpy()[:-1] <= table["min_score"].to_numpy()[1:])
    top = np.sort(p)[-100:]
    assert table["predicted_rate"].iloc[-1] == pytest.approx(top.mean())
    # the data are calibrated by construction: observed tracks predicted
    assert np.abs(table["observed_rate"] - table["predicted_rate"]).max() < 0.12
    assert len(decile_table([0, 1, 1], [0.1, 0.5, 0.9])) == 3  # fewer rows than deciles


def test_one_class_leaves_auc_undefined_and_bad_input_raises():
    m = credit_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert m["roc_auc"] is None and m["ks"] is None and m["true_positive_rate"] is None
    assert "n/a" in format_credit_metrics(m)
    with pytest.raises(ValueError, match=r"0 .* and 1 .* only"):
        credit_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="probabilities between 0 and 1"):
        credit_metrics([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="threshold"):
        credit_metrics([0, 1], [0.1, 0.2], threshold=2)


def test_multiclass_metrics():
    y = np.array(["a", "b", "c", "a"])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.6, 0.3, 0.1]])
    m = multiclass_metrics(y, proba, ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.3, 0.6])))
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_plot_writes_a_png(scores, tmp_path):
    y, p = scores
    path = tmp_path / "curves.png"
    plot_credit_curves(y, p, path, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="both defaults and non-defaults"):
        plot_credit_curves([0, 0], [0.1, 0.2], tmp_path / "x.png")
