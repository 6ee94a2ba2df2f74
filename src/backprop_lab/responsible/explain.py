"""Reasons for a saved model's decisions: attributions through its preprocessing.

A :class:`~backprop_lab.tabular_model.TabularModel` turns an applicant's raw columns x_raw
into network inputs x = T(x_raw) (standardised numbers, one-hot categories) and those
into the logit of default f(x). Attributions are computed on the network inputs, by
backpropagation to the inputs (:mod:`backprop_lab.explain`), against a baseline applicant
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
cut-off (:func:`~backprop_lab.explain.reference_baseline`), taken from ``reference`` rows.

Attributions are always on the *network's* logit of default, also when the model has a
post-hoc calibrator: calibration maps that logit monotonically (a z + b with a > 0, or
z / T), so it does not change which features raised the risk, only how the log-odds
translate into a probability. The probabilities reported beside the reasons are the
model's (calibrated) ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..classifier.tabular_model import TabularModel
from ..data.tabular import to_numbers, to_text
from .attributions import (
    DEFAULT_STEPS,
    DEFAULT_TOLERANCE,
    attributions_by_feature,
    global_importance,
    gradient_times_input,
    integrated_gradients,
    logits,
    reference_baseline,
    top_reasons,
)

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
) -> ModelAttributions:
    """Attributions of ``model``'s logit of default for every row of ``frame``.

    ``method`` 'ig' or 'gradxinput'; ``steps`` the integrated-gradient steps (doubled
    for rows whose completeness gap exceeds 1e-3); ``baseline`` 'zeros' or 'reference'
    (the reference set is ``reference``, default ``frame`` itself, and approval means
    P(default) < ``threshold`` by the model's calibrated probabilities). ``inputs``:
    ``model.transform(frame)`` when already computed.
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
    else:
        ref_frame = frame if reference is None else reference
        Z_ref = X if reference is None else model.transform(ref_frame)
        p_ref = model.proba_from_inputs(Z_ref)[:, model.positive_index]
        try:
            B = reference_baseline(Z_ref, p_ref, threshold)
        except ValueError as error:
            raise ValueError(
                f"{error}; the reference baseline needs approved applicants (give more "
                "rows as the reference set)"
            ) from None
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
) -> tuple[pd.Index, str]:
    """(labels, name): the ``id_column`` values (or the model's id column when the frame
    has it), else data rows counted from 1 (name 'row')."""
    if id_column is not None and id_column not in frame.columns:
        raise InputError("no such id column in the file", file=file, column=id_column)
    if id_column is None and model.id_column is not None and model.id_column in frame.columns:
        id_column = model.id_column
    if id_column is None:
        return pd.RangeIndex(1, len(frame) + 1, name="row"), "row"
    labels = to_text(frame[id_column])
    labels = np.where(labels == None, "", labels)  # noqa: E711
    return pd.Index(labels, name=id_column, dtype=object), id_column


@dataclass
class ModelExplanation:
    """Why the model gave each applicant the risk it did.

    ``p_default``: the model's probability of default (calibrated when the model is);
    ``attributions``: :class:`ModelAttributions`; ``values``: raw column values;
    ``reasons``: at most ``top`` risk-raising reasons per applicant, the tidy table of
    :func:`~backprop_lab.explain.top_reasons` plus ``position`` (0-based row);
    ``id_name``: what the applicant labels are ('row' or the id column's name).
    """

    p_default: np.ndarray
    attributions: ModelAttributions
    values: pd.DataFrame
    reasons: pd.DataFrame
    top: int
    id_name: str
    calibrated: bool

    @property
    def index(self) -> pd.Index:
        return self.attributions.attributions.index

    def table(self) -> pd.DataFrame:
        """One row per applicant: the label, p_default, the completeness gap, then for
        each rank r: reason_r (a sentence), feature_r, value_r, contribution_r (empty
        where the applicant has fewer risk-raising features)."""
        n = len(self.p_default)
        columns = {
            self.id_name: self.index.to_numpy(),
            "p_default": self.p_default,
            "completeness_gap": self.attributions.gaps,
        }
        for r in range(1, self.top + 1):
            sub = self.reasons[self.reasons["rank"] == r]
            rows = sub["position"].to_numpy(dtype=np.int64)
            for key in ("reason", "feature", "value", "contribution"):
                filled = np.full(n, None, dtype=object)
                filled[rows] = sub[key].to_numpy(dtype=object)
                columns[f"{key}_{r}"] = filled
        return pd.DataFrame(columns)  # built at once: inserting column by column fragments it

    def importance(self) -> pd.DataFrame:
        """Mean |attribution| per raw column over these applicants, largest first."""
        A = self.attributions.attributions.reset_index(drop=True)
        return global_importance(A, self.values.reset_index(drop=True))

    def text(self, max_applicants: int = 20) -> str:
        """The applicants' probabilities and reasons in plain words."""
        att = self.attributions
        lines = [
            f"{len(self.p_default)} applicant(s). Reasons: the features that raised the "
            f"log-odds of default most, compared with {BASELINE_NAMES[att.baseline]} "
            f"({METHOD_NAMES[att.method]} on the network's logit"
            + ("; probabilities after calibration)." if self.calibrated else ")."),
        ]
        by_position = dict(iter(self.reasons.groupby("position", sort=False)))
        for i in range(min(len(self.p_default), max_applicants)):
            lines.append(f"{self.id_name} {self.index[i]}: P(default) {self.p_default[i]:.3f}")
            group = by_position.get(i)
            if group is None:
                lines.append("  no feature raised the risk above the baseline")
                continue
            for rank, reason in zip(group["rank"], group["reason"], strict=True):
                lines.append(f"  {rank}. {reason}")
        if len(self.p_default) > max_applicants:
            lines.append(f"... and {len(self.p_default) - max_applicants} more (see the file)")
        return "\n".join(lines)

    def completeness_text(self) -> str:
        """One line: the worst completeness gap and the number of rows over 1e-3."""
        att = self.attributions
        line = (
            f"completeness: largest |sum of contributions - (f(applicant) - f(baseline))| "
            f"over {len(att.gaps)} row(s) is {att.max_gap:.1e} log-odds"
        )
        if att.method == "ig":
            line += f" ({METHOD_NAMES['ig']}, up to {int(np.max(att.steps))} steps)"
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
) -> ModelExplanation:
    """Probability of default and the top reasons that raised it, for every row of ``frame``.

    ``top``: at most this many reasons per applicant (4 by default; no more than the
    model has input columns); a reason is a raw column whose attribution is above 0.01
    log-odds. ``id_column`` labels applicants
    (default: the model's id column when the frame has it, else data rows from 1).
    ``method``, ``steps``, ``baseline``, ``reference`` and ``threshold``: see
    :func:`model_attributions`.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive number of reasons; got {top!r}")
    top = min(top, len(model.input_columns))  # an applicant has no more reasons than columns
    index, id_name = applicant_labels(model, frame, id_column, file=file)
    X = model.transform(frame, file=file)
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
    )
    values = raw_values(model, frame)
    reasons = top_reasons(att.attributions.reset_index(drop=True), values, k=top)
    reasons = reasons.rename(columns={"applicant": "position"})
    reasons.insert(0, "applicant", index[reasons["position"].to_numpy(dtype=np.int64)])
    return ModelExplanation(
        p_default=model.proba_from_inputs(X)[:, model.positive_index],
        attributions=att,
        values=values.set_axis(index),
        reasons=reasons,
        top=top,
        id_name=id_name,
        calibrated=model.calibrator is not None,
    )
