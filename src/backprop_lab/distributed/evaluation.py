"""credit_metrics from per-partition pieces: sums, counts and score histograms.

Each partition summarises its labels y (1 = default) and probabilities p in a piece:
sums for the mean predicted rate, log loss and Brier score; counts for the confusion
matrix; the ten equal-width bins of the ECE (count, sum p, sum y); and a histogram of p
in HIST_BINS equal-width bins (defaults, non-defaults, sum p per bin). Pieces add up.

From the sum, on the client:

* n, defaults, rates, log loss, Brier, ECE, accuracy, the confusion matrix: the
  in-memory numbers (sums in another order: equal to rounding);
* ROC AUC = sum_b pos_b (neg_{<b} + neg_b / 2) / (P N) counts two scores in one bin as a
  tie; the true AUC differs by at most roc_auc_bin_error = sum_b pos_b neg_b / (2 P N),
  reported with it. KS is the largest |F_1 - F_0| at bin edges, at most ks_bin_error =
  max_b max(pos_b / P, neg_b / N) below the exact one; its p-value is
  ``ks_2samp``'s asymptotic one (kstwo with n = round(P N / (P + N)));
* deciles exactly: a second pass fetches only the rows in the (at most 20) bins where a
  decile starts or ends, sorted by (p, file, row) as the in-memory stable sort orders
  them; whole bins inside a decile come from the histogram.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kstwo

#: Equal-width bins of p for ROC AUC, KS and the deciles' pass.
HIST_BINS = 2**16
#: Equal-width bins of the expected calibration error (metrics.ECE_BINS).
ECE_BINS = 10
_DECILES = 10


def _bins(p: np.ndarray, n: int) -> np.ndarray:
    return np.minimum((p * n).astype(np.int64), n - 1)


def score_piece(y: np.ndarray, p: np.ndarray, threshold: float, file_index: int = 0) -> dict:
    """One partition's summary of labels ``y`` (0/1) and probabilities ``p``."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
        raise ValueError("p must hold probabilities between 0 and 1")
    eps = np.finfo(np.float64).eps
    q = np.clip(p, eps, 1 - eps)  # as sklearn's log_loss
    predicted = p >= threshold
    ece_ids = np.searchsorted(np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1], p)
    h = _bins(p, HIST_BINS)
    return {
        "n": int(y.size),
        "defaults": int(y.sum()),
        "sum_p": float(p.sum()),
        "sum_log_loss": float(-(y * np.log(q) + (1 - y) * np.log1p(-q)).sum()),
        "sum_brier": float(((p - y) ** 2).sum()),
        "confusion": np.array(
            [
                int((~predicted & (y == 0)).sum()),
                int((predicted & (y == 0)).sum()),
                int((~predicted & (y == 1)).sum()),
                int((predicted & (y == 1)).sum()),
            ]
        ),
        "ece_count": np.bincount(ece_ids, minlength=ECE_BINS),
        "ece_p": np.bincount(ece_ids, weights=p, minlength=ECE_BINS),
        "ece_y": np.bincount(ece_ids, weights=y, minlength=ECE_BINS),
        "pos": np.bincount(h, weights=y, minlength=HIST_BINS).astype(np.int64),
        "neg": np.bincount(h, weights=1 - y, minlength=HIST_BINS).astype(np.int64),
        "hist_p": np.bincount(h, weights=p, minlength=HIST_BINS),
    }


def add_pieces(a: dict, b: dict) -> dict:
    """Two pieces as one (every field adds)."""
    return {k: a[k] + b[k] for k in a}


def _groups(n: int) -> np.ndarray:
    """Start ranks of the groups np.array_split(range(n), min(10, n)) makes, and n."""
    k = min(_DECILES, n)
    sizes = [len(g) for g in np.array_split(np.arange(n), k)] if n else []
    return np.cumsum([0, *sizes])


def boundary_bins(total: dict) -> np.ndarray:
    """The histogram bins holding the first or last row (by score) of a decile."""
    n = total["n"]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(total["pos"] + total["neg"])
    starts = _groups(n)
    ranks = np.concatenate([starts[:-1], starts[1:] - 1])
    return np.unique(np.searchsorted(cum, ranks, side="right"))


def decile_rows(y: np.ndarray, p: np.ndarray, bins: np.ndarray, file_index: int) -> np.ndarray:
    """(p, y, file, position) of a partition's rows whose score falls in ``bins``."""
    p = np.asarray(p, dtype=np.float64)
    keep = np.flatnonzero(np.isin(_bins(p, HIST_BINS), bins))
    return np.column_stack(
        [p[keep], np.asarray(y)[keep], np.full(keep.size, file_index), keep]
    ).astype(np.float64)


