"""Applicants' groups for the fairness audit, from a group column read chunk by chunk.

A numeric group column with ``bins`` is cut into bands [-inf, b0), [b0, b1), ...,
[b_last, inf); a column named ``age`` is cut at 25, 40 and 62 unless other bins are
given; other columns are taken value by value (at most :data:`MAX_GROUPS` distinct
values). :class:`GroupCoder` finds the groups in one pass over the column's chunks and
then codes each chunk; :func:`group_labels` does both for a frame in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..data.tabular import to_numbers, to_text
from .age_check import AGE_BINS, age_bands

#: A group column without bins may hold at most this many distinct values.
MAX_GROUPS = 20
#: The column whose attribution the Regulation B check examines.
AGE_COLUMN = "age"


def _row(series: pd.Series, position: int) -> int:
    label = series.index[position]
    return int(label) + 1 if isinstance(label, int | np.integer) else position + 1


class GroupCoder:
    """The groups of a column, found by scanning it chunk by chunk, and each row's group.

        coder = GroupCoder("age", bins=None, file="loans.csv")
        coder.scan(chunk["age"] for chunk in chunks)   # raises for bad groups
        coder.names                                    # ['under 25', '25-39', ...]
        coder.codes(chunk["age"])                      # 0 .. len(names) - 1

    Numbers are cut into bands when ``bins`` are given (or the column is ``age``: under
    25, 25-39, 40-61, 62 and over); otherwise each distinct value is a group (whole
    numbers shown without decimals, the groups in numeric order when every cell is a
    number, else in text order). The scan raises :class:`InputError` naming the file,
    column and row for a missing cell, text among numbers to be binned, more than
    :data:`MAX_GROUPS` distinct values, or a single group; it keeps at most
    MAX_GROUPS + 1 distinct values, however long the column.
    """

    def __init__(
        self, column: str, *, bins: Sequence[float] | None = None, file: str | Path | None = None
    ) -> None:
        self.column = column
        self.bins = AGE_BINS if bins is None and column == AGE_COLUMN else bins
        self.file = file
        self.names: list[str] = []
        self._bands: set[int] = set()
        self._numeric = True
        self._numbers = np.empty(0)
        self._texts: set[str] = set()
        self._texts_capped = False
        self._band_position = np.empty(0, dtype=np.int64)

    # ---- the scan ----
    def scan(self, chunks: Iterable[pd.Series]) -> GroupCoder:
        """Find the groups in the column's chunks (in order); returns self."""
        rows = 0
        it = iter(chunks)
        series = next(it, None)
        while series is not None:
            following = next(it, None)
            rows += len(series)
            self._scan_chunk(series, rows, last=following is None)
            series = following
        self._finish()
        return self

    def _scan_chunk(self, series: pd.Series, rows: int, *, last: bool) -> None:
        text = to_text(series)
        missing = text == None  # noqa: E711 (elementwise on an object array)
        if missing.any():
            i = int(np.argmax(missing))
            raise InputError(
                "missing group value", file=self.file, column=self.column, row=_row(series, i)
            )
        if self.bins is not None:
            self._bands.update(np.unique(self._band_codes(series)).tolist())
            return
        distinct = pd.unique(text)
        if not self._texts_capped:
            self._texts.update(str(t) for t in distinct)
            self._texts_capped = len(self._texts) > MAX_GROUPS
        if self._numeric:
            numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
            numbers = numbers.to_numpy(dtype=np.float64)
            self._numeric = bool(np.all(np.isfinite(numbers)))
            if self._numeric:
                self._numbers = np.union1d(self._numbers, numbers)
        where = "" if last else f" in the first {rows} rows"
        if self._numeric and self._numbers.size > MAX_GROUPS:
            raise InputError(
                f"{self._numbers.size} distinct numbers{where} make too many groups; cut them "
                "into bands with --bins EDGE [EDGE ...] (bins= in Python)",
                file=self.file,
                column=self.column,
            )
        if not self._numeric and len(self._texts) > MAX_GROUPS:
            count = (
                f"at least {len(self._texts)}"
                if not last or self._texts_capped
                else len(self._texts)
            )
            raise InputError(
                f"{count} distinct values{where} make too many groups (at most {MAX_GROUPS})",
                file=self.file,
                column=self.column,
            )

    def _band_codes(self, series: pd.Series) -> np.ndarray:
        values = to_numbers(series, file=self.file)  # names the row of any text cell
        bands = age_bands(pd.Series(values, name=self.column), bins=self.bins)
        return np.asarray(bands.cat.codes, dtype=np.int64)

    def _finish(self) -> None:
        if self.bins is not None:
            labels = list(age_bands([], bins=self.bins).cat.categories)
            present = sorted(self._bands)
            self.names = [labels[b] for b in present]
            self._band_position = np.full(len(labels), -1, dtype=np.int64)
            self._band_position[present] = np.arange(len(present))
        elif self._numeric:
            self.names = [_number_name(v) for v in self._numbers]
        else:
            self.names = sorted(self._texts)
        if len(self.names) < 2:
            raise InputError(
                f"every row is in the same group ({self.names[0]!r}): an audit compares two "
                "or more groups",
                file=self.file,
                column=self.column,
            )

    # ---- coding rows ----
    def codes(self, series: pd.Series) -> np.ndarray:
        """Each row's group, 0 .. len(names) - 1, for rows of the scanned column."""
        if self.bins is not None:
            codes = self._band_position[self._band_codes(series)]
        elif self._numeric:
            numbers = pd.to_numeric(pd.Series(to_text(series), dtype=object), errors="coerce")
            codes = np.searchsorted(self._numbers, numbers.to_numpy(dtype=np.float64))
        else:
            codes = pd.Categorical(to_text(series), categories=self.names).codes
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= len(self.names)):
            raise ValueError("a row's group was not seen when the column was scanned")
        return codes


def group_labels(
    frame: pd.DataFrame,
    column: str,
    *,
    bins: Sequence[float] | None = None,
    file: str | Path | None = None,
) -> pd.Series:
    """The group of every row of ``frame`` by ``column``, as a categorical Series
    (the groups and errors of :class:`GroupCoder`)."""
    if column not in frame.columns:
        raise InputError("no such group column in the file", file=file, column=column)
    coder = GroupCoder(column, bins=bins, file=file).scan([frame[column]])
    cat = pd.Categorical.from_codes(
        coder.codes(frame[column]), categories=coder.names, ordered=coder.bins is not None
    )
    return pd.Series(cat, index=frame.index, name=column)


def _number_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
