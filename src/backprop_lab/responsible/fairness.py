"""Fairness audit of a credit model's decisions across groups of applicants.

Conventions, used throughout and stated in every table this module writes:

- the model gives ``p_default``, the probability of default; an applicant is
  APPROVED when p_default < threshold, declined otherwise;
- in fairlearn's terms the favourable outcome, approval, is the *positive
  prediction* (y_pred = 1 when approved) and repaying is the *positive label*
  (y_true = 1 when the applicant did not default). Hence:

  selection_rate        P(approved | group)                     (approval rate)
  true_positive_rate    P(approved | repaid, group)             (equal opportunity)
  false_positive_rate   P(approved | defaulted, group)

- score metrics are about default, the model's own target: observed default rate,
  mean predicted p_default, ROC AUC and Brier score of p_default against default,
  calibration gap = mean p_default - observed default rate (> 0: risk overstated).

Across groups (fairlearn's definitions, between groups):

  demographic_parity_difference = max_g selection_rate - min_g selection_rate
  demographic_parity_ratio      = min_g selection_rate / max_g selection_rate
  equal_opportunity_difference  = max_g TPR - min_g TPR
  equalized_odds_difference     = max(TPR difference, FPR difference)

Those are never negative (ratios never above 1), so their confidence intervals never
reach 0 (1) exactly, even for groups treated alike. Signed differences to a reference
group (``*_diff`` rows: group minus reference) can be either sign, and a 95 % interval
that covers 0 says the data are consistent with no gap.

Confidence intervals: percentile bootstrap, resampling rows with replacement *within
each group* (group sizes fixed, so every replicate has every group), seeded. Point
estimates come from fairlearn's ``MetricFrame`` and fairness functions; the bootstrap
replicates recompute the same rates from counts, vectorised over replicates (a test
checks the two agree), since a MetricFrame per replicate would be slow.

The table's records and JSON are in :mod:`~backprop_lab.responsible.fairness_table`, age
bands and the Regulation B check in :mod:`~backprop_lab.responsible.age_check`; this module
re-exports their public names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import ArrayLike
from sklearn.metrics import brier_score_loss, roc_auc_score

from .._util.validation import InputError, check_labels_and_scores
from .age_check import AGE_BINS as AGE_BINS
from .age_check import ELDERLY_AGE as ELDERLY_AGE
from .age_check import AgeAdverseResult as AgeAdverseResult
from .age_check import age_adverse_check as age_adverse_check
from .age_check import age_bands as age_bands
from .fairness_table import COLUMNS as COLUMNS
from .fairness_table import METRIC_DESCRIPTIONS as METRIC_DESCRIPTIONS
from .fairness_table import _row
from .fairness_table import audit_payload as audit_payload
from .fairness_table import audit_records as audit_records
from .fairness_table import audit_to_json as audit_to_json

#: Per-group rates with bootstrap intervals, in table order.
_RATES = (
    "default_rate",
    "mean_predicted",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "brier_score",
    "calibration_gap",
)
_DIFFS = ("selection_rate", "true_positive_rate", "false_positive_rate")
_ACROSS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)


# ---- groups ---------------------------------------------------------------------


def _group_labels(groups: ArrayLike, n: int) -> pd.Categorical:
    """Groups as a Categorical of the observed groups, in their natural order."""
    values = (
        groups if isinstance(groups, pd.Series | pd.Categorical) else np.asarray(groups).ravel()
    )
    cat = pd.Categorical(values)
    if len(cat) != n:
        raise ValueError(f"groups has {len(cat)} values but there are {n} applicants")
    missing = np.asarray(cat.isna())
    if missing.any():
        raise InputError("group is missing", column="groups", row=int(np.argmax(missing)))
    return cat.remove_unused_categories()


# ---- the audit ------------------------------------------------------------------


def _check_inputs(
    y_true: ArrayLike, p_pred: ArrayLike, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    y, p = check_labels_and_scores(y_true, p_pred)
    if not (math.isfinite(threshold) and 0 < threshold <= 1):
        raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}")
    return y, p


def _roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC, NaN when only one class is present (AUC is then undefined)."""
    if np.unique(y_true).size < 2:
        return math.nan
    return float(roc_auc_score(y_true, p))


