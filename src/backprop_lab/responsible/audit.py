"""Fairness audit of a saved model on a labelled file, by a group column.

    result = audit_model(model, frame, "age")            # age bands by default
    print(result.text()); result.to_json(); model_audit_figure(result)

The group column is read from the frame whether or not the model uses it (a protected
attribute is often dropped before training, or was never a feature). A numeric group
column with ``bins`` is cut into bands [-inf, b0), [b0, b1), ..., [b_last, inf); a
column named ``age`` is cut at 25, 40 and 62 unless other bins are given; other columns
are taken value by value (at most :data:`MAX_GROUPS` distinct values).

Decisions use the model's probability of default (calibrated when the model carries a
calibrator): approved when p_default < threshold. The metrics and their bootstrap
intervals are :func:`backprop_lab.fairness.audit`'s.

Whenever the model has a numeric ``age`` input, the audit adds the US Regulation B
check (:func:`backprop_lab.fairness.age_adverse_check`): is the contribution of age to
an elderly applicant's log-odds of default ever less favourable than the most favoured
younger age class's? The contributions are integrated gradients of the network's logit
of default against the training-mean applicant, through the model's preprocessing and
summed back to the ``age`` column (:func:`backprop_lab.model_explain.model_attributions`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..classifier.tabular_model import TabularModel
from ..data.tabular import to_numbers, to_text
from .attributions import DEFAULT_STEPS
from .explain import model_attributions
from .fairness import (
    AGE_BINS,
    ELDERLY_AGE,
    AgeAdverseResult,
    age_adverse_check,
    age_bands,
    audit,
    audit_payload,
)

#: A group column without bins may hold at most this many distinct values.
MAX_GROUPS = 20
#: The column whose attribution the Regulation B check examines.
AGE_COLUMN = "age"


def _row(series: pd.Series, position: int) -> int:
    label = series.index[position]
    return int(label) + 1 if isinstance(label, int | np.integer) else position + 1


def group_labels(
    frame: pd.DataFrame,
    column: str,
    *,
    bins: Sequence[float] | None = None,
    file: str | Path | None = None,
) -> pd.Series:
    """The group of every row of ``frame`` by ``column``, as a categorical Series.

    Numbers are cut into bands when ``bins`` are given (or the column is ``age``: under
    25, 25-39, 40-61, 62 and over); otherwise each distinct value is a group (whole
    numbers shown without decimals). Raises :class:`InputError` naming the file, column
    and row for a missing column or cell, text among numbers to be binned, too many
    distinct numbers, or a single group.
    """
    if column not in frame.columns:
        raise InputError("no such group column in the file", file=file, column=column)
    series = frame[column]
    text = to_text(series)
    missing = text == None  # noqa: E711 (elementwise on an object array)
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError("missing group value", file=file, column=column, row=_row(series, i))
    if bins is None and column == AGE_COLUMN:
        bins = AGE_BINS
    numbers = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64
    )
    is_numeric = bool(np.all(np.isfinite(numbers)))
    if bins is not None:
        values = to_numbers(series, file=file)  # names the row of any text cell
        bands = age_bands(pd.Series(values, name=column), bins=bins)
        groups = bands.cat.remove_unused_categories()
    elif is_numeric:
        distinct = np.unique(numbers)
        if distinct.size > MAX_GROUPS:
            raise InputError(
                f"{distinct.size} distinct numbers make too many groups; cut them into bands "
                "with --bins EDGE [EDGE ...] (bins= in Python)",
                file=file,
                column=column,
            )
        names = [_number_name(v) for v in distinct]
        codes = np.searchsorted(distinct, numbers)
        groups = pd.Series(pd.Categorical.from_codes(codes, categories=names), name=column)
    else:
        distinct = sorted(set(text.tolist()))
        if len(distinct) > MAX_GROUPS:
            raise InputError(
                f"{len(distinct)} distinct values make too many groups (at most {MAX_GROUPS})",
                file=file,
                column=column,
            )
        groups = pd.Series(pd.Categorical(text, categories=distinct), name=column)
    present = list(groups.cat.categories)
    if len(present) < 2:
        raise InputError(
            f"every row is in the same group ({present[0]!r}): an audit compares two or "
            "more groups",
            file=file,
            column=column,
        )
    groups.index = frame.index
    return groups


def _number_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass
class ModelAudit:
    """The audit of one model on one file by one group column.

    ``table``: :func:`backprop_lab.fairness.audit`'s tidy table (settings in
    ``table.attrs``); ``age_check``: the Regulation B result, or None with the reason
    in ``age_note``; ``age_max_gap``: the worst completeness gap of the age
    attributions.
    """

    table: pd.DataFrame
    group_column: str
    bins: list[float] | None
    n_rows: int
    age_check: AgeAdverseResult | None = None
    age_note: str = ""
    age_max_gap: float | None = None
    calibrated: bool = False
    sources: dict = field(default_factory=dict)

    # ---- what it found ----
    def value(self, metric: str, group: str | None = None) -> pd.Series:
        """The table row of ``metric`` (for ``group``, or across groups when None)."""
        rows = self.table[self.table["metric"] == metric]
        rows = rows[rows["group"].isna()] if group is None else rows[rows["group"] == group]
        if len(rows) != 1:
            raise KeyError(f"no single row for metric {metric!r} and group {group!r}")
        return rows.iloc[0]

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.table.loc[self.table["scope"] == "group", "group"]))

    # ---- exports ----
    def to_dict(self) -> dict:
        """JSON-ready: settings, metrics (NaN as None), descriptions, the age check."""
        payload = audit_payload(self.table)
        return {
            **self.sources,
            "group_column": self.group_column,
            "bins": self.bins,
            "rows": self.n_rows,
            "calibrated": self.calibrated,
            **payload,
            "regulation_b_age_check": None
            if self.age_check is None
            else {
                **self.age_check.to_dict(),
                "elderly_age": ELDERLY_AGE,
                "attribution": "integrated gradients of the network's logit of default "
                "against the training-mean applicant, summed over the age column's inputs",
                "max_completeness_gap": self.age_max_gap,
            },
            "regulation_b_note": self.age_note,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (null, never NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def text(self) -> str:
        """A readable report: per-group table, differences to the reference group,
        across-group metrics with intervals, and the Regulation B check."""
        t, attrs = self.table, self.table.attrs
        level = f"{attrs['confidence']:.0%}"
        lines = [
            f"{self.n_rows} applicants by {self.group_column}; approved when P(default) < "
            f"{attrs['threshold']:g}" + (" (calibrated probabilities)" if self.calibrated else ""),
        ]
        if attrs["n_bootstrap"]:
            lines.append(
                f"{level} intervals: bootstrap, {attrs['n_bootstrap']} resamples within each "
                f"group (seed {attrs['seed']})"
            )
        lines.append("")
        head = (
            f"{'group':<14}{'rows':>7}{'defaults':>10}{'mean P':>8}  "
            f"{'approval rate':<19}{'approval | repaid':<19}{'approval | defaulted':<21}"
            f"{'AUC':>6}"
        )
        lines.append(head)
        for g in self.groups:
            n = int(self.value("count", g)["value"])
            cells = [
                f"{g:<14}{n:>7}",
                f"{_pct(self.value('default_rate', g)['value']):>10}",
                f"{_pct(self.value('mean_predicted', g)['value']):>8}  ",
                f"{_with_ci(self.value('selection_rate', g)):<19}",
                f"{_with_ci(self.value('true_positive_rate', g)):<19}",
                f"{_with_ci(self.value('false_positive_rate', g)):<21}",
                f"{_num(self.value('roc_auc', g)['value'], '.3f'):>6}",
            ]
            lines.append("".join(cells))
        ref = attrs["reference"]
        diffs = t[t["metric"] == "selection_rate_diff"]
        if len(diffs):
            lines.append("")
            lines.append(f"approval rate minus the reference group '{ref}' (the largest):")
            for _, r in diffs.iterrows():
                lines.append(f"  {r['group']:<14}{_pp_ci(r)}")
        lines.append("")
        lines.append(f"across groups{'':<21}value   {level} interval")
        for metric, name in (
            ("demographic_parity_difference", "demographic parity difference"),
            ("demographic_parity_ratio", "demographic parity ratio"),
            ("equal_opportunity_difference", "equal opportunity difference"),
            ("equalized_odds_difference", "equalized odds difference"),
        ):
            r = self.value(metric)
            ci = f"{r['ci_low']:.3f} to {r['ci_high']:.3f}" if np.isfinite(r["ci_low"]) else "n/a"
            note = f"  ({r['note']})" if r["note"] else ""
            lines.append(f"  {name:<32}{_num(r['value'], '.3f'):>5}   {ci}{note}")
        lines.append("")
        lines.extend(self.age_lines())
        return "\n".join(lines)

    def age_lines(self) -> list[str]:
        """The Regulation B paragraph of :meth:`text`."""
        head = f"Regulation B, age of applicants {ELDERLY_AGE} and over:"
        if self.age_check is None:
            return [f"{head} {self.age_note}"]
        a = self.age_check
        lines = [
            head,
            "  the contribution of age to each applicant's log-odds of default: integrated",
            "  gradients against the training-mean applicant (completeness gap at most "
            f"{self.age_max_gap:.1e})",
            "  median contribution by younger class: "
            + ", ".join(
                f"{c} {v:+.3f}"
                for c, v in zip(a.classes["class"], a.classes["median_attribution"], strict=True)
            )
            + f"; most favoured: {a.most_favoured_class}",
        ]
        if a.n_elderly == 0:
            lines.append(f"  no applicant aged {ELDERLY_AGE} or over in the file")
            return lines
        verdict = "PASS" if a.passed else "FAIL"
        lines.append(
            f"  {verdict}: age counts less favourably than for the most favoured class for "
            f"{a.n_adverse} of {a.n_elderly} applicants aged {ELDERLY_AGE}+ "
            f"({_share(a.share_adverse)})"
        )
        lines.append(
            f"  age raises the risk of {a.n_raises_risk} of them ({_share(a.share_raises_risk)})"
        )
        return lines


def _num(value: float, fmt: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, fmt)


def _share(value: float) -> str:
    """A share in percent that never shows a non-zero count as '0.0%'."""
    if value == 0:
        return "0%"
    return "<0.1%" if value < 0.001 else f"{value:.1%}"


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f}%"


def _with_ci(row: pd.Series) -> str:
    """'45.2% (42.1-48.0)': a rate with its interval, in percent."""
    v, lo, hi = row["value"], row["ci_low"], row["ci_high"]
    if not math.isfinite(v):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{100 * v:.1f}%"
    return f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"


def _pp_ci(row: pd.Series) -> str:
    v, lo, hi = row["value"], row["ci_low"], row["ci_high"]
    if not math.isfinite(v):
        return "n/a"
    out = f"{100 * v:+.1f} pp"
    if math.isfinite(lo) and math.isfinite(hi):
        out += f" ({100 * lo:+.1f} to {100 * hi:+.1f})"
    return out


def audit_model(
    model: TabularModel,
    frame: pd.DataFrame,
    group: str,
    *,
    target: str | None = None,
    bins: Sequence[float] | None = None,
    threshold: float = 0.5,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    file: str | Path | None = None,
) -> ModelAudit:
    """Audit ``model``'s decisions on the labelled rows of ``frame`` by ``group``.

    ``target``: the label column (default: the model's target); labels equal to the
    model's positive class count as default. ``bins``: band edges for a numeric group
    column (see :func:`group_labels`). ``threshold``, ``n_bootstrap``, ``confidence``,
    ``seed``: as in :func:`backprop_lab.fairness.audit`. ``steps``: integrated-gradient
    steps for the Regulation B age check.
    """
    if not model.is_binary:
        raise ValueError("the audit is for binary models (approve or decline)")
    target = model.target if target is None else target
    if target not in frame.columns:
        raise InputError("target column not found in the file", file=file, column=target)
    groups = group_labels(frame, group, bins=bins, file=file)
    y = (model.class_index(frame[target], file=file) == model.positive_index).astype(np.int64)
    X = model.transform(frame, file=file)
    p = model.proba_from_inputs(X)[:, model.positive_index]
    table = audit(
        y,
        p,
        groups,
        threshold=threshold,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )
    result = ModelAudit(
        table=table,
        group_column=group,
        bins=_bins_used(group, bins),
        n_rows=len(frame),
        calibrated=model.calibrator is not None,
    )
    numeric_inputs = [c.name for c in model.preprocessor.numeric]
    if AGE_COLUMN not in numeric_inputs:
        result.age_note = f"not checked: the model has no numeric '{AGE_COLUMN}' input"
        return result
    att = model_attributions(model, frame, steps=steps, inputs=X, file=file)
    col = model.preprocessor.numeric[numeric_inputs.index(AGE_COLUMN)]
    ages = X[:, numeric_inputs.index(AGE_COLUMN)] * col.scale + col.mean  # filled values too
    try:
        result.age_check = age_adverse_check(att.attributions[AGE_COLUMN].to_numpy(), ages)
        result.age_max_gap = att.max_gap
    except ValueError as error:
        result.age_note = f"not checked: {error}"
    return result


def _bins_used(column: str, bins: Sequence[float] | None) -> list[float] | None:
    if bins is not None:
        return [float(b) for b in bins]
    return [float(b) for b in AGE_BINS] if column == AGE_COLUMN else None
