"""A table spread over files: reading it, the Preprocessor from distributed statistics,
the held-out and validation shares by a seeded row hash.

``read_table('loans/*.parquet')`` (or ``*.csv``) gives a :class:`Table`: one partition per
file, read on a worker, rows counted from 1 within their file, so every error names the
file and the row (CSV files through :func:`backprop_lab.data.csv_files.read_csv`, with its
checks). ``table.frame`` is the dask dataframe.

:func:`fit_preprocessor` fits the same :class:`~backprop_lab.data.tabular.Preprocessor`
as ``Preprocessor.fit`` on the gathered rows, in one pass: per partition and column the
count, mean and sum of squared deviations of the present values (added pairwise by
Chan's formula, n = n_a + n_b, delta = mean_b - mean_a, mean = mean_a + delta n_b / n,
M2 = M2_a + M2_b + delta^2 n_a n_b / n), the missing count, and, where the fill needs
them (median or most frequent; every categorical column), the counts of each value.
The fill value then joins as n_missing copies of one value (M2 += 0), so mean and
scale are those of the filled column; they equal Preprocessor.fit's to rounding, and
medians, modes and category lists exactly. Value counts take memory in the number of
distinct values (for a median of a continuous column, up to the rows of a partition).
"""

from __future__ import annotations

import glob
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..data.columns import refuse_missing
from ..data.tabular import (
    IMPUTE_CHOICES,
    CategoricalColumn,
    NumericColumn,
    Preprocessor,
    read_csv,
    to_numbers,
    to_text,
)
from .cluster import require_dask
from .partials import row_uniform, tree_sum

#: File suffixes read_table understands.
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def read_file(path: str) -> pd.DataFrame:
    """One file as a frame indexed 0..n-1 (row r is data row r + 1 of the file)."""
    kind = FORMATS.get(Path(path).suffix.lower())
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
            return frame.reset_index(drop=True)
        return read_csv(path)
    except (OSError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"cannot read the file: {error}", file=path) from None


@dataclass
class Table:
    """Files read as one dask dataframe, one partition per file (in sorted file order)."""

    files: list[str]
    frame: Any  # dask.dataframe.DataFrame

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def partitions(self) -> list:
        """The partitions as delayed pandas frames, in file order."""
        return list(self.frame.to_delayed())


