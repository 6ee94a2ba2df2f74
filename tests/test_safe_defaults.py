"""The default BackpropClassifier is never worse than logistic regression by more than the
targets: on every scenario, held-out ROC AUC >= LR's - 0.01 and log loss <= 1.02 x LR's.

LR is sklearn's LogisticRegression() (C = 1) and both models see the same standardised
inputs (StandardScaler fitted on the training rows). The scenarios (backprop_lab.data.
scenarios) span the shapes of small and medium loan files: 300 to 5,000 rows, 3 to 100
columns, 1% to 50% defaults, noise columns, collinear blocks, linear and non-linear
truth. benchmarks/defaults_grid.py runs the full grid, up to a million rows.

Why the test split makes the comparison honest. Both models score the same test rows,
so their errors are paired. For the log-loss ratio R = mean(a) / mean(b) (a_i, b_i the
per-row losses of ours and LR's), the delta method gives
SE(R) = sd(a_i - R b_i) / (sqrt(n) mean(b)); for the AUC difference, DeLong's paired
variance Var = var(V_a - V_b)_pos / n_pos + var(V_a - V_b)_neg / n_neg, V the placement
values (for a default, the share of non-defaults scored below it; for a non-default, the
share of defaults scored above it). Both shrink as 1/sqrt(test defaults): measured with
60,000 test rows, SE(R) was 0.0003 to 0.0053 and SE(AUC difference) 0.0002 to 0.0048,
the largest with 1% defaults (600 test defaults). So each scenario gets at least
max(60,000, 3,000 / default rate) test rows (3,000+ test defaults; 300,000 rows at 1%),
and the test asserts that both standard errors are at most a quarter of their margins
(0.005 of the 0.02 in the ratio, 0.0025 of the 0.01 in AUC): a model that truly missed
a target by a quarter of its margin or more would pass by the luck of the test draw at
most one time in six, and one that missed by half or more, one time in 44.
"""

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from backprop_lab import BackpropClassifier
from backprop_lab.data.scenarios import Scenario, make_scenario

N_TEST = 60_000  # test rows, or 3,000 / default rate where that is more

SCENARIOS = [
    Scenario(300, 20, 0.12, "linear", noise_share=0.5, collinear=True, seed=1),
    Scenario(300, 50, 0.50, "nonlinear", noise_share=0.9, collinear=False, seed=2),
    Scenario(2000, 3, 0.50, "linear", noise_share=0.0, collinear=False, seed=3),
    Scenario(2000, 20, 0.01, "nonlinear", noise_share=0.5, collinear=True, seed=4),
    Scenario(2000, 50, 0.12, "linear", noise_share=0.9, collinear=True, seed=5),
    Scenario(2000, 100, 0.12, "nonlinear", noise_share=0.5, collinear=True, seed=6),
    Scenario(5000, 20, 0.12, "linear", noise_share=0.0, collinear=True, seed=7),
    Scenario(5000, 50, 0.01, "linear", noise_share=0.5, collinear=False, seed=8),
]


def _log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _placements(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values (ties count one half): per default, the share of
    non-defaults scored below it; per non-default, the share of defaults scored above."""
    pos, neg = score[y == 1], score[y == 0]
    rank_all = rankdata(score)
    v_pos = (rank_all[y == 1] - rankdata(pos)) / len(neg)
    v_neg = 1.0 - (rank_all[y == 0] - rankdata(neg)) / len(pos)
    return v_pos, v_neg


def paired_comparison(y: np.ndarray, p_ours: np.ndarray, p_lr: np.ndarray) -> dict:
    """AUC difference and log-loss ratio with their paired standard errors."""
    a, b = _log_losses(y, p_ours), _log_losses(y, p_lr)
    ratio = a.mean() / b.mean()
    se_ratio = np.std(a - ratio * b, ddof=1) / (np.sqrt(len(y)) * b.mean())
    pos_a, neg_a = _placements(y, p_ours)
    pos_b, neg_b = _placements(y, p_lr)
    d_auc = pos_a.mean() - pos_b.mean()
    var = np.var(pos_a - pos_b, ddof=1) / len(pos_a) + np.var(neg_a - neg_b, ddof=1) / len(neg_a)
    return {
        "auc_ours": pos_a.mean(),
        "auc_lr": pos_b.mean(),
        "d_auc": d_auc,
        "se_d_auc": float(np.sqrt(var)),
        "ratio": ratio,
        "se_ratio": se_ratio,
    }


def test_placements_give_sklearns_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(int)
    score = np.round(rng.normal(size=500) + y, 1)  # rounded: ties are counted by half
    pos, neg = _placements(y, score)
    assert pos.mean() == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert neg.mean() == pytest.approx(roc_auc_score(y, score), abs=1e-12)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_defaults_meet_the_targets_against_logistic_regression(scenario):
    data = make_scenario(scenario, n_test=max(N_TEST, round(3000 / scenario.default_rate)))
    scaler = StandardScaler().fit(data.X_train)
    X, X_test = scaler.transform(data.X_train), scaler.transform(data.X_test)
    lr = LogisticRegression(max_iter=10_000).fit(X, data.y_train)
    ours = BackpropClassifier(random_state=0).fit(X, data.y_train)
    c = paired_comparison(
        data.y_test, ours.predict_proba(X_test)[:, 1], lr.predict_proba(X_test)[:, 1]
    )
    # the test split measures both to a quarter of their margins (module docstring)
    assert c["se_ratio"] <= 0.005 and c["se_d_auc"] <= 0.0025, c
    assert c["auc_ours"] >= c["auc_lr"] - 0.01, c
    assert c["ratio"] <= 1.02, c
