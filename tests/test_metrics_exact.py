"""credit_metrics from one sort against scikit-learn's and SciPy's functions.

The reference below is the computation credit_metrics made with scikit-learn and SciPy:
every number must be the same bits, except ROC AUC (and Gini), whose trapezoid sum in
scikit-learn rounds differently from the exact Mann-Whitney fraction. Tolerance for those:
``roc_auc_score`` sums at most N trapezoids of relative error a few eps each, pairwise, so
its error is below about (4 + log2 N) eps ~ 5e-15 relative for N <= 30,000; 1e-12 is
200x that, and the exact fraction (Python's Fraction) is checked to the last bit.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from backprop_lab.classifier import metrics
from backprop_lab.classifier.calibration import (
    brier_score,
    calibration_summary,
    expected_calibration_error,
    reliability_curve,
)
from backprop_lab.classifier.metrics import KS_EXACT_MAX_ROWS, credit_metrics, decile_table

AUC_REL = 1e-12  # see the module's docstring


def reference(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """The numbers as scikit-learn and SciPy give them (the earlier implementation)."""
    both = 0 < y.sum() < y.size
    predicted = (p >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[0, 1]).ravel())
    ks = ks_2samp(p[y == 1], p[y == 0]) if both else None
    order = np.argsort(p, kind="stable")
    deciles = [
        {
            "decile": k,
            "rows": int(idx.size),
            "min_score": float(p[idx].min()),
            "max_score": float(p[idx].max()),
            "predicted_rate": float(p[idx].mean()),
            "observed_rate": float(y[idx].mean()),
            "defaults": int(y[idx].sum()),
        }
        for k, idx in enumerate(np.array_split(order, min(10, len(p))), start=1)
    ]
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "ks": None if ks is None else float(ks.statistic),
        "ks_pvalue": None if ks is None else float(ks.pvalue),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, pos_label=1)),
        "accuracy": float(accuracy_score(y, predicted)),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "deciles": deciles,
    }


def exact_auc(y: np.ndarray, p: np.ndarray) -> float:
    """P(p_default > p_good) + P(equal) / 2 over all pairs, as an exact fraction."""
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(int(np.sum(neg < v)) * 2 + int(np.sum(neg == v)) for v in pos)
    return float(Fraction(wins, 2 * pos.size * neg.size))


def check(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    m = credit_metrics(y, p, threshold)
    ref = reference(y, p, threshold)
    for key in ("ks", "ks_pvalue", "log_loss", "brier", "accuracy", "confusion_matrix"):
        assert m[key] == ref[key], key  # the same bits
    assert m["deciles"] == ref["deciles"]
    assert m["deciles"] == decile_table(y, p).to_dict(orient="records")
    if ref["roc_auc"] is None:
        assert m["roc_auc"] is None and m["gini"] is None
    else:
        assert m["roc_auc"] == pytest.approx(ref["roc_auc"], rel=AUC_REL, abs=0)
        assert m["gini"] == 2 * m["roc_auc"] - 1
    return m


# scores from few distinct values (many ties, 0 and 1 included) or from many
values = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
    st.floats(0.0, 1.0, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 1), values), min_size=1, max_size=60),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
)
def test_every_number_is_scikit_learn_s_and_scipy_s(rows, threshold):
    y = np.array([r[0] for r in rows], dtype=np.int64)
    p = np.array([r[1] for r in rows], dtype=np.float64)
    m = check(y, p, threshold)
    if m["roc_auc"] is not None:
        assert m["roc_auc"] == exact_auc(y, p)  # the correctly rounded fraction


@pytest.mark.parametrize("distinct", [None, 7, 1000])
def test_large_samples_take_the_asymptotic_ks_path_with_scipy_s_bits(distinct):
    """More than KS_EXACT_MAX_ROWS rows in each class: KS and its asymptotic p-value from
    the sorted counts, bit for bit as ks_2samp; ties from rounding p to few values."""
    rng = np.random.default_rng(distinct or 0)
    n = 3 * KS_EXACT_MAX_ROWS
    p = rng.beta(2, 3, n)
    if distinct is not None:
        p = np.round(p * (distinct - 1)) / (distinct - 1)
    y = (rng.random(n) < p).astype(np.int64)
    assert min(y.sum(), n - y.sum()) > KS_EXACT_MAX_ROWS
    m = check(y, p, 0.4)
    # the exact fraction by counting: defaults above each good, ties halved
    neg_sorted = np.sort(p[y == 0])
    below = np.searchsorted(neg_sorted, p[y == 1], side="left")
    equal = np.searchsorted(neg_sorted, p[y == 1], side="right") - below
    wins = int(np.sum(2 * below + equal))
    assert m["roc_auc"] == float(Fraction(wins, 2 * int(y.sum()) * int(n - y.sum())))


@pytest.mark.parametrize("distinct", [None, 7])
@pytest.mark.parametrize("block", [3, 7, 4096])
def test_the_rank_statistics_are_the_same_in_blocks_of_any_length(monkeypatch, distinct, block):
    """The sorted rows are taken _RANK_BLOCK (65,536) at a time: with blocks of 3 rows,
    tie groups (7 distinct scores: thousands of rows each) across many blocks, and
    blocks inside one group, every number has the bits of one block of all the rows."""
    rng = np.random.default_rng(11)
    n = 3 * KS_EXACT_MAX_ROWS  # the asymptotic KS path, from the sorted counts
    p = rng.beta(2, 3, n)
    if distinct is not None:
        p = np.round(p * (distinct - 1)) / (distinct - 1)
    y = (rng.random(n) < p).astype(np.int64)
    whole = credit_metrics(y, p, 0.4)
    monkeypatch.setattr(metrics, "_RANK_BLOCK", block)
    assert credit_metrics(y, p, 0.4) == whole


def test_one_class_gives_the_same_numbers_and_none_where_both_are_needed():
    for y in ([0, 0, 0, 0], [1, 1, 1]):
        y = np.array(y)
        p = np.linspace(0.0, 1.0, y.size)
        m = check(y, p)
        assert m["roc_auc"] is None and m["ks"] is None and m["ks_pvalue"] is None


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 1), values), min_size=2, max_size=60))
def test_brier_and_reliability_are_scikit_learn_s_bits(rows):
    y = np.array([r[0] for r in rows], dtype=np.int64)
    p = np.array([r[1] for r in rows], dtype=np.float64)
    assert brier_score(y, p) == float(brier_score_loss(y, p, pos_label=1))
    summary = calibration_summary(y, p)
    assert summary["brier_score"] == brier_score(y, p)
    assert summary["expected_calibration_error"] == expected_calibration_error(y, p)
    if 0 < y.sum() < y.size:  # calibration_curve refuses one class
        curve = reliability_curve(y, p, n_bins=10)
        observed, predicted = calibration_curve(y, p, n_bins=10)
        assert curve["observed_rate"].tolist() == observed.tolist()
        assert curve["mean_predicted"].tolist() == predicted.tolist()


@pytest.mark.parametrize("n", [2.0, 30.0, 140.0, 141.0, 5_000.0, 99_999.0, 100_001.0, 5e5])
def test_the_ks_p_value_without_scipy_stats_is_kstwo_s(n):
    """Where ks_survival computes kstwo.sf(d, n) itself, the same bits; elsewhere None."""
    from scipy.stats import kstwo

    from backprop_lab.classifier.metrics import ks_survival

    n = np.float64(n)
    grid = np.concatenate(
        [np.linspace(0, 1, 401), np.sqrt(np.array([2.2, 4, 370]) / n), [1 / n, 2 / n]]
    )
    computed = 0
    for d in np.clip(grid, 0, 1):
        mine = ks_survival(float(d), n)
        if mine is not None:
            computed += 1
            assert mine == float(np.clip(kstwo.sf(float(d), n), 0, 1)), d
    assert computed > 0 or n < 3  # n = 2: no d with 1 < n d < n - 1
