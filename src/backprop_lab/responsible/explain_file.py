"""Reasons for every applicant of a file, chunk by chunk, with memory bounded by the chunk.

:func:`explain_csv` runs :func:`~backprop_lab.responsible.explain.explain_model` on each
chunk of a CSV file, writes each chunk's reasons as CSV rows and keeps only summaries
(:class:`ExplanationSummary`): the global importance, the completeness gaps and the
first applicants' reasons in words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from ..classifier.points import PointsScale
from ..classifier.tabular_model import TabularModel
from ..data.tabular import iter_csv, warn_unseen, with_numbers
from .attributions import DEFAULT_STEPS, ImportanceAccumulator
from .explain import (
    BASELINES,
    METHODS,
    _check_choice,
    _check_top,
    _completeness_line,
    _summary_line,
    explain_model,
    reference_point,
)

# ---- a whole file, chunk by chunk ---------------------------------------------------------

#: Rows explained at once by :func:`explain_csv`.
EXPLAIN_CHUNK_ROWS = 50_000


@dataclass
class ExplanationSummary:
    """What :func:`explain_csv` found over a whole file (the reasons are in the file).

    ``importance``: :func:`~.attributions.global_importance` over every applicant;
    ``max_gap``, ``n_incomplete`` and ``max_steps``: the completeness gaps' summary;
    ``shown``: the first applicants' reasons in words, one list of lines per applicant
    (as :meth:`ModelExplanation.text` prints them).
    """

    n_rows: int
    method: str
    baseline: str
    calibrated: bool
    max_gap: float
    n_incomplete: int
    max_steps: int | None
    importance: pd.DataFrame
    shown: list[list[str]]
    points: PointsScale | None = None

    def text(self, max_applicants: int = 20) -> str:
        """The first applicants' probabilities and reasons in plain words."""
        lines = [
            _summary_line(self.n_rows, self.method, self.baseline, self.calibrated, self.points)
        ]
        lines += [line for block in self.shown[:max_applicants] for line in block]
        if self.n_rows > max_applicants:
            lines.append(f"... and {self.n_rows - max_applicants} more (see the file)")
        return "\n".join(lines)

    def completeness_text(self) -> str:
        """One line: the worst completeness gap over every applicant."""
        return _completeness_line(self.n_rows, self.max_gap, self.method, self.max_steps)


def explain_csv(
    model: TabularModel,
    path: str | Path,
    output: TextIO,
    *,
    top: int = 4,
    method: str = "ig",
    steps: int = DEFAULT_STEPS,
    baseline: str = "zeros",
    reference: str | Path | None = None,
    id_column: str | None = None,
    threshold: float = 0.5,
    show: int = 20,
    chunk_size: int | None = None,
    points: PointsScale | None = None,
) -> ExplanationSummary:
    """Explain every applicant of the CSV file ``path``, ``chunk_size`` rows at a time,
    writing :meth:`ModelExplanation.table`'s rows to the text stream ``output`` as CSV
    (header first) and keeping only summaries: memory is bounded by the chunk size.

    Arguments as in :func:`explain_model`; ``reference`` is a CSV file of applicants for
    the 'reference' baseline (default: ``path`` itself, then read twice). ``show``:
    how many applicants' reasons to keep in words (:meth:`ExplanationSummary.text`).
    The file written is the same for any chunk size (default
    :data:`EXPLAIN_CHUNK_ROWS`), up to the round-off with which the network's matrix
    products may treat a row in batches of different sizes.
    """
    chunk_size = EXPLAIN_CHUNK_ROWS if chunk_size is None else chunk_size
    _check_top(top)
    _check_choice("method", method, METHODS)
    _check_choice("baseline", baseline, BASELINES)
    if not model.is_binary:
        raise ValueError("explanations are for binary models (one probability of default)")
    point = None
    if baseline == "reference":
        source = path if reference is None else reference
        unseen_there: Counter = Counter()
        inputs = (
            model.transform(chunk, file=source, unseen=unseen_there)
            for chunk in iter_csv(source, chunk_size)
        )
        point = reference_point(model, inputs, threshold)
        if unseen_there and reference is not None:
            warn_unseen(unseen_there, source)
    importance = ImportanceAccumulator()
    unseen: Counter = Counter()
    shown: list[list[str]] = []
    n_rows, n_incomplete, max_gap, max_steps = 0, 0, 0.0, None
    numeric = [c.name for c in model.preprocessor.numeric]
    for chunk in iter_csv(path, chunk_size):
        # numbers parsed once for the network's inputs and the values shown
        chunk = with_numbers(chunk, [c for c in numeric if c in chunk.columns], file=path)
        part = explain_model(
            model,
            chunk,
            top=top,
            method=method,
            steps=steps,
            baseline=baseline,
            id_column=id_column,
            threshold=threshold,
            file=path,
            first_row=n_rows + 1,
            baseline_point=point,
            unseen=unseen,
            points=points,
        )
        part.table().to_csv(output, header=n_rows == 0, index=False)
        att = part.attributions
        importance.add(att.attributions, part.values)
        if n_rows < show:
            shown += part.applicant_blocks(show - n_rows)
        n_rows += len(chunk)
        n_incomplete += att.n_incomplete
        max_gap = max(max_gap, att.max_gap)
        if att.steps is not None:
            max_steps = max(max_steps or 0, int(np.max(att.steps)))
    if unseen:
        warn_unseen(unseen, path)
    return ExplanationSummary(
        n_rows=n_rows,
        method=method,
        baseline=baseline,
        calibrated=model.calibrator is not None,
        max_gap=max_gap,
        n_incomplete=n_incomplete,
        max_steps=max_steps,
        importance=importance.table(),
        shown=shown,
        points=points,
    )
