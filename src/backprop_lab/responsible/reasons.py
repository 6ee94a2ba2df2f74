"""From network-input attributions back to the applicant's terms.

A reference baseline (the mean network input of applicants just approved), attributions
summed over the inputs that come from one source column (one-hot columns back to their
categorical column), values and gradients in original units (x_raw = z * scale + mean,
so df/dx_raw = (df/dz) / scale), plain-words reason codes, and global importance; the
baseline, reasons and importance also as accumulators over chunks of applicants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .._util.validation import check_features


class ReferenceBaselineAccumulator:
    """:func:`reference_baseline` over chunks of applicants, in bounded memory.

    Keeps the sum and count of the rows near the cut-off, and the ``min_rows`` approved
    rows closest to it (highest p_default, earlier rows first among ties) in case too few
    are near: memory of ``min_rows`` + 1 rows, however many are added.
    """

    def __init__(self, threshold: float = 0.5, *, width: float = 0.05, min_rows: int = 20) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}")
        if not width > 0:
            raise ValueError(f"width must be positive; got {width!r}")
        self.threshold, self.width, self.min_rows = float(threshold), float(width), int(min_rows)
        self.n_rows = 0
        self.n_approved = 0
        self.n_near = 0
        self._near_sum: np.ndarray | None = None
        self._closest = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, 0)))

    def add(self, X: ArrayLike, p_default: ArrayLike) -> None:
        """Add the next applicants' network inputs X and probabilities of default."""
        A = check_features(X, name="X")
        p = np.asarray(p_default, dtype=np.float64).ravel()
        if p.shape[0] != A.shape[0]:
            raise ValueError(f"X has {A.shape[0]} rows but p_default has {p.shape[0]} values")
        if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("p_default must contain probabilities in [0, 1]")
        approved = np.flatnonzero(p < self.threshold)
        near = approved[p[approved] >= self.threshold - self.width]
        if self._near_sum is None:
            self._near_sum = np.zeros(A.shape[1])
            self._closest = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, A.shape[1])))
        self._near_sum += A[near].sum(axis=0)
        self.n_near += near.size
        self.n_approved += approved.size
        # the min_rows approved rows closest to the threshold so far
        kept_p, kept_rows, kept_X = self._closest
        all_p = np.concatenate([kept_p, p[approved]])
        all_rows = np.concatenate([kept_rows, self.n_rows + approved])
        all_X = np.concatenate([kept_X, A[approved]])
        order = np.lexsort((all_rows, -all_p))[: self.min_rows]
        self._closest = (all_p[order], all_rows[order], all_X[order])
        self.n_rows += A.shape[0]

    def baseline(self) -> np.ndarray:
        """The mean network input of the reference set (see :func:`reference_baseline`)."""
        if self.n_approved == 0:
            raise ValueError(
                f"no applicant is approved (p_default < {self.threshold:g}) to form a baseline"
            )
        if self.n_near >= self.min_rows:
            return self._near_sum / self.n_near
        return self._closest[2].mean(axis=0)


def reference_baseline(
    X: ArrayLike,
    p_default: ArrayLike,
    threshold: float = 0.5,
    *,
    width: float = 0.05,
    min_rows: int = 20,
) -> np.ndarray:
    """The mean network input of approved applicants just inside the cut-off, shape (d,).

    Approved means p_default < threshold. The reference set is the approved rows with
    threshold - width <= p_default < threshold; if that holds fewer than ``min_rows``,
    the ``min_rows`` approved rows closest to the threshold instead. Explaining a
    declined applicant against this baseline answers "what separates you from
    applicants who were only just approved?"; the attributions then sum to
    f(x) - f(x'), with f(x') close to the cut-off's log-odds. For applicants in chunks,
    see :class:`ReferenceBaselineAccumulator`.
    """
    acc = ReferenceBaselineAccumulator(threshold, width=width, min_rows=min_rows)
    acc.add(X, p_default)
    return acc.baseline()


