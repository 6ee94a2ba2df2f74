"""Figures for explanations, fairness audits and calibration.

Plotting only: every function takes the tables that ``explain``, ``fairness`` and
``calibration`` compute and returns a matplotlib ``Figure`` (built without pyplot, so
no global state and no display needed). Colours are the Okabe-Ito palette, which
stays distinguishable under the common colour-vision deficiencies; bars and lines also
differ in hatching or marker, not only in colour. Type sizes are the package's
(``_util.figures.FONT_SIZES``, as in the report's other figures), and no figure is wider
than ``FIGURE_MAX_WIDTH``, so text keeps its size when the report shows the figure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ParamSpec

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .._util.figures import FIGURE_MAX_WIDTH, FONT_SIZES
from .._util.figures import save_figure as save_figure  # re-exported: figures and their files
from .._util.palette import OKABE_ITO

if TYPE_CHECKING:
    from .audit import ModelAudit

_P = ParamSpec("_P")


def _package_type_sizes(draw: Callable[_P, Figure]) -> Callable[_P, Figure]:
    """Build the figure with the package's type sizes (every text made inside gets them)."""

    @functools.wraps(draw)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> Figure:
        with matplotlib.rc_context(FONT_SIZES):
            return draw(*args, **kwargs)

    return build


_SERIES = ["blue", "orange", "green", "purple", "sky_blue", "vermillion"]
_HATCHES = ["", "//", "..", "xx", "\\\\", "oo"]
_MARKERS = ["o", "s", "^", "D", "v", "P"]

_PLAIN_NAMES = {
    "selection_rate": "approval rate",
    "true_positive_rate": "approval rate among repaid",
    "false_positive_rate": "approval rate among defaulted",
    "default_rate": "observed default rate",
    "mean_predicted": "mean predicted P(default)",
    "calibration_gap": "calibration gap (predicted - observed)",
    "brier_score": "Brier score",
}


