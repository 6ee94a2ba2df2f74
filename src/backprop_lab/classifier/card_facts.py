"""What training records for a model card, and the range check against it.

``fit_tabular`` stores :func:`training_facts` in the model file's ``model_card`` block:
the rows of the training file and of each split, the columns, each label's count
(and, for a binary target, the default rate d = defaults / rows per split), and the
range of every numeric input over the rows the preprocessing was fitted on, rounded
outward to two significant digits (:func:`outward_range`), so that the file holds no
applicant's exact value. Models saved before the block existed have none; a model card then says
"not recorded".

:class:`RangeCounter` counts, chunk by chunk, the rows of another file whose numeric
inputs fall outside those training ranges (``evaluate`` reports it): a network
extrapolates there, and nothing held out has checked it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.tabular import to_numbers


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _round(value: float, up: bool) -> float:
    """``value`` rounded down (or up) on the grid of its second significant digit."""
    if value == 0:
        return 0.0
    if abs(value) < 1e-300:  # the grid's step would underflow: 0 or +-1e-300 outward
        return (1e-300 if value > 0 else 0.0) if up else (0.0 if value > 0 else -1e-300)
    e = math.floor(math.log10(abs(value))) - 1
    step = 10.0**e
    n = math.ceil(value / step) if up else math.floor(value / step)
    rounded = round(n * step, max(-e, 0))
    if (rounded < value) if up else (rounded > value):  # the division rounded the wrong way
        rounded = round((n + (1 if up else -1)) * step, max(-e, 0))
    return rounded


def outward_range(least: float, largest: float) -> list[float]:
    """[least, largest] widened to two significant digits: 7167 -> 7100, 201281 -> 210000,
    0.0109 -> 0.01; the stored range always holds the true one."""
    return [_round(least, up=False), _round(largest, up=True)]


def _split(labels: np.ndarray, rows: np.ndarray, positive: object) -> dict:
    """rows, and for a binary target the defaults and the default rate of ``rows``."""
    out: dict = {"rows": int(rows.size)}
    if positive is not None and rows.size:
        defaults = int(np.sum(labels[rows] == positive))
        out["defaults"] = defaults
        out["default_rate"] = defaults / rows.size
    return out


def training_facts(
    frame: pd.DataFrame,
    labels: np.ndarray,
    positive: object,
    *,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    calibration_rows: np.ndarray,
    numeric: Sequence[str],
) -> dict:
    """The ``model_card`` block: splits, columns, label counts and numeric ranges.

    ``frame``'s numeric columns are already numbers (``with_numbers``); ranges are
    taken over ``train_rows`` (the rows the preprocessing and the network saw), NaN
    (imputed cells) left out, and widened by :func:`outward_range`.
    """
    values, counts = np.unique(labels, return_counts=True)
    every = np.arange(len(frame))
    ranges = {}
    train = frame.iloc[train_rows]
    for name in numeric:
        x = to_numbers(train[name])
        x = x[np.isfinite(x)]
        if x.size:
            ranges[name] = outward_range(float(x.min()), float(x.max()))
    return {
        "columns": int(frame.shape[1]),
        "label_counts": [[_plain(v), int(c)] for v, c in zip(values, counts, strict=True)],
        "splits": {
            "all": _split(labels, every, positive),
            "train": _split(labels, train_rows, positive),
            "calibration": _split(labels, calibration_rows, positive),
            "test": _split(labels, test_rows, positive),
        },
        "numeric_ranges": ranges,
    }


class RangeCounter:
    """Rows whose numeric inputs lie outside the training ranges, added chunk by chunk.

    ``ranges``: {column: [least, largest]} as :func:`training_facts` stores them.
    A missing cell is not counted (it is imputed, or refused, elsewhere).
    """

    def __init__(self, ranges: dict) -> None:
        self.ranges = {k: (float(v[0]), float(v[1])) for k, v in ranges.items()}
        self.rows = 0
        self.outside = 0
        self.by_column = dict.fromkeys(self.ranges, 0)

    def add(self, chunk: pd.DataFrame) -> None:
        """Count the rows of ``chunk`` (its columns named as in ``ranges``)."""
        any_out = np.zeros(len(chunk), dtype=bool)
        for name, (lo, hi) in self.ranges.items():
            x = to_numbers(chunk[name])
            out = (x < lo) | (x > hi)  # NaN compares False
            self.by_column[name] += int(out.sum())
            any_out |= out
        self.rows += len(chunk)
        self.outside += int(any_out.sum())

    def to_dict(self) -> dict:
        """{rows, rows_outside, by_column: {column: rows outside its range}}."""
        return {"rows": self.rows, "rows_outside": self.outside, "by_column": self.by_column}
