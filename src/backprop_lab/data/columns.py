"""Column by column: cells to numbers or text, targets and labels, column types.

Numbers are parsed with errors naming the file, column and row (text in a numeric
column, infinity, a magnitude beyond :data:`MAX_MAGNITUDE`); a column's type is
inferred from what its cells hold; a target column becomes labels, checked to hold at
least two classes.

Row numbers in messages count data rows from 1: row 1 is the first line below the
header (so a spreadsheet shows it as row 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError

#: A column whose non-missing values parse as numbers at least this often, but not
#: always, is taken to be a numeric column with typing errors in it, not a category.
MOSTLY_NUMERIC = 0.9

#: The largest magnitude a numeric cell may hold: 2^53, beyond which float64 no longer
#: holds every integer. Nothing a loan file measures comes near it, and below it the
#: squares and sums of standardisation and of the network stay far from overflow (1e308).
MAX_MAGNITUDE = 2.0**53


# ---- cells -> numbers ------------------------------------------------------------------
def row_number(frame: pd.DataFrame | pd.Series, position: int) -> int:
    """1-based data row of the ``position``-th row of a frame read by this module."""
    label = frame.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def _is_numeric_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def to_numbers(
    series: pd.Series, *, file: str | Path | None = None, parsed: np.ndarray | None = None
) -> np.ndarray:
    """Column values as float64 (NaN where missing); text, infinity or a magnitude above
    :data:`MAX_MAGNITUDE` raises, naming the row. ``parsed``: the text cells already
    through ``pd.to_numeric(..., errors="coerce")`` (``infer_column_types`` keeps them)."""
    if _is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    elif parsed is not None and not np.isnan(parsed).any():  # every cell a number
        values, text = np.asarray(parsed, dtype=np.float64), None
    else:
        text = series.to_numpy(dtype=object)
        values = pd.to_numeric(text, errors="coerce") if parsed is None else parsed
        values = values.astype(np.float64)
        bad = np.isnan(values) & ~pd.isna(text)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"text {text[i]!r} in a numeric column",
                file=file,
                column=str(series.name),
                row=row_number(series, i),
            )
    infinite = np.isinf(values)
    if infinite.any():
        i = int(np.argmax(infinite))
        raise InputError(
            "infinite value in a numeric column",
            file=file,
            column=str(series.name),
            row=row_number(series, i),
        )
    huge = np.abs(values) > MAX_MAGNITUDE  # NaN compares False
    if huge.any():
        i = int(np.argmax(huge))
        if _is_numeric_dtype(series):
            shown = f"{values[i]:g}"
        else:  # the cell as written
            shown = repr(text[i] if text is not None else series.to_numpy(dtype=object)[i])
        raise InputError(
            f"number {shown} is too large for a numeric column (beyond ±2^53, about 9.0e15)",
            file=file,
            column=str(series.name),
            row=row_number(series, i),
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
    cells = series.to_numpy(dtype=object)
    missing = pd.isna(cells)
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            "missing target value", file=file, column=str(series.name), row=row_number(series, i)
        )
    # Cells read from CSV (text): whitespace around a number does not change it, so when
    # every unstripped cell parses, these are the numbers of the stripped text, found
    # without a Python call per cell.
    text, numbers = None, None
    if isinstance(series.dtype, pd.StringDtype):
        numbers = pd.to_numeric(cells, errors="coerce").astype(np.float64)
    if numbers is None or not np.all(np.isfinite(numbers)):
        text = to_text(series)
        numbers = pd.to_numeric(text, errors="coerce").astype(np.float64)
    if np.all(np.isfinite(numbers)):
        fractional = numbers != np.round(numbers)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise InputError(
                f"label {str(cells[i]).strip()!r} is not a whole number; the target must hold "
                "classes (such as 0/1 or no/yes), not measurements",
                file=file,
                column=str(series.name),
                row=row_number(series, i),
            )
        if np.all(np.abs(numbers) <= 2**53):  # whole numbers that int64 holds exactly
            return numbers.astype(np.int64)
    return (to_text(series) if text is None else text).astype(str)


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
    parsed: dict[str, np.ndarray] | None = None,
) -> tuple[list[str], list[str]]:
    """Split the feature columns into (numeric, categorical), in file order.

    Columns named in ``numeric`` or ``categorical`` are taken as given. Any other column
    (not in ``exclude``) is numeric if all its non-missing cells parse as numbers and
    categorical if most do not; a column where nearly all do (at least
    ``MOSTLY_NUMERIC``) is a numeric column with a typing error, reported by row.
    ``parsed`` (a dict) receives the parsed text of numeric columns without missing
    cells, for ``with_numbers``, so that a large file's cells are parsed once.
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
            numbers = pd.to_numeric(text, errors="coerce").astype(np.float64)
            share = float(np.mean(~np.isnan(numbers)))
            if share == 1.0:
                num.append(name)
                if parsed is not None and len(text) == len(series):  # no cell missing
                    parsed[name] = numbers
            elif share >= MOSTLY_NUMERIC:
                to_numbers(series, file=file)  # raises at the first text cell
            else:
                cat.append(name)
    if not num and not cat:
        raise InputError("no feature columns left after removing target, id and dropped columns")
    return num, cat


def with_numbers(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    file: str | Path | None = None,
    parsed: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with the named columns parsed once into float64 (NaN if missing);
    ``parsed`` holds columns ``infer_column_types`` already parsed (checked here as well)."""
    parsed = parsed or {}
    return frame.assign(
        **{name: to_numbers(frame[name], file=file, parsed=parsed.get(name)) for name in columns}
    )


def check_complete(
    frame: pd.DataFrame, columns: Sequence[str], *, file: str | Path | None = None
) -> None:
    """Raise for the first missing cell (in file order) of the named columns."""
    for name in columns:
        refuse_missing(frame[name].isna().to_numpy(), frame[name], file)


# ---- the preprocessor ---------------------------------------------------------------------


def refuse_missing(missing: np.ndarray, series: pd.Series, file: str | Path | None) -> None:
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            f"missing value ({int(missing.sum())} in this column); "
            "choose --impute median, mean or most_frequent to fill them",
            file=file,
            column=str(series.name),
            row=row_number(series, i),
        )
