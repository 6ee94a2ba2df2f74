"""What monotone constraints cost: held-out ROC AUC and log loss with and without them.

    python benchmarks/monotone_cost.py [--seeds 3] [--out benchmarks/results/monotone_cost.md]

For each scenario, the same training and test rows (synthetic borrowers of
``backprop_lab.data.make_credit_risk``, whose true risk is known) go to four models:
BackpropClassifier with its defaults, the same with ``monotonic_cst``, and scikit-learn's
HistGradientBoostingClassifier with its defaults, without and with the same
``monotonic_cst``. The network sees the features standardised on the training rows; the
trees see them raw (a monotone rescaling, which changes no tree). Scenarios:

* ``linear``: 4,000 training rows, the generator's logistic risk (monotone in every
  feature: + debt_to_income, late_payments; - age, annual_income, credit_history_years,
  home_owner, employment_years); all seven constrained at their true signs.
* ``small noisy``: the same truth, 300 training rows and noise 2 (half the signal);
  all seven constrained.
* ``nonlinear, age free``: the generator's nonlinear risk (thresholds, an interaction and a
  U-shape in age), 4,000 training rows; the six monotone features constrained, age free.
* ``nonlinear, age forced -1``: as above, but age constrained to lower risk, against its
  true U-shape: here the constraint has a price.

Every scenario is run with ``--seeds`` seeds (data, split and model seeds together); the
table shows the mean over seeds (and, for the AUC, the spread as min-max), scored on
20,000 fresh test borrowers per seed, with the true probabilities' log loss and AUC
(the Bayes-optimal model) as the ceiling. "wrong-way" is the share of test rows whose
predicted probability of default moves against a constraint when that feature rises by
a quarter of its standard deviation (all constrained features pooled): 0 for the
constrained models by construction.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from backprop_lab._util.atomic import atomic_write_text  # noqa: E402
from backprop_lab.classifier.estimator import BackpropClassifier  # noqa: E402
from backprop_lab.data import make_credit_risk  # noqa: E402
from backprop_lab.data.synthetic import FEATURES, TRUE_WEIGHTS  # noqa: E402

TRUE_SIGNS = [int(np.sign(TRUE_WEIGHTS[f])) for f in FEATURES]
AGE = FEATURES.index("age")
TEST_ROWS = 20_000


@dataclass(frozen=True)
class Scenario:
    name: str
    n_train: int
    noise: float
    nonlinear: bool
    cst: tuple[int, ...]


SCENARIOS = (
    Scenario("linear", 4000, 1.0, False, tuple(TRUE_SIGNS)),
    Scenario("small noisy", 300, 2.0, False, tuple(TRUE_SIGNS)),
    Scenario("nonlinear, age free", 4000, 1.0, True, (0, *TRUE_SIGNS[1:])),
    Scenario("nonlinear, age forced -1", 4000, 1.0, True, (-1, *TRUE_SIGNS[1:])),
)


def models(cst: tuple[int, ...], seed: int) -> dict[str, object]:
    return {
        "network": BackpropClassifier(random_state=seed),
        "network, monotone": BackpropClassifier(random_state=seed, monotonic_cst=list(cst)),
        "HGB": HistGradientBoostingClassifier(random_state=seed),
        "HGB, monotone": HistGradientBoostingClassifier(random_state=seed, monotonic_cst=cst),
    }


def wrong_way_share(model: object, X: np.ndarray, cst: tuple[int, ...], step: np.ndarray) -> float:
    """Share of (row, constrained feature) pairs where p moves against the constraint
    when the feature rises by ``step`` (beyond 1e-12, far above round-off)."""
    p = model.predict_proba(X)[:, 1]
    moves = []
    for j in np.flatnonzero(cst):
        shifted = X.copy()
        shifted[:, j] += step[j]
        moves.append(cst[j] * (model.predict_proba(shifted)[:, 1] - p) < -1e-12)
    return float(np.mean(moves))


def run_scenario(scenario: Scenario, seed: int) -> dict[str, dict[str, float]]:
    train = make_credit_risk(
        scenario.n_train, seed=1000 + seed, noise=scenario.noise, nonlinear=scenario.nonlinear
    )
    test = make_credit_risk(
        TEST_ROWS, seed=2000 + seed, noise=scenario.noise, nonlinear=scenario.nonlinear
    )
    X_raw, X_test_raw = train.X.to_numpy(np.float64), test.X.to_numpy(np.float64)
    mean, std = X_raw.mean(axis=0), X_raw.std(axis=0)
    y, y_test = train.y.to_numpy(), test.y.to_numpy()
    results = {
        "truth": {
            "auc": roc_auc_score(y_test, test.p_default),
            "log_loss": log_loss(y_test, test.p_default),
            "wrong_way": None,
        }
    }
    for name, model in models(scenario.cst, seed).items():
        network = name.startswith("network")
        X_fit = (X_raw - mean) / std if network else X_raw
        X_eval = (X_test_raw - mean) / std if network else X_test_raw
        step = 0.25 * (np.ones(len(FEATURES)) if network else std)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stopped at max_epochs: reported by n_iter_
            model.fit(X_fit, y)
        p = model.predict_proba(X_eval)[:, 1]
        results[name] = {
            "auc": roc_auc_score(y_test, p),
            "log_loss": log_loss(y_test, p),
            "wrong_way": wrong_way_share(model, X_eval[:2000], scenario.cst, step),
        }
    return results


def table(all_results: dict[str, list[dict]]) -> str:
    lines = [
        "| scenario | model | test ROC AUC (min-max) | test log loss | wrong-way share |",
        "|---|---|---|---|---|",
    ]
    for scenario, runs in all_results.items():
        for name in runs[0]:
            auc = [r[name]["auc"] for r in runs]
            loss = np.mean([r[name]["log_loss"] for r in runs])
            wrong = [r[name]["wrong_way"] for r in runs]
            wrong_text = "" if None in wrong else f"{np.mean(wrong):.1%}"
            lines.append(
                f"| {scenario} | {name} | {np.mean(auc):.4f} ({min(auc):.4f}-{max(auc):.4f}) "
                f"| {loss:.4f} | {wrong_text} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per scenario")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "monotone_cost.md",
        help="markdown table to write (a .json beside it holds every run)",
    )
    args = parser.parse_args(argv)
    all_results: dict[str, list[dict]] = {}
    for scenario in SCENARIOS:
        all_results[scenario.name] = [run_scenario(scenario, seed) for seed in range(args.seeds)]
        print(f"done: {scenario.name}", file=sys.stderr)
    text = table(all_results)
    print(text)
    command = "python benchmarks/monotone_cost.py" + (
        f" --seeds {args.seeds}" if args.seeds != 3 else ""
    )
    atomic_write_text(
        args.out,
        f"# Monotone constraints: what they cost\n\nMade by `{command}` "
        f"({args.seeds} seeds; mean over seeds, {TEST_ROWS:,} test rows each).\n\n{text}\n",
    )
    atomic_write_text(
        args.out.with_suffix(".json"),
        json.dumps({"seeds": args.seeds, "results": all_results}, indent=1, allow_nan=False) + "\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
