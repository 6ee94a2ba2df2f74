"""The numbers a credit modeller asks of a score, exactly, from one sort of the scores.

For labels y (1 = default) and predicted probabilities of default p:

* ROC AUC = P(p of a random defaulter > p of a random non-defaulter); Gini = 2 AUC - 1;
* KS = max_t |F_default(t) - F_good(t)|, the two-sample Kolmogorov-Smirnov statistic
  between the score distributions of defaulters and non-defaulters;
* log loss = -(1/N) sum [y log p + (1 - y) log(1 - p)]; Brier = (1/N) sum (p - y)^2;
  expected calibration error ECE = sum_b (n_b / N) |mean p_b - default rate_b| over ten
  equal-width bins of p (see :mod:`backprop_lab.classifier.calibration`);
* accuracy and the confusion matrix at a threshold (predict default when p >= t);
* observed versus predicted default rate in each decile of score (calibration);
* the same by band of scorecard points (:func:`score_band_table`): bands of equal width
  w anchored at the base score s0, band k = [s0 + k w, s0 + (k + 1) w).

Nothing here knows about networks: any front end passes (y, p).

How each number is computed, and how it compares with scikit-learn's and SciPy's
functions (``roc_auc_score``, ``ks_2samp``, ``log_loss``, ``brier_score_loss``,
``confusion_matrix``, ``accuracy_score``), which this module computed them with before
(the tests check each claim on random scores with ties and with one class missing):

* the rows are sorted by p once (a stable argsort), and every rank statistic comes from
  that order: tie groups g of equal p, with pos_g defaults and neg_g non-defaults;
* ROC AUC is the Mann-Whitney statistic with mid-ranks, in integers:
  AUC = sum_g pos_g (2 neg_{<g} + neg_g) / (2 P N), the sum exact in int64 and the one
  division correctly rounded. ``roc_auc_score`` sums trapezoids in floating point, so the
  two agree to round-off (about 1e-15 relative), not always to the last bit;
* KS = max over groups of |C1_g / P - C0_g / N| with the cumulative counts C1, C0 at the
  end of each group: the same divisions and subtractions as ``ks_2samp`` (which evaluates
  them at every row, each row of a group giving its group's value), so the same bits. The
  p-value is ``ks_2samp``'s asymptotic one, kstwo.sf(KS, round(P N / (P + N))), computed
  as it does (:func:`ks_survival`, SciPy's own operations where they need only
  ``scipy.special``, else ``kstwo``); at most 10,000 rows in each class ``ks_2samp``
  itself runs (its exact p-value, and its statistic rounded to the lattice of
  1 / lcm(P, N));
* log loss, Brier, accuracy and the confusion matrix are the same element-wise operations
  and the same NumPy mean as scikit-learn's, so the same bits; the deciles and the ECE are
  computed as before (the same bits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .calibration import brier_from_checked, expected_calibration_error

#: Equal-width bins of p for the expected calibration error.
ECE_BINS = 10
#: ``ks_2samp``'s limit for its exact p-value (``MAX_AUTO_N``): with at most this many
#: rows in each class, ``ks_2samp`` itself computes KS and its p-value.
KS_EXACT_MAX_ROWS = 10_000
#: Sorted rows taken at a time by the rank statistics (:func:`_rank_statistics`).
_RANK_BLOCK = 1 << 16


def check_binary_scores(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 int64 and probabilities as float64, both 1-D and of equal length."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"y and p must be 1-D and of equal length; got {y.shape} and {p.shape}")
    if y.size == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0 (no default) and 1 (default) only")
    if not (np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))):
        raise ValueError("p must hold probabilities between 0 and 1")
    return y.astype(np.int64, copy=False), p  # no copy of labels that are int64 already


def decile_table(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Rows sorted by score and cut into ``n_bins`` groups of (nearly) equal size.

    Decile 1 holds the lowest scores. Columns: rows, score range, mean predicted
    probability of default, observed default rate, and defaults.
    """
    y, p = check_binary_scores(y, p)
    order = np.argsort(p, kind="stable")
    return pd.DataFrame(_decile_records(y[order], p[order], n_bins))


