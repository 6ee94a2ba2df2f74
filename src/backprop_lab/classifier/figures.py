"""Figures of a scoring model's quality: ROC curve and calibration by decile of score.

Drawing only; the numbers come from ``metrics``. Built without pyplot (no global state,
no display needed), so importing the classifier never imports matplotlib: only a command
that draws imports this module.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from .._util.figures import save_figure
from .metrics import check_binary_scores


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
