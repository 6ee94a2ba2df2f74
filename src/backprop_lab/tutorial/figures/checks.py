"""Figures of the checks: the gradient check, generalisation, the hidden layer's worth and
inside backprop (experiments 3 to 6).
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..._util.palette import OKABE_ITO
from ..experiments import (
    Generalisation,
    GradientCheckReport,
    HiddenLayer,
    InsideBackprop,
)
from .style import (
    ACC_LABEL,
    BAYES,
    EPOCH_LABEL,
    LOGISTIC,
    LOSS_LABEL,
    NETWORK,
    STYLE,
    _epochs,
    _figure,
    lr_colour,
    lr_label,
)


def gradient_check(report: GradientCheckReport) -> Figure:
    """Largest error |a − n| / array scale per parameter array, at init and after training."""
    fig, (ax,) = _figure(ncols=1, height=3.0, width=7.5)
    with matplotlib.rc_context(STYLE):
        names = [r.param for r in report.at_init]
        y = np.arange(len(names))
        floor = 1e-16
        for offset, rows, colour, label in (
            (-0.18, report.at_init, OKABE_ITO["sky_blue"], "at initialisation"),
            (0.18, report.trained, OKABE_ITO["blue"], "after training"),
        ):
            values = [max(r.max_rel_error, floor) for r in rows]
            ax.barh(y + offset, values, height=0.34, color=colour, label=label, left=floor)
        ax.axvline(report.threshold, color="black", linestyle="--", linewidth=1.2)
        ax.text(
            report.threshold,
            0.98,
            f" pass below {report.threshold:g}",
            va="top",
            fontsize=9,
            transform=ax.get_xaxis_transform(),
        )
        ax.set_xscale("log")
        ax.set_xlim(floor, 1.0)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel("largest error |analytic − numeric| / array scale")
        ax.set_title("Gradient check: backprop against finite differences, every entry")
        ax.legend(loc="lower right")
        ax.grid(axis="y", visible=False)
    return fig


def generalisation(result: Generalisation) -> Figure:
    """Train and held-out test curves, with Bayes-optimal and logistic-regression lines.

    Each panel has an inset magnifying the second half of training, where the curves
    meet the reference lines.
    """
    fig, (ax_loss, ax_acc) = _figure()
    with matplotlib.rc_context(STYLE):
        colour = lr_colour(result.lr)
        start = len(result.train_loss) // 2
        panels = (
            (
                ax_loss,
                result.train_loss,
                result.test_loss,
                result.bayes.test_log_loss,
                result.logistic.test_log_loss,
                (0.52, 0.40, 0.46, 0.46),
            ),
            (
                ax_acc,
                result.train_accuracy,
                result.test_accuracy,
                result.bayes.test_accuracy,
                result.logistic.test_accuracy,
                (0.42, 0.12, 0.55, 0.45),
            ),
        )
        for ax, train_v, test_v, bayes, logistic, box in panels:
            inset = ax.inset_axes(box)
            for a in (ax, inset):
                a.plot(_epochs(train_v), train_v, color=colour, label="network, training set")
                a.plot(
                    _epochs(test_v),
                    test_v,
                    color=colour,
                    linestyle="--",
                    alpha=0.9,
                    label="network, test set",
                )
                a.axhline(
                    bayes,
                    color=BAYES,
                    linestyle=":",
                    linewidth=1.5,
                    label="Bayes-optimal, test set",
                )
                a.axhline(
                    logistic,
                    color=LOGISTIC,
                    linestyle="-.",
                    linewidth=1.3,
                    label="logistic regression, test set",
                )
            tail = [*train_v[start:], *test_v[start:], bayes, logistic]
            pad = 0.15 * (max(tail) - min(tail)) + 1e-4
            inset.set_xlim(start, len(train_v))
            inset.set_ylim(min(tail) - pad, max(tail) + pad)
            inset.tick_params(labelsize=8)
            inset.set_title(f"epochs {start}-{len(train_v) - 1}, magnified", fontsize=8)
            ax.indicate_inset_zoom(inset, edgecolor="#888888")
            ax.set_xlabel(EPOCH_LABEL)
        ax_loss.set_ylabel(LOSS_LABEL)
        ax_acc.set_ylabel(ACC_LABEL)
        ax_loss.set_title(f"Loss ({lr_label(result.lr)})")
        ax_acc.set_title(f"Accuracy ({lr_label(result.lr)})")
        fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", ncols=4)
    return fig


def hidden_layer(result: HiddenLayer) -> Figure:
    """Test accuracy of logistic regression, the network and Bayes on linear and nonlinear
    risk; and the network's test loss on the nonlinear data as it trains."""
    fig, (ax_bar, ax_curve) = _figure()
    with matplotlib.rc_context(STYLE):
        models = (
            ("logistic", "logistic regression", LOGISTIC, "//"),
            ("network", "7-8-1 network", NETWORK, None),
            ("bayes", "Bayes-optimal", "#ffffff", None),
        )
        groups = (("linear", result.linear), ("nonlinear", result.nonlinear))
        x = np.arange(len(groups))
        width = 0.26
        for k, (key, label, colour, hatch) in enumerate(models):
            values = [scores[key].test_accuracy for _, scores in groups]
            bars = ax_bar.bar(
                x + (k - 1) * width,
                values,
                width=width,
                color=colour,
                edgecolor="black",
                hatch=hatch,
                label=label,
            )
            ax_bar.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
        low = min(s.test_accuracy for _, g in groups for s in g.values())
        ax_bar.set_ylim(max(0.0, low - 0.1), 1.0)
        ax_bar.set_xticks(x, ["linear risk\n(default data)", "nonlinear risk"])
        ax_bar.set_ylabel(f"test {ACC_LABEL}")
        ax_bar.set_title("Held-out accuracy")
        ax_bar.legend(loc="upper left", ncols=1)
        ax_bar.grid(axis="x", visible=False)

        loss = result.nonlinear_test_loss
        ax_curve.plot(
            _epochs(loss), loss, color=NETWORK, linestyle="--", label="7-8-1 network, test set"
        )
        ax_curve.axhline(
            result.nonlinear["logistic"].test_log_loss,
            color=LOGISTIC,
            linestyle="-.",
            linewidth=1.3,
            label="logistic regression",
        )
        ax_curve.axhline(
            result.nonlinear["bayes"].test_log_loss,
            color=BAYES,
            linestyle=":",
            linewidth=1.5,
            label="Bayes-optimal",
        )
        ax_curve.set_xlabel(EPOCH_LABEL)
        ax_curve.set_ylabel(f"test {LOSS_LABEL}")
        ax_curve.set_title(f"Nonlinear risk: test loss ({lr_label(result.lr)})")
        ax_curve.legend(loc="upper right")
    return fig