def _decile_records(ys: np.ndarray, ps: np.ndarray, n_bins: int = 10) -> list[dict]:
    """The decile table's records from labels and scores in the order of a stable sort by
    score: groups of consecutive rows as ``np.array_split`` cuts them (the first
    N mod n_bins groups one row longer), each group's means over its rows in that order."""
    k = min(n_bins, ps.size)
    size, extra = divmod(ps.size, k)
    rows, start = [], 0
    for decile in range(1, k + 1):
        stop = start + size + (decile <= extra)
        p_part, y_part = ps[start:stop], ys[start:stop]
        rows.append(
            {
                "decile": decile,
                "rows": int(stop - start),
                "min_score": float(p_part[0]),
                "max_score": float(p_part[-1]),
                "predicted_rate": float(p_part.mean()),
                "observed_rate": float(y_part.mean()),
                "defaults": int(y_part.sum()),
            }
        )
        start = stop
    return rows


def score_band_table(
    y: ArrayLike, p: ArrayLike, points: ArrayLike, width: float, *, anchor: float = 0.0
) -> pd.DataFrame:
    """Rows grouped by band of scorecard points, lowest score (highest risk) first.

    Band k holds the rows with anchor + k w <= points < anchor + (k + 1) w, i.e.
    k = floor((points - anchor) / w); only bands with rows are listed. Columns:
    low, high (the band's points), rows, share (of all rows), defaults, observed_rate
    (defaults / rows), predicted_rate (mean p), mean_points.
    """
    y, p = check_binary_scores(y, p)
    s = np.asarray(points, dtype=np.float64)
    if s.shape != p.shape:
        raise ValueError(f"points must have one value per row; got {s.shape} for {p.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("points must be finite")
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"band width must be a positive number of points; got {width!r}")
    k = np.floor((s - anchor) / width).astype(np.int64)
    bands, band = np.unique(k, return_inverse=True)
    rows = np.bincount(band)
    defaults = np.bincount(band, weights=y)
    low = anchor + bands * width
    return pd.DataFrame(
        {
            "low": low.astype(np.float64),
            "high": (low + width).astype(np.float64),
            "rows": rows.astype(np.int64),
            "share": rows / s.size,
            "defaults": defaults.astype(np.int64),
            "observed_rate": defaults / rows,
            "predicted_rate": np.bincount(band, weights=p) / rows,
            "mean_points": np.bincount(band, weights=s) / rows,
        }
    )


def format_score_bands(bands: list[dict], scale: dict) -> str:
    """A plain-text table of :func:`score_band_table`'s records, with the scale used."""
    lines = [
        f"score bands: {scale['base_score']:g} points at good:bad odds {scale['base_odds']:g}:1, "
        f"{scale['pdo']:g} points to double the odds",
        "points          rows    share   defaults  observed  predicted",
    ]
    for b in bands:
        lines.append(
            f"{b['low']:>6g} - {b['high']:<6g}{b['rows']:>6d}  {b['share']:>7.2%}  "
            f"{b['defaults']:>9d}  {b['observed_rate']:>8.2%}  {b['predicted_rate']:>9.2%}"
        )
    return "\n".join(lines)


