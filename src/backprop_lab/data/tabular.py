"""Your own loan file: read a CSV safely and turn its columns into network inputs.

This module knows nothing of networks. CSV files are read in
:mod:`~backprop_lab.data.csv_files` (errors that name the file, column and row), columns
parsed and their types inferred in :mod:`~backprop_lab.data.columns`; this module
re-exports their names and holds :class:`Preprocessor`, a small explicit replacement for scikit-learn's

    ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer("most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), categorical),
    ])

whose fitted state is plain numbers and strings, so a saved model can store it as JSON.

Row numbers in messages count data rows from 1: row 1 is the first line below the
header (so a spreadsheet shows it as row 2).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from .columns import MAX_MAGNITUDE as MAX_MAGNITUDE
from .columns import MOSTLY_NUMERIC as MOSTLY_NUMERIC
from .columns import check_complete as check_complete
from .columns import check_labels as check_labels
from .columns import infer_column_types as infer_column_types
from .columns import parse_target as parse_target
from .columns import refuse_missing
from .columns import to_numbers as to_numbers
from .columns import to_text as to_text
from .columns import with_numbers as with_numbers
from .csv_files import iter_csv as iter_csv
from .csv_files import read_csv as read_csv
from .csv_files import read_header as read_header

#: Ways to fill missing values. ``none`` refuses them; the others fill numeric columns
#: with the training column's median, mean or most frequent value, and categorical
#: columns with their most frequent category.
IMPUTE_CHOICES: tuple[str, ...] = ("none", "median", "mean", "most_frequent")


class DataWarning(UserWarning):
    """Something in the data was handled but deserves a look (extra or unseen values)."""


# ---- the preprocessor ---------------------------------------------------------------------
@dataclass
class NumericColumn:
    """x -> (x - mean) / scale, with missing x replaced by ``fill`` (None: refuse missing)."""

    name: str
    mean: float
    scale: float
    fill: float | None = None


@dataclass
class CategoricalColumn:
    """x -> one-hot over ``categories`` (all zeros for an unseen one); missing -> ``fill``."""

    name: str
    categories: list[str]
    fill: str | None = None


@dataclass
class Preprocessor:
    """Impute, standardise numbers and one-hot encode categories, with JSON-able state.

    Output columns: every numeric column (in order), then each categorical column's
    categories (sorted). ``feature_names_out[j]`` names output column j and
    ``source_columns[j]`` the input column it came from, so per-column quantities
    (attributions, say) can be summed back over a category's one-hot columns.
    """

    numeric: list[NumericColumn] = field(default_factory=list)
    categorical: list[CategoricalColumn] = field(default_factory=list)
    impute: str = "none"

    # ---- fitting ----
    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        *,
        impute: str = "none",
        file: str | Path | None = None,
    ) -> Preprocessor:
        """Learn fill values, means, scales and category lists from the training rows.

        mean_j = (1/N) sum_i x_ij and scale_j = sqrt((1/N) sum_i (x_ij - mean_j)^2) over
        the rows after filling (scale 1 for a constant column), as StandardScaler.
        Categories are sorted, as OneHotEncoder sorts them.
        """
        if impute not in IMPUTE_CHOICES:
            raise InputError(f"impute must be one of {', '.join(IMPUTE_CHOICES)}; got {impute!r}")
        pre = cls(impute=impute)
        for name in numeric:
            x = to_numbers(frame[name], file=file)
            fill = None
            if impute != "none":
                fill = _numeric_fill(x[~np.isnan(x)], impute)
                x = np.where(np.isnan(x), fill, x)
            else:
                refuse_missing(np.isnan(x), frame[name], file)
            mean, var = float(np.mean(x)), float(np.var(x))
            # constant (up to rounding) columns get scale 1, by StandardScaler's rule
            n, eps = x.size, np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            scale = 1.0 if constant else math.sqrt(var)
            pre.numeric.append(NumericColumn(name, mean, scale, fill))
        for name in categorical:
            text = to_text(frame[name])
            present = text[text != None]  # noqa: E711 (elementwise on an object array)
            fill = None
            if impute != "none":
                fill = _most_frequent(present)
            else:
                refuse_missing(text == None, frame[name], file)  # noqa: E711
            categories = sorted(set(present) | ({fill} if fill is not None else set()))
            pre.categorical.append(CategoricalColumn(name, categories, fill))
        return pre

    # ---- names ----
    @property
    def input_columns(self) -> list[str]:
        """The columns a frame must have, numeric first."""
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    @property
    def feature_names_out(self) -> list[str]:
        """Network input names: the numeric column names, then ``column=category``."""
        return [c.name for c in self.numeric] + [
            f"{c.name}={v}" for c in self.categorical for v in c.categories
        ]

    @property
    def source_columns(self) -> list[str]:
        """For each network input, the input column it came from."""
        return [c.name for c in self.numeric] + [
            c.name for c in self.categorical for _ in c.categories
        ]

    @property
    def n_features_out(self) -> int:
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    # ---- transforming ----
    def check_columns(self, columns: Iterable[str], *, file: str | Path | None = None) -> list[str]:
        """Raise for a missing input column; return the extra ones (they are ignored)."""
        columns = list(columns)
        for name in self.input_columns:
            if name not in columns:
                raise InputError("missing column that the model needs", file=file, column=name)
        needed = set(self.input_columns)
        return [c for c in columns if c not in needed]

    def transform(
        self,
        frame: pd.DataFrame,
        *,
        file: str | Path | None = None,
        unseen: Counter | None = None,
    ) -> np.ndarray:
        """Network inputs for ``frame``, matching its columns by name (order does not matter).

        Numeric: (x - mean) / scale; categorical: one-hot, all zeros for a category not
        seen in training. Unseen categories are counted per column into ``unseen`` if it
        is given, otherwise reported in one :class:`DataWarning`.
        """
        self.check_columns(frame.columns, file=file)
        n = len(frame)
        out = np.empty((n, self.n_features_out), dtype=np.float64)
        for j, col in enumerate(self.numeric):
            x = to_numbers(frame[col.name], file=file)
            missing = np.isnan(x)
            if missing.any():
                if col.fill is None:
                    refuse_missing(missing, frame[col.name], file)
                x = np.where(missing, col.fill, x)
            out[:, j] = (x - col.mean) / col.scale
        j = len(self.numeric)
        counts = Counter() if unseen is None else unseen
        for col in self.categorical:
            text = to_text(frame[col.name])
            missing = text == None  # noqa: E711
            if missing.any():
                if col.fill is None:
                    refuse_missing(missing, frame[col.name], file)
                text = np.where(missing, col.fill, text)
            k = len(col.categories)
            codes = pd.Index(col.categories).get_indexer(text)
            block = np.zeros((n, k), dtype=np.float64)
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1.0
            if (~known).any():
                counts[col.name] += int((~known).sum())
            out[:, j : j + k] = block
            j += k
        if unseen is None and counts:
            warn_unseen(counts, file)
        return out

    # ---- JSON ----
    def to_dict(self) -> dict:
        return {
            "impute": self.impute,
            "numeric": [vars(c).copy() for c in self.numeric],
            "categorical": [vars(c).copy() for c in self.categorical],
        }

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessor:
        try:
            pre = cls(
                numeric=[NumericColumn(**c) for c in state["numeric"]],
                categorical=[CategoricalColumn(**c) for c in state["categorical"]],
                impute=state["impute"],
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"invalid preprocessing description: {error}") from None
        for c in pre.numeric:
            if not (math.isfinite(c.mean) and math.isfinite(c.scale) and c.scale > 0):
                raise ValueError(f"invalid scaling for column '{c.name}'")
        return pre


def warn_unseen(counts: Counter, file: str | Path | None = None) -> None:
    """One warning naming each column with categories unseen in training and its row count."""
    where = f"{file}: " if file is not None else ""
    parts = ", ".join(f"column '{name}' in {n} row(s)" for name, n in counts.items())
    warnings.warn(
        f"{where}categories not seen in training (encoded as unknown): {parts}",
        DataWarning,
        stacklevel=3,
    )


def _numeric_fill(x: np.ndarray, impute: str) -> float:
    if x.size == 0:
        raise InputError("cannot impute a column with no values")
    if impute == "median":
        return float(np.median(x))
    if impute == "mean":
        return float(np.mean(x))
    return float(_most_frequent(x))


def _most_frequent(values: np.ndarray) -> object:
    """The most common value; ties go to the smallest (as SimpleImputer does)."""
    if values.size == 0:
        raise InputError("cannot impute a column with no values")
    uniques, counts = np.unique(values, return_counts=True)
    value = uniques[np.argmax(counts)]
    return value.item() if isinstance(value, np.generic) else value