# ---- back to the applicant's terms --------------------------------------------------


def _check_names(names: Sequence[str], d: int, what: str) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"{what} has {len(names)} names but there are {d} network inputs")
    return names


def attributions_by_feature(
    attributions: ArrayLike,
    feature_names: Sequence[str],
    source_columns: Sequence[str] | None = None,
    *,
    index: ArrayLike | None = None,
) -> pd.DataFrame:
    """Attributions as a DataFrame with one column per source feature.

    ``feature_names`` names each network input; ``source_columns`` gives the source
    column of each input (default: the input's own name). Inputs that share a source,
    such as the one-hot columns of one categorical feature, are summed:
    A[i, c] = sum over inputs j with source(j) = c of a[i, j]. By completeness of the
    per-input attributions, the sum is the source column's contribution. Columns keep
    the order in which sources first appear.
    """
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"attributions must be 2-D (rows x inputs); got shape {a.shape}")
    names = _check_names(feature_names, a.shape[1], "feature_names")
    sources = (
        names
        if source_columns is None
        else _check_names(source_columns, a.shape[1], "source_columns")
    )
    frame = pd.DataFrame(a, columns=names, index=index)
    order = list(dict.fromkeys(sources))
    summed = frame.T.groupby(np.asarray(sources), sort=False).sum().T
    return summed[order]


