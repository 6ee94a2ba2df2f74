"""Drift of a new population against a model's training population, in bounded memory.

    report = monitor_csv(model, "new_loans.csv")        # the model's stored distributions
    print(report.text())                                 # one row per index, largest first
    report.to_json(); report.exceeding(0.25)

For the score (the model's P(default), calibrated when the model is) and for every source
column, the new rows are counted in the bins fixed at training time
(:class:`~backprop_lab.classifier.drift.TrainingDistributions`, stored in the model file by
``fit_tabular``) and compared with the training counts by the population stability index,
PSI = sum_i (a_i - e_i) ln(a_i / e_i) (see :mod:`~backprop_lab.classifier.drift` for the
bins, the 1e-4 floor on empty bins and the thresholds). A file is read in chunks; only
the counts are kept, so memory is bounded by the chunk size and the result does not
depend on it (counts add up).

A model saved before the distributions were stored has none: :func:`monitor_csv` then
needs ``reference=`` distributions, e.g. :func:`reference_distributions` of the training
file.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._util.text_table import aligned
from .._util.validation import InputError
from ..data.table_files import iter_frames, read_columns
from ..data.tabular import to_numbers, to_text
from .drift import (
    ACT,
    DEFAULT_BINS,
    EPSILON,
    WATCH,
    NumericBins,
    TrainingDistributions,
    flag,
    psi_terms,
    shares,
)

if TYPE_CHECKING:
    from .tabular_model import TabularModel

#: The score's name in tables and files.
SCORE = "P(default)"
#: The score's last bin: rows with a missing value that the model cannot fill.
UNSCORED = "unscored (missing value)"

#: What the stored distributions were counted on (fit_tabular's training rows).
TRAINING_ROWS = (
    "the rows the preprocessing and the network were fitted on: the training rows after "
    "the held-out test split, without the calibration rows when the model is calibrated"
)


def reference_distributions(
    model: TabularModel,
    frame: pd.DataFrame,
    *,
    n_bins: int = DEFAULT_BINS,
    file: str | Path | None = None,
    rows_used: str = "",
) -> TrainingDistributions:
    """Bins and counts of the score and of each of ``model``'s source columns on ``frame``:
    numeric columns as they are in the file (before any imputation), categorical ones
    binned by the model's categories. The score is the model's P(default) (None for a
    multiclass model)."""
    model.preprocessor.check_columns(frame.columns, file=file)
    numeric = {c.name: to_numbers(frame[c.name], file=file) for c in model.preprocessor.numeric}
    categorical = {
        c.name: (to_text(frame[c.name]), c.categories) for c in model.preprocessor.categorical
    }
    score = None
    if model.is_binary:
        score = model.predict_proba(frame, file=file, unseen=Counter())[:, model.positive_index]
    return TrainingDistributions.fit(
        numeric, categorical, score, n_bins=n_bins, rows_used=rows_used
    )


def check_reference(model: TabularModel, reference: TrainingDistributions) -> None:
    """The distributions describe this model's source columns, each of the right kind."""
    pre = model.preprocessor
    reference.check_fits(
        [c.name for c in pre.numeric], [c.name for c in pre.categorical], model.is_binary
    )


# ---- the result --------------------------------------------------------------------------
@dataclass
class DriftIndex:
    """One variable's bins with the training (expected) and new (actual) counts, and its
    index PSI = sum_i (a_i' - e_i') ln(a_i' / e_i')."""

    name: str
    kind: str  # 'score', 'numeric' or 'categorical'
    labels: list[str]
    expected: np.ndarray
    actual: np.ndarray
    epsilon: float = EPSILON

    @property
    def terms(self) -> np.ndarray:
        return psi_terms(self.expected, self.actual, self.epsilon)

    @property
    def index(self) -> float:
        return float(self.terms.sum())

    def largest_term(self) -> int:
        """The bin that adds most to the index."""
        return int(np.argmax(self.terms))

    def to_dict(self, watch: float, act: float) -> dict:
        e, a, t = shares(self.expected), shares(self.actual), self.terms
        return {
            "variable": self.name,
            "kind": self.kind,
            "index": self.index,
            "flag": flag(self.index, watch, act),
            "bins": [
                {
                    "bin": label,
                    "expected_rows": int(self.expected[i]),
                    "actual_rows": int(self.actual[i]),
                    "expected_share": float(e[i]),
                    "actual_share": float(a[i]),
                    "term": float(t[i]),
                }
                for i, label in enumerate(self.labels)
            ],
        }


