"""Tables at portfolio scale: CSV and Parquet files read and written in chunks through Arrow.

Scoring a file is mostly reading and writing it, so ``predict`` and ``evaluate`` read
with Arrow's multi-threaded CSV and Parquet readers and write with its writers. The
numbers are the ones the text reader of :mod:`~backprop_lab.data.csv_files` gives:

* a CSV file is read by Arrow with the numeric columns typed as float64 and the other
  columns as text, and pandas's default missing-value markers (``""``, ``NA``, ``NaN``,
  ``null``, ...) as missing. Arrow parses decimal text to the nearest double, as Python's
  ``float`` does; the text reader's ``pd.to_numeric`` agrees on every number of up to 17
  significant digits (the tests check).
* Anything Arrow does not read exactly that way (a cell that is not a plain number, a
  padded cell, a malformed line, a byte that is not UTF-8) stops the Arrow reader and the
  file is read on from the same row by the text reader, whose messages name the file,
  column and row. So a clean file is fast and a bad one fails as it always did.

Frames come in chunks of ``chunk_size`` rows (the last one shorter) whose index counts
data rows from 0 across chunks (row ``i`` of the index is data row ``i + 1`` in messages),
so memory is bounded by the chunk, whatever the file's length. Arrow reads ahead of the
frame handed out, and its read-ahead is kept small and fixed:

* the CSV reader queues up to 32 blocks of raw bytes ahead of the parser (a fixed depth
  that pyarrow does not expose), so blocks are small (:func:`_block_bytes`: 8,192 rows,
  1 MiB for rows of 128 bytes, so at most 32 MiB ahead) and a chunk is gathered from
  several of them.
  Blocks of a whole chunk each (10 MiB at 100,000 rows of 106 bytes) queued 32 chunks:
  a file of 2,000,000 such rows was held whole (212 MB) while its first chunk was scored.
* the Parquet reader reads a column chunk (one column of a row group) through a buffer
  of :data:`_PARQUET_BUFFER_BYTES` instead of whole: a row group is as long as the file's
  writer made it (pyarrow writes 1,048,576 rows by default) and was read whole,
  about 50 MB at 1,048,576 rows of the columns a model reads, before its first batch.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from .._util.atomic import atomic_write
from .._util.validation import InputError
from .csv_files import _check_file, iter_csv, read_header

#: File suffixes read and written as Parquet; every other name is CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")

#: pandas's default missing-value markers (``pandas.read_csv``'s ``na_values``), so that
#: Arrow and the text reader agree on which cells are missing.
NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)

#: Bytes of a CSV file sampled for the length of its longest row.
_SAMPLE_BYTES = 1 << 20
#: Arrow reads a CSV file in blocks of bytes, queueing up to 32 of them ahead of the
#: parser, and a row must fit in one block (a longer row hands the rest of the file to
#: the text reader): a block holds this many of the longest rows of the sample (fewer
#: when a chunk is shorter), within [64 KiB, 1 GiB]. Rows of 128 bytes make blocks of
#: Arrow's default size, 1 MiB; ``predict`` used no more CPU time with them than with
#: blocks of a whole 100,000-row chunk.
_ROWS_PER_BLOCK = 8192
_MIN_BLOCK_BYTES = 1 << 16
_MAX_BLOCK_BYTES = 1 << 30
#: Bytes read at a time from a Parquet column chunk.
_PARQUET_BUFFER_BYTES = 1 << 20


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix)."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def read_columns(path: str | Path) -> list[str]:
    """The column names of a CSV or Parquet file, without reading its rows."""
    if not is_parquet(path):
        return read_header(path)
    return list(_parquet_file(path).schema_arrow.names)


def iter_frames(
    path: str | Path,
    chunk_size: int,
    *,
    numeric: Sequence[str] = (),
    text: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """The ``numeric`` and ``text`` columns of a CSV or Parquet file in frames of at most
    ``chunk_size`` rows, each frame's index counting data rows from 0 across chunks.

    Numeric columns come as float64 when the file holds plain numbers (NaN where
    missing), otherwise as text for :func:`~backprop_lab.data.columns.to_numbers` to
    parse and report; text columns come as Python strings (None where missing).
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1; got {chunk_size}")
    columns = list(dict.fromkeys([*numeric, *text]))
    if is_parquet(path):
        yield from _parquet_frames(path, chunk_size, columns)
        return
    rows = 0
    try:
        for frame in _arrow_csv_frames(path, chunk_size, numeric, text, columns):
            rows += len(frame)
            yield frame
        if rows == 0:
            raise InputError("the file has a header but no data rows", file=path)
        return
    except _NotArrowReadable:
        pass
    # The text reader takes over at the first row Arrow did not give.
    for frame in iter_csv(path, chunk_size, columns=columns):
        if frame.index[-1] < rows:
            continue
        yield frame.loc[rows:] if frame.index[0] < rows else frame