def inside_backprop(result: InsideBackprop) -> Figure:
    """Gradient norm of each layer per epoch (log scale), and the share of dead ReLU units."""
    fig, (ax_norm, ax_dead) = _figure()
    with matplotlib.rc_context(STYLE):
        colour = lr_colour(result.lr)
        for (name, values), style in zip(result.layer_norms.items(), ("-", "--"), strict=False):
            ax_norm.plot(
                _epochs(values),
                values,
                color=colour,
                linestyle=style,
                label=f"{name}: ‖(∂J/∂W, ∂J/∂b)‖",
            )
        ax_norm.axvline(result.steepest_epoch, color="#444444", linestyle=":", linewidth=1.2)
        ax_norm.annotate(
            "steepest fall\nof the loss",
            (result.steepest_epoch, 0.04),
            xycoords=("data", "axes fraction"),
            xytext=(5, 0),
            textcoords="offset points",
            va="bottom",
            fontsize=9,
            bbox={"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none"},
        )
        ax_norm.set_yscale("log")
        ax_norm.set_xlabel(EPOCH_LABEL)
        ax_norm.set_ylabel("gradient norm (log scale)")
        ax_norm.set_title(f"Gradient size per layer ({lr_label(result.lr)})")
        ax_norm.legend(loc="upper right")

        dead = 100.0 * np.asarray(result.dead_share)
        ax_dead.plot(_epochs(dead), dead, color=colour)
        ax_dead.set_ylim(-3, 103)
        ax_dead.set_xlabel(EPOCH_LABEL)
        ax_dead.set_ylabel("dead hidden units (% of units)")
        ax_dead.set_title(f"Dead ReLU units (of {result.n_hidden} hidden units)")
    return fig