def _deciles(total: dict, rows: list[np.ndarray]) -> list[dict]:
    """The decile table (metrics.decile_table) from the histogram and the boundary rows."""
    n = total["n"]
    count = total["pos"] + total["neg"]
    cum = np.cumsum(count)
    rows = np.concatenate([r for r in rows if r.size] or [np.zeros((0, 4))])
    order = np.lexsort((rows[:, 3], rows[:, 2], rows[:, 0]))  # by p, then file, then row
    rows = rows[order]
    row_bin = _bins(rows[:, 0], HIST_BINS)
    first_in_bin = {b: int(np.searchsorted(row_bin, b)) for b in np.unique(row_bin)}
    starts = _groups(n)
    out = []

    def take(lo: int, hi: int) -> tuple[float, float, int, float, float]:
        """Sum p, sum y, count, min p, max p of ranks lo..hi-1 (a run inside one bin or
        whole bins)."""
        b_lo = int(np.searchsorted(cum, lo, side="right"))
        b_hi = int(np.searchsorted(cum, hi - 1, side="right"))
        sp, sy, m = 0.0, 0.0, 0
        first_p = last_p = None
        for b in range(b_lo, b_hi + 1):
            base = int(cum[b] - count[b])
            a, z = max(lo, base), min(hi, int(cum[b]))
            if z <= a:
                continue
            if a == base and z == cum[b] and b not in first_in_bin:
                sp += float(total["hist_p"][b])
                sy += float(total["pos"][b])
                m += z - a
                continue
            start = first_in_bin[b] + (a - base)
            chunk = rows[start : start + (z - a)]
            sp += float(chunk[:, 0].sum())
            sy += float(chunk[:, 1].sum())
            m += z - a
            first_p = float(chunk[0, 0]) if first_p is None else first_p
            last_p = float(chunk[-1, 0])
        return sp, sy, m, first_p, last_p

    for k in range(len(starts) - 1):
        lo, hi = int(starts[k]), int(starts[k + 1])
        sp, sy, m, first_p, last_p = take(lo, hi)
        out.append(
            {
                "decile": k + 1,
                "rows": m,
                "min_score": first_p,
                "max_score": last_p,
                "predicted_rate": sp / m,
                "observed_rate": sy / m,
                "defaults": round(sy),
            }
        )
    return out


def metrics_from_pieces(total: dict, rows: list[np.ndarray], threshold: float) -> dict:
    """The credit_metrics dict from the summed piece and the decile pass's rows."""
    n, defaults = total["n"], total["defaults"]
    if n == 0:
        raise ValueError("no rows to evaluate")
    tn, fp, fn, tp = (int(v) for v in total["confusion"])
    pos, neg = total["pos"].astype(np.float64), total["neg"].astype(np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    both = 0 < defaults < n
    auc = auc_error = ks = ks_error = ks_p = None
    if both:
        below = np.cumsum(neg) - neg
        auc = float(np.sum(pos * (below + 0.5 * neg)) / (n_pos * n_neg))
        auc_error = float(np.sum(pos * neg) / (2 * n_pos * n_neg))
        d = np.abs(np.cumsum(pos) / n_pos - np.cumsum(neg) / n_neg)
        ks = float(d.max())
        ks_error = float(max((pos / n_pos).max(), (neg / n_neg).max()))
        ks_p = float(kstwo.sf(ks, np.round(n_pos * n_neg / (n_pos + n_neg))))
    count = total["ece_count"]
    nonempty = count > 0
    gap = (total["ece_p"][nonempty] - total["ece_y"][nonempty]) / count[nonempty]
    ece = float(np.sum(count[nonempty] / count.sum() * np.abs(gap)))
    return {
        "n": int(n),
        "defaults": int(defaults),
        "default_rate": defaults / n,
        "mean_predicted": total["sum_p"] / n,
        "roc_auc": auc,
        "gini": None if auc is None else 2.0 * auc - 1.0,
        "ks": ks,
        "ks_pvalue": ks_p,
        "log_loss": total["sum_log_loss"] / n,
        "brier": total["sum_brier"] / n,
        "expected_calibration_error": ece,
        "threshold": float(threshold),
        "accuracy": (tn + tp) / n,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "true_positive_rate": tp / (tp + fn) if tp + fn else None,
        "false_positive_rate": fp / (fp + tn) if fp + tn else None,
        "deciles": _deciles(total, rows),
        "roc_auc_bin_error": auc_error,
        "ks_bin_error": ks_error,
        "score_bins": HIST_BINS,
    }
