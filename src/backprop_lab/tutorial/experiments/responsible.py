"""The report's responsible-model checks, as plain data: fairness, calibration, reasons.

All on the report's default network (the tutorial's 7-8-1 network after its default
run) and its held-out test borrowers, plus two extra networks for the planted-bias
demonstration:

* audit by age band (under 25, 25-39, 40-61, 62 and over) with bootstrap intervals,
  and the Regulation B check of age's contribution for borrowers aged 62 and over;
* planted bias: the same data drawn with a ``group`` column whose members' log-odds of
  default are raised by ``planted_bias``, and again with no bias; a network trained
  on each (the seven features *and* the group column as inputs, the tutorial's
  initialisation and training) is audited by group on its test borrowers, and its
  approval gap is set beside the gap of a lender who knew the true probabilities,
  on the same test borrowers (see :func:`group_gap_bootstrap`);
* reliability curve, Brier score and expected calibration error on the test set;
* integrated gradients of every test borrower against the training-mean borrower:
  global importance, and the reasons for three example borrowers.

Nothing here draws: the figures are :mod:`backprop_lab.responsible.figures`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from ... import textbook
from ...classifier.calibration import calibration_summary, reliability_curve
from ...data.synthetic import (
    FEATURES,
    GROUP_COLUMN,
    Standardizer,
    make_credit_risk,
    planted_approval_gap,
)
from ...data.synthetic import stratified_split as split_rows
from ...engine.training import train
from ...nn import Sequential, mlp
from ...nn.optim import GradientDescent
from ...responsible.attributions import (
    attributions_by_feature,
    global_importance,
    integrated_gradients,
    top_reasons,
)
from ...responsible.fairness import AGE_BINS, AgeAdverseResult, age_adverse_check, age_bands, audit
from .setup import Config, DefaultRun, Split

#: Bootstrap resamples and integrated-gradient steps in the report: enough for stable
#: intervals and completeness within 1e-3, small enough to keep the report fast.
N_BOOTSTRAP = 300
IG_STEPS = 32
PLANTED_BIAS = 1.0
THRESHOLD = 0.5
N_REASONS = 4


@dataclass
class PlantedBiasRun:
    """One network trained on data with ``planted_bias`` (0: none), audited by group.

    ``planted_size`` is the population gap :func:`planted_approval_gap` (what the bias
    costs group 1 in approval, over all borrowers, for a lender who knows the true
    probabilities). On a finite test set that lender's gap differs from it by chance,
    since which borrowers fall in each group is random; ``true_lender`` is that lender's
    gap on the same test borrowers the network is audited on, and
    ``network_minus_true_lender`` the network's gap minus it (all as group 1 minus group 0
    approval rates, with intervals from :func:`group_gap_bootstrap`). ``group_logit_shift``
    is the network's own estimate of the planted effect: the mean change in its log-odds
    of default when a test borrower's group input is switched from 0 to 1.
    """

    planted_bias: float
    planted_size: float
    table: pd.DataFrame = field(repr=False)
    true_lender: dict[str, float] = field(default_factory=dict)
    network_minus_true_lender: dict[str, float] = field(default_factory=dict)
    group_logit_shift: float = float("nan")
    group_sizes: dict[str, int] = field(default_factory=dict)


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def group_gap_bootstrap(
    approved: np.ndarray,
    approved_reference: np.ndarray,
    group: np.ndarray,
    *,
    n_bootstrap: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Approval gaps of two decision rules on the same borrowers, with bootstrap intervals.

    For a rule with decisions a_i (1: approved) and groups g_i in {0, 1}:

        gap(a) = mean(a_i : g_i = 1) - mean(a_i : g_i = 0)

    Returns {"gap": gap(approved), "reference_gap": gap(approved_reference),
    "difference": gap(approved) - gap(approved_reference)}, each as {value, ci_low,
    ci_high}: percentile intervals at ``confidence`` from ``n_bootstrap`` resamples of the
    rows with replacement within each group (group sizes fixed, as in the audit), the
    same resampled rows for both rules. Pairing the rules on the same rows removes the
    luck of which borrowers fell in each group, which both gaps share, from the difference.
    """
    a = np.asarray(approved, dtype=np.float64).ravel()
    b = np.asarray(approved_reference, dtype=np.float64).ravel()
    g = np.asarray(group).ravel()
    if not (a.shape == b.shape == g.shape):
        raise ValueError(f"{a.size} decisions, {b.size} reference decisions, {g.size} groups")
    rows = [np.flatnonzero(g == k) for k in (0, 1)]
    if any(r.size == 0 for r in rows):
        raise ValueError("both groups, 0 and 1, need at least one borrower")
    rng = np.random.default_rng(seed)
    draws = [r[rng.integers(0, r.size, size=(n_bootstrap, r.size))] for r in rows]

    def gap(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
        return x[i1].mean(axis=-1) - x[i0].mean(axis=-1)

    out = {}
    for name, point, samples in (
        ("gap", gap(a, *rows), gap(a, *draws)),
        ("reference_gap", gap(b, *rows), gap(b, *draws)),
        ("difference", gap(a, *rows) - gap(b, *rows), gap(a, *draws) - gap(b, *draws)),
    ):
        lo, hi = _percentile_interval(samples, confidence) if n_bootstrap else (np.nan, np.nan)
        out[name] = {"value": float(point), "ci_low": lo, "ci_high": hi}
    return out


@dataclass
class Example:
    """One test borrower: why they were picked, their P(default) and reasons."""

    label: str
    row: int
    p_default: float
    logit: float
    values: dict[str, float]
    reasons: list[dict]


@dataclass
class ResponsibleChecks:
    """Every number and table of the report's responsible-model section."""

    threshold: float
    n_bootstrap: int
    ig_steps: int
    n_test: int
    age_audit: pd.DataFrame = field(repr=False)
    age_check: AgeAdverseResult = field(repr=False)
    planted: list[PlantedBiasRun] = field(repr=False)
    reliability: pd.DataFrame = field(repr=False)
    calibration: dict = field(repr=False)
    importance: pd.DataFrame = field(repr=False)
    examples: list[Example] = field(repr=False)
    max_completeness_gap: float = 0.0
    baseline_logit: float = 0.0


def _network(config: Config, params: dict[str, np.ndarray], n_inputs: int) -> Sequential:
    model = mlp(n_inputs, hidden=(config.hidden,))
    model.set_params(params)
    return model


def planted_bias_run(config: Config, planted_bias: float, n_bootstrap: int) -> PlantedBiasRun:
    """Draw the data with ``planted_bias``, train the tutorial's network on the seven
    features and the group column (initialisation, learning rate and epochs of
    ``config``), and audit its test decisions by group."""
    data = make_credit_risk(config.n, seed=config.seed, planted_bias=planted_bias)
    X_tr, X_te, y_tr, y_te = split_rows(
        data.X, data.y, test_size=config.test_size, seed=config.seed
    )
    scaler = Standardizer().fit(X_tr)
    n_inputs = X_tr.shape[1]
    p_true = data.p_default.to_numpy()[X_te.index.to_numpy()]
    init = textbook.init_params(n_inputs, config.hidden, seed=config.seed, scale=config.init_scale)
    model = _network(config, init, n_inputs)
    train(
        model,
        scaler.transform(X_tr),
        y_tr.to_numpy(),
        optimizer=GradientDescent(config.lr),
        epochs=config.epochs,
        divergence_factor=config.divergence_factor,
    )
    with np.errstate(all="ignore"):
        p = expit(model.predict_logits(scaler.transform(X_te))[:, 0])
        as_group = [
            model.predict_logits(scaler.transform(X_te.assign(**{GROUP_COLUMN: k})))[:, 0]
            for k in (0, 1)
        ]
    p = np.nan_to_num(p, nan=0.5)  # a diverged network: no decision information
    group = X_te[GROUP_COLUMN].to_numpy()
    table = audit(
        y_te, p, X_te[GROUP_COLUMN], threshold=THRESHOLD, n_bootstrap=n_bootstrap, seed=config.seed
    )
    gaps = group_gap_bootstrap(
        p < THRESHOLD, p_true < THRESHOLD, group, n_bootstrap=n_bootstrap, seed=config.seed
    )
    return PlantedBiasRun(
        planted_bias,
        planted_approval_gap(planted_bias, threshold=THRESHOLD),
        table,
        true_lender=gaps["reference_gap"],
        network_minus_true_lender=gaps["difference"],
        group_logit_shift=float(np.mean(as_group[1] - as_group[0])),
        group_sizes={str(k): int(np.sum(group == k)) for k in (0, 1)},
    )


def _pick_examples(p: np.ndarray) -> list[tuple[str, int]]:
    """Three borrowers: the riskiest, the one declined closest to the cut-off, and the
    one at the median predicted risk (distinct rows; fewer if the test set is tiny)."""
    order = np.argsort(p, kind="stable")
    picks = [("highest predicted risk", int(order[-1]))]
    declined = np.flatnonzero(p >= THRESHOLD)
    if declined.size:
        picks.append(("declined, closest to the cut-off", int(declined[np.argmin(p[declined])])))
    picks.append(("median predicted risk", int(order[len(order) // 2])))
    seen, out = set(), []
    for label, row in picks:
        if row not in seen:
            seen.add(row)
            out.append((label, row))
    return out


def responsible_checks(
    config: Config,
    split: Split,
    run: DefaultRun,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    ig_steps: int = IG_STEPS,
) -> ResponsibleChecks:
    """Audit, calibration and explanations of the default network on the test set."""
    model = _network(config, run.params, len(FEATURES))
    X_test = split.X_test
    raw = split.data.X.loc[split.test_index].reset_index(drop=True)
    with np.errstate(all="ignore"):
        z = model.predict_logits(X_test)[:, 0]
    z = np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0)  # a diverged run stays finite
    p = expit(z)

    bands = age_bands(raw["age"], AGE_BINS)
    age_table = audit(
        split.y_test, p, bands, threshold=THRESHOLD, n_bootstrap=n_bootstrap, seed=config.seed
    )

    ig = integrated_gradients(model, X_test, steps=ig_steps)
    A = attributions_by_feature(ig.attributions, FEATURES)
    try:
        age_check = age_adverse_check(A["age"].to_numpy(), raw["age"].to_numpy())
    except ValueError:  # no borrower under 62 in a tiny test set
        age_check = None
    reasons = top_reasons(A, raw[list(FEATURES)], k=N_REASONS)
    examples = []
    for label, row in _pick_examples(p):
        mine = reasons[reasons["applicant"] == row]
        examples.append(
            Example(
                label=label,
                row=row,
                p_default=float(p[row]),
                logit=float(z[row]),
                values={c: float(raw.at[row, c]) for c in FEATURES},
                reasons=[
                    {
                        "rank": int(r["rank"]),
                        "feature": str(r["feature"]),
                        "value": float(r["value"]),
                        "contribution": float(r["contribution"]),
                        "reason": str(r["reason"]),
                    }
                    for _, r in mine.iterrows()
                ],
            )
        )
    return ResponsibleChecks(
        threshold=THRESHOLD,
        n_bootstrap=n_bootstrap,
        ig_steps=ig_steps,
        n_test=int(X_test.shape[0]),
        age_audit=age_table,
        age_check=age_check,
        planted=[planted_bias_run(config, b, n_bootstrap) for b in (PLANTED_BIAS, 0.0)],
        reliability=reliability_curve(split.y_test, p, n_bins=10),
        calibration=calibration_summary(split.y_test, p, n_bins=10),
        importance=global_importance(A, raw[list(FEATURES)]),
        examples=examples,
        max_completeness_gap=ig.max_gap,
        baseline_logit=float(ig.baseline_logits[0]),
    )