@_package_type_sizes
def importance_figure(
    importance: pd.DataFrame,
    *,
    title: str = "Which features drive the predicted risk",
    subtitle: str | None = "mean |integrated gradient| over applicants",
) -> Figure:
    """Horizontal bars of mean absolute attribution per feature, largest on top.

    ``importance`` is :func:`backprop_lab.responsible.reasons.global_importance`'s table. With its
    ``direction`` column, a bar is vermillion and hatched when higher values of the
    feature raise the risk, blue when they lower it, grey when unknown.
    """
    table = importance.sort_values("mean_abs_attribution", ascending=True, kind="stable")
    fig = Figure(figsize=(7.0, 0.45 * len(table) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    styles = {
        1: (OKABE_ITO["vermillion"], "//", "higher value raises risk"),
        -1: (OKABE_ITO["blue"], "", "higher value lowers risk"),
        0: ("#999999", "..", "direction not defined"),
    }
    if "direction" in table.columns:
        direction = table["direction"].to_numpy(dtype=int)
    else:
        direction = np.zeros(len(table), dtype=int)
        styles[0] = (OKABE_ITO["blue"], "", "")
    bars = ax.barh(table["feature"], table["mean_abs_attribution"])
    for bar, d in zip(bars, direction, strict=True):
        colour, hatch, _ = styles[int(d)]
        bar.set_facecolor(colour)
        bar.set_hatch(hatch)
        bar.set_edgecolor("white")
    for y, v in enumerate(table["mean_abs_attribution"]):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
    ax.set_xlabel("mean |attribution| (log-odds of default)")
    ax.set_ylabel("feature")
    ax.set_xlim(0, float(table["mean_abs_attribution"].max()) * 1.18 or 1.0)
    ax.set_title(title if subtitle is None else f"{title}\n{subtitle}")
    used = [d for d in (1, -1, 0) if d in set(direction.tolist()) and styles[d][2]]
    if used:
        handles = [
            Patch(facecolor=styles[d][0], hatch=styles[d][1], edgecolor="white", label=styles[d][2])
            for d in used
        ]
        ax.legend(handles=handles, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _interval_bars(ax, x: np.ndarray, rows: pd.DataFrame, k: int, n: int, label: str) -> None:
    """The k-th of n bars side by side at each x: rows' value, error bars ci_low to ci_high."""
    value = rows["value"].to_numpy(dtype=float)
    err = np.vstack(
        [
            np.nan_to_num(value - rows["ci_low"].to_numpy(dtype=float)),
            np.nan_to_num(rows["ci_high"].to_numpy(dtype=float) - value),
        ]
    )
    width = 0.8 / n
    ax.bar(
        x + (k - (n - 1) / 2) * width,
        value,
        width,
        yerr=err,
        capsize=3,
        color=OKABE_ITO[_SERIES[k % len(_SERIES)]],
        hatch=_HATCHES[k % len(_HATCHES)],
        edgecolor="white",
        error_kw={"ecolor": "black", "elinewidth": 1},
        label=label,
    )


@_package_type_sizes
def audit_figure(
    audit_table: pd.DataFrame,
    metrics: Sequence[str] = ("selection_rate", "true_positive_rate", "false_positive_rate"),
    *,
    title: str = "Approval by group",
    xlabel: str = "group",
) -> Figure:
    """Per-group bars of audit metrics with their bootstrap confidence intervals.

    ``audit_table`` is :func:`backprop_lab.responsible.fairness.audit`'s table. One bar per group and
    metric, error bars from ci_low to ci_high; the demographic-parity difference (with
    its interval) goes in the subtitle.
    """
    rows = audit_table[(audit_table["scope"] == "group") & audit_table["metric"].isin(metrics)]
    if rows.empty:
        raise ValueError(f"the audit table has no per-group rows for {list(metrics)}")
    groups = list(dict.fromkeys(rows["group"]))
    present = [m for m in metrics if m in set(rows["metric"])]
    width = min(FIGURE_MAX_WIDTH, max(6.0, 1.3 * len(groups) * len(present) / 2 + 3))
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    for k, metric in enumerate(present):
        sub = rows[rows["metric"] == metric].set_index("group").reindex(groups)
        _interval_bars(ax, x, sub, k, len(present), label=_PLAIN_NAMES.get(metric, metric))
    ax.set_xticks(x, groups)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rate")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=len(present))
    level = audit_table.attrs.get("confidence", 0.95)
    threshold = audit_table.attrs.get("threshold")
    lines = [title]
    dp = audit_table[audit_table["metric"] == "demographic_parity_difference"]
    if not dp.empty and np.isfinite(dp["value"].iloc[0]):
        r = dp.iloc[0]
        lines.append(
            f"demographic-parity difference {r['value']:.3f} "
            f"({level:.0%} CI {r['ci_low']:.3f} to {r['ci_high']:.3f})"
        )
    if threshold is not None:
        lines.append(f"approved when P(default) < {threshold:g}; bars: {level:.0%} bootstrap CI")
    ax.set_title("\n".join(lines))
    return fig


@_package_type_sizes
def reliability_figure(
    curves: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    title: str = "Reliability diagram",
) -> Figure:
    """Observed default rate against mean predicted probability, per bin.

    ``curves``: one :func:`backprop_lab.classifier.calibration.reliability_curve` table, or several
    by label (e.g. {"before": ..., "after temperature scaling": ...}). The dashed
    diagonal is perfect calibration; the lower panel shows how many rows fall in
    each bin (plotted at the bin's mean predicted probability).
    """
    if isinstance(curves, pd.DataFrame):
        curves = {"model": curves}
    fig = Figure(figsize=(6.0, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for k, (label, curve) in enumerate(curves.items()):
        colour = OKABE_ITO[_SERIES[k % len(_SERIES)]]
        top.plot(
            curve["mean_predicted"],
            curve["observed_rate"],
            marker=_MARKERS[k % len(_MARKERS)],
            color=colour,
            label=label,
        )
        bottom.plot(
            curve["mean_predicted"],
            curve["count"],
            marker=_MARKERS[k % len(_MARKERS)],
            color=colour,
            linestyle=":",
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("observed default rate")
    top.set_title(title)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_xlabel("mean predicted probability of default (per bin)")
    bottom.set_ylabel("rows")
    bottom.set_ylim(bottom=0)
    bottom.grid(axis="y", alpha=0.3)
    return fig


@_package_type_sizes
def planted_bias_figure(
    audits: Mapping[str, pd.DataFrame],
    planted_size: float,
    *,
    lender_gaps: Mapping[str, float] | None = None,
    title: str = "Backprop learns the bias in its data",
) -> Figure:
    """Approval rate by group, and the approval gap between the groups, for several models.

    ``audits``: label -> :func:`backprop_lab.responsible.fairness.audit` table by group (e.g. one
    model trained on data with a planted bias, one without). Left: each model's approval
    rate per group with its bootstrap interval. Right: each model's approval gap, the
    reference group's approval rate minus the other group's (minus the audit's signed
    ``selection_rate_diff``: positive when the other group is approved less), with its
    interval; the dashed line is ``planted_size``, the gap the planted bias puts between
    the groups over all borrowers (:func:`backprop_lab.data.planted_approval_gap`).
    ``lender_gaps``: label -> the gap of a lender who knows the true probabilities, on
    the same borrowers as that model's audit, drawn as a cross.
    """
    labels = list(audits)
    if not labels:
        raise ValueError("no audits to draw")
    fig = Figure(figsize=(FIGURE_MAX_WIDTH, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1])
    first = audits[labels[0]]
    groups = list(dict.fromkeys(first.loc[first["scope"] == "group", "group"].astype(str).tolist()))
    x = np.arange(len(groups))
    for k, label in enumerate(labels):
        table = audits[label]
        rows = table[(table["scope"] == "group") & (table["metric"] == "selection_rate")]
        rows = rows.set_index(rows["group"].astype(str)).reindex(groups)
        _interval_bars(left, x, rows, k, len(labels), label=label)
    left.set_xticks(x, [f"group {g}" for g in groups])
    left.set_ylabel("approval rate")
    left.set_ylim(0, 1.05)
    left.grid(axis="y", alpha=0.3)
    left.legend(loc="upper right")
    left.set_title("Approval rate by group")

    y = np.arange(len(labels))
    ends = [0.0, planted_size]
    for k, label in enumerate(labels):
        table = audits[label]
        r = table[table["metric"] == "selection_rate_diff"].iloc[0]
        v, lo, hi = -float(r["value"]), -float(r["ci_high"]), -float(r["ci_low"])
        ends += [b for b in (v, lo, hi) if np.isfinite(b)]
        xerr = np.array([[np.nan_to_num(v - lo)], [np.nan_to_num(hi - v)]])
        right.errorbar(
            [v],
            [y[k]],
            xerr=xerr,
            fmt=_MARKERS[k % len(_MARKERS)],
            color=OKABE_ITO[_SERIES[k % len(_SERIES)]],
            ecolor="black",
            capsize=4,
            markersize=8,
        )
    if lender_gaps:
        ky = [k for k, label in enumerate(labels) if label in lender_gaps]
        kx = [float(lender_gaps[labels[k]]) for k in ky]
        ends += [v for v in kx if np.isfinite(v)]
        right.plot(
            kx,
            y[ky],
            linestyle="none",
            marker="x",
            markersize=9,
            color="black",
            label="lender knowing the true\nprobabilities, same borrowers",
        )
    right.axvline(
        planted_size,
        color="grey",
        linestyle="--",
        linewidth=1,
        label=f"planted gap {planted_size:.3f}\n(all borrowers)",
    )
    right.axvline(0, color="black", linewidth=0.8)
    right.set_yticks(y, labels)
    right.set_ylim(-0.6, len(labels) - 0.4)
    right.invert_yaxis()
    reference = first.attrs.get("reference", groups[0])
    others = [g for g in groups if g != str(reference)]
    right.set_xlabel(f"approval rate of group {reference}\nminus group {', '.join(others)}")
    span = max(ends) - min(ends)
    right.set_xlim(min(ends) - 0.08 * span - 0.02, max(ends) + 0.3 * span + 0.02)
    right.grid(axis="x", alpha=0.3)
    right.legend(loc="lower right")
    level = first.attrs.get("confidence", 0.95)
    right.set_title(f"Approval gap between the groups\n(bars: {level:.0%} bootstrap CI)")
    fig.suptitle(title)
    return fig


def model_audit_figure(result: ModelAudit) -> Figure:
    """Approval rates by group (overall, among repaid, among defaulted) with their intervals,
    for an :func:`backprop_lab.responsible.audit.audit_model` result."""
    return audit_figure(
        result.table, title=f"Approval by {result.group_column}", xlabel=result.group_column
    )
