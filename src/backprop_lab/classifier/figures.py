"""Figures of a scoring model: ROC curve and calibration by decile of score; drift.

Drawing only; the numbers come from ``metrics``. Built without pyplot (no global state,
no display needed), so importing the classifier never imports matplotlib: only a command
that draws imports this module.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from .._util.figures import FIGURE_MAX_WIDTH, FONT_SIZES, save_figure
from .._util.palette import OKABE_ITO
from .drift import flag, shares
from .metrics import check_binary_scores
from .monitor import DriftReport


def plot_credit_curves(
    y: ArrayLike, p: ArrayLike, path: str | Path, *, title: str | None = None
) -> None:
    """Write the ROC curve and the calibration curve (10 quantile bins) to ``path``: PNG, SVG or
    PDF by its suffix.

    The file is written atomically.
    """
    y, p = check_binary_scores(y, p)
    if not 0 < y.sum() < y.size:
        raise ValueError("curves need both defaults and non-defaults among the rows")
    fpr, tpr, _ = roc_curve(y, p)
    auc = roc_auc_score(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig = Figure(figsize=(10, 4.5))
    left, right = fig.subplots(1, 2)
    left.plot(fpr, tpr, label=f"model (AUC {auc:.3f}, Gini {2 * auc - 1:.3f})")
    left.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    left.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    left.legend(loc="lower right")
    top = float(max(predicted.max(), observed.max())) * 1.05
    right.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    right.plot(predicted, observed, marker="o", label="model (deciles of score)")
    right.set(
        xlabel="mean predicted probability of default",
        ylabel="observed default rate",
        title="Calibration",
        xlim=(0, top),
        ylim=(0, top),
    )
    right.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # the format follows the suffix: .png, .svg, .pdf


def drift_figure(report: DriftReport, *, top: int = 3) -> Figure:
    """Training (expected) and new (actual) shares per bin: the score first, then the
    ``top`` source columns with the largest indices; bins empty on both sides left out.
    The two sides differ in colour and in hatching."""
    with matplotlib.rc_context(FONT_SIZES):
        return _drift_figure(report, top)


def _drift_figure(report: DriftReport, top: int) -> Figure:
    panels = ([report.score] if report.score is not None else []) + report.worst_columns(top)
    fig = Figure(figsize=(FIGURE_MAX_WIDTH, 2.6 * len(panels) + 0.4))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, d in zip(axes, panels, strict=True):
        keep = np.flatnonzero((d.expected > 0) | (d.actual > 0))
        x = np.arange(len(keep))
        ax.bar(x - 0.2, shares(d.expected)[keep], 0.4, label="training", color=OKABE_ITO["blue"])
        ax.bar(
            x + 0.2, shares(d.actual)[keep], 0.4, label="new", color=OKABE_ITO["orange"], hatch="//"
        )
        ax.set_xticks(x, [d.labels[i] for i in keep], rotation=30, ha="right")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        index = "PSI" if d.kind == "score" else "CSI"
        ax.set_title(
            f"{d.name}: {index} {d.index:.3f} ({flag(d.index, report.watch, report.act)})",
            loc="left",
        )
        ax.set_ylabel("share of rows")
    axes[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