def _brier(y_true: np.ndarray, p: np.ndarray) -> float:
    return float(brier_score_loss(y_true, p, labels=[0, 1]))


def _mean_predicted(y_true: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(p))


def _default_rate(y_true: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y_true))


def _calibration_gap(y_true: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(p) - np.mean(y_true))


def _replicate_rates(
    default: np.ndarray, p: np.ndarray, approved: np.ndarray, idx: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-replicate rates of one group from row indices ``idx`` (B, n_g), vectorised.

    Same definitions as the fairlearn/sklearn metrics of the point estimate:
    selection rate = mean(approved); TPR = sum(approved & repaid) / sum(repaid);
    FPR = sum(approved & defaulted) / sum(defaulted); Brier = mean((p - default)^2).
    NaN where a replicate has no repaid (TPR) or no defaulted (FPR) applicant.
    """
    d = default[idx].astype(np.float64)
    a = approved[idx].astype(np.float64)
    q = p[idx]
    n_def = d.sum(axis=1)
    n_rep = d.shape[1] - n_def
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.where(n_rep > 0, (a * (1 - d)).sum(axis=1) / n_rep, np.nan)
        fpr = np.where(n_def > 0, (a * d).sum(axis=1) / n_def, np.nan)
    return {
        "default_rate": d.mean(axis=1),
        "mean_predicted": q.mean(axis=1),
        "selection_rate": a.mean(axis=1),
        "true_positive_rate": tpr,
        "false_positive_rate": fpr,
        "brier_score": ((q - d) ** 2).mean(axis=1),
        "calibration_gap": q.mean(axis=1) - d.mean(axis=1),
    }


def _spread(x: np.ndarray) -> np.ndarray:
    """max - min over the last axis, ignoring NaN; NaN where every entry is NaN (as
    nanmax - nanmin, without its warning for a resample whose groups are all NaN)."""
    missing = np.isnan(x)
    spread = np.where(missing, -np.inf, x).max(axis=-1) - np.where(missing, np.inf, x).min(axis=-1)
    return np.where(missing.all(axis=-1), np.nan, spread)


def _across(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Across-group summaries from per-group rates of shape (..., G), ignoring NaN groups."""
    sel, tpr, fpr = (
        rates["selection_rate"],
        rates["true_positive_rate"],
        rates["false_positive_rate"],
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr_d = _spread(tpr)
        fpr_d = _spread(fpr)
        ratio = np.where(sel.max(axis=-1) > 0, sel.min(axis=-1) / sel.max(axis=-1), np.nan)
    return {
        "demographic_parity_difference": sel.max(axis=-1) - sel.min(axis=-1),
        "demographic_parity_ratio": ratio,
        "equal_opportunity_difference": tpr_d,
        "equalized_odds_difference": np.maximum(tpr_d, fpr_d),
    }


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _across_point(
    repaid: np.ndarray,
    approved: np.ndarray,
    labels: pd.Series,
    codes: np.ndarray,
    names: list[str],
    n_def: np.ndarray,
    sizes: np.ndarray,
) -> tuple[dict[str, float], dict[str, str]]:
    """Across-group metrics with fairlearn; groups without repaid (defaulted) applicants
    have no TPR (FPR) and are left out of the metrics that need it, with a note."""
    values = {m: math.nan for m in _ACROSS}
    notes: dict[str, str] = {}
    if len(names) < 2:
        return values, dict.fromkeys(_ACROSS, "only one group: nothing to compare")
    values["demographic_parity_difference"] = demographic_parity_difference(
        repaid, approved, sensitive_features=labels
    )
    values["demographic_parity_ratio"] = demographic_parity_ratio(
        repaid, approved, sensitive_features=labels
    )
    has_repaid = np.isin(codes, np.flatnonzero(n_def < sizes))
    has_default = np.isin(codes, np.flatnonzero(n_def > 0))

    def left_out(mask: np.ndarray) -> str:
        return "left out (one class only): " + ", ".join(
            names[c] for c in sorted(set(codes[~mask].tolist()))
        )

    if np.unique(codes[has_repaid]).size >= 2:
        values["equal_opportunity_difference"] = equal_opportunity_difference(
            repaid[has_repaid], approved[has_repaid], sensitive_features=labels[has_repaid]
        )
        if not has_repaid.all():
            notes["equal_opportunity_difference"] = left_out(has_repaid)
    else:
        notes["equal_opportunity_difference"] = "fewer than two groups have repaid applicants"
    if has_repaid.all() and has_default.all():
        values["equalized_odds_difference"] = equalized_odds_difference(
            repaid, approved, sensitive_features=labels
        )
    elif np.unique(codes[has_repaid]).size >= 2 and np.unique(codes[has_default]).size >= 2:
        fpr = MetricFrame(
            metrics=false_positive_rate,
            y_true=repaid[has_default],
            y_pred=approved[has_default],
            sensitive_features=labels[has_default],
        ).difference()
        values["equalized_odds_difference"] = max(values["equal_opportunity_difference"], fpr)
        notes["equalized_odds_difference"] = left_out(has_repaid & has_default)
    else:
        notes["equalized_odds_difference"] = (
            "fewer than two groups have both repaid and defaulted applicants"
        )
    return values, notes


def audit(
    y_true: ArrayLike,
    p_pred: ArrayLike,
    groups: ArrayLike,
    *,
    threshold: float = 0.5,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    reference: object | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Audit decisions and probabilities by group; a tidy DataFrame.

    ``y_true``: 1 if the applicant defaulted; ``p_pred``: predicted probability of
    default; ``groups``: the group of each applicant (e.g. :func:`age_bands`);
    approval when p_pred < ``threshold``. ``reference``: the group the ``*_diff`` rows
    compare against (default: the largest group; ties go to the first in order).

    One row per group and metric (scope 'group': count, default_rate, mean_predicted,
    selection_rate, true_positive_rate, false_positive_rate, roc_auc, brier_score,
    calibration_gap, and for non-reference groups the signed ``*_diff`` rows) and one
    per across-group metric (scope 'across_groups', group None). Columns: scope, group,
    metric, value, ci_low, ci_high, note. ``ci_low``/``ci_high`` are the bootstrap
    interval at ``confidence`` (NaN for count and roc_auc, or when ``n_bootstrap`` is
    0); ``note`` says why a value is missing (e.g. a group with one class only has no
    ROC AUC or no TPR). ``df.attrs`` records threshold, confidence, n_bootstrap, seed
    and reference. See :func:`audit_to_json` for a JSON export without NaN.
    """
    y, p = _check_inputs(y_true, p_pred, threshold)
    cat = _group_labels(groups, y.size)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer; got {n_bootstrap!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence!r}")
    names = [str(c) for c in cat.categories]
    codes = np.asarray(cat.codes)
    sizes = np.bincount(codes, minlength=len(names))
    ref = reference_index(names, sizes, reference)

    approved = (p < threshold).astype(np.int64)
    repaid = 1 - y
    labels = pd.Series(np.asarray(names, dtype=object)[codes], name="group")

    # ---- point estimates with fairlearn ----
    decisions = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=repaid,
        y_pred=approved,
        sensitive_features=labels,
    )
    scores = MetricFrame(
        metrics={
            "default_rate": _default_rate,
            "mean_predicted": _mean_predicted,
            "roc_auc": _roc_auc,
            "brier_score": _brier,
            "calibration_gap": _calibration_gap,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=labels,
    )
    by_group = pd.concat([decisions.by_group, scores.by_group], axis=1).loc[names]
    notes: dict[tuple[str, str], str] = {}
    # Groups lacking repaid (defaulted) applicants have no TPR (FPR); fairlearn reports 0.
    n_def = np.bincount(codes, weights=y, minlength=len(names))
    for g, name in enumerate(names):
        if n_def[g] == sizes[g]:
            by_group.loc[name, "true_positive_rate"] = math.nan
            notes[name, "true_positive_rate"] = "no applicant in the group repaid"
        if n_def[g] == 0:
            by_group.loc[name, "false_positive_rate"] = math.nan
            notes[name, "false_positive_rate"] = "no applicant in the group defaulted"
        if n_def[g] in (0, sizes[g]):
            notes[name, "roc_auc"] = "only one class in the group: ROC AUC is undefined"

    across, across_notes = _across_point(repaid, approved, labels, codes, names, n_def, sizes)

    # ---- bootstrap, stratified by group ----
    boot: dict[str, np.ndarray] = {}
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        per_group = []
        for g in range(len(names)):
            rows = np.flatnonzero(codes == g)
            idx = rows[rng.integers(0, rows.size, size=(n_bootstrap, rows.size))]
            per_group.append(_replicate_rates(y, p, approved, idx))
        boot = {m: np.stack([r[m] for r in per_group], axis=1) for m in _RATES}  # (B, G)

    point = {m: by_group[m].to_numpy(dtype=float) for m in ("count", *_RATES, "roc_auc")}
    rows = tidy_rows(names, ref, point, boot, confidence, notes, across, across_notes)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs.update(
        threshold=float(threshold),
        confidence=float(confidence),
        n_bootstrap=int(n_bootstrap),
        seed=int(seed),
        reference=names[ref],
        approval_rule=f"approved when p_default < {threshold:g}",
    )
    return table


def tidy_rows(
    names: Sequence[str],
    ref: int,
    point: Mapping[str, np.ndarray],
    boot: dict[str, np.ndarray],
    confidence: float,
    notes: Mapping[tuple[str, str], str],
    across: Mapping[str, float],
    across_notes: Mapping[str, str],
) -> list[dict]:
    """The audit's tidy rows, whatever computed the numbers (in memory or chunk by chunk).

    ``point[metric][g]``: group g's estimate of each of ``count``, the rates and
    ``roc_auc``; ``boot[rate]``: its bootstrap replicates, shape (B, G), or empty without
    a bootstrap. Per group: each metric with its percentile interval (rates only), then,
    for every group but the reference ``ref``, the difference d_g = rate_g - rate_ref
    with the interval of the replicates' differences; then the across-group measures
    (:func:`_across`) with theirs.
    """
    boot = dict(boot)
    if boot:
        for m in _DIFFS:
            boot[f"{m}_diff"] = boot[m] - boot[m][:, [ref]]
        boot.update(_across(boot))

    def ci(metric: str, column: int | None = None) -> tuple[float, float]:
        if metric not in boot:
            return math.nan, math.nan
        samples = boot[metric] if column is None else boot[metric][:, column]
        return _interval(samples, confidence)

    rows: list[dict] = []
    for g, name in enumerate(names):
        for metric in ("count", *_RATES[:5], "roc_auc", *_RATES[5:]):
            value = float(point[metric][g])
            lo, hi = ci(metric, g) if metric in _RATES else (math.nan, math.nan)
            rows.append(_row("group", name, metric, value, lo, hi, notes.get((name, metric), "")))
        if g != ref:
            for m in _DIFFS:
                value = float(point[m][g] - point[m][ref])
                lo, hi = ci(f"{m}_diff", g)
                note = f"{name} minus {names[ref]}"
                if not math.isfinite(value):
                    note += "; undefined: " + (
                        notes.get((name, m)) or notes.get((names[ref], m), "")
                    )
                rows.append(_row("group", name, f"{m}_diff", value, lo, hi, note))
    for metric in _ACROSS:
        value = float(across[metric])
        lo, hi = ci(metric) if len(names) >= 2 else (math.nan, math.nan)
        rows.append(
            _row("across_groups", None, metric, value, lo, hi, across_notes.get(metric, ""))
        )
    return rows


def reference_index(names: Sequence[str], sizes: np.ndarray, reference: object) -> int:
    """The position of the reference group: ``reference`` by name, or the largest group."""
    if reference is None:
        return int(np.argmax(sizes))
    if str(reference) in names:
        return list(names).index(str(reference))
    raise ValueError(f"reference group {reference!r} is not among the groups {names}")
