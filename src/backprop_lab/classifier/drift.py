"""Population stability: how far a new population's distribution has moved from training's.

A variable's distribution is summarised by counts in fixed bins. With e_i and a_i the
shares of the training ("expected") and the new ("actual") rows in bin i,

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

(the population stability index of the score; the same sum over a source column's bins
is its characteristic stability index, CSI). It is the symmetrised Kullback-Leibler
divergence KL(a || e) + KL(e || a), so every term is >= 0 and PSI = 0 only when the shares
agree. Customary reading (configurable): below 0.1 stable, 0.1 to 0.25 watch, 0.25 and
above act.

Empty bins: a share of 0 would make a term infinite, so both shares are floored at
:data:`EPSILON` = 1e-4 (the usual floor of 0.01%) before the sum,
a_i' = max(a_i, 1e-4), e_i' = max(e_i, 1e-4). A bin empty on both sides then adds 0; a bin
empty in training that holds 5% of the new rows adds 0.05 ln(0.05 / 1e-4) = 0.31 (act).

Bins, fixed at training time:

* numeric column: the interior edges are the training quantiles q_{1/k}, ..., q_{(k-1)/k}
  of the non-missing values (k = 10 by default: deciles), repeated edges merged (a column
  of few distinct values, say counts of late payments, gets fewer bins); the bins are
  (-inf, q_1], (q_1, q_2], ..., (q_{k-1}, +inf), then one bin for missing values;
* categorical column: each training category, then 'other/unseen', then missing;
* the score (predicted probability of default): as a numeric column; its missing bin
  holds the rows the model could not score (a missing value it cannot fill).

Sampling: with no change of distribution and large samples, 2 n PSI (for n_e = n_a = n)
is close to chi-squared with B - 1 degrees of freedom (B: bins not empty on both sides),
so E[PSI] ~ (B - 1) (1/n_e + 1/n_a): 0.0018 for 10 bins and 10,000 rows on each side.

This module only counts and sums; it reads no file and draws nothing (see
:mod:`~backprop_lab.classifier.monitor` and :mod:`~backprop_lab.classifier.figures`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

#: The floor of a share in the PSI sum (0.01%), so that an empty bin gives a finite term.
EPSILON = 1e-4
#: Quantile bins per numeric column and for the score (deciles).
DEFAULT_BINS = 10
#: Most quantile bins per numeric column (the stored edges stay a few numbers each).
MAX_BINS = 100
#: The customary thresholds: index < WATCH stable, WATCH <= index < ACT watch, >= ACT act.
WATCH = 0.1
ACT = 0.25
#: Names of the two extra bins.
OTHER, MISSING = "other/unseen", "missing"


def shares(counts: ArrayLike) -> np.ndarray:
    """counts_i / sum_j counts_j (all zeros for no rows)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    return c / total if total > 0 else np.zeros_like(c)


