"""Labelled numbers kept in a temporary file, with exact order statistics in bounded memory.

    spill = SpilledValues()
    spill.append(labels, values)                  # chunk by chunk (labels: 0..255)
    spill.median(label)                           # exact, reading the file in blocks
    spill.count_above(label, threshold)

A median needs every value of its class, but not all at once: radix selection finds
the k-th smallest value (0-based) of a class from four passes over the file, each a
histogram of the next 16 bits of the values' *order-preserving keys*

    key(v) = bits(v) with the sign bit set      for v >= +0.0
           = NOT bits(v)                        for v <= -0.0

(bits: the IEEE-754 float64 as an unsigned 64-bit integer), so that key(u) < key(v)
exactly when u < v. Pass j counts, among the values whose top 16 j bits equal the
prefix found so far, how many have each next 16-bit digit; the digit where the
cumulative count passes k is the k-th value's, and k drops by the count below it.
After four passes the whole key, hence the value, is known. Memory: one block of the
file and a 65,536-entry histogram per order statistic; the file holds 9 bytes a value
and is deleted when the object is closed or collected.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

_RECORD = np.dtype([("label", "u1"), ("value", "<f8")])
_SIGN = np.uint64(1 << 63)
_DIGIT = np.uint64(0xFFFF)


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving uint64 keys of float64 values (see the module docstring)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def value_of_key(key: int) -> float:
    """The float64 whose :func:`sortable_keys` key is ``key``."""
    k = np.uint64(key)
    bits = k & ~_SIGN if k & _SIGN else ~k
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


class SpilledValues:
    """Float64 values with a small integer label each, appended to a temporary file."""

    def __init__(self, block_rows: int = 1 << 18) -> None:
        self._file = tempfile.TemporaryFile()
        self._block_rows = int(block_rows)
        self.counts = np.zeros(256, dtype=np.int64)

    def append(self, labels: ArrayLike, values: ArrayLike) -> None:
        """Add ``values`` (float64) with their ``labels`` (integers 0..255)."""
        labels = np.asarray(labels)
        values = np.asarray(values, dtype=np.float64).ravel()
        if labels.shape != values.shape:
            raise ValueError(f"{labels.size} labels for {values.size} values")
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError("labels must be integers from 0 to 255")
        records = np.empty(values.size, dtype=_RECORD)
        records["label"] = labels
        records["value"] = values
        self._file.seek(0, 2)
        records.tofile(self._file)
        self.counts += np.bincount(records["label"], minlength=256)

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(labels, values) of the file in order, ``block_rows`` at a time."""
        self._file.flush()
        self._file.seek(0)
        while True:
            records = np.fromfile(self._file, dtype=_RECORD, count=self._block_rows)
            if records.size == 0:
                return
            yield records["label"], records["value"]

    def order_statistic(self, label: int, k: int) -> float:
        """The k-th smallest value (0-based) labelled ``label``, exactly."""
        n = int(self.counts[label])
        if not 0 <= k < n:
            raise ValueError(f"label {label} has {n} values; no order statistic {k}")
        prefix = 0
        for level in range(4):
            shift = np.uint64(48 - 16 * level)
            above = np.uint64(64 - 16 * level)
            histogram = np.zeros(1 << 16, dtype=np.int64)
            for labels, values in self.blocks():
                keys = sortable_keys(values[labels == label])
                if level:
                    keys = keys[(keys >> above) == np.uint64(prefix)]
                histogram += np.bincount(
                    ((keys >> shift) & _DIGIT).astype(np.intp), minlength=1 << 16
                )
            below = np.cumsum(histogram)
            digit = int(np.searchsorted(below, k, side="right"))  # first digit with > k
            k -= int(below[digit - 1]) if digit else 0
            prefix = (prefix << 16) | digit
        return value_of_key(prefix)

    def median(self, label: int) -> float:
        """The median of the values labelled ``label``: the middle one, or the mean of
        the two middle ones for an even count (as NumPy and pandas define it)."""
        n = int(self.counts[label])
        if n == 0:
            raise ValueError(f"no value labelled {label}")
        upper = self.order_statistic(label, n // 2)
        if n % 2:
            return upper
        return (self.order_statistic(label, n // 2 - 1) + upper) / 2.0

    def count_above(self, label: int, threshold: float) -> int:
        """How many values labelled ``label`` exceed ``threshold``."""
        return sum(
            int(np.count_nonzero(values[labels == label] > threshold))
            for labels, values in self.blocks()
        )

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> SpilledValues:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
