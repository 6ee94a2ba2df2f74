"""Reading a CSV file with errors that name the file, the column and the row.

Every column must be named and named once; a missing, empty or unreadable file, or a
malformed line, is one :class:`~backprop_lab._util.validation.InputError`. Files are read
whole (:func:`read_csv`), by header only (:func:`read_header`) or in chunks of rows whose
index keeps counting across chunks (:func:`iter_csv`).

Row numbers in messages count data rows from 1: row 1 is the first line below the
header (so a spreadsheet shows it as row 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from .._util.validation import InputError


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


def iter_csv(
    path: str | Path, chunk_size: int, *, columns: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The CSV in frames of at most ``chunk_size`` rows; each frame's index counts rows from 0.

    Memory stays bounded by the chunk size however large the file is. ``columns``:
    read only these (they must be in the header).
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1; got {chunk_size}")
    path = _check_file(path)
    _check_columns_named(_read(path, nrows=0).columns, path)
    _check_columns_unique(path)
    n_rows = 0
    reader = _read(path, chunksize=chunk_size, **({} if columns is None else {"usecols": columns}))
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