def psi_terms(expected: ArrayLike, actual: ArrayLike, epsilon: float = EPSILON) -> np.ndarray:
    """(a_i' - e_i') ln(a_i' / e_i') per bin, with shares of the counts floored at epsilon."""
    e = np.maximum(shares(expected), epsilon)
    a = np.maximum(shares(actual), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual counts differ in bins: {e.shape} vs {a.shape}")
    return (a - e) * np.log(a / e)


def psi(expected: ArrayLike, actual: ArrayLike, epsilon: float = EPSILON) -> float:
    """PSI = sum_i (a_i' - e_i') ln(a_i' / e_i') of two count vectors over the same bins."""
    return float(np.sum(psi_terms(expected, actual, epsilon)))


def flag(index: float, watch: float = WATCH, act: float = ACT) -> str:
    """'stable' (index < watch), 'watch' (watch <= index < act) or 'act' (index >= act)."""
    if index >= act:
        return "act"
    return "watch" if index >= watch else "stable"


# ---- bins ------------------------------------------------------------------------------
@dataclass
class NumericBins:
    """(-inf, edges[0]], (edges[0], edges[1]], ..., (edges[-1], +inf), missing; with the
    training rows' count in each (``counts`` has len(edges) + 2 entries)."""

    edges: list[float]
    counts: list[int]

    @classmethod
    def fit(cls, values: ArrayLike, n_bins: int = DEFAULT_BINS) -> NumericBins:
        """Interior edges at the quantiles j/n_bins (j = 1..n_bins-1) of the non-missing
        ``values`` (NaN: missing; linear interpolation, numpy's default), repeats merged."""
        x = np.asarray(values, dtype=np.float64)
        present = x[~np.isnan(x)]
        edges: list[float] = []
        if present.size:
            q = np.quantile(present, np.arange(1, n_bins) / n_bins)
            edges = [float(v) for v in np.unique(q)]
        bins = cls(edges, [0] * (len(edges) + 2))
        bins.counts = [int(c) for c in bins.count(x)]
        return bins

    def index(self, values: ArrayLike) -> np.ndarray:
        """The bin of each value: i with edges[i-1] < x <= edges[i]; missing (NaN) last."""
        x = np.asarray(values, dtype=np.float64)
        i = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x, side="left")
        return np.where(np.isnan(x), len(self.edges) + 1, i)

    def count(self, values: ArrayLike) -> np.ndarray:
        """Rows of ``values`` in each bin."""
        return np.bincount(self.index(values), minlength=len(self.counts))

    def labels(self, fmt: str = ".4g") -> list[str]:
        """'<= 0.3', '(0.3, 0.5]', ..., '> 0.9', 'missing'."""
        e = [format(v, fmt) for v in self.edges]
        if not e:
            return ["all values", MISSING]
        middle = [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(e)]
        return [f"<= {e[0]}", *middle, f"> {e[-1]}", MISSING]

    def to_dict(self) -> dict:
        return {"kind": "numeric", "edges": list(self.edges), "counts": list(self.counts)}


@dataclass
class CategoricalBins:
    """Each training category, then 'other/unseen', then missing; ``counts`` has
    len(categories) + 2 entries. Cells are compared as text (stripped), as the
    preprocessing compares them."""

    categories: list[str]
    counts: list[int]

    @classmethod
    def fit(cls, text: ArrayLike, categories: list[str]) -> CategoricalBins:
        """Bins for ``categories`` (the model's), counted over ``text`` (None: missing)."""
        bins = cls(list(categories), [0] * (len(categories) + 2))
        bins.counts = [int(c) for c in bins.count(text)]
        return bins

    def index(self, text: ArrayLike) -> np.ndarray:
        values = np.asarray(text, dtype=object)
        missing = pd.isna(values)
        codes = pd.Index(self.categories, dtype=object).get_indexer(values)
        k = len(self.categories)
        return np.where(missing, k + 1, np.where(codes < 0, k, codes))

    def count(self, text: ArrayLike) -> np.ndarray:
        return np.bincount(self.index(text), minlength=len(self.counts))

    def labels(self, fmt: str = ".4g") -> list[str]:
        return [*self.categories, OTHER, MISSING]

    def to_dict(self) -> dict:
        return {
            "kind": "categorical",
            "categories": list(self.categories),
            "counts": list(self.counts),
        }


Bins = NumericBins | CategoricalBins