def to_original_units(Z: ArrayLike, mean: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """x_raw = z * scale + mean: standardised network inputs back in original units."""
    Z = np.asarray(Z, dtype=np.float64)
    return Z * np.asarray(scale, dtype=np.float64) + np.asarray(mean, dtype=np.float64)


def gradients_per_original_unit(gradients: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """df/dx_raw = (df/dz) / scale, since z = (x_raw - mean) / scale.

    E.g. with ``scale`` the standard deviation of income, the change in log-odds per
    one unit (one currency unit) of income. One-hot inputs have scale 1.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(scale == 0) or not np.all(np.isfinite(scale)):
        raise ValueError("scale must be finite and non-zero")
    return np.asarray(gradients, dtype=np.float64) / scale


def _format_value(value: object) -> str:
    """A feature value for a sentence: 6, 0.357, 13.8, 51,580, or the category."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v == round(v) and abs(v) < 10_000:
            return str(round(v))
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(value)


def _format_values(values: np.ndarray) -> list[str]:
    """:func:`_format_value` of every value, the floats' rules applied with array masks
    (whole numbers under 10,000 as integers, from 1,000 up with thousands separators and
    no decimals, else three significant digits)."""
    out = [""] * len(values)
    floats = np.fromiter(
        (isinstance(v, float | np.floating) for v in values), dtype=bool, count=len(values)
    )
    for i in np.flatnonzero(~floats):
        out[i] = _format_value(values[i])
    where = np.flatnonzero(floats)
    v = values[where].astype(np.float64)
    finite = np.isfinite(v)
    whole = finite & (v == np.round(v)) & (np.abs(v) < 10_000)
    large = finite & ~whole & (np.abs(v) >= 1000)
    rest = finite & ~whole & ~large
    for mask, text in (
        (whole, v[whole].astype(np.int64).astype(str).tolist()),
        (large, [f"{x:,.0f}" for x in v[large].tolist()]),
        (rest, [f"{x:.3g}" for x in v[rest].tolist()]),
        (~finite, [str(x) for x in v[~finite].tolist()]),
    ):
        for i, t in zip(where[mask].tolist(), text, strict=True):
            out[i] = t
    return out


def reason_text(feature: str, value: object, contribution: float) -> str:
    """'late_payments = 6 (raised risk by +0.84 on the log-odds scale)'."""
    verb = "raised" if contribution >= 0 else "lowered"
    return f"{feature} = {_format_value(value)} ({verb} risk by {contribution:+.2f} on the log-odds scale)"


def reason_texts(features: ArrayLike, values: ArrayLike, contributions: ArrayLike) -> list[str]:
    """:func:`reason_text` of many reasons at once (the values formatted with array
    masks: several times faster than one call each)."""
    features = np.asarray(features, dtype=object)
    values = np.asarray(values, dtype=object)
    contributions = np.asarray(contributions, dtype=np.float64).tolist()
    return [
        f"{f} = {v} ({'raised' if c >= 0 else 'lowered'} risk by {c:+.2f} on the log-odds scale)"
        for f, v, c in zip(features.tolist(), _format_values(values), contributions, strict=True)
    ]


def points_reason_texts(features: ArrayLike, values: ArrayLike, points: ArrayLike) -> list[str]:
    """'late_payments = 3: -41 points': reasons in scorecard points, rounded to whole points."""
    features = np.asarray(features, dtype=object)
    values = np.asarray(values, dtype=object)
    points = np.asarray(points, dtype=np.float64).tolist()
    return [
        f"{f} = {v}: {p:+.0f} points"
        for f, v, p in zip(features.tolist(), _format_values(values), points, strict=True)
    ]


def top_reasons(
    attributions_by_feature: pd.DataFrame,
    values: pd.DataFrame,
    k: int = 4,
    *,
    min_contribution: float = 0.01,
) -> pd.DataFrame:
    """The top ``k`` reasons that raised each applicant's risk, as a tidy DataFrame.

    A reason is a source feature whose attribution (contribution to the log-odds of
    default) is above ``min_contribution`` (0.01 by default, so that no reason reads
    "+0.00"; never below 0); reasons are ranked by
    contribution, largest first, and at most ``k`` are kept (four by default: more
    reasons are not more helpful to an applicant). ``values`` holds each applicant's
    feature values in original units (or categories), same index, one column per
    source feature.

    Columns: applicant (the row label), rank (1 = strongest), feature, value,
    contribution, reason (a sentence). Applicants with no risk-raising feature have
    no rows.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    A = attributions_by_feature
    missing = [c for c in A.columns if c not in values.columns]
    if missing:
        raise ValueError(f"values has no column for feature(s) {missing}")
    if not A.index.equals(values.index):
        raise ValueError("attributions and values must have the same index (one row per applicant)")
    A_values = A.to_numpy(dtype=np.float64)
    # per row, features by contribution, largest first (ties: in column order), the
    # ones not above the threshold last; keep the first k that are reasons
    raising = A_values > max(min_contribution, 0.0)
    order = np.argsort(np.where(raising, -A_values, np.inf), axis=1, kind="stable")[:, :k]
    rows, ranks = np.nonzero(np.take_along_axis(raising, order, axis=1))
    cols = order[rows, ranks]
    feature = A.columns.to_numpy(dtype=object)[cols]
    value = values[list(A.columns)].to_numpy(dtype=object)[rows, cols]
    contribution = A_values[rows, cols]
    return pd.DataFrame(
        {
            "applicant": A.index.to_numpy()[rows],
            "rank": (ranks + 1).astype(np.int64),
            "feature": feature,
            "value": pd.Series(value, dtype=object),
            "contribution": contribution,
            "reason": reason_texts(feature, value, contribution),
        }
    )


class ImportanceAccumulator:
    """:func:`global_importance` over chunks of applicants, in bounded memory.

    Per feature it keeps N, sum_i |A[i, c]|, sum_i A[i, c] and, for the direction, the
    co-moment C = sum_i (v_i - mean v)(a_i - mean a) of value and attribution, merged
    chunk by chunk (Chan, Golub and LeVeque's update: with chunk sums of n_b rows,
    means m_b and co-moment C_b, C <- C + C_b + (m_b,v - m_v)(m_b,a - m_a) n n_b / (n + n_b)),
    plus the least and largest value and attribution (a constant column has no
    direction). sign(C) is the sign of the correlation.
    """

    def __init__(self) -> None:
        self.features: list[str] | None = None
        self.n = 0
        self._abs = self._sum = self._mean_v = self._mean_a = self._comoment = np.empty(0)
        self._lo = self._hi = np.empty((2, 0))
        self._numeric = np.empty(0, dtype=bool)

    def add(
        self, attributions_by_feature: pd.DataFrame, values: pd.DataFrame | None = None
    ) -> None:
        """Add the next applicants' attributions (one column per feature) and values."""
        A = attributions_by_feature.to_numpy(dtype=np.float64)
        names = [str(c) for c in attributions_by_feature.columns]
        if self.features is None:
            self.features = names
            d = len(names)
            self._abs, self._sum = np.zeros(d), np.zeros(d)
            self._mean_v, self._mean_a, self._comoment = np.zeros(d), np.zeros(d), np.zeros(d)
            self._lo, self._hi = np.full((2, d), np.inf), np.full((2, d), -np.inf)
            self._numeric = np.full(d, values is not None)
        elif names != self.features:
            raise ValueError(f"features {names} differ from the first chunk's {self.features}")
        n_b = A.shape[0]
        if n_b == 0:
            return
        self._abs += np.abs(A).sum(axis=0)
        self._sum += A.sum(axis=0)
        V = np.zeros_like(A)
        for j, c in enumerate(attributions_by_feature.columns):
            numeric = values is not None and c in values.columns and _is_numeric(values[c])
            self._numeric[j] &= numeric
            if self._numeric[j]:
                V[:, j] = values[c].to_numpy(dtype=np.float64)
        mean_v, mean_a = V.mean(axis=0), A.mean(axis=0)
        comoment = ((V - mean_v) * (A - mean_a)).sum(axis=0)
        n = self.n
        dv, da = mean_v - self._mean_v, mean_a - self._mean_a
        self._comoment += comoment + dv * da * n * n_b / (n + n_b)
        self._mean_v += dv * n_b / (n + n_b)
        self._mean_a += da * n_b / (n + n_b)
        self._lo = np.minimum(self._lo, np.stack([V.min(axis=0), A.min(axis=0)]))
        self._hi = np.maximum(self._hi, np.stack([V.max(axis=0), A.max(axis=0)]))
        self.n = n + n_b

    def table(self, *, directions: bool = True) -> pd.DataFrame:
        """:func:`global_importance`'s table for the applicants added so far."""
        if self.features is None or self.n == 0:
            raise ValueError("no attributions to summarise: 0 rows")
        mean_abs = self._abs / self.n
        total = mean_abs.sum()
        table = pd.DataFrame(
            {
                "feature": self.features,
                "mean_abs_attribution": mean_abs,
                "mean_attribution": self._sum / self.n,
                "share": mean_abs / total if total > 0 else np.zeros_like(mean_abs),
            }
        )
        if directions:
            varies = np.all(self._hi > self._lo, axis=0) & self._numeric
            table["direction"] = np.where(varies, np.sign(self._comoment), 0).astype(int)
        return table.sort_values(
            "mean_abs_attribution", ascending=False, kind="stable"
        ).reset_index(drop=True)


def global_importance(
    attributions_by_feature: pd.DataFrame, values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Mean absolute attribution per feature, largest first.

    Columns: feature, mean_abs_attribution = (1/N) sum_i |A[i, c]|, mean_attribution =
    (1/N) sum_i A[i, c], share = mean_abs_attribution / sum over features, and, when the
    applicants' ``values`` are given, direction = the sign of the correlation between a
    feature's value and its attribution: +1 when higher values raise the risk, -1 when
    they lower it, 0 when unknown (a categorical or constant column). For applicants in
    chunks, see :class:`ImportanceAccumulator`.
    """
    acc = ImportanceAccumulator()
    acc.add(attributions_by_feature, values)
    return acc.table(directions=values is not None)


def _is_numeric(value: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(value) or pd.api.types.is_bool_dtype(value)
