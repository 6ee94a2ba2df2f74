"""With default parameters, BackpropClassifier must hold its own against LogisticRegression
on data shaped like real loan files: few rows, many noise and one-hot columns, rare
defaults. On each scenario its held-out ROC AUC may trail by at most 0.01 and its log
loss exceed by at most 5%.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from backprop_lab import BackpropClassifier

N_TEST = 20_000
# (levels, informative?) of four categorical columns: 5 + 12 + 8 + 30 = 55 one-hot columns
CATEGORIES = ((5, True), (12, False), (8, True), (30, False))


def loan_file(n, default_rate, seed, *, nonlinear=False):
    """Six informative numeric columns on assorted scales, ten noise columns (half of
    them skewed), four categorical columns (two informative), and labels from a logistic
    model whose intercept is solved for the requested default rate."""
    rng = np.random.default_rng(seed)
    columns, score = {}, np.zeros(n)
    weights = rng.normal(0.0, 0.6, 6)
    for j in range(6):
        x = rng.normal(size=n)
        columns[f"x{j}"] = x * (1 + j) + 3 * j
        score += weights[j] * x
    if nonlinear:
        score += 0.8 * (columns["x0"] > 1.0) - 0.6 * np.abs(columns["x1"] - 1.0) / 2.0
    for j in range(10):
        columns[f"noise{j}"] = rng.lognormal(size=n) if j % 2 else rng.normal(size=n)
    for c, (levels, informative) in enumerate(CATEGORIES):
        level = rng.choice(levels, size=n, p=rng.dirichlet(np.full(levels, 0.7)))
        columns[f"cat{c}"] = np.array([f"L{v}" for v in level])
        if informative:
            score += rng.normal(0.0, 0.5, levels)[level]
    lo, hi = -15.0, 5.0  # bisection for the intercept giving the default rate
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expit(score + mid).mean() < default_rate else (lo, mid)
    y = (rng.random(n) < expit(score + lo)).astype(int)
    return pd.DataFrame(columns), y


def held_out_scores(estimator, X, y, n_train):
    numeric = [c for c in X.columns if not c.startswith("cat")]
    categorical = [c for c in X.columns if c.startswith("cat")]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ],
            sparse_threshold=0,
        ),
        estimator,
    ).fit(X.iloc[:n_train], y[:n_train])
    p = model.predict_proba(X.iloc[n_train:])[:, 1]
    return roc_auc_score(y[n_train:], p), log_loss(y[n_train:], p), model[-1]


@pytest.mark.parametrize(
    ("n_train", "default_rate", "seed", "nonlinear"),
    [
        (300, 0.10, 1, False),  # ~30 defaults, 71 inputs
        (500, 0.03, 2, False),  # ~15 defaults
        (1000, 0.05, 3, True),  # thresholds and a kink in the risk
        (2000, 0.01, 4, False),  # ~20 defaults among 2000 rows
        (800, 0.30, 5, False),  # early stopping on (240 defaults)
        (3000, 0.20, 6, True),
        (10000, 0.02, 7, False),  # early stopping on (200 defaults)
    ],
)
def test_defaults_match_logistic_regression(n_train, default_rate, seed, nonlinear):
    X, y = loan_file(n_train + N_TEST, default_rate, seed, nonlinear=nonlinear)
    assert X.shape[1] == 20 and 0 < y[:n_train].sum() < n_train
    lr_auc, lr_loss, _ = held_out_scores(LogisticRegression(max_iter=2000), X, y, n_train)
    auc, loss, clf = held_out_scores(BackpropClassifier(random_state=0), X, y, n_train)
    assert auc >= lr_auc - 0.01, (auc, lr_auc)
    assert loss <= 1.05 * lr_loss, (loss, lr_loss)
    # 'auto' early stopping is on exactly when the validation split has 20+ defaults
    assert clf.early_stopping_ == (0.2 * y[:n_train].sum() >= 20)
