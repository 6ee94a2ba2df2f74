"""Figures of the network and of learning: the diagram, forward only against backprop, the
learning rates and where they become unstable (experiments 1 and 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..._util.palette import OKABE_ITO
from ..experiments import (
    Config,
    ForwardVsBackprop,
    LearningRateSweep,
)
from .style import (
    ACC_LABEL,
    EPOCH_LABEL,
    FORWARD_ONLY,
    LOSS_LABEL,
    STYLE,
    _epochs,
    _figure,
    _plain_log_ticks,
    lr_colour,
    lr_label,
)


# ---------------------------------------------------------------------------------------
def network_diagram(config: Config, feature_names: Sequence[str]) -> Figure:
    """The 7-8-1 network: inputs, hidden ReLU units, the sigmoid output, and the shapes."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 4.2), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        n_in, n_hidden = len(feature_names), config.hidden
        xs = (0.0, 1.0, 2.0)

        def ys(k: int) -> np.ndarray:
            return np.linspace(0.5, -0.5, k) * (k - 1) / max(n_in, n_hidden, 2)

        y_in, y_hid, y_out = ys(n_in), ys(n_hidden), np.array([0.0])
        for a in y_in:
            for b in y_hid:
                ax.plot(xs[:2], (a, b), color="#bbbbbb", linewidth=0.6, zorder=1)
        for b in y_hid:
            ax.plot(xs[1:], (b, 0.0), color="#bbbbbb", linewidth=0.8, zorder=1)
        ax.scatter(np.full(n_in, xs[0]), y_in, s=260, color="white", edgecolor="black", zorder=2)
        ax.scatter(
            np.full(n_hidden, xs[1]),
            y_hid,
            s=260,
            color=OKABE_ITO["sky_blue"],
            edgecolor="black",
            zorder=2,
        )
        ax.scatter([xs[2]], y_out, s=420, color=OKABE_ITO["orange"], edgecolor="black", zorder=2)
        for name, y in zip(feature_names, y_in, strict=True):
            ax.text(xs[0] - 0.07, y, name, ha="right", va="center", fontsize=9)
        ax.text(xs[2] + 0.08, 0.0, "ŷ = P(default)", ha="left", va="center", fontsize=10)
        top = 0.5 * (max(n_in, n_hidden) - 1) / max(n_in, n_hidden, 2) + 0.08
        labels = (
            f"input x\n{n_in} standardised features",
            f"hidden layer h\n{n_hidden} ReLU units",
            "output\n1 sigmoid unit",
        )
        for x, text in zip(xs, labels, strict=True):
            ax.text(x, top, text, ha="center", va="bottom", fontsize=10, fontweight="bold")
        ax.text(0.5, -top, f"W1 ({n_in}x{n_hidden}), b1 ({n_hidden})", ha="center", va="top")
        ax.text(1.5, -top, f"W2 ({n_hidden}x1), b2 (1)", ha="center", va="top")
        ax.set_xlim(-0.75, 2.75)
        ax.set_ylim(-top - 0.12, top + 0.16)
        ax.set_title(
            f"The {config.architecture} network: z1 = x W1 + b1, h = ReLU(z1), "
            "z2 = h W2 + b2, ŷ = sigmoid(z2)"
        )
    return fig


