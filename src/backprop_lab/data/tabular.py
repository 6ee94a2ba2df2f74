"""Your own loan file: read a CSV safely and turn its columns into network inputs.

This module knows nothing of networks. It reads CSV files with errors that name the
file, column and row; infers which columns are numbers and which are categories; and
holds :class:`Preprocessor`, a small explicit replacement for scikit-learn's

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError

#: Ways to fill missing values. ``none`` refuses them; the others fill numeric columns
#: with the training column's median, mean or most frequent value, and categorical
#: columns with their most frequent category.
IMPUTE_CHOICES: tuple[str, ...] = ("none", "median", "mean", "most_frequent")

#: A column whose non-missing values parse as numbers at least this often, but not
#: always, is taken to be a numeric column with typing errors in it, not a category.
MOSTLY_NUMERIC = 0.9

#: The largest magnitude a numeric cell may hold: 2^53, beyond which float64 no longer
#: holds every integer. Nothing a loan file measures comes near it, and below it the
#: squares and sums of standardisation and of the network stay far from overflow (1e308).
MAX_MAGNITUDE = 2.0**53


class DataWarning(UserWarning):
    """Something in the data was handled but deserves a look (extra or unseen values)."""


# ---- reading ---------------------------------------------------------------------------
def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path)
    if path.is_dir():
        raise InputError("is a folder, not a CSV file", file=path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=path)
    return path


def _read(path: Path, **kwargs: object) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """pandas.read_csv with every cell as text (None where empty), errors naming the file."""
    try:
        return pd.read_csv(path, dtype=str, skipinitialspace=True, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty (no header line)", file=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"not a readable CSV file: {error}", file=path) from None


def read_csv(path: str | Path) -> pd.DataFrame:
    """The whole CSV as a frame of text cells (missing cells are NaN).

    Raises :class:`InputError` for a missing, empty or header-only file, and for a
    header with a nameless or repeated column.
    """
    path = _check_file(path)
    frame = _read(path)
    _check_columns_named(frame.columns, path)
    _check_columns_unique(path)
    if len(frame) == 0:
        raise InputError("the file has a header but no data rows", file=path)
    return frame


def read_header(path: str | Path) -> list[str]:
    """The column names of a CSV file, without reading its rows."""
    path = _check_file(path)
    columns = list(_read(path, nrows=0).columns)
    _check_columns_named(columns, path)
    _check_columns_unique(path)
    return columns


def iter_csv(path: str | Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The CSV in frames of at most ``chunk_size`` rows; each frame's index counts rows from 0.

    Memory stays bounded by the chunk size however large the file is.
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1; got {chunk_size}")
    path = _check_file(path)
    _check_columns_named(_read(path, nrows=0).columns, path)
    _check_columns_unique(path)
    n_rows = 0
    reader = _read(path, chunksize=chunk_size)
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                break
            except (pd.errors.ParserError, UnicodeDecodeError) as error:
                raise InputError(f"not a readable CSV file: {error}", file=path) from None
            if len(chunk) == 0:  # a header-only file reads as one empty chunk
                continue
            n_rows += len(chunk)
            yield chunk
    if n_rows == 0:
        raise InputError("the file has a header but no data rows", file=path)


def _check_columns_named(columns: Iterable[object], path: Path) -> None:
    for i, name in enumerate(columns, start=1):
        if str(name).startswith("Unnamed: "):
            raise InputError(f"column {i} has no name in the header line", file=path)


def _check_columns_unique(path: Path) -> None:
    """Raise for a column name given twice in the header line, naming both positions.

    pandas would silently rename the second 'age' to 'age.1'; the header is read again
    as a plain row to see the names as written.
    """
    names = _read(path, header=None, nrows=1, keep_default_na=False).iloc[0].tolist()
    first: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name in first:
            raise InputError(
                f"column name '{name}' appears twice in the header line (columns "
                f"{first[name]} and {i}); rename one",
                file=path,
            )
        first[name] = i


# ---- cells -> numbers ------------------------------------------------------------------
def _row_number(frame: pd.DataFrame | pd.Series, position: int) -> int:
    """1-based data row of the ``position``-th row of a frame read by this module."""
    label = frame.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def _is_numeric_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def to_numbers(series: pd.Series, *, file: str | Path | None = None) -> np.ndarray:
    """Column values as float64 (NaN where missing); text, infinity or a magnitude above
    :data:`MAX_MAGNITUDE` raises, naming the row."""
    if _is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    else:
        text = series.to_numpy(dtype=object)
        values = pd.to_numeric(text, errors="coerce").astype(np.float64)
        bad = np.isnan(values) & ~pd.isna(text)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"text {text[i]!r} in a numeric column",
                file=file,
                column=str(series.name),
                row=_row_number(series, i),
            )
    infinite = np.isinf(values)
    if infinite.any():
        i = int(np.argmax(infinite))
        raise InputError(
            "infinite value in a numeric column",
            file=file,
            column=str(series.name),
            row=_row_number(series, i),
        )
    huge = np.abs(values) > MAX_MAGNITUDE  # NaN compares False
    if huge.any():
        i = int(np.argmax(huge))
        shown = repr(text[i]) if text is not None else f"{values[i]:g}"
        raise InputError(
            f"number {shown} is too large for a numeric column (beyond ±2^53, about 9.0e15)",
            file=file,
            column=str(series.name),
            row=_row_number(series, i),
        )
    return values


def to_text(series: pd.Series) -> np.ndarray:
    """Column values as Python strings (None where missing): categories are compared as text."""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[~missing] = [str(v).strip() for v in values[~missing]]
    out[missing] = None
    return out


def parse_target(series: pd.Series, *, file: str | Path | None = None) -> np.ndarray:
    """Labels of the target column: numbers if every label is a number, otherwise text.

    Integral numbers become ints (``0``/``1`` stay ``0``/``1``). A missing label, or
    a number with a fractional part (a measurement, not a class), raises, naming its row.
    """
    missing = pd.isna(series.to_numpy(dtype=object))
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            "missing target value", file=file, column=str(series.name), row=_row_number(series, i)
        )
    text = to_text(series)
    numbers = pd.to_numeric(text, errors="coerce").astype(np.float64)
    if np.all(np.isfinite(numbers)):
        fractional = numbers != np.round(numbers)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise InputError(
                f"label {text[i]!r} is not a whole number; the target must hold classes "
                "(such as 0/1 or no/yes), not measurements",
                file=file,
                column=str(series.name),
                row=_row_number(series, i),
            )
        if np.all(np.abs(numbers) <= 2**53):  # whole numbers that int64 holds exactly
            return numbers.astype(np.int64)
    return text.astype(str)


def check_labels(
    labels: np.ndarray,
    *,
    multiclass: bool,
    file: str | Path | None = None,
    column: str | None = None,
) -> np.ndarray:
    """The sorted distinct labels; a clear error unless there are two (or more with multiclass)."""
    classes = np.unique(labels)
    shown = ", ".join(map(str, classes[:10])) + (", ..." if len(classes) > 10 else "")
    if len(classes) < 2:
        raise InputError(
            f"the target has only one value ({shown}); a classifier needs two",
            file=file,
            column=column,
        )
    if len(classes) > 2 and not multiclass:
        raise InputError(
            f"the target has {len(classes)} distinct values ({shown}), not two; "
            "pass --multiclass to predict more than two classes",
            file=file,
            column=column,
        )
    return classes


# ---- which columns are features ----------------------------------------------------------
def infer_column_types(
    frame: pd.DataFrame,
    *,
    exclude: Sequence[str] = (),
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    file: str | Path | None = None,
) -> tuple[list[str], list[str]]:
    """Split the feature columns into (numeric, categorical), in file order.

    Columns named in ``numeric`` or ``categorical`` are taken as given. Any other column
    (not in ``exclude``) is numeric if all its non-missing cells parse as numbers and
    categorical if most do not; a column where nearly all do (at least
    ``MOSTLY_NUMERIC``) is a numeric column with a typing error, reported by row.
    """
    for name in [*exclude, *numeric, *categorical]:
        if name not in frame.columns:
            raise InputError("no such column in the file", file=file, column=name)
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise InputError(
            f"column(s) {', '.join(both)} given as both numeric and categorical", file=file
        )
    num, cat = [], []
    for name in frame.columns:
        if name in exclude:
            continue
        series = frame[name]
        if series.isna().all():
            raise InputError(
                "the column is empty in every row; remove it with --drop", file=file, column=name
            )
        if name in numeric:
            to_numbers(series, file=file)
            num.append(name)
        elif name in categorical:
            cat.append(name)
        elif _is_numeric_dtype(series):
            num.append(name)
        else:
            text = series.dropna().to_numpy(dtype=object)
            parsed = pd.to_numeric(text, errors="coerce").astype(np.float64)
            share = float(np.mean(~np.isnan(parsed)))
            if share == 1.0:
                num.append(name)
            elif share >= MOSTLY_NUMERIC:
                to_numbers(series, file=file)  # raises at the first text cell
            else:
                cat.append(name)
    if not num and not cat:
        raise InputError("no feature columns left after removing target, id and dropped columns")
    return num, cat


def with_numbers(
    frame: pd.DataFrame, columns: Sequence[str], *, file: str | Path | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` with the named columns parsed once into float64 (NaN if missing)."""
    return frame.assign(**{name: to_numbers(frame[name], file=file) for name in columns})


def check_complete(
    frame: pd.DataFrame, columns: Sequence[str], *, file: str | Path | None = None
) -> None:
    """Raise for the first missing cell (in file order) of the named columns."""
    for name in columns:
        _refuse_missing(frame[name].isna().to_numpy(), frame[name], file)


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
                _refuse_missing(np.isnan(x), frame[name], file)
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
                _refuse_missing(text == None, frame[name], file)  # noqa: E711
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
                    _refuse_missing(missing, frame[col.name], file)
                x = np.where(missing, col.fill, x)
            out[:, j] = (x - col.mean) / col.scale
        j = len(self.numeric)
        counts = Counter() if unseen is None else unseen
        for col in self.categorical:
            text = to_text(frame[col.name])
            missing = text == None  # noqa: E711
            if missing.any():
                if col.fill is None:
                    _refuse_missing(missing, frame[col.name], file)
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


def _refuse_missing(missing: np.ndarray, series: pd.Series, file: str | Path | None) -> None:
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            f"missing value ({int(missing.sum())} in this column); "
            "choose --impute median, mean or most_frequent to fill them",
            file=file,
            column=str(series.name),
            row=_row_number(series, i),
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