@dataclass
class DriftReport:
    """Every index, largest first; the rows counted on each side; the thresholds."""

    indices: list[DriftIndex]
    rows: int
    reference_rows: int
    watch: float = WATCH
    act: float = ACT
    reference_source: str = "stored in the model file"
    reference_rows_used: str = ""
    sources: dict = field(default_factory=dict)

    def exceeding(self, limit: float) -> list[DriftIndex]:
        """The indices above ``limit``."""
        return [d for d in self.indices if d.index > limit]

    def worst_columns(self, n: int) -> list[DriftIndex]:
        """The ``n`` source columns with the largest indices."""
        return [d for d in self.indices if d.kind != "score"][:n]

    @property
    def score(self) -> DriftIndex | None:
        return next((d for d in self.indices if d.kind == "score"), None)

    def text(self) -> str:
        """The table: variable, kind, bins, index, flag, and the bin that moved most."""
        data = self.sources.get("data", "the new rows")
        lines = [
            f"drift of {data} ({self.rows:,} rows) against the training distributions "
            f"({self.reference_rows:,} rows, {self.reference_source})",
            "index = sum over bins of (new - training share) x ln(new / training share), "
            f"shares floored at {EPSILON:g}",
            f"flags: stable < {self.watch:g} <= watch < {self.act:g} <= act",
            "",
        ]
        table = [["variable", "kind", "bins", "index", "flag", "largest change (training -> new)"]]
        for d in self.indices:
            i = d.largest_term()
            e, a = shares(d.expected)[i], shares(d.actual)[i]
            table.append(
                [
                    d.name,
                    "score (PSI)" if d.kind == "score" else f"{d.kind} (CSI)",
                    str(len(d.labels)),
                    f"{d.index:.4f}",
                    flag(d.index, self.watch, self.act),
                    f"{d.labels[i]}: {e:.1%} -> {a:.1%}",
                ]
            )
        lines += aligned(table, right={2, 3})
        counts = Counter(flag(d.index, self.watch, self.act) for d in self.indices)
        lines.append("")
        lines.append(
            f"{len(self.indices)} indices: {counts['act']} act, {counts['watch']} watch, "
            f"{counts['stable']} stable"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            **self.sources,
            "rows": self.rows,
            "reference": {
                "source": self.reference_source,
                "rows": self.reference_rows,
                "rows_used": self.reference_rows_used,
            },
            "index": "sum_i (a_i - e_i) ln(a_i / e_i), shares floored at epsilon",
            "epsilon": EPSILON,
            "thresholds": {"watch": self.watch, "act": self.act},
            "indices": [d.to_dict(self.watch, self.act) for d in self.indices],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (every number finite)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"


# ---- counting ----------------------------------------------------------------------------
class DriftCounter:
    """New rows counted chunk by chunk in the reference's bins."""

    def __init__(self, model: TabularModel, reference: TrainingDistributions) -> None:
        check_reference(model, reference)
        self.model, self.reference = model, reference
        self.counts = {
            name: np.zeros(len(b.counts), np.int64) for name, b in reference.columns.items()
        }
        self.score = (
            None if reference.score is None else np.zeros(len(reference.score.counts), np.int64)
        )
        self.rows = 0
        self.unseen: Counter = Counter()  # shown in the 'other/unseen' bins, not warned

    def add(self, chunk: pd.DataFrame, *, file: str | Path | None = None) -> None:
        """Count ``chunk``'s rows; text in a numeric column raises naming file, column, row.

        A row with a missing value that the model cannot fill (trained without
        imputation) has no score: it is counted in the score's last bin ('unscored'),
        as its missing cells are in their columns' missing bins."""
        unscorable = np.zeros(len(chunk), dtype=bool)
        for name, bins in self.reference.columns.items():
            if isinstance(bins, NumericBins):
                values = to_numbers(chunk[name], file=file)
                missing = np.isnan(values)
            else:
                values = to_text(chunk[name])
                missing = pd.isna(values)
            self.counts[name] += bins.count(values)
            unscorable |= missing
        if self.score is not None:
            if self.model.preprocessor.impute != "none":
                unscorable[:] = False
            p = np.full(len(chunk), np.nan)
            if not unscorable.all():
                scored = chunk[~unscorable]
                proba = self.model.predict_proba(scored, file=file, unseen=self.unseen)
                p[~unscorable] = proba[:, self.model.positive_index]
            self.score += self.reference.score.count(p)  # NaN: the last bin
        self.rows += len(chunk)

    def report(self, *, watch: float = WATCH, act: float = ACT, **info: object) -> DriftReport:
        """Every index, largest first (ties: score first, then columns by name)."""
        ref = self.reference
        indices = [
            DriftIndex(
                name,
                bins.to_dict()["kind"],
                bins.labels(),
                np.asarray(bins.counts),
                self.counts[name],
            )
            for name, bins in ref.columns.items()
        ]
        if ref.score is not None:
            labels = [*ref.score.labels(".3g")[:-1], UNSCORED]
            indices.append(
                DriftIndex(SCORE, "score", labels, np.asarray(ref.score.counts), self.score)
            )
        indices.sort(key=lambda d: (-d.index, d.kind != "score", d.name))
        return DriftReport(
            indices, self.rows, ref.rows, watch, act, reference_rows_used=ref.rows_used, **info
        )


def check_thresholds(watch: float, act: float) -> None:
    if not 0 <= watch <= act:
        raise InputError(
            f"thresholds must satisfy 0 <= watch <= act; got watch {watch:g}, act {act:g}"
        )


def _reference(
    model: TabularModel, reference: TrainingDistributions | None, model_file: object
) -> TrainingDistributions:
    if reference is not None:
        return reference
    if model.training_distributions is None:
        where = f"{model_file}: " if model_file is not None else ""
        raise InputError(
            f"{where}the model has no stored training distributions (it was saved by an "
            "older version, or trained with --drift-bins 0); retrain it with this version, "
            "or give the training file as the reference (--reference TRAIN.csv)"
        )
    return model.training_distributions


def monitor_frame(
    model: TabularModel,
    frame: pd.DataFrame,
    *,
    reference: TrainingDistributions | None = None,
    watch: float = WATCH,
    act: float = ACT,
) -> DriftReport:
    """Drift of the rows of ``frame`` (raw columns, matched by name)."""
    check_thresholds(watch, act)
    counter = DriftCounter(model, _reference(model, reference, None))
    model.preprocessor.check_columns(frame.columns)
    counter.add(frame)
    return counter.report(watch=watch, act=act)


def monitor_csv(
    model: TabularModel,
    path: str | Path,
    *,
    reference: TrainingDistributions | None = None,
    reference_source: str = "stored in the model file",
    chunk_size: int = 100_000,
    watch: float = WATCH,
    act: float = ACT,
    model_file: str | Path | None = None,
) -> DriftReport:
    """Drift of the CSV or Parquet file ``path``, read ``chunk_size`` rows at a time (only
    the model's source columns are read; a missing one raises naming it and the file)."""
    check_thresholds(watch, act)
    counter = DriftCounter(model, _reference(model, reference, model_file))
    pre = model.preprocessor
    pre.check_columns(read_columns(path), file=path)
    numeric, text = [c.name for c in pre.numeric], [c.name for c in pre.categorical]
    for chunk in iter_frames(path, chunk_size, numeric=numeric, text=text):
        counter.add(chunk, file=path)
    sources = {"data": str(path)}
    if model_file is not None:
        sources["model"] = str(model_file)
    return counter.report(watch=watch, act=act, reference_source=reference_source, sources=sources)
