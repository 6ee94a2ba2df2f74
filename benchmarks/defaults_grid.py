"""Default BackpropClassifier against logistic regression and LightGBM on loan files of many shapes.

    python benchmarks/defaults_grid.py        # the full grid, up to 1e6 rows (hours)
    python benchmarks/defaults_grid.py --rows 2000,20000 --out results.txt  # some row counts

(the README lists the runs recorded under benchmarks/results/).

Each scenario (backprop_lab.data.scenarios) is drawn with N_TEST held-out rows; every
model sees the same standardised training rows (StandardScaler fitted on them) and is
scored on the same test rows. Models:

* LR: sklearn LogisticRegression() (C = 1) on the standardised inputs, the reference;
* ours: BackpropClassifier(random_state=0), every parameter at its default;
* before: BackpropClassifier(alpha=10.0, random_state=0), the defaults before
  alpha='auto' (a numeric alpha trains one network exactly as they did);
* LGBM: lightgbm.LGBMClassifier() with default parameters (100 trees), one thread
  (n_jobs=1: on a busy machine its thread pool stalls and its times mean nothing);
* LGBM-es: the same with up to 2000 trees, early stopping (50 rounds) on a stratified
  20% of the training rows.

Per scenario it prints ROC AUC and log loss of each, ours - LR in AUC, ours / LR in log
loss, and whether the defaults' targets hold (AUC >= LR - 0.01 and log loss <= 1.02 LR),
with fit times in seconds. Rows are printed as they finish.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from backprop_lab import BackpropClassifier
from backprop_lab.classifier.averaging import SINGLE_NETWORK_ROWS
from backprop_lab.data.scenarios import Scenario, make_scenario

N_TEST = 50_000


def grid(max_rows: int) -> list[Scenario]:
    """Rows x columns x default rate x truth, cycling noise share and collinearity; files
    expected to hold fewer than 10 defaults are left out (300 rows at 1%), and the largest
    files come only with the middle shapes (their fits take minutes each)."""
    scenarios = []
    shapes = itertools.product(
        (300, 2000, 20_000, 200_000, 1_000_000),
        (3, 20, 50, 100),
        (0.01, 0.12, 0.5),
        ("linear", "nonlinear"),
    )
    for i, (n, d, rate, truth) in enumerate(shapes):
        if n > max_rows or n * rate < 10:  # fewer than 10 expected defaults: no model
            continue
        if n >= 200_000 and (d not in (20, 50) or rate == 0.5):
            continue
        noise = (0.5, 0.9, 0.0)[i % 3]
        scenarios.append(Scenario(n, d, rate, truth, noise, bool(i % 2 == 0), seed=i))
    return scenarios


def _scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    return roc_auc_score(y, p), log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))


def run(scenario: Scenario, lightgbm: bool) -> dict:
    data = make_scenario(scenario, n_test=N_TEST)
    scaler = StandardScaler().fit(data.X_train)
    X, X_test, y = scaler.transform(data.X_train), scaler.transform(data.X_test), data.y_train
    out = {}
    models = {
        "LR": lambda: LogisticRegression(max_iter=10_000),
        "ours": lambda: BackpropClassifier(random_state=0),
        "before": lambda: BackpropClassifier(alpha=10.0, random_state=0),
    }
    for name, make in models.items():
        if name == "before" and len(y) >= SINGLE_NETWORK_ROWS:
            out[name] = out["ours"]  # alpha='auto' then trains this very network
            continue
        start = time.perf_counter()
        model = make().fit(X, y)
        seconds = time.perf_counter() - start
        out[name] = (*_scores(data.y_test, model.predict_proba(X_test)[:, 1]), seconds)
    if lightgbm:
        import lightgbm as lgb

        start = time.perf_counter()
        model = lgb.LGBMClassifier(verbose=-1, random_state=0, n_jobs=1).fit(X, y)
        out["LGBM"] = (
            *_scores(data.y_test, model.predict_proba(X_test)[:, 1]),
            time.perf_counter() - start,
        )
        start = time.perf_counter()
        fit_rows, val_rows = train_test_split(
            np.arange(len(y)), test_size=0.2, stratify=y, random_state=0
        )
        model = lgb.LGBMClassifier(n_estimators=2000, verbose=-1, random_state=0, n_jobs=1)
        model.fit(
            X[fit_rows],
            y[fit_rows],
            eval_set=[(X[val_rows], y[val_rows])],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        out["LGBM-es"] = (
            *_scores(data.y_test, model.predict_proba(X_test)[:, 1]),
            time.perf_counter() - start,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--rows", type=str, default=None, help="only these row counts: 300,2000")
    parser.add_argument("--columns", type=str, default=None, help="only these column counts")
    parser.add_argument("--no-lightgbm", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also append lines to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # LightGBM and convergence chatter
    names = ["LR", "ours", "before"] + ([] if args.no_lightgbm else ["LGBM", "LGBM-es"])
    header = (
        f"{'scenario':52s} "
        + " ".join(f"{n + ' AUC':>11s} {n + ' LL':>10s}" for n in names)
        + f" {'dAUC':>7s} {'LLratio':>7s} {'target':>6s} "
        + " ".join(f"{'t ' + n:>9s}" for n in names)
    )
    lines = [header]
    print(header, flush=True)
    met = total = 0
    scenarios = grid(args.max_rows)
    if args.rows:
        scenarios = [s for s in scenarios if str(s.n_rows) in args.rows.split(",")]
    if args.columns:
        scenarios = [s for s in scenarios if str(s.n_columns) in args.columns.split(",")]
    for scenario in scenarios:
        res = run(scenario, lightgbm=not args.no_lightgbm)
        (a0, l0, _), (a1, l1, _) = res["LR"], res["ours"]
        ok = a1 >= a0 - 0.01 and l1 <= 1.02 * l0
        met, total = met + ok, total + 1
        line = (
            f"{scenario.name:52s} "
            + " ".join(f"{res[n][0]:11.4f} {res[n][1]:10.4f}" for n in names)
            + f" {a1 - a0:+7.4f} {l1 / l0:7.3f} {'met' if ok else 'MISSED':>6s} "
            + " ".join(f"{res[n][2]:9.2f}" for n in names)
        )
        print(line, flush=True)
        lines.append(line)
        if args.out is not None:
            args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = f"targets met on {met} of {total} scenarios"
    print(summary)
    if args.out is not None:
        args.out.write_text("\n".join([*lines, summary]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
