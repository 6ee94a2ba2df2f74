"""Figures for the experiments: each function takes a result from
:mod:`backprop_lab.tutorial.experiments` and returns a matplotlib ``Figure``; nothing is computed
here beyond what a picture needs (a mean line, an axis limit).

Conventions, the same in every figure: x is the epoch (one full-batch update), loss is
binary cross-entropy in nats, accuracy is the share of borrowers classified correctly.
One colour per learning rate everywhere (the default run is the lr = 0.1 run, so it is
always blue), from the Okabe-Ito palette, which stays distinguishable with the common
kinds of colour blindness; reference lines (Bayes-optimal, logistic regression, forward
only) are black or grey and differ by line style.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot, no global state),
and :func:`render` writes PNG and SVG without timestamps and with a fixed SVG id salt,
so the same figure gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from .._util.figures import FONT_SIZES
from .._util.palette import OKABE_ITO
from .experiments import (
    Config,
    ForwardVsBackprop,
    Generalisation,
    GradientCheckReport,
    HiddenLayer,
    InsideBackprop,
    LearningRateSweep,
)

#: One colour per learning rate, in every figure.
LR_COLOURS: dict[float, str] = {
    0.001: OKABE_ITO["sky_blue"],
    0.01: OKABE_ITO["green"],
    0.1: OKABE_ITO["blue"],
    1.0: OKABE_ITO["orange"],
    10.0: OKABE_ITO["purple"],
    30.0: OKABE_ITO["vermillion"],
}
FORWARD_ONLY = "#767676"  # grey, 4.5:1 contrast on white
BAYES = OKABE_ITO["black"]
LOGISTIC = OKABE_ITO["vermillion"]
NETWORK = OKABE_ITO["blue"]

LOSS_LABEL = "binary cross-entropy (nats)"
ACC_LABEL = "accuracy (share correct)"
EPOCH_LABEL = "epoch (full-batch updates)"

STYLE = {
    **FONT_SIZES,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "svg.hashsalt": "backprop-lab",
    "svg.fonttype": "path",
}
PNG_DPI = 150


def lr_colour(lr: float) -> str:
    """The colour of learning rate ``lr`` (grey-blue for a rate outside the standard set)."""
    return LR_COLOURS.get(float(lr), "#5A6F8A")


def lr_label(lr: float) -> str:
    return f"lr = {lr:g}"


def _figure(ncols: int = 2, height: float = 3.4, width: float = 9.0) -> tuple[Figure, list]:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def render(fig: Figure) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of ``fig``, reproducible byte for byte."""
    engine = fig.get_layout_engine()
    with matplotlib.rc_context(STYLE):
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        # The layout is now computed; keep it for the SVG instead of solving it again.
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            fig.set_layout_engine(engine)
    return png.getvalue(), svg.getvalue()


def _plain_log_ticks(ax: object) -> None:
    """Label a log-scale y axis 0.5, 0.7, 1, 2, ... instead of 5 x 10^-1."""
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _epochs(values: Sequence[float]) -> np.ndarray:
    return np.arange(len(values))


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