class _NotArrowReadable(Exception):
    """Arrow cannot read the rest of the file exactly as the text reader would."""


def _arrow_csv_frames(
    path: str | Path,
    chunk_size: int,
    numeric: Sequence[str],
    text: Sequence[str],
    columns: list[str],
) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = _check_file(path)
    read_header(path)  # refuses nameless and repeated column names, naming them
    types = {name: pa.string() for name in text} | {name: pa.float64() for name in numeric}
    read = pcsv.ReadOptions(block_size=_block_bytes(path, chunk_size))
    convert = pcsv.ConvertOptions(
        column_types=types,
        include_columns=columns,
        null_values=list(NA_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        reader = pcsv.open_csv(path, read_options=read, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowKeyError):
        raise _NotArrowReadable from None
    start = 0
    pieces: list = []  # record batches of the chunk being gathered, ``held`` rows in all
    held = 0
    with contextlib.closing(reader):
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowKeyError):
                # the rows gathered but not handed out are read again by the text reader
                raise _NotArrowReadable from None
            offset = 0
            while offset < batch.num_rows:
                take = min(chunk_size - held, batch.num_rows - offset)
                pieces.append(batch.slice(offset, take))
                held += take
                offset += take
                if held == chunk_size:
                    yield _to_frame(pieces, columns, start)
                    start += held
                    pieces, held = [], 0
    if held:
        yield _to_frame(pieces, columns, start)


def _block_bytes(path: Path, chunk_size: int) -> int:
    """Bytes per Arrow block: :data:`_ROWS_PER_BLOCK` (at most ``chunk_size``) of the
    longest line among the first :data:`_SAMPLE_BYTES` of the file (the whole sample when
    it has no line break), clipped to [:data:`_MIN_BLOCK_BYTES`, :data:`_MAX_BLOCK_BYTES`]."""
    with open(path, "rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    longest = max(len(line) + 1 for line in sample.split(b"\n"))
    rows = min(chunk_size, _ROWS_PER_BLOCK)
    return int(np.clip(longest * rows, _MIN_BLOCK_BYTES, _MAX_BLOCK_BYTES))


def _to_frame(batches: list, columns: list[str], start: int) -> pd.DataFrame:
    """Arrow record batches as one frame indexed from ``start``: floats as float64, text as
    pandas's string dtype (missing as NA), as the text reader gives them."""
    import pyarrow as pa

    table = pa.Table.from_batches(batches)
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(start, start + table.num_rows)
    return frame[columns]


def _parquet_file(path: str | Path) -> object:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _check_file(path)
    try:
        return pq.ParquetFile(path, buffer_size=_PARQUET_BUFFER_BYTES, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"not a readable Parquet file: {error}", file=path) from None


def _parquet_frames(
    path: str | Path, chunk_size: int, columns: list[str]
) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    parquet = _parquet_file(path)
    names = parquet.schema_arrow.names
    for name in columns:
        if name not in names:
            raise InputError("no such column in the file", file=path, column=name)
    start = 0
    try:
        for batch in parquet.iter_batches(batch_size=chunk_size, columns=columns):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"not a readable Parquet file: {error}", file=path) from None
    if start == 0:
        raise InputError("the file has no rows", file=path)


# ---- writing ----------------------------------------------------------------------------
class CsvChunkWriter:
    """Frames appended to one CSV stream: a header line, then rows, as ``DataFrame.to_csv``
    writes them (no index, quotes only where a cell needs them).

    Arrow writes the rows; a chunk with a cell that needs quotes (a comma, a quote or a
    line break in an id) is written by pandas instead, in the same dialect.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.rows = 0
        self._columns: list[str] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        if self._columns is None:
            self._columns = [str(c) for c in frame.columns]
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow(self._columns)
            self.handle.write(line.getvalue().encode("utf-8"))
        options = pcsv.WriteOptions(include_header=False, quoting_style="none")
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pcsv.write_csv(table, self.handle, write_options=options)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            body = frame.to_csv(header=False, index=False, lineterminator="\n")
            self.handle.write(body.encode("utf-8"))
        self.rows += len(frame)


class _ParquetChunkWriter:
    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.rows = 0
        self._writer = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.handle, table.schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@contextlib.contextmanager
def table_writer(path: str | Path) -> Iterator[CsvChunkWriter | _ParquetChunkWriter]:
    """A writer of frames to the CSV or Parquet file ``path`` (by suffix), written to a
    temporary file and renamed onto ``path`` only when every chunk is in."""
    with atomic_write(path, "wb") as handle:
        if is_parquet(path):
            writer = _ParquetChunkWriter(handle)
            try:
                yield writer
            except BaseException:
                with contextlib.suppress(Exception):  # the temporary file is removed anyway
                    writer.close()
                raise
            writer.close()
        else:
            yield CsvChunkWriter(handle)