def forward_vs_backprop(result: ForwardVsBackprop) -> Figure:
    """The tutorial's Figures 1 and 2: loss and accuracy, forward only against backprop.

    Lines are the engine's runs; open circles every few epochs are the hand-written
    textbook loop, to show the two agree.
    """
    fig, (ax_loss, ax_acc) = _figure()
    with matplotlib.rc_context(STYLE):
        every = max(1, result.epochs // 20)
        pairs = (
            (result.forward_only, result.textbook_forward_only, FORWARD_ONLY, "forward only", "--"),
            (
                result.backprop,
                result.textbook_backprop,
                lr_colour(result.lr),
                f"forward + backprop ({lr_label(result.lr)})",
                "-",
            ),
        )
        for ax, what in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for engine, book, colour, label, style in pairs:
                values = getattr(engine, what)
                ax.plot(_epochs(values), values, color=colour, linestyle=style, label=label)
                tb = np.asarray(getattr(book, what))
                idx = np.arange(0, len(tb), every)
                ax.plot(
                    idx,
                    tb[idx],
                    linestyle="none",
                    marker="o",
                    markersize=4,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    markeredgewidth=0.9,
                )
            ax.set_xlabel(EPOCH_LABEL)
        ax_loss.plot(
            [],
            [],
            linestyle="none",
            marker="o",
            markerfacecolor="none",
            markeredgecolor="black",
            label="textbook loop (every few epochs)",
        )
        ax_loss.set_ylabel(LOSS_LABEL)
        ax_loss.set_title("Training loss")
        ax_acc.set_ylabel(ACC_LABEL)
        ax_acc.set_title("Training accuracy")
        fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig


def learning_rates(sweep: LearningRateSweep) -> Figure:
    """The tutorial's Figure 3: mean over seeds, with a band of one standard deviation."""
    fig, (ax_loss, ax_acc) = _figure()
    with matplotlib.rc_context(STYLE):
        for lr in sweep.learning_rates:
            s = sweep.summary(lr)
            if s.loss_mean is None:
                continue
            colour = lr_colour(lr)
            for ax, mean, sd in (
                (ax_loss, s.loss_mean, s.loss_sd),
                (ax_acc, s.accuracy_mean, s.accuracy_sd),
            ):
                m, d = np.asarray(mean), np.asarray(sd)
                ax.fill_between(_epochs(m), m - d, m + d, color=colour, alpha=0.25, linewidth=0)
                ax.plot(_epochs(m), m, color=colour, label=lr_label(lr))
        n = len(sweep.seeds)
        ax_loss.set_title(f"Training loss (mean ± 1 sd over {n} seeds)")
        ax_acc.set_title(f"Training accuracy (mean ± 1 sd over {n} seeds)")
        ax_loss.set_ylabel(LOSS_LABEL)
        ax_acc.set_ylabel(ACC_LABEL)
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel(EPOCH_LABEL)
        ax_loss.legend(title="learning rate", loc="lower left")
    return fig


def learning_rate_stability(sweep: LearningRateSweep, window: int = 60) -> Figure:
    """Where training breaks: the first ``window`` epochs at large rates, and final loss
    against learning rate. A diverged run ends in a cross at its last finite loss."""
    fig, (ax_curve, ax_final) = _figure()
    with matplotlib.rc_context(STYLE):
        reference = max(sweep.learning_rates)
        for lr in (reference, *sweep.large_learning_rates):
            colour = lr_colour(lr)
            for k, run in enumerate(sweep.runs_for(lr)):
                loss = np.asarray(run.loss[:window])
                label = lr_label(lr) if k == 0 else None
                ax_curve.plot(
                    _epochs(loss), loss, color=colour, linewidth=1.1, alpha=0.85, label=label
                )
                if run.status == "diverged" and len(run.loss) and len(run.loss) <= window:
                    ax_curve.plot(
                        len(loss) - 1,
                        loss[-1],
                        marker="X",
                        markersize=9,
                        color=colour,
                        markeredgecolor="black",
                        markeredgewidth=0.6,
                        linestyle="none",
                    )
        ax_curve.plot(
            [],
            [],
            marker="X",
            color="white",
            markeredgecolor="black",
            linestyle="none",
            label="diverged (training stopped)",
        )
        ax_curve.set_yscale("log")
        _plain_log_ticks(ax_curve)
        ax_curve.set_xlabel(EPOCH_LABEL)
        ax_curve.set_ylabel(LOSS_LABEL + ", log scale")
        ax_curve.set_title(f"Large learning rates: the first {window} epochs")
        ax_curve.legend(loc="upper right")

        rates = [*sweep.learning_rates, *sweep.large_learning_rates]
        finals = [s.final_loss_mean for s in (sweep.summary(lr) for lr in rates)]
        done_all = [r.final_loss for r in sweep.runs if r.final_loss is not None]
        top = max([*done_all, 0.7]) * 1.15
        any_diverged = any(sweep.summary(lr).verdict == "diverged" for lr in rates)
        if any_diverged:
            ax_final.axhspan(top * 0.97, top * 1.07, color="#eeeeee", zorder=0)
            ax_final.text(
                0.02,
                top * 1.02,
                "diverged: no final loss",
                va="center",
                transform=ax_final.get_yaxis_transform(),
                fontsize=9,
                color="#444444",
            )
        for lr in rates:
            colour = lr_colour(lr)
            runs = sweep.runs_for(lr)
            done = [r.final_loss for r in runs if r.final_loss is not None]
            ax_final.plot(
                [lr] * len(done),
                done,
                linestyle="none",
                marker="o",
                markersize=5,
                color=colour,
                alpha=0.8,
            )
            s = sweep.summary(lr)
            if s.verdict == "diverged":
                ax_final.plot(
                    lr,
                    top * 1.02,
                    marker="X",
                    markersize=11,
                    color=colour,
                    markeredgecolor="black",
                    linestyle="none",
                )
                first, last = min(s.diverged_at), max(s.diverged_at)
                when = f"{first}" if first == last else f"{first}-{last}"
                ax_final.annotate(
                    f"lr = {lr:g}: {s.n_diverged} of {len(runs)} runs\ndiverged (epoch {when})",
                    (lr, top * 0.97),
                    textcoords="offset points",
                    xytext=(0, -6),
                    ha="right",
                    va="top",
                    fontsize=9,
                )
        done_rates = [lr for lr, f in zip(rates, finals, strict=True) if f is not None]
        ax_final.plot(
            done_rates,
            [f for f in finals if f is not None],
            color="#444444",
            linewidth=1.0,
            zorder=0,
            label="mean over seeds",
        )
        ax_final.set_xscale("log")
        ax_final.set_ylim(top=top * 1.07 if any_diverged else top)
        ax_final.set_xlabel("learning rate (log scale)")
        ax_final.set_ylabel(f"final {LOSS_LABEL}")
        ax_final.set_title(f"Loss after {sweep.epochs} epochs, each seed a dot")
        ax_final.legend(loc="lower left")
    return fig
