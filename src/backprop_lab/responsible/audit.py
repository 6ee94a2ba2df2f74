"""Fairness audit of a saved model on a labelled file, by a group column.

    result = audit_csv(model, "loans.csv", "age")        # the file, chunk by chunk
    result = audit_model(model, frame, "age")            # a frame in memory
    print(result.text()); result.to_json(); model_audit_figure(result)

The group column is read from the file whether or not the model uses it (a protected
attribute is often dropped before training, or was never a feature). A numeric group
column with ``bins`` is cut into bands [-inf, b0), [b0, b1), ..., [b_last, inf); a
column named ``age`` is cut at 25, 40 and 62 unless other bins are given; other columns
are taken value by value (at most :data:`MAX_GROUPS` distinct values); the groups are
found and coded in :mod:`~backprop_lab.responsible.groups`.

Decisions use the model's probability of default (calibrated when the model carries a
calibrator): approved when p_default < threshold. The metrics are
:func:`backprop_lab.responsible.fairness.audit`'s, accumulated chunk by chunk
(:class:`~backprop_lab.responsible.fairness_stream.StreamingAudit`), with Poisson
bootstrap intervals; memory is bounded by the chunk size, whatever the file's length.
A file is read twice: once for its group column (which groups there are), once for
everything.

Whenever the model has a numeric ``age`` input, the audit adds the US Regulation B
check (:func:`backprop_lab.responsible.age_check.age_adverse_check`, here chunk by chunk:
:class:`~backprop_lab.responsible.fairness_stream.AgeCheckAccumulator`): is the
contribution of age to an elderly applicant's log-odds of default ever less favourable
than the most favoured younger age class's? The contributions are integrated gradients
of the network's logit of default against the training-mean applicant, through the
model's preprocessing and summed back to the ``age`` column
(:func:`backprop_lab.responsible.explain.model_attributions`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._util.text_table import aligned
from .._util.validation import InputError
from ..classifier.tabular_model import TabularModel
from ..data.tabular import iter_csv, read_header, warn_unseen
from .age_check import ELDERLY_AGE, AgeAdverseResult
from .explain import model_attributions
from .fairness_stream import AgeCheckAccumulator, StreamingAudit
from .fairness_table import audit_payload
from .groups import AGE_COLUMN as AGE_COLUMN
from .groups import MAX_GROUPS as MAX_GROUPS
from .groups import GroupCoder as GroupCoder
from .groups import group_labels as group_labels
from .integrated import DEFAULT_STEPS

#: Rows read at once by :func:`audit_csv` and :func:`audit_model`.
AUDIT_CHUNK_ROWS = 50_000


@dataclass
class ModelAudit:
    """The audit of one model on one file by one group column.

    ``table``: :func:`backprop_lab.responsible.fairness.audit`'s tidy table (settings in
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
        if attrs["n_bootstrap"] and attrs.get("bootstrap") == "poisson":
            lines.append(
                f"{level} intervals: Poisson bootstrap, {attrs['n_bootstrap']} replicates, each "
                f"applicant weighted by a Poisson(1) count (seed {attrs['seed']})"
            )
        elif attrs["n_bootstrap"]:
            lines.append(
                f"{level} intervals: bootstrap, {attrs['n_bootstrap']} resamples within each "
                f"group (seed {attrs['seed']})"
            )
        if attrs.get("roc_auc", "exact") != "exact":
            lines.append(
                f"ROC AUC {attrs['roc_auc']} (within {attrs['roc_auc_max_error']:.1e} of the "
                "exact value)"
            )
        lines.append("")
        header = ["group", "rows", "defaults", "mean P", "approval rate", "approval | repaid"]
        header += ["approval | defaulted", "AUC"]
        table = [header]
        for g in self.groups:
            table.append(
                [
                    str(g),
                    str(int(self.value("count", g)["value"])),
                    _pct(self.value("default_rate", g)["value"]),
                    _pct(self.value("mean_predicted", g)["value"]),
                    _with_ci(self.value("selection_rate", g)),
                    _with_ci(self.value("true_positive_rate", g)),
                    _with_ci(self.value("false_positive_rate", g)),
                    _num(self.value("roc_auc", g)["value"], ".3f"),
                ]
            )
        lines += aligned(table, right={1, 2, 3, 7})
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


