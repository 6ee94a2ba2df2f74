"""Reasons for a saved model's decisions: attributions through its preprocessing.

A :class:`~backprop_lab.classifier.tabular_model.TabularModel` turns an applicant's raw columns x_raw
into network inputs x = T(x_raw) (standardised numbers, one-hot categories) and those
into the logit of default f(x). Attributions are computed on the network inputs, by
backpropagation to the inputs (:mod:`backprop_lab.responsible.attributions`), against a baseline applicant
x', and then summed back to the raw column each input came from:

    A[i, c] = sum over inputs j with source(j) = c of a[i, j]

so a categorical column gets one number, the sum over its one-hot inputs. Methods:

    integrated gradients ('ig')      a_j = (x_j - x'_j) int_0^1 df/dx_j(x' + t (x - x')) dt
    gradient x input ('gradxinput')  a_j = df/dx_j(x) (x_j - x'_j)

Completeness gap of a row: sum_c A[i, c] - (f(x_i) - f(x')). Integrated gradients
drive it below 1e-3 (more quadrature steps where needed); gradient x input is a
first-order approximation and has no such guarantee.

Baselines: 'zeros' is the network input of the *training-mean applicant* (every
standardised number at 0, i.e. at its training mean; every one-hot input at 0, i.e. no
category); 'reference' is the mean network input of applicants approved just inside the
cut-off (:func:`~backprop_lab.responsible.reasons.reference_baseline`), taken from ``reference`` rows.

Attributions are always on the *network's* logit of default, also when the model has a
post-hoc calibrator: calibration maps that logit monotonically (a z + b with a > 0, or
z / T), so it does not change which features raised the risk, only how the log-odds
translate into a probability. The probabilities reported beside the reasons are the
model's (calibrated) ones.

With a scorecard scale (``points=``), each applicant also gets a score, the baseline
applicant's score and each reason in points, adding up as
:mod:`backprop_lab.responsible.reason_points` derives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..classifier.points import PointsScale
from ..classifier.tabular_model import TabularModel
from ..data.tabular import to_numbers, to_text
from .attributions import (
    DEFAULT_STEPS,
    DEFAULT_TOLERANCE,
    ReferenceBaselineAccumulator,
    attributions_by_feature,
    global_importance,
    gradient_times_input,
    integrated_gradients,
    logits,
    top_reasons,
)
from .reason_points import ReasonPoints, reason_points
from .reasons import points_reason_texts

METHODS = ("ig", "gradxinput")
BASELINES = ("zeros", "reference")
METHOD_NAMES = {"ig": "integrated gradients", "gradxinput": "gradient x input"}
BASELINE_NAMES = {
    "zeros": "the training-mean applicant",
    "reference": "applicants approved just inside the cut-off",
}


@dataclass
class ModelAttributions:
    """Per-applicant attributions of a model's logit of default to its raw columns.

    ``attributions``: DataFrame, one row per applicant, one column per raw input column
    (log-odds of default; > 0 raised the risk relative to the baseline). ``logits`` f(x)
    and ``baseline_logits`` f(x'), the network's logit of default; ``gaps`` the
    completeness gaps; ``steps`` the quadrature steps each row needed (None for
    gradient x input).
    """

    attributions: pd.DataFrame
    logits: np.ndarray
    baseline_logits: np.ndarray
    gaps: np.ndarray
    method: str
    baseline: str
    steps: np.ndarray | None
    tolerance: float

    @property
    def max_gap(self) -> float:
        """max_i |gap_i|: the worst completeness gap."""
        return float(np.max(np.abs(self.gaps))) if self.gaps.size else 0.0

    @property
    def n_incomplete(self) -> int:
        """Rows whose |gap| exceeds the tolerance (1e-3 by default)."""
        return int(np.sum(np.abs(self.gaps) > self.tolerance))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def model_attributions(
    model: TabularModel,
    frame: pd.DataFrame,
    *,
    method: str = "ig",
    steps: int = DEFAULT_STEPS,
    baseline: str = "zeros",
    reference: pd.DataFrame | None = None,
    threshold: float = 0.5,
    index: pd.Index | None = None,
    file: str | Path | None = None,
    inputs: np.ndarray | None = None,
    baseline_point: np.ndarray | None = None,
) -> ModelAttributions:
    """Attributions of ``model``'s logit of default for every row of ``frame``.

    ``method`` 'ig' or 'gradxinput'; ``steps`` the integrated-gradient steps (doubled
    for rows whose completeness gap exceeds 1e-3); ``baseline`` 'zeros' or 'reference'
    (the reference set is ``reference``, default ``frame`` itself, and approval means
    P(default) < ``threshold`` by the model's calibrated probabilities). ``inputs``:
    ``model.transform(frame)`` when already computed; ``baseline_point``: the reference
    baseline's network input when already computed (see :func:`reference_point`).
    """
    _check_choice("method", method, METHODS)
    _check_choice("baseline", baseline, BASELINES)
    if not model.is_binary:
        raise ValueError("explanations are for binary models (one probability of default)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    X = model.transform(frame, file=file) if inputs is None else inputs
    network = model.network
    if baseline == "zeros":
        B = np.zeros(X.shape[1])
    elif baseline_point is not None:
        B = np.asarray(baseline_point, dtype=np.float64)
    else:
        ref_frame = frame if reference is None else reference
        Z_ref = X if reference is None else model.transform(ref_frame)
        B = reference_point(model, [Z_ref], threshold)
    sign = model.default_sign  # attributions of the logit of *default*
    if method == "ig":
        ig = integrated_gradients(network, X, B, steps=steps)
        a, f_x, f_b, gaps, used = ig.attributions, ig.logits, ig.baseline_logits, ig.gaps, ig.steps
    else:
        a = gradient_times_input(network, X, B)
        f_x = logits(network, X)
        f_b = logits(network, np.broadcast_to(B, X.shape))
        gaps = a.sum(axis=1) - (f_x - f_b)
        used = None
    A = attributions_by_feature(
        sign * a, model.feature_names_out, model.source_columns, index=index
    )
    return ModelAttributions(
        attributions=A[model.input_columns],
        logits=sign * f_x,
        baseline_logits=sign * f_b,
        gaps=sign * gaps,
        method=method,
        baseline=baseline,
        steps=used,
        tolerance=DEFAULT_TOLERANCE,
    )


def reference_point(
    model: TabularModel, inputs: Iterable[np.ndarray], threshold: float
) -> np.ndarray:
    """The 'reference' baseline: :func:`~.attributions.reference_baseline` of the
    applicants whose network inputs come in ``inputs`` (one array per chunk), approved
    when the model's (calibrated) P(default) < ``threshold``."""
    acc = ReferenceBaselineAccumulator(threshold)
    for X in inputs:
        acc.add(X, model.proba_from_inputs(X)[:, model.positive_index])
    try:
        return acc.baseline()
    except ValueError as error:
        raise ValueError(
            f"{error}; the reference baseline needs approved applicants (give more "
            "rows as the reference set)"
        ) from None


def raw_values(model: TabularModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Each applicant's raw input columns (positional index): numbers as floats,
    categories as text; a missing cell (filled by the model's imputation) is 'missing'."""
    values: dict[str, np.ndarray] = {}
    for col in model.preprocessor.numeric:
        x = to_numbers(frame[col.name])
        missing = np.isnan(x)
        values[col.name] = np.where(missing, "missing", x.astype(object)) if missing.any() else x
    for col in model.preprocessor.categorical:
        text = to_text(frame[col.name])
        values[col.name] = np.where(text == None, "missing", text)  # noqa: E711
    return pd.DataFrame({c: values[c] for c in model.input_columns})


def applicant_labels(
    model: TabularModel,
    frame: pd.DataFrame,
    id_column: str | None = None,
    *,
    file: str | Path | None = None,
    first_row: int = 1,
) -> tuple[pd.Index, str]:
    """(labels, name): the ``id_column`` values (or the model's id column when the frame
    has it), else data rows counted from ``first_row`` (name 'row'; the frame's first
    row's number in its file when the frame is a chunk of it)."""
    if id_column is not None and id_column not in frame.columns:
        raise InputError("no such id column in the file", file=file, column=id_column)
    if id_column is None and model.id_column is not None and model.id_column in frame.columns:
        id_column = model.id_column
    if id_column is None:
        return pd.RangeIndex(first_row, first_row + len(frame), name="row"), "row"
    labels = to_text(frame[id_column])
    labels = np.where(labels == None, "", labels)  # noqa: E711
    return pd.Index(labels, name=id_column, dtype=object), id_column


@dataclass
class ModelExplanation:
    """Why the model gave each applicant the risk it did.

    ``p_default``: the model's probability of default (calibrated when the model is);
    ``attributions``: :class:`ModelAttributions`; ``values``: raw column values;
    ``reasons``: at most ``top`` risk-raising reasons per applicant, the tidy table of
    :func:`~backprop_lab.responsible.reasons.top_reasons` plus ``position`` (0-based row);
    ``id_name``: what the applicant labels are ('row' or the id column's name);
    ``points``: the explanation in scorecard points (None without a scale; the reasons
    then also have a ``points`` column and read in points).
    """

    p_default: np.ndarray
    attributions: ModelAttributions
    values: pd.DataFrame
    reasons: pd.DataFrame
    top: int
    id_name: str
    calibrated: bool
    points: ReasonPoints | None = None

    @property
    def index(self) -> pd.Index:
        return self.attributions.attributions.index

    def table(self) -> pd.DataFrame:
        """One row per applicant: the label, p_default, the completeness gap, then for
        each rank r: reason_r (a sentence), feature_r, value_r, contribution_r (empty
        where the applicant has fewer risk-raising features). Ranks run up to ``top`` or
        the number of features, whichever is smaller (a reason is a feature). With
        points: also ``points`` and ``base_points`` after the gap, and ``points_r``."""
        n = len(self.p_default)
        ranks = min(self.top, self.attributions.attributions.shape[1])
        keys = ("reason", "feature", "value", "contribution")
        if self.points is not None:
            keys += ("points",)
        rows = self.reasons["position"].to_numpy(dtype=np.int64)
        cols = self.reasons["rank"].to_numpy(dtype=np.int64) - 1
        cells = {}
        for key in keys:
            grid = np.full((n, ranks), None, dtype=object)
            grid[rows, cols] = self.reasons[key].to_numpy(dtype=object)
            cells[key] = grid
        columns = {
            self.id_name: self.index.to_numpy(),
            "p_default": self.p_default,
            "completeness_gap": self.attributions.gaps,
        }
        if self.points is not None:
            columns["points"] = self.points.score
            columns["base_points"] = self.points.base_points
        for r in range(ranks):
            for key in keys:
                columns[f"{key}_{r + 1}"] = cells[key][:, r]
        return pd.DataFrame(columns)

    def importance(self) -> pd.DataFrame:
        """Mean |attribution| per raw column over these applicants, largest first."""
        A = self.attributions.attributions.reset_index(drop=True)
        return global_importance(A, self.values.reset_index(drop=True))

    def text(self, max_applicants: int = 20) -> str:
        """The applicants' probabilities and reasons in plain words."""
        att = self.attributions
        scale = None if self.points is None else self.points.scale
        lines = [
            _summary_line(len(self.p_default), att.method, att.baseline, self.calibrated, scale)
        ]
        lines += self.applicant_lines(max_applicants)
        if len(self.p_default) > max_applicants:
            lines.append(f"... and {len(self.p_default) - max_applicants} more (see the file)")
        return "\n".join(lines)

    def applicant_lines(self, max_applicants: int) -> list[str]:
        """The first ``max_applicants`` applicants' probabilities and reasons, as lines."""
        return [line for block in self.applicant_blocks(max_applicants) for line in block]

    def applicant_blocks(self, max_applicants: int) -> list[list[str]]:
        """The lines of each of the first ``max_applicants`` applicants."""
        shown = self.reasons[self.reasons["position"] < max_applicants]
        by_position = dict(iter(shown.groupby("position", sort=False)))
        blocks = []
        for i in range(min(len(self.p_default), max_applicants)):
            line = f"{self.id_name} {self.index[i]}: P(default) {self.p_default[i]:.3f}"
            if self.points is not None:
                line += (
                    f", {self.points.score[i]:.0f} points (baseline applicant "
                    f"{self.points.base_points[i]:.0f})"
                )
            lines = [line]
            group = by_position.get(i)
            if group is None:
                lines.append("  no feature raised the risk above the baseline")
            else:
                for rank, reason in zip(group["rank"], group["reason"], strict=True):
                    lines.append(f"  {rank}. {reason}")
            blocks.append(lines)
        return blocks

    def completeness_text(self) -> str:
        """One line: the worst completeness gap and the number of rows over 1e-3."""
        att = self.attributions
        steps = None if att.steps is None else int(np.max(att.steps))
        return _completeness_line(len(att.gaps), att.max_gap, att.method, steps)


def _summary_line(
    n: int, method: str, baseline: str, calibrated: bool, scale: PointsScale | None = None
) -> str:
    line = (
        f"{n} applicant(s). Reasons: the features that raised the "
        f"log-odds of default most, compared with {BASELINE_NAMES[baseline]} "
        f"({METHOD_NAMES[method]} on the network's logit"
        + ("; probabilities after calibration)." if calibrated else ").")
    )
    if scale is not None:
        line += (
            f" Points: {scale.describe()}; a reason's points and the baseline applicant's "
            "score add up to the applicant's score."
        )
    return line


def _completeness_line(n: int, max_gap: float, method: str, max_steps: int | None) -> str:
    line = (
        f"completeness: largest |sum of contributions - (f(applicant) - f(baseline))| "
        f"over {n} row(s) is {max_gap:.1e} log-odds"
    )
    if method == "ig":
        line += f" ({METHOD_NAMES['ig']}, up to {max_steps} steps)"
    return line


def explain_model(
    model: TabularModel,
    frame: pd.DataFrame,
    *,
    top: int = 4,
    method: str = "ig",
    steps: int = DEFAULT_STEPS,
    baseline: str = "zeros",
    reference: pd.DataFrame | None = None,
    id_column: str | None = None,
    threshold: float = 0.5,
    file: str | Path | None = None,
    first_row: int = 1,
    baseline_point: np.ndarray | None = None,
    unseen: Counter | None = None,
    points: PointsScale | None = None,
) -> ModelExplanation:
    """Probability of default and the top reasons that raised it, for every row of ``frame``.

    ``top``: at most this many reasons per applicant (4 by default); a reason is a raw
    column whose attribution is above 0.01 log-odds. ``id_column`` labels applicants
    (default: the model's id column when the frame has it, else data rows from
    ``first_row``). ``method``, ``steps``, ``baseline``, ``reference``, ``threshold``
    and ``baseline_point``: see :func:`model_attributions`. ``unseen``: a Counter that
    collects categories unseen in training instead of a warning (for chunks).
    ``points``: a scorecard scale, to give scores and reasons in points too.
    """
    _check_top(top)
    index, id_name = applicant_labels(model, frame, id_column, file=file, first_row=first_row)
    X = model.transform(frame, file=file, unseen=unseen)
    att = model_attributions(
        model,
        frame,
        method=method,
        steps=steps,
        baseline=baseline,
        reference=reference,
        threshold=threshold,
        index=index,
        file=file,
        inputs=X,
        baseline_point=baseline_point,
    )
    values = raw_values(model, frame)
    reasons = top_reasons(att.attributions.reset_index(drop=True), values, k=top)
    reasons = reasons.rename(columns={"applicant": "position"})
    reasons.insert(0, "applicant", index[reasons["position"].to_numpy(dtype=np.int64)])
    in_points = None
    if points is not None:
        in_points = reason_points(model, att.attributions, att.logits, att.baseline_logits, points)
        reasons["points"] = in_points.per_log_odds * reasons["contribution"].to_numpy()
        reasons["reason"] = points_reason_texts(
            reasons["feature"], reasons["value"], reasons["points"]
        )
    return ModelExplanation(
        p_default=model.proba_from_inputs(X)[:, model.positive_index],
        attributions=att,
        values=values.set_axis(index),
        reasons=reasons,
        top=top,
        id_name=id_name,
        calibrated=model.calibrator is not None,
        points=in_points,
    )


def _check_top(top: object) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive number of reasons; got {top!r}")
