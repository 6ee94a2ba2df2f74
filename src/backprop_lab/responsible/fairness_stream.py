"""The fairness audit of :mod:`.fairness`, accumulated chunk by chunk in bounded memory.

    audit = StreamingAudit(n_groups=4, threshold=0.5, n_bootstrap=1000, seed=0)
    for y, p, codes in chunks:                  # default 0/1, p_default, group 0..G-1
        audit.add(y, p, codes)
    table = audit.table(["under 25", "25-39", "40-61", "62 and over"])

The table has :func:`.fairness.audit`'s rows, columns, notes and definitions (approved
when p < threshold; fairlearn's conventions: approval is the positive prediction,
repaying the positive label). Every per-group metric is a function of four counts
and two sums per group g (d: default, a: approved, p: p_default):

    n_g(a, d) = #{i in g: a_i = a, d_i = d},   S_g = sum_{i in g} p_i,   Q_g = sum_{i in g} (p_i - d_i)^2

    count = n_g = sum of the four cells        default_rate   = n_g(., 1) / n_g
    selection_rate = n_g(1, .) / n_g           mean_predicted = S_g / n_g
    true_positive_rate = n_g(1, 0) / n_g(., 0)  brier_score    = Q_g / n_g
    false_positive_rate = n_g(1, 1) / n_g(., 1) calibration_gap = S_g / n_g - default_rate

and the across-group metrics are maxima, minima and ratios of those rates, so a chunk
only adds to 6 numbers per group.

Confidence intervals: the Poisson bootstrap. Replicate b gives row i the weight
w_ib ~ Poisson(1), independently for every row and replicate, and recomputes every
rate from the weighted counts and sums (sum_i w_ib [a_i = a, d_i = d], sum_i w_ib p_i,
...), which a chunk adds to like the plain ones: memory B x G x 6 numbers, whatever the
number of rows. It approximates the multinomial bootstrap (resampling n rows with
replacement, whose counts are Multinomial(n; 1/n, ..., 1/n) ~ independent Poisson(1)
for large n); a group's size varies between replicates (Poisson(n_g)) instead of
being fixed, which leaves a rate's bootstrap variance p (1 - p) / n_g unchanged to
first order. A replicate in which a group gets no weight at all (probability
exp(-n_g)) has no rates for it and is left out of that group's intervals.

The weights are reproducible and independent of how the rows are cut into chunks:
w_ib comes from numpy's counter-based Philox generator keyed by the seed, row i (its
position in the file, from 0) using the 64-bit words i K .. (i + 1) K - 1 of the stream
(K = B/4 rounded up to a multiple of 4, so row i starts at counter i K / 4), four 16-bit
numbers u per word, mapped to Poisson(1) by the inverse CDF at (u + 1/2) / 2^16 (each
probability within 2^-16 of the exact Poisson one). The sums run over the rows in file
order, so the audit is the same, bit for bit, for any chunk size.

ROC AUC per group needs every score. Up to :data:`EXACT_AUC_ROWS` rows the scores are
kept and scikit-learn's ``roc_auc_score`` computes it exactly; for larger files they
are counted in :data:`AUC_BINS` equal-width bins of p_default per group and class, and

    AUC = sum_b n1_b (n0_{<b} + n0_b / 2) / (n1 n0)

(n1_b, n0_b: defaulted and repaid applicants in bin b; n0_{<b} repaid ones in lower
bins). Only pairs in the same bin are scored 1/2 instead of 0 or 1, so the binned AUC
is within 1/2 sum_b n1_b n0_b / (n1 n0) of the exact one; ``table.attrs`` records the
method and the largest such bound over the groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numba import njit
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from .._util.spill import SpilledValues
from .._util.validation import check_labels_and_scores
from .age_check import ELDERLY_AGE, AgeAdverseResult, _band_labels, check_age_inputs
from .fairness import _ACROSS, reference_index, tidy_rows
from .fairness_table import COLUMNS

#: Up to this many rows the ROC AUC is exact; beyond, it comes from binned scores.
EXACT_AUC_ROWS = 100_000
#: Equal-width bins of p_default per group and class for the binned ROC AUC.
AUC_BINS = 1 << 16
#: Random 64-bit words generated at once for the bootstrap weights (8 MB).
BLOCK_WORDS = 1 << 20

# Cells of a row: 2 * approved + default.
_N_CELLS = 4
# Per group: the four cells, S (sum of p) and Q (sum of (p - d)^2).
_N_STATS = 6


def _poisson_table() -> np.ndarray:
    """w(u) = min {k : F(k) > (u + 1/2) / 2^16} for u = 0 .. 2^16 - 1, F the Poisson(1)
    CDF: the inverse-CDF map from 16 random bits to a Poisson(1) count."""
    k = np.arange(40)
    log_pmf = -1.0 - np.array([math.lgamma(i + 1.0) for i in k])
    cdf = np.cumsum(np.exp(log_pmf))
    u = (np.arange(1 << 16) + 0.5) / (1 << 16)
    return np.searchsorted(cdf, u, side="right").astype(np.uint8)


POISSON_TABLE = _poisson_table()


def _words_per_row(n_replicates: int) -> int:
    """K: 64-bit words per row, four weights per word, a multiple of 4 (one Philox block)."""
    return 4 * math.ceil(n_replicates / 16)


def _philox_key(seed: int) -> np.ndarray:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint64)


def _random_bits(key: np.ndarray, first_row: int, n_rows: int, n_replicates: int) -> np.ndarray:
    """The 16-bit numbers of rows first_row .. first_row + n_rows - 1: (n_rows, 4 K)."""
    words = _words_per_row(n_replicates)
    bits = np.random.Philox(key=key, counter=first_row * (words // 4)).random_raw(n_rows * words)
    return bits.view(np.uint16).reshape(n_rows, 4 * words)


def poisson_weights(seed: int, first_row: int, n_rows: int, n_replicates: int) -> np.ndarray:
    """The bootstrap weights w_ib of rows first_row .. first_row + n_rows - 1, shape
    (n_rows, n_replicates), uint8: what :class:`StreamingAudit` uses (for checks)."""
    bits = _random_bits(_philox_key(seed), first_row, n_rows, n_replicates)
    return POISSON_TABLE[bits[:, :n_replicates]]


_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def _add_rows(codes, cells, p, sq, sums):  # pragma: no cover (compiled)
    """sums[g, cell] += 1, sums[g, 4] += p, sums[g, 5] += (p - d)^2, row by row in order."""
    for i in range(codes.shape[0]):
        g = codes[i]
        sums[g, cells[i]] += 1.0
        sums[g, 4] += p[i]
        sums[g, 5] += sq[i]


@njit(**_JIT)
def _add_replicates(bits, table, codes, cells, p, sq, replicates):  # pragma: no cover
    """replicates[g, s, b] += w_ib x_is with w_ib = table[bits[i, b]], row by row in order
    (x_i: the row's cell indicator, p and (p - d)^2)."""
    n_rep = replicates.shape[2]
    for i in range(codes.shape[0]):
        g = codes[i]
        count = replicates[g, cells[i]]
        total_p = replicates[g, 4]
        total_sq = replicates[g, 5]
        row = bits[i]
        pi, si = p[i], sq[i]
        for b in range(n_rep):
            w = np.float64(table[row[b]])
            count[b] += w
            total_p[b] += w * pi
            total_sq[b] += w * si


def rates_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """The per-group rates from counts and sums of shape (..., G, 6) (cells 0-3 =
    declined & repaid, declined & defaulted, approved & repaid, approved & defaulted;
    then S and Q): arrays of shape (..., G), NaN where a denominator is 0."""
    c = sums[..., :_N_CELLS]
    n = c.sum(axis=-1)
    n_def = c[..., 1] + c[..., 3]
    n_rep = c[..., 0] + c[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        default_rate = n_def / n
        mean_predicted = sums[..., 4] / n
        return {
            "default_rate": default_rate,
            "mean_predicted": mean_predicted,
            "selection_rate": (c[..., 2] + c[..., 3]) / n,
            "true_positive_rate": c[..., 2] / n_rep,
            "false_positive_rate": c[..., 3] / n_def,
            "brier_score": sums[..., 5] / n,
            "calibration_gap": mean_predicted - default_rate,
        }


class StreamingAudit:
    """Counts, sums, bootstrap replicates and scores of a fairness audit, chunk by chunk.

    ``n_groups`` groups coded 0 .. n_groups - 1; ``threshold``, ``n_bootstrap`` and
    ``seed`` as in :func:`.fairness.audit` (the bootstrap is the Poisson one, see the
    module docstring). Memory: 6 (B + 1) numbers per group, the bootstrap's random
    numbers for about a million weights at a time, and the scores for the ROC AUC
    (kept up to ``exact_auc_rows`` rows, default :data:`EXACT_AUC_ROWS`, then
    ``auc_bins`` counts per group and class, default :data:`AUC_BINS`).
    """

    def __init__(
        self,
        n_groups: int,
        *,
        threshold: float = 0.5,
        n_bootstrap: int = 1000,
        seed: int = 0,
        exact_auc_rows: int | None = None,
        auc_bins: int | None = None,
    ) -> None:
        if not (math.isfinite(threshold) and 0 < threshold <= 1):
            raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}")
        if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be a non-negative integer; got {n_bootstrap!r}")
        if n_groups < 1:
            raise ValueError(f"n_groups must be at least 1; got {n_groups}")
        self.n_groups = int(n_groups)
        self.threshold = float(threshold)
        self.n_bootstrap = int(n_bootstrap)
        self.seed = int(seed)
        self._key = _philox_key(seed)
        self.sums = np.zeros((self.n_groups, _N_STATS))
        self.replicates = np.zeros((self.n_groups, _N_STATS, self.n_bootstrap))
        self.n_rows = 0
        self._exact_auc_rows = EXACT_AUC_ROWS if exact_auc_rows is None else int(exact_auc_rows)
        self._auc_bins = AUC_BINS if auc_bins is None else int(auc_bins)
        self._scores: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._histogram: np.ndarray | None = None

    # ---- adding rows ----
    def add(self, y_true: ArrayLike, p_pred: ArrayLike, codes: ArrayLike) -> None:
        """Add the next rows of the file: default (0/1), p_default and group codes."""
        y, p = check_labels_and_scores(y_true, p_pred)
        g = np.asarray(codes).ravel()
        if g.shape != y.shape:
            raise ValueError(f"codes has {g.size} values but there are {y.size} applicants")
        if g.size and (g.min() < 0 or g.max() >= self.n_groups):
            raise ValueError(f"group codes must be 0 .. {self.n_groups - 1}")
        g = g.astype(np.int64)
        cells = 2 * (p < self.threshold).astype(np.int64) + y
        sq = (p - y) ** 2
        _add_rows(g, cells, p, sq, self.sums)
        if self.n_bootstrap:
            step = max(1, BLOCK_WORDS // _words_per_row(self.n_bootstrap))
            for start in range(0, y.size, step):
                sl = slice(start, start + step)
                bits = _random_bits(self._key, self.n_rows + start, len(g[sl]), self.n_bootstrap)
                _add_replicates(
                    bits, POISSON_TABLE, g[sl], cells[sl], p[sl], sq[sl], self.replicates
                )
        self._add_scores(g, y, p)
        self.n_rows += y.size

    def _add_scores(self, g: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
        if self._histogram is None and self.n_rows + y.size <= self._exact_auc_rows:
            self._scores.append((g.astype(np.int16), y.astype(np.int8), p.copy()))
            return
        if self._histogram is None:
            self._histogram = np.zeros((self.n_groups, 2, self._auc_bins), dtype=np.int64)
            for kept in self._scores:
                self._count_scores(*kept)
            self._scores = []
        self._count_scores(g, y, p)

    def _count_scores(self, g: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
        bins = np.minimum((p * self._auc_bins).astype(np.int64), self._auc_bins - 1)
        flat = (g.astype(np.int64) * 2 + y) * self._auc_bins + bins
        self._histogram += np.bincount(flat, minlength=self._histogram.size).reshape(
            self._histogram.shape
        )

    # ---- ROC AUC ----
    @property
    def auc_is_exact(self) -> bool:
        return self._histogram is None

    def roc_auc(self) -> tuple[np.ndarray, np.ndarray]:
        """(AUC per group, bound on its error): exact AUC and 0 up to ``exact_auc_rows``
        rows, else the binned AUC and 1/2 sum_b n1_b n0_b / (n1 n0). NaN for a group
        with one class only."""
        auc = np.full(self.n_groups, np.nan)
        bound = np.zeros(self.n_groups)
        if self._histogram is None:
            if not self._scores:
                return auc, bound
            g = np.concatenate([s[0] for s in self._scores])
            y = np.concatenate([s[1] for s in self._scores])
            p = np.concatenate([s[2] for s in self._scores])
            for k in range(self.n_groups):
                mask = g == k
                if np.unique(y[mask]).size == 2:
                    auc[k] = roc_auc_score(y[mask], p[mask])
            return auc, bound
        for k in range(self.n_groups):
            neg, pos = self._histogram[k].astype(np.float64)
            n0, n1 = neg.sum(), pos.sum()
            if n0 == 0 or n1 == 0:
                continue
            below = np.cumsum(neg) - neg
            auc[k] = float(np.sum(pos * (below + 0.5 * neg)) / (n1 * n0))
            bound[k] = float(0.5 * np.sum(pos * neg) / (n1 * n0))
        return auc, bound

    # ---- the table ----
    def table(
        self,
        names: Sequence[str],
        *,
        confidence: float = 0.95,
        reference: object | None = None,
    ) -> pd.DataFrame:
        """The audit table of :func:`.fairness.audit` (same rows, columns and notes) for
        the rows added so far; ``names`` name the group codes in order. Groups without
        rows are left out. ``table.attrs`` adds ``bootstrap`` ('poisson'), ``roc_auc``
        ('exact' or how the scores were binned) and ``roc_auc_max_error`` (the largest
        bound on a group's binning error; 0 when exact) to audit's settings."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1; got {confidence!r}")
        if len(names) != self.n_groups:
            raise ValueError(f"{len(names)} names for {self.n_groups} groups")
        if self.n_rows == 0:
            raise ValueError("no rows: nothing to audit")
        sizes = self.sums[:, :_N_CELLS].sum(axis=1)
        keep = np.flatnonzero(sizes > 0)
        names = [str(names[k]) for k in keep]
        sums, sizes = self.sums[keep], sizes[keep]
        ref = reference_index(names, sizes, reference)
        rates = rates_from_sums(sums)
        auc_all, bound_all = self.roc_auc()
        auc, bound = auc_all[keep], bound_all[keep]
        n_def = sums[:, 1] + sums[:, 3]

        notes: dict[tuple[str, str], str] = {}
        for g, name in enumerate(names):
            if n_def[g] == sizes[g]:
                notes[name, "true_positive_rate"] = "no applicant in the group repaid"
            if n_def[g] == 0:
                notes[name, "false_positive_rate"] = "no applicant in the group defaulted"
            if n_def[g] in (0, sizes[g]):
                notes[name, "roc_auc"] = "only one class in the group: ROC AUC is undefined"
        across, across_notes = _across_point(
            rates, names, has_repaid=n_def < sizes, has_default=n_def > 0
        )

        boot: dict[str, np.ndarray] = {}
        if self.n_bootstrap:
            boot = rates_from_sums(np.moveaxis(self.replicates[keep], 2, 0))  # (B, G)
        point = {**rates, "count": sizes, "roc_auc": auc}
        rows = tidy_rows(names, ref, point, boot, confidence, notes, across, across_notes)
        table = pd.DataFrame(rows, columns=COLUMNS)
        table.attrs.update(
            threshold=self.threshold,
            confidence=float(confidence),
            n_bootstrap=self.n_bootstrap,
            seed=self.seed,
            reference=names[ref],
            approval_rule=f"approved when p_default < {self.threshold:g}",
            bootstrap="poisson",
            roc_auc="exact"
            if self.auc_is_exact
            else f"binned into {self._auc_bins} equal-width bins of p_default",
            roc_auc_max_error=float(np.max(bound)) if bound.size else 0.0,
        )
        return table


def _across_point(
    rates: dict[str, np.ndarray],
    names: list[str],
    *,
    has_repaid: np.ndarray,
    has_default: np.ndarray,
) -> tuple[dict[str, float], dict[str, str]]:
    """Across-group point estimates with fairlearn's definitions and
    :func:`.fairness.audit`'s notes: groups without repaid (defaulted) applicants have no
    TPR (FPR) and are left out of the metrics that need it."""
    values = {m: math.nan for m in _ACROSS}
    if len(names) < 2:
        return values, dict.fromkeys(_ACROSS, "only one group: nothing to compare")
    notes: dict[str, str] = {}
    sel, tpr, fpr = (
        rates["selection_rate"],
        rates["true_positive_rate"],
        rates["false_positive_rate"],
    )
    values["demographic_parity_difference"] = float(sel.max() - sel.min())
    values["demographic_parity_ratio"] = float(sel.min() / sel.max()) if sel.max() > 0 else math.nan

    def left_out(mask: np.ndarray) -> str:
        return "left out (one class only): " + ", ".join(
            n for n, k in zip(names, mask, strict=True) if not k
        )

    if has_repaid.sum() >= 2:
        values["equal_opportunity_difference"] = float(
            tpr[has_repaid].max() - tpr[has_repaid].min()
        )
        if not has_repaid.all():
            notes["equal_opportunity_difference"] = left_out(has_repaid)
    else:
        notes["equal_opportunity_difference"] = "fewer than two groups have repaid applicants"
    if has_repaid.sum() >= 2 and has_default.sum() >= 2:
        fpr_d = float(fpr[has_default].max() - fpr[has_default].min())
        values["equalized_odds_difference"] = max(values["equal_opportunity_difference"], fpr_d)
        if not (has_repaid.all() and has_default.all()):
            notes["equalized_odds_difference"] = left_out(has_repaid & has_default)
    else:
        notes["equalized_odds_difference"] = (
            "fewer than two groups have both repaid and defaulted applicants"
        )
    return values, notes


# ---- US Regulation B, chunk by chunk ---------------------------------------------------

_ELDERLY_LABEL = 255


class AgeCheckAccumulator:
    """:func:`.fairness.age_adverse_check` over chunks of applicants, in bounded memory.

    The age classes' medians need every attribution; they are kept in a temporary file
    (9 bytes an applicant) and the medians found exactly by radix selection
    (:class:`~backprop_lab._util.spill.SpilledValues`). Same arguments and result as
    :func:`.fairness.age_adverse_check`.
    """

    def __init__(
        self,
        *,
        elderly_age: float = ELDERLY_AGE,
        bins: Sequence[float] = (25, 40),
        tolerance: float = 0.0,
    ) -> None:
        if not math.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"tolerance must be a non-negative number; got {tolerance!r}")
        edges = [float(b) for b in bins]
        if any(b >= elderly_age for b in edges):
            raise ValueError(
                f"bins must lie below the elderly age {elderly_age:g}; got {list(bins)}"
            )
        if any(not math.isfinite(b) for b in edges) or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins must be finite and strictly increasing; got {list(bins)}")
        self.elderly_age = float(elderly_age)
        self.tolerance = float(tolerance)
        self._edges = np.asarray([*edges, self.elderly_age])
        self._names = _band_labels(list(self._edges))[: len(edges) + 1]
        self._spill = SpilledValues()
        self.n_raises_risk = 0

    def add(self, age_attribution: ArrayLike, ages: ArrayLike) -> None:
        """Add the next applicants: the contribution of age to their log-odds of default
        and their ages."""
        a, age = check_age_inputs(age_attribution, ages)
        elderly = age >= self.elderly_age
        labels = np.where(elderly, _ELDERLY_LABEL, np.searchsorted(self._edges, age, side="right"))
        self._spill.append(labels.astype(np.uint8), a)
        self.n_raises_risk += int(np.count_nonzero(a[elderly] > 0))

    def close(self) -> None:
        """Delete the temporary file (:meth:`result` does it too)."""
        self._spill.close()

    def result(self) -> AgeAdverseResult:
        """The check over every applicant added (the spill file is then deleted)."""
        try:
            counts = self._spill.counts
            classes = [k for k in range(len(self._names)) if counts[k] > 0]
            if not classes:
                raise ValueError(
                    f"no applicant is under {self.elderly_age:g}: nothing to compare with"
                )
            table = pd.DataFrame(
                {
                    "class": [self._names[k] for k in classes],
                    "count": np.asarray([counts[k] for k in classes], dtype=np.int64),
                    "median_attribution": [self._spill.median(k) for k in classes],
                }
            )
            best = int(np.argmin(table["median_attribution"].to_numpy()))
            v_star = float(table["median_attribution"].iloc[best])
            n_elderly = int(counts[_ELDERLY_LABEL])
            n_adverse = self._spill.count_above(_ELDERLY_LABEL, v_star + self.tolerance)
        finally:
            self._spill.close()

        def share(k: int) -> float:
            return k / n_elderly if n_elderly else math.nan

        return AgeAdverseResult(
            n_elderly=n_elderly,
            n_adverse=n_adverse,
            share_adverse=share(n_adverse),
            n_raises_risk=self.n_raises_risk,
            share_raises_risk=share(self.n_raises_risk),
            most_favoured_class=str(table["class"].iloc[best]),
            most_favoured_value=v_star,
            tolerance=self.tolerance,
            classes=table,
        )