@dataclass
class TrainingDistributions:
    """The training rows' distribution of the score and of every source column.

    ``rows``: how many training rows were counted (each variable's counts add up to it);
    ``n_bins``: the quantile bins asked for; ``score``: bins of P(default) (None for a
    multiclass model); ``columns``: the bins of each source column, by name; ``rows_used``
    says in words which rows they are.
    """

    rows: int
    n_bins: int
    score: NumericBins | None
    columns: dict[str, Bins]
    rows_used: str = ""

    @classmethod
    def fit(
        cls,
        numeric: Mapping[str, ArrayLike],
        categorical: Mapping[str, tuple[ArrayLike, list[str]]],
        score: ArrayLike | None,
        *,
        n_bins: int = DEFAULT_BINS,
        rows_used: str = "",
    ) -> TrainingDistributions:
        """Bins and counts from training values: numeric columns as float arrays (NaN:
        missing), categorical ones as (text cells, the model's categories)."""
        if not 2 <= n_bins <= MAX_BINS:
            raise ValueError(f"quantile bins must be 2 to {MAX_BINS}; got {n_bins}")
        columns: dict[str, Bins] = {name: NumericBins.fit(x, n_bins) for name, x in numeric.items()}
        for name, (text, categories) in categorical.items():
            columns[name] = CategoricalBins.fit(text, categories)
        rows = {sum(b.counts) for b in columns.values()}
        score_bins = None if score is None else NumericBins.fit(score, n_bins)
        if score_bins is not None:
            rows.add(sum(score_bins.counts))
        if len(rows) != 1:
            raise ValueError(f"the variables have different numbers of rows: {sorted(rows)}")
        return cls(rows.pop(), n_bins, score_bins, columns, rows_used)

    def check_fits(self, numeric: list[str], categorical: list[str], binary: bool) -> None:
        """Raise ValueError unless these are the distributions of a model with these
        numeric and categorical source columns (and a score when it is binary)."""
        kinds = {name: "numeric" for name in numeric} | {
            name: "categorical" for name in categorical
        }
        stored = {name: bins.to_dict()["kind"] for name, bins in self.columns.items()}
        if stored != kinds:
            raise ValueError(
                f"the training distributions describe the columns {sorted(stored.items())}; "
                f"the model's source columns are {sorted(kinds.items())}"
            )
        if (self.score is None) == binary:
            raise ValueError(
                "the training distributions have a score for a multiclass model, or none "
                "for a binary one"
            )

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "n_bins": self.n_bins,
            "rows_used": self.rows_used,
            "score": None if self.score is None else self.score.to_dict(),
            "columns": {name: bins.to_dict() for name, bins in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, block: object) -> TrainingDistributions:
        """Read (and check) what :meth:`to_dict` wrote; a ValueError names the bad field."""
        where = "training_distributions"
        if not isinstance(block, dict):
            raise ValueError(f"{where} must be an object")
        rows, n_bins = block.get("rows"), block.get("n_bins")
        if type(rows) is not int or rows < 1:
            raise ValueError(f"{where}.rows must be a positive integer")
        if type(n_bins) is not int or not 2 <= n_bins <= MAX_BINS:
            raise ValueError(f"{where}.n_bins must be an integer from 2 to {MAX_BINS}")
        if not isinstance(block.get("rows_used", ""), str):
            raise ValueError(f"{where}.rows_used must be a string")
        columns = block.get("columns")
        if not isinstance(columns, dict):
            raise ValueError(f"{where}.columns must be an object")
        read = {
            name: _bins_from_dict(b, f"{where}.columns.{name}", rows, n_bins)
            for name, b in columns.items()
        }
        score = block.get("score")
        score_bins = None
        if score is not None:
            score_bins = _bins_from_dict(score, f"{where}.score", rows, n_bins)
            if not isinstance(score_bins, NumericBins):
                raise ValueError(f"{where}.score must be numeric bins")
        return cls(rows, n_bins, score_bins, read, block.get("rows_used", ""))


def _bins_from_dict(d: object, where: str, rows: int, n_bins: int) -> Bins:
    if not isinstance(d, dict) or d.get("kind") not in ("numeric", "categorical"):
        raise ValueError(f"{where} must be an object of kind 'numeric' or 'categorical'")
    counts = d.get("counts")
    if not (isinstance(counts, list) and all(type(c) is int and c >= 0 for c in counts)):
        raise ValueError(f"{where}.counts must be a list of non-negative integers")
    if sum(counts) != rows:
        raise ValueError(f"{where}.counts add up to {sum(counts)}, not to the {rows} rows")
    if d["kind"] == "numeric":
        edges = d.get("edges")
        if not (
            isinstance(edges, list)
            and len(edges) < n_bins
            and all(type(v) in (int, float) and math.isfinite(v) for v in edges)
            and all(a < b for a, b in itertools.pairwise(edges))
        ):
            raise ValueError(f"{where}.edges must be fewer than {n_bins} increasing finite numbers")
        bins: Bins = NumericBins([float(v) for v in edges], counts)
        n = len(edges) + 2
    else:
        categories = d.get("categories")
        if not (
            isinstance(categories, list)
            and all(isinstance(c, str) for c in categories)
            and len(set(categories)) == len(categories)
        ):
            raise ValueError(f"{where}.categories must be a list of distinct strings")
        bins = CategoricalBins(list(categories), counts)
        n = len(categories) + 2
    if len(counts) != n:
        raise ValueError(f"{where}.counts must have {n} entries; got {len(counts)}")
    return bins
