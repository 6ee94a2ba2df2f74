"""Scoring a CSV or Parquet file with a TabularModel, chunk by chunk, as a mixin.

:class:`~backprop_lab.classifier.tabular_model.TabularModel` inherits these methods:
``iter_csv_predictions`` streams a file's predictions (memory bounded by ``chunk_size``
rows), ``predict_csv`` writes them to a file atomically, and ``evaluate_csv`` scores a
labelled file (:func:`~backprop_lab.classifier.metrics.credit_metrics` or
:func:`~backprop_lab.classifier.metrics.multiclass_metrics`, with score bands when a
scorecard scale is given). Columns are matched by name; a missing one raises with the
file's name, extra ones are ignored with one warning. The methods reach the model's
preprocessor, probabilities and points through ``self``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..data.table_files import iter_frames, read_columns, table_writer
from ..data.tabular import DataWarning, warn_unseen
from .card_facts import RangeCounter
from .metrics import credit_metrics, multiclass_metrics, score_band_table
from .points import PointsScale


class TableScoring:
    """TabularModel's file methods (a mixin: it holds no state of its own)."""

    def iter_csv_predictions(
        self,
        path: str | Path,
        *,
        id_column: str | None = None,
        target_column: str | None = None,
        chunk_size: int = 100_000,
        calibrated: bool = True,
        points: PointsScale | None = None,
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
        """Stream a CSV or Parquet file: yield (predictions frame, class indices of
        ``target_column``'s labels, or None when no target column is asked for).

        The predictions frame has the id column first when one is used: ``id_column``,
        or the training file's id column when the file has it. Columns are matched by
        name; a missing one raises, extra ones are ignored with one warning, and rows
        with categories unseen in training are counted and reported in one warning at
        the end. Memory is bounded by ``chunk_size`` rows. ``points``: also a ``points``
        column on this scorecard scale (see :meth:`predict_frame`).
        """
        for out, labels, _ in self._iter_scored(
            path,
            id_column=id_column,
            target_column=target_column,
            chunk_size=chunk_size,
            calibrated=calibrated,
            points=points,
        ):
            yield out, labels

    def _iter_scored(
        self,
        path: str | Path,
        *,
        id_column: str | None = None,
        target_column: str | None = None,
        chunk_size: int = 100_000,
        calibrated: bool = True,
        network_too: bool = False,
        points: PointsScale | None = None,
        ranges: RangeCounter | None = None,
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]]:
        """As :meth:`iter_csv_predictions`, with the network's own probability of default
        of each row of a chunk (ignoring the calibrator; binary models) as a third item when
        ``network_too``; each chunk's raw numeric columns are added to ``ranges`` when
        given. A binary model's network runs once per chunk (:meth:`_binary_scores`)."""
        self._check_points(points)
        header = read_columns(path)
        extra = self.preprocessor.check_columns(header, file=path)
        if id_column is not None and id_column not in header:
            raise InputError("no such id column in the file", file=path, column=id_column)
        if id_column is None and self.id_column in header:
            id_column = self.id_column
        if target_column is not None and target_column not in header:
            raise InputError("target column not found in the file", file=path, column=target_column)
        quiet = {self.target, target_column, id_column, *self.ignored_columns}
        noisy = [c for c in extra if c not in quiet]
        if noisy:
            warnings.warn(
                f"{path}: ignoring column(s) the model does not use: {', '.join(noisy)}",
                DataWarning,
                stacklevel=3,
            )
        pre = self.preprocessor
        numeric = [c.name for c in pre.numeric]
        text = [c.name for c in pre.categorical]
        labels_as_numbers = (
            target_column is not None
            and target_column not in text
            and np.issubdtype(self.classes_.dtype, np.number)
        )
        if labels_as_numbers:
            # numeric labels are read as numbers: class_index parses text cells with
            # to_numbers, whose numbers and messages the numeric reading has (a cell
            # that is not a plain number hands the file to the text reader)
            numeric = [*numeric, target_column]
        text += [c for c in (id_column, target_column) if c is not None and c not in numeric]
        unseen: Counter = Counter()
        for chunk in iter_frames(path, chunk_size, numeric=numeric, text=text):
            X = self.transform(chunk, file=path, unseen=unseen)
            if ranges is not None:
                ranges.add(chunk)
            network = None
            if self.is_binary:
                p, network, scores = self._binary_scores(X, calibrated, network_too, points)
                out = pd.DataFrame({"p_default": p}, index=chunk.index)
                if scores is not None:
                    out["points"] = scores
            else:
                out = self._proba_frame(self.proba_from_inputs(X, calibrated=calibrated), chunk)
            if id_column is not None:
                out.insert(0, id_column, chunk[id_column].array)
            labels = None
            if target_column is not None:
                try:
                    labels = self.class_index(chunk[target_column], file=path)
                except InputError:
                    if labels_as_numbers:  # the message quotes the label as written
                        self._label_error_as_written(path, chunk.index, target_column)
                    raise
            yield out, labels, network
        if unseen:
            warn_unseen(unseen, path)

    def _label_error_as_written(self, path: str | Path, rows: pd.Index, column: str) -> None:
        """Raise :meth:`class_index`'s error for the labels of ``rows`` read as text, as
        the file writes them (a label read as a number shows as 7.0 where the file has 7).
        Runs only on the way to an error: it reads the file again up to those rows."""
        pieces = []
        for frame in iter_frames(path, max(len(rows), 1), text=[column]):
            if frame.index[-1] >= rows[0]:
                pieces.append(frame.loc[rows[0] : rows[-1], column])
            if frame.index[-1] >= rows[-1]:
                break
        if pieces:
            self.class_index(pd.concat(pieces), file=path)

    def _binary_scores(
        self, X: np.ndarray, calibrated: bool, network_too: bool, points: PointsScale | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(p_default, the network's own p_default or None, points or None) of a binary
        model for network inputs X, from one pass of the network: the logit of default z
        (:meth:`default_logits`), u = the calibrator's logit of z (z without one, or with
        ``calibrated=False``), p_default = sigma(u), the network's own sigma(z), and the
        points Offset - Factor u. The same operations, so the same bits, as
        :meth:`proba_from_inputs` (its p_default column) and :meth:`points_from_inputs`,
        which run the network once each."""
        z = self.default_logits(X)
        if self.calibrator is None or not calibrated:
            p = self._sigmoid(z)
            u = z
        else:
            p = self.calibrator.predict_proba(z)
            u = self.calibrator.calibrated_logits(z)
        network = None
        if network_too:
            network = p if u is z else self._sigmoid(z)
        scores = None if points is None else points.from_log_odds(u)
        return p, network, scores

    @staticmethod
    def _sigmoid(z: np.ndarray) -> np.ndarray:
        """sigma(z) as the classifier's predict_proba computes it (scipy's expit)."""
        from scipy.special import expit

        return expit(z)

    def predict_csv(
        self,
        path: str | Path,
        output: str | Path,
        *,
        id_column: str | None = None,
        chunk_size: int = 100_000,
        points: PointsScale | None = None,
    ) -> int:
        """Write predictions for every row of ``path`` to ``output``, atomically (with a
        ``points`` column when a scorecard scale is given).

        Either file may be CSV or Parquet (by its suffix: ``.parquet``/``.pq``). Returns
        the number of rows written.
        """
        with table_writer(output) as writer:
            for out, _ in self.iter_csv_predictions(
                path, id_column=id_column, chunk_size=chunk_size, points=points
            ):
                writer.write(out)
        return writer.rows

    def evaluate_csv(
        self,
        path: str | Path,
        *,
        target_column: str | None = None,
        threshold: float = 0.5,
        chunk_size: int = 100_000,
        calibrated: bool = True,
        network_too: bool = False,
        points: PointsScale | None = None,
        band_width: float | None = None,
        ranges: RangeCounter | None = None,
    ) -> tuple:
        """Metrics on a labelled CSV or Parquet file: (metrics, labels, probabilities),
        and the network's own probabilities as a fourth item when ``network_too``.

        The labels are in ``target_column`` (default: the training target's name);
        ``calibrated=False`` scores the network's own probabilities, ignoring a calibrator.
        Binary models: :func:`credit_metrics` with y = 1 for the positive class and the
        labels returned as 0/1; multiclass: :func:`multiclass_metrics` with class indices.
        ``network_too`` (binary models) reads the file once for both the calibrated and
        the network's own probabilities of default. With a ``points`` scale (binary
        models), the metrics also hold ``score_bands``
        (:func:`~backprop_lab.classifier.metrics.score_band_table` of the rows' points in
        bands ``band_width`` wide, default the scale's PDO) and ``points_scale``.
        ``ranges``: a :class:`~backprop_lab.classifier.card_facts.RangeCounter` that
        counts, in the same pass, the rows outside the training ranges.
        """
        if network_too and not self.is_binary:
            raise ValueError("network_too is for binary models")
        # Per row, only what the exact metrics need: the probabilities, the label (0/1 for
        # a binary model, else the class index), the network's own probability of default
        # and the points when asked for; each chunk's frames go once it is scored.
        parts, labels, network, scores = [], [], [], []
        target_column = self.target if target_column is None else target_column
        for out, y, own in self._iter_scored(
            path,
            target_column=target_column,
            chunk_size=chunk_size,
            calibrated=calibrated,
            network_too=network_too,
            points=points,
            ranges=ranges,
        ):
            parts.append(out[self.output_columns].to_numpy())
            labels.append((y == self.positive_index).astype(np.int64) if self.is_binary else y)
            if own is not None:
                network.append(own)
            if points is not None:
                scores.append(out["points"].to_numpy())
        proba, index = _joined(parts), _joined(labels)
        if self.is_binary:
            y01 = index
            metrics = credit_metrics(y01, proba[:, 0], threshold)
            if points is not None:
                width = points.pdo if band_width is None else band_width
                bands = score_band_table(
                    y01, proba[:, 0], _joined(scores), width, anchor=points.base_score
                )
                metrics["points_scale"] = points.to_dict()
                metrics["score_bands"] = bands.to_dict(orient="records")
            result = (metrics, y01, proba[:, 0])
            return (*result, _joined(network)) if network_too else result
        return multiclass_metrics(self.classes_[index], proba, self.classes_), index, proba


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The arrays of ``parts`` end to end; ``parts`` is emptied, so that the pieces are
    freed as soon as they are copied (the whole and its pieces are never held for long)."""
    whole = np.concatenate(parts)
    parts.clear()
    return whole