def audit_csv(
    model: TabularModel,
    path: str | Path,
    group: str,
    *,
    target: str | None = None,
    bins: Sequence[float] | None = None,
    threshold: float = 0.5,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    chunk_size: int | None = None,
) -> ModelAudit:
    """Audit ``model`` on the labelled CSV file ``path`` by ``group``, ``chunk_size`` rows
    at a time (arguments as in :func:`audit_model`). The result does not depend on the
    chunk size (default :data:`AUDIT_CHUNK_ROWS`), up to the round-off with which the
    network's matrix products may treat a row in batches of different sizes."""
    chunk_size = AUDIT_CHUNK_ROWS if chunk_size is None else chunk_size
    header = read_header(path)
    target = _check_target(model, target, header, path)
    if group not in header:
        raise InputError("no such group column in the file", file=path, column=group)
    model.preprocessor.check_columns(header, file=path)
    coder = GroupCoder(group, bins=bins, file=path)
    coder.scan(chunk[group] for chunk in iter_csv(path, chunk_size, columns=[group]))
    return _audit_chunks(
        model,
        iter_csv(path, chunk_size),
        coder,
        target,
        threshold=threshold,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        steps=steps,
        file=path,
    )


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
    chunk_size: int | None = None,
) -> ModelAudit:
    """Audit ``model``'s decisions on the labelled rows of ``frame`` by ``group``.

    ``target``: the label column (default: the model's target); labels equal to the
    model's positive class count as default. ``bins``: band edges for a numeric group
    column (see :class:`GroupCoder`). ``threshold``, ``confidence``, ``seed``: as in
    :func:`backprop_lab.responsible.fairness.audit`; ``n_bootstrap`` replicates of the
    Poisson bootstrap (:mod:`~backprop_lab.responsible.fairness_stream`). ``steps``:
    integrated-gradient steps for the Regulation B age check. The rows are taken
    ``chunk_size`` at a time, as :func:`audit_csv` does with a file.
    """
    chunk_size = AUDIT_CHUNK_ROWS if chunk_size is None else chunk_size
    target = _check_target(model, target, frame.columns, file)
    if group not in frame.columns:
        raise InputError("no such group column in the file", file=file, column=group)
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1; got {chunk_size}")
    starts = range(0, len(frame), chunk_size)
    coder = GroupCoder(group, bins=bins, file=file)
    coder.scan(frame[group].iloc[i : i + chunk_size] for i in starts)
    return _audit_chunks(
        model,
        (frame.iloc[i : i + chunk_size] for i in starts),
        coder,
        target,
        threshold=threshold,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        steps=steps,
        file=file,
    )


def _check_target(
    model: TabularModel, target: str | None, columns: Iterable[str], file: str | Path | None
) -> str:
    if not model.is_binary:
        raise ValueError("the audit is for binary models (approve or decline)")
    target = model.target if target is None else target
    if target not in list(columns):
        raise InputError("target column not found in the file", file=file, column=target)
    return target


def _audit_chunks(
    model: TabularModel,
    chunks: Iterator[pd.DataFrame],
    coder: GroupCoder,
    target: str,
    *,
    threshold: float,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    steps: int,
    file: str | Path | None,
) -> ModelAudit:
    """One pass over the rows: decisions and counts by group, and the age attributions."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence!r}")
    counts = StreamingAudit(
        len(coder.names), threshold=threshold, n_bootstrap=n_bootstrap, seed=seed
    )
    numeric_inputs = [c.name for c in model.preprocessor.numeric]
    has_age = AGE_COLUMN in numeric_inputs
    age_check = AgeCheckAccumulator() if has_age else None
    max_gap = 0.0
    unseen: Counter = Counter()
    try:
        for chunk in chunks:
            codes = coder.codes(chunk[coder.column])
            index = model.class_index(chunk[target], file=file)
            y = (index == model.positive_index).astype(np.int64)
            X = model.transform(chunk, file=file, unseen=unseen)
            counts.add(y, model.proba_from_inputs(X)[:, model.positive_index], codes)
            if age_check is not None:
                att = model_attributions(model, chunk, steps=steps, inputs=X, file=file)
                j = numeric_inputs.index(AGE_COLUMN)
                col = model.preprocessor.numeric[j]
                ages = X[:, j] * col.scale + col.mean  # filled values too
                age_check.add(att.attributions[AGE_COLUMN].to_numpy(), ages)
                max_gap = max(max_gap, att.max_gap)
        if unseen:
            warn_unseen(unseen, file)
        result = ModelAudit(
            table=counts.table(coder.names, confidence=confidence),
            group_column=coder.column,
            bins=_bins_used(coder.column, coder.bins),
            n_rows=counts.n_rows,
            calibrated=model.calibrator is not None,
        )
        if age_check is None:
            result.age_note = f"not checked: the model has no numeric '{AGE_COLUMN}' input"
            return result
        try:
            result.age_check = age_check.result()
            result.age_max_gap = max_gap
        except ValueError as error:
            result.age_note = f"not checked: {error}"
        return result
    finally:
        if age_check is not None:
            age_check.close()


def _bins_used(column: str, bins: Sequence[float] | None) -> list[float] | None:
    return None if bins is None else [float(b) for b in bins]