def credit_metrics(y: ArrayLike, p: ArrayLike, threshold: float = 0.5) -> dict:
    """Discrimination, calibration and threshold metrics of default probabilities ``p``.

    Returns a JSON-ready dict: ``n``, ``defaults``, ``default_rate``, ``mean_predicted``,
    ``roc_auc``, ``gini``, ``ks``, ``ks_pvalue``, ``log_loss``, ``brier``,
    ``expected_calibration_error`` (ten equal-width bins), ``threshold``,
    ``accuracy``, ``confusion_matrix`` ({tn, fp, fn, tp}; predicted default when
    p >= threshold), ``true_positive_rate``, ``false_positive_rate`` and ``deciles``
    (see :func:`decile_table`). Metrics that need both classes are None when y has one.
    How each is computed: see the module's docstring.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1; got {threshold}")
    y, p = check_binary_scores(y, p)
    order = np.argsort(p, kind="stable")
    ys, ps = y[order], p[order]
    del order
    n, defaults = int(y.size), int(ys.sum())
    both = 0 < defaults < n
    predicted = p >= threshold
    tp = int(np.count_nonzero(predicted & (y == 1)))
    fp = int(np.count_nonzero(predicted)) - tp
    fn = defaults - tp
    tn = n - defaults - fp
    auc = ks = ks_pvalue = None
    if both:
        auc, ks, ks_pvalue = _rank_statistics(y, p, ys, ps)
    deciles = _decile_records(ys, ps)
    del ys, ps  # the sorted copies go before the element-wise metrics make theirs
    return {
        "n": n,
        "defaults": defaults,
        "default_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "roc_auc": auc,
        "gini": None if auc is None else 2.0 * auc - 1.0,
        "ks": ks,
        "ks_pvalue": ks_pvalue,
        "log_loss": binary_log_loss(y, p),
        "brier": brier_from_checked(y, p),
        "expected_calibration_error": expected_calibration_error(y, p, n_bins=ECE_BINS),
        "threshold": float(threshold),
        # (tp + tn) / n: accuracy_score's mean of (y == predicted), an exact integer sum
        "accuracy": (tp + tn) / n,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "true_positive_rate": tp / (tp + fn) if tp + fn else None,
        "false_positive_rate": fp / (fp + tn) if fp + tn else None,
        "deciles": deciles,
    }


def _rank_statistics(
    y: np.ndarray, p: np.ndarray, ys: np.ndarray, ps: np.ndarray
) -> tuple[float, float, float]:
    """(ROC AUC, KS, KS p-value) from labels ``ys`` and scores ``ps`` sorted by score
    (both classes present); ``y``, ``p`` in the file's order, for ``ks_2samp``.

    The sorted rows are taken :data:`_RANK_BLOCK` at a time, so that the arrays of tie
    groups stay that short whatever the number of rows: the counts C1_g, C0_g are
    cumulative across blocks, and every quantity below is an exact integer sum, a
    maximum or a minimum of values computed one by one, so the blocks change no bit."""
    P = int(np.sum(ys))
    N = int(ys.size) - P
    twice, low, high = 0, np.inf, -np.inf
    before, pos_prev, neg_prev = 0, 0, 0  # defaults before the block; C1, C0 of the last end
    for start in range(0, ps.size, _RANK_BLOCK):
        stop = min(start + _RANK_BLOCK, ps.size)
        # the last row of each tie group: where the next score differs, and the last row
        following = ps[start + 1 : stop + 1]
        last = np.append(ps[start : start + following.size] != following, stop == ps.size)
        ends = np.flatnonzero(last[: stop - start])
        cum = np.cumsum(ys[start:stop])
        if ends.size:
            pos_cum = cum[ends]  # C1_g: defaults up to the end of group g
            pos_cum += before
            neg_cum = ends + (start + 1) - pos_cum  # C0_g
            # 2 P N AUC = sum_g pos_g (2 neg_{<g} + neg_g) = sum_g pos_g (C0_{g-1} + C0_g),
            # pos_g = C1_g - C1_{g-1}: integers, exact in int64 below 2^63 (N < 4e9)
            pos_g = np.diff(pos_cum, prepend=pos_prev)
            twice += int(np.sum(pos_g * (np.append(neg_prev, neg_cum[:-1]) + neg_cum)))
            diff = pos_cum / P  # ks_2samp's cdf1 - cdf2 at the end of each group
            diff -= neg_cum / N
            low, high = min(low, np.min(diff)), max(high, np.max(diff))
            pos_prev, neg_prev = int(pos_cum[-1]), int(neg_cum[-1])
        before += int(cum[-1])
    auc = twice / (2 * P * N)  # Python's int / int: correctly rounded
    if max(P, N) <= KS_EXACT_MAX_ROWS:
        from scipy.stats import ks_2samp

        result = ks_2samp(p[y == 1], p[y == 0])
        return auc, float(result.statistic), float(result.pvalue)
    low = float(np.clip(-low, 0, 1))
    high = float(high)
    ks = low if low > high else high
    m, k = sorted([float(P), float(N)], reverse=True)
    n = np.round(m * k / (m + k))
    pvalue = ks_survival(ks, n)
    if pvalue is None:
        from scipy.stats import kstwo

        pvalue = kstwo.sf(ks, n)
    return auc, ks, float(np.clip(pvalue, 0, 1))


def ks_survival(d: float, n: np.float64) -> float | None:
    """P(D_n > d) for the two-sided one-sample Kolmogorov-Smirnov statistic D_n, where
    SciPy's ``kstwo.sf(d, n)`` computes it from Smirnov's one-sided distribution alone,
    with its operations (so its bits), or None elsewhere (its other series, which need
    scipy.stats). With t = n d, for 1 < t < n - 1 (Simard and L'Ecuyer's cases):
    d >= 1/2: 2 smirnov(n, d) (exact); n d^2 > 4 for n <= 140, and 2.2 <= n d^2 < 370
    for n > 140: 2 smirnov(n, d); n d^2 >= 370 for n > 140: 0. A portfolio's KS is in
    the last case, so computing its p-value loads only scipy.special."""
    from scipy.special import smirnov

    t = n * d
    if not 0.0 < d < 1.0 or t <= 1.0 or t >= n - 1:
        return None
    if d >= 0.5:
        return float(np.clip(2 * smirnov(n, d), 0.0, 1.0))
    squared = t * d
    if n <= 140:
        return float(np.clip(2 * smirnov(n, d), 0.0, 1.0)) if squared > 4 else None
    if squared >= 370.0:
        return 0.0
    if squared >= 2.2:
        return float(np.clip(2 * smirnov(n, d), 0.0, 1.0))
    return None


def binary_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """-(1/N) sum_i log q_i with q_i = clip(p_i) for a default and clip(1 - p_i) for a
    repayment, clipped to [eps, 1 - eps]: ``sklearn.metrics.log_loss``'s operations (its
    columns 1 - p and p, clipped, the log of the label's column) and its mean, so its bits.
    ``y``: 0/1 int64, ``p``: float64, as :func:`check_binary_scores` returns them."""
    eps = np.finfo(np.float64).eps
    q = np.where(y == 1, p, 1 - p)
    np.clip(q, eps, 1 - eps, out=q)  # the same operations, in place
    np.log(q, out=q)
    np.negative(q, out=q)
    return float(np.mean(q))


def multiclass_metrics(y: ArrayLike, proba: ArrayLike, classes: ArrayLike) -> dict:
    """Accuracy, log loss, one-vs-rest macro ROC AUC and the confusion matrix for K classes.

    ``y`` holds labels from ``classes``; ``proba[:, k]`` is P(classes[k] | x).
    """
    from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score

    classes = np.asarray(classes)
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    index = np.searchsorted(classes, y)
    predicted = np.argmax(proba, axis=1)
    present = np.unique(index)
    auc = (
        float(roc_auc_score(index, proba, multi_class="ovr", labels=np.arange(len(classes))))
        if len(present) == len(classes)
        else None
    )
    matrix = confusion_matrix(index, predicted, labels=np.arange(len(classes)))
    return {
        "n": int(y.size),
        "classes": [c.item() if hasattr(c, "item") else c for c in classes],
        "accuracy": float(np.mean(predicted == index)),
        "log_loss": float(log_loss(index, proba, labels=np.arange(len(classes)))),
        "roc_auc_ovr_macro": auc,
        "confusion_matrix": matrix.tolist(),
    }


def format_credit_metrics(m: dict) -> str:
    """A plain-text report of :func:`credit_metrics`' output."""

    def num(v: float | None, fmt: str = ".4f") -> str:
        return "n/a" if v is None else format(v, fmt)

    cm = m["confusion_matrix"]
    lines = [
        f"rows {m['n']}, defaults {m['defaults']} ({m['default_rate']:.2%}), "
        f"mean predicted {m['mean_predicted']:.2%}",
        f"ROC AUC   {num(m['roc_auc'])}    Gini {num(m['gini'])}    KS {num(m['ks'])}",
        f"log loss  {num(m['log_loss'])}    Brier {num(m['brier'])}"
        + (
            f"    ECE {num(m['expected_calibration_error'])} ({ECE_BINS} equal-width bins)"
            if "expected_calibration_error" in m  # models saved before it was recorded
            else ""
        ),
        f"at threshold {m['threshold']:g}: accuracy {m['accuracy']:.4f}, "
        f"true positive rate {num(m['true_positive_rate'])}, "
        f"false positive rate {num(m['false_positive_rate'])}",
        "confusion matrix      predicted 0  predicted 1",
        f"  actual 0 (no default) {cm['tn']:>11d}  {cm['fp']:>11d}",
        f"  actual 1 (default)    {cm['fn']:>11d}  {cm['tp']:>11d}",
        "decile   rows   score range          predicted  observed  defaults",
    ]
    for d in m["deciles"]:
        lines.append(
            f"{d['decile']:>6d} {d['rows']:>6d}   {d['min_score']:.4f} - {d['max_score']:.4f}"
            f"    {d['predicted_rate']:>8.2%}  {d['observed_rate']:>8.2%}  {d['defaults']:>8d}"
        )
    return "\n".join(lines)


def format_multiclass_metrics(m: dict) -> str:
    lines = [
        f"rows {m['n']}, classes {', '.join(map(str, m['classes']))}",
        f"accuracy {m['accuracy']:.4f}    log loss {m['log_loss']:.4f}    "
        f"ROC AUC (one-vs-rest, macro) "
        + ("n/a" if m["roc_auc_ovr_macro"] is None else f"{m['roc_auc_ovr_macro']:.4f}"),
        "confusion matrix (rows: actual, columns: predicted, in class order)",
    ]
    lines += ["  " + " ".join(f"{v:>8d}" for v in row) for row in m["confusion_matrix"]]
    return "\n".join(lines)