def read_table(pattern: str | Sequence[str]) -> Table:
    """The files a glob matches (or a list of paths), Parquet or CSV, as a :class:`Table`.

    Only the first file is read here (for the column names and types); every file is
    read on the workers when the table is used.
    """
    require_dask()
    import dask
    import dask.dataframe as dd

    patterns = [pattern] if isinstance(pattern, str | Path) else list(pattern)
    files: list[str] = []
    for p in patterns:
        found = sorted(glob.glob(str(p))) or ([str(p)] if Path(p).is_file() else [])
        if not found:
            raise InputError(f"no file matches {p}")
        files += found
    kinds = {FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in kinds or len(kinds) != 1:
        raise InputError(
            f"read_table reads .parquet or .csv files, all of one kind; got {sorted({Path(f).suffix for f in files})}"
        )
    meta = read_file(files[0]).iloc[:0]
    parts = [dask.delayed(read_file)(f, dask_key_name=f"read-{i}-{f}") for i, f in enumerate(files)]
    frame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    return Table(files, frame)


def head(table: Table, rows: int = 1000) -> pd.DataFrame:
    """The first rows of the first file (for column-type inference)."""
    return read_file(table.files[0]).iloc[:rows]


# ---- shares of rows --------------------------------------------------------------------------
def validation_share(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """True for the rows held out: row_uniform(row values, seed) < fraction."""
    return row_uniform(frame, seed) < fraction


def training_rows(
    frame: pd.DataFrame,
    test_size: float,
    seed: int,
    calibration: tuple[float, int] | None = None,
) -> pd.DataFrame:
    """The rows of a partition that are not in the held-out test share (nor, with
    ``calibration`` = (fraction, seed), in the calibration share of those)."""
    if test_size > 0:
        frame = frame[~validation_share(frame, test_size, seed)]
    if calibration is not None:
        frame = frame[~validation_share(frame, *calibration)]
    return frame


def calibration_rows(
    frame: pd.DataFrame, test_size: float, seed: int, calibration: tuple[float, int]
) -> pd.DataFrame:
    """The rows of a partition's training rows in the calibration share: those with
    row_uniform(row values, calibration seed) < calibration fraction."""
    train = training_rows(frame, test_size, seed)
    return train[validation_share(train, *calibration)]


def test_rows(frame: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """The rows of a partition in the held-out test share."""
    if test_size <= 0:
        return frame.iloc[:0]
    return frame[validation_share(frame, test_size, seed)]


# ---- the preprocessor from per-partition statistics ----------------------------------------
def _counts(values: np.ndarray) -> dict:
    uniques, counts = np.unique(values, return_counts=True)
    return {
        (u.item() if isinstance(u, np.generic) else u): int(c)
        for u, c in zip(uniques, counts, strict=True)
    }


def column_stats(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    impute: str,
    file: str,
) -> dict:
    """One partition's statistics: per numeric column (n, mean, M2, missing, value counts
    or None), per categorical column (value counts, missing). Missing values raise by
    file and row unless ``impute`` fills them."""
    stats: dict = {"numeric": {}, "categorical": {}}
    for name in numeric:
        x = to_numbers(frame[name], file=file)
        missing = np.isnan(x)
        if impute == "none":
            refuse_missing(missing, frame[name], file)
        present = x[~missing]
        n = present.size
        mean = float(np.mean(present)) if n else 0.0
        m2 = float(np.sum((present - mean) ** 2)) if n else 0.0
        counts = _counts(present) if impute in ("median", "most_frequent") else None
        stats["numeric"][name] = (n, mean, m2, int(missing.sum()), counts)
    for name in categorical:
        text = to_text(frame[name])
        missing = text == None  # noqa: E711 (elementwise on an object array)
        if impute == "none":
            refuse_missing(missing, frame[name], file)
        stats["categorical"][name] = (_counts(text[~missing].astype(str)), int(missing.sum()))
    return stats


def _add_counts(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _chan(a: tuple, b: tuple) -> tuple[int, float, float]:
    """(n, mean, M2) of two groups together, by Chan et al.'s pairwise formula."""
    na, ma, m2a = a
    nb, mb, m2b = b
    n = na + nb
    if n == 0:
        return 0, 0.0, 0.0
    delta = mb - ma
    return n, ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def merge_stats(a: dict, b: dict) -> dict:
    """Two partitions' column_stats as one."""
    out: dict = {"numeric": {}, "categorical": {}}
    for name, (na, ma, m2a, missa, ca) in a["numeric"].items():
        nb, mb, m2b, missb, cb = b["numeric"][name]
        out["numeric"][name] = (
            *_chan((na, ma, m2a), (nb, mb, m2b)),
            missa + missb,
            _add_counts(ca, cb),
        )
    for name, (ca, missa) in a["categorical"].items():
        cb, missb = b["categorical"][name]
        out["categorical"][name] = (_add_counts(ca, cb), missa + missb)
    return out


def _median(counts: dict) -> float:
    """np.median of the values the counts describe: the middle one, or the mean of the two."""
    values = np.array(sorted(counts))
    cum = np.cumsum([counts[v] for v in values])
    n = int(cum[-1])
    lo = values[np.searchsorted(cum, (n - 1) // 2 + 1)]
    hi = values[np.searchsorted(cum, n // 2 + 1)]
    return float(np.mean([lo, hi]))


def _mode(counts: dict) -> object:
    """The most frequent value; ties to the smallest (Preprocessor's rule)."""
    if not counts:
        raise InputError("cannot impute a column with no values")
    best = max(counts.values())
    return min(k for k, v in counts.items() if v == best)


def preprocessor_from_stats(stats: dict, impute: str) -> Preprocessor:
    """The Preprocessor that Preprocessor.fit would give on the rows the stats describe."""
    pre = Preprocessor(impute=impute)
    for name, (n, mean, m2, n_missing, counts) in stats["numeric"].items():
        fill = None
        if impute != "none":
            if n == 0:
                raise InputError(f"cannot impute column '{name}': it has no values")
            fill = (
                mean
                if impute == "mean"
                else _median(counts)
                if impute == "median"
                else float(_mode(counts))
            )
            n, mean, m2 = _chan((n, mean, m2), (n_missing, fill, 0.0))
        var = m2 / n if n else 0.0
        eps = np.finfo(np.float64).eps
        constant = var <= n * eps * var + (n * mean * eps) ** 2  # StandardScaler's rule
        pre.numeric.append(
            NumericColumn(name, float(mean), 1.0 if constant else math.sqrt(var), fill)
        )
    for name, (counts, _missing) in stats["categorical"].items():
        fill = _mode(counts) if impute != "none" else None
        categories = sorted(set(counts) | ({fill} if fill is not None else set()))
        pre.categorical.append(CategoricalColumn(name, categories, fill))
    return pre


def fit_preprocessor(
    table: Table,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    impute: str = "none",
    test_size: float = 0.0,
    seed: int = 0,
    calibration: tuple[float, int] | None = None,
    client: Any = None,
) -> Preprocessor:
    """The Preprocessor of the table's training rows (those outside the ``test_size``
    share and the ``calibration`` share), from one pass of per-partition statistics
    added in a fixed tree."""
    import dask

    from .cluster import current_client

    if impute not in IMPUTE_CHOICES:
        raise InputError(f"impute must be one of {', '.join(IMPUTE_CHOICES)}; got {impute!r}")
    client = client or current_client()
    leaves = [
        dask.delayed(column_stats)(
            dask.delayed(training_rows)(part, test_size, seed, calibration),
            list(numeric),
            list(categorical),
            impute,
            file,
        )
        for part, file in zip(table.partitions(), table.files, strict=True)
    ]
    stats = client.compute(tree_sum(leaves, dask.delayed(merge_stats))).result()
    return preprocessor_from_stats(stats, impute)
