"""The report's sections on the tutorial: one builder per section, and the pieces they share.

A builder ``builder(context) -> Section`` first puts every number it will state into
``section.metrics`` (plain JSON values), then writes its sentences from that dict.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from ..data.synthetic import FEATURES
from . import figures
from .experiments import (
    Config,
    LearningRateSummary,
    LearningRateSweep,
    Results,
)

#: What the tutorial reports (read off its text and Figures 1-3), for comparison.
TUTORIAL = {
    "forward_only_loss": 0.69,
    "forward_only_accuracy": 0.53,
    "backprop_accuracy": 0.68,
    "learning_rate_order": "0.001 slowest, 0.1 fastest",
}
#: Two numbers "agree" when they differ by at most this much.
AGREEMENT = 0.02
#: The report calls a model calibrated within groups when mean predicted and observed
#: default rates differ by at most this much in every group.
CALIBRATED_WITHIN = 0.05

FEATURE_MEANING = {
    "age": "age (years)",
    "annual_income": "annual income (currency units)",
    "debt_to_income": "debt payments / income (ratio)",
    "credit_history_years": "length of credit history (years)",
    "late_payments": "late payments on record (count)",
    "home_owner": "owns a home (1 = yes)",
    "employment_years": "years in current employment",
}


# ---------------------------------------------------------------------------------------
# The pieces of a report
# ---------------------------------------------------------------------------------------
@dataclass
class FigureSpec:
    """A figure: file stem ``name``, a caption, and the matplotlib figure."""

    name: str
    caption: str
    figure: Figure = field(repr=False)


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of the report. ``metrics`` must hold every number the text states."""

    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    equations: list[str] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportContext:
    """What every builder can read: the settings and every experiment's results."""

    config: Config
    results: Results


SectionBuilder = Callable[[ReportContext], Section]


# ---------------------------------------------------------------------------------------
# Numbers: JSON-safe values and how the text prints them
# ---------------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinity become None, NumPy scalars become Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot put {type(value).__name__} into metrics.json")


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def f4(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def sci(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def pp(x: float) -> str:
    """A difference of two shares in percentage points, e.g. '1.3 pp'."""
    return f"{100 * x:.1f} pp"


def lr_key(lr: float) -> str:
    return f"{lr:g}"


# ---------------------------------------------------------------------------------------
# Section builders
# ---------------------------------------------------------------------------------------
def about_section(ctx: ReportContext) -> Section:
    c = ctx.config
    m = {
        "version": __version__,
        "command": f"backprop-lab reproduce --seed {c.seed} --n {c.n} --epochs {c.epochs}",
    }
    return Section(
        id="about",
        title="About this report",
        paragraphs=[
            "This report retraces a backpropagation tutorial step by step: a small network "
            "learns to predict which borrowers default on a loan, with its forward and "
            "backward passes written out by hand. Every number and figure below was "
            f"computed by backprop-lab {m['version']} when this page was made, with fixed "
            "seeds, so running the same command again gives the same numbers.",
            f"Command: {m['command']}. All numbers are also in metrics.json, and every "
            "figure is saved beside this page as PNG and SVG.",
        ],
        metrics=m,
    )


def data_section(ctx: ReportContext) -> Section:
    d = ctx.results.data
    m = {
        "n": d.n,
        "n_train": d.n_train,
        "n_test": d.n_test,
        "seed": d.seed,
        "default_rate": d.default_rate,
        "default_rate_train": d.default_rate_train,
        "default_rate_test": d.default_rate_test,
        "test_share": ctx.config.test_size,
        "features": [asdict(f) for f in d.features],
        "bayes": asdict(d.bayes),
    }
    rows = []
    for f in m["features"]:
        digits = 0 if f["name"] == "annual_income" else 2
        rows.append(
            [f["name"], FEATURE_MEANING.get(f["name"], "")]
            + [f"{f[k]:,.{digits}f}" for k in ("mean", "std", "min", "median", "max")]
        )
    return Section(
        id="data",
        title="The data: synthetic borrowers",
        paragraphs=[
            f"{d.n:,} synthetic borrowers (seed {d.seed}), each described by seven features. "
            f"{100 * d.default_rate:.1f}% of them defaulted. A stratified "
            f"{100 * m['test_share']:.0f}% "
            f"({d.n_test:,} borrowers, {100 * d.default_rate_test:.1f}% defaults) is held "
            f"out as a test set that training never sees; the other {d.n_train:,} train the "
            "network. Features are standardised, (x − mean) / sd, with the training set's "
            "mean and sd only.",
            "Because the data are synthetic, each borrower's true probability of default is "
            "known. That tells us the best any model can do: the Bayes-optimal classifier "
            "(predict default when that probability exceeds 1/2) scores "
            f"{f3(d.bayes.test_accuracy)} accuracy on the test set, and the true "
            f"probabilities have a test log loss of {f4(d.bayes.test_log_loss)} nats. Defaults "
            "are partly luck, so no model can be right about every borrower; these are the "
            "ceilings the experiments are measured against.",
        ],
        tables=[
            Table(
                caption=f"The seven features over all {d.n:,} borrowers (sd: standard deviation).",
                columns=["feature", "meaning", "mean", "sd", "min", "median", "max"],
                rows=rows,
            )
        ],
        metrics=m,
    )


def network_section(ctx: ReportContext) -> Section:
    c = ctx.config
    n_params = (len(FEATURES) + 1) * c.hidden + (c.hidden + 1)
    m = {
        "architecture": c.architecture,
        "n_parameters": n_params,
        "init_scale": c.init_scale,
        "lr": c.lr,
        "epochs": c.epochs,
    }
    return Section(
        id="network",
        title=f"The network: {c.architecture}",
        paragraphs=[
            f"Seven inputs feed {c.hidden} hidden units with a ReLU activation, which feed one "
            f"output unit with a sigmoid: {n_params} weights and biases in all. The forward "
            "pass turns a borrower into a probability of default; the loss measures how "
            "surprised the network is by the true labels; the backward pass applies the "
            "chain rule from the loss down to every weight; gradient descent takes a small "
            "step against that gradient.",
            f"As in the tutorial, weights start small, {c.init_scale:g} × N(0, 1), biases "
            f"start at 0, and every epoch is one full-batch step with learning rate lr "
            f"(default {c.lr:g}, {c.epochs} epochs).",
        ],
        equations=[
            "forward    z1 = X W1 + b1        h = ReLU(z1) = max(0, z1)",
            "           z2 = h W2 + b2        ŷ = sigmoid(z2) = 1 / (1 + e^(−z2))",
            "loss       J  = −(1/N) Σ [ y log ŷ + (1 − y) log(1 − ŷ) ]       (nats)",
            "backward   δ2 = (ŷ − y) / N      ∂J/∂W2 = hᵀ δ2       ∂J/∂b2 = Σ δ2",
            "           δ1 = (δ2 W2ᵀ) ⊙ [z1 > 0]    ∂J/∂W1 = Xᵀ δ1    ∂J/∂b1 = Σ δ1",
            "update     W ← W − lr ∂J/∂W,   b ← b − lr ∂J/∂b",
        ],
        figures=[
            FigureSpec(
                "network",
                f"The {c.architecture} network. Every line is one weight.",
                figures.network_diagram(c, FEATURES),
            )
        ],
        metrics=m,
    )


def forward_backprop_section(ctx: ReportContext) -> Section:
    r = ctx.results.forward_vs_backprop
    fo, bp = r.forward_only, r.backprop
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "engine": ctx.results.run.engine,
        "forward_only": {
            "loss_first": fo.loss[0],
            "loss_last": fo.loss[-1],
            "loss_range": r.forward_only_loss_range,
            "all_losses_identical": len(set(fo.loss)) == 1,
            "weights_unchanged": r.forward_only_weights_unchanged,
            "accuracy_first": fo.accuracy[0],
            "accuracy_last": fo.accuracy[-1],
            "loss": fo.loss,
            "accuracy": fo.accuracy,
        },
        "backprop": {
            "loss_first": bp.loss[0],
            "loss_last": bp.loss[-1],
            "accuracy_first": bp.accuracy[0],
            "accuracy_last": bp.accuracy[-1],
            "loss": bp.loss,
            "accuracy": bp.accuracy,
        },
        "textbook_vs_engine": {
            "max_abs_diff_loss": r.max_abs_diff_loss,
            "max_abs_diff_accuracy": r.max_abs_diff_accuracy,
        },
        "share_predicted_default": r.share_predicted_default,
        "initial_output_spread": r.initial_output_spread,
        "ln2": math.log(2.0),
    }
    flat = (
        f"the loss is {f4(fo.loss[0])} nats in every one of the {r.epochs} epochs (largest "
        f"minus smallest: exactly {r.forward_only_loss_range:g})"
        if m["forward_only"]["all_losses_identical"]
        else f"the loss moves by {sci(r.forward_only_loss_range)} over {r.epochs} epochs"
    )
    unchanged = (
        "the weights after the last epoch are bit-for-bit the initial weights"
        if r.forward_only_weights_unchanged
        else "yet the weights changed, which should not happen"
    )
    return Section(
        id="forward_vs_backprop",
        title="1. Forward passes alone learn nothing",
        paragraphs=[
            "Both runs start from the same initial weights and see the same data. The first "
            "only runs the forward pass each epoch; the second also runs the backward pass "
            f"and updates the weights (lr = {r.lr:g}).",
            f"Forward passes only: {flat}, and accuracy stays at {f3(fo.accuracy[0])}; "
            f"{unchanged}. Without a backward pass there is no gradient, and without a "
            "gradient nothing tells the weights which way to move. With backprop the loss "
            f"falls from {f4(bp.loss[0])} to {f4(bp.loss[-1])} and training accuracy rises "
            f"from {f3(bp.accuracy[0])} to {f3(bp.accuracy[-1])}.",
            f"Why {f3(m['ln2'])} at the start: with weights of size {ctx.config.init_scale:g} every "
            f"output ŷ is within {sci(r.initial_output_spread)} of 1/2, and the loss of "
            f"predicting 1/2 is −log(1/2) = ln 2 = {f4(m['ln2'])} nats, a coin toss.",
            "The curves come from the package's engine (training.train). The tutorial's "
            "own loop, written out by hand in textbook.train_model, gives the same numbers: "
            f"the largest difference over both runs and all epochs is "
            f"{r.max_abs_diff_loss:.1e} in loss and {r.max_abs_diff_accuracy:g} in accuracy "
            "(the circles in the figure).",
        ],
        figures=[
            FigureSpec(
                "forward_vs_backprop",
                "The tutorial's Figures 1 and 2: training loss and accuracy per epoch, "
                "forward passes only (grey, flat) against forward + backprop (blue). Circles: "
                "the hand-written textbook loop.",
                figures.forward_vs_backprop(r),
            )
        ],
        metrics=m,
    )


def _rate_metrics(s: LearningRateSummary, runs: list, large: bool) -> dict[str, Any]:
    entry = asdict(s)
    entry["runs"] = [
        {
            "seed": run.seed,
            "status": run.status,
            "epochs_run": len(run.loss),
            "diverged_at": run.diverged_at,
            "divergence_reason": run.divergence_reason,
            "final_loss": run.final_loss,
            "final_accuracy": run.final_accuracy,
            # per-seed curves only where no mean is drawn (large rates)
            **({"loss": run.loss} if large else {}),
        }
        for run in runs
    ]
    return entry


def ordered_slow_to_fast(sweep: LearningRateSweep) -> bool:
    """True when the final mean loss strictly falls as the (standard) learning rate grows."""
    finals = [sweep.summary(lr).final_loss_mean for lr in sorted(sweep.learning_rates)]
    return all(f is not None for f in finals) and all(a > b for a, b in itertools.pairwise(finals))


def _describe_large_rate(s: LearningRateSummary, n_seeds: int, factor: float) -> str:
    if s.verdict == "diverged":
        first, last = min(s.diverged_at), max(s.diverged_at)
        when = f"epoch {first}" if first == last else f"epochs {first} to {last}"
        return (
            f"at lr {s.lr:g}, {s.n_diverged} of {n_seeds} runs diverged ({when}): the loss "
            f"grew past {factor:g} times its first value, so training stopped and "
            "the run has no final loss (null in metrics.json)"
        )
    if s.verdict == "unstable":
        return (
            f"at lr {s.lr:g} the loss ends at {f4(s.final_loss_mean)}, above where it "
            f"started ({f4(s.first_loss_mean)}): each step overshoots the valley and the loss "
            "bounces instead of falling"
        )
    return f"at lr {s.lr:g} training still works (final loss {f4(s.final_loss_mean)})"


def learning_rate_section(ctx: ReportContext) -> Section:
    sw = ctx.results.learning_rates
    rates = sw.learning_rates
    entries = [
        _rate_metrics(sw.summary(lr), sw.runs_for(lr), lr in sw.large_learning_rates)
        for lr in [*rates, *sw.large_learning_rates]
    ]
    ordered = ordered_slow_to_fast(sw)
    m = {
        "epochs": sw.epochs,
        "seeds": sw.seeds,
        "learning_rates": rates,
        "large_learning_rates": sw.large_learning_rates,
        "rates": entries,
        "final_loss_mean": {lr_key(e["lr"]): e["final_loss_mean"] for e in entries},
        "verdict": {lr_key(e["lr"]): e["verdict"] for e in entries},
        "ordered_slow_to_fast": ordered,
        "divergence_factor": ctx.config.divergence_factor,
    }
    parts = ", ".join(
        f"{f4(s.final_loss_mean)} ± {f4(s.final_loss_sd)} at lr {s.lr:g}"
        for s in (sw.summary(lr) for lr in rates)
    )
    order_text = (
        "the larger the step, the lower the loss after the same number of epochs, as in "
        "the tutorial's Figure 3"
        if ordered
        else "the losses are not ordered by step size here, unlike the tutorial's Figure 3"
    )
    slow = sw.summary(min(rates))
    large = [
        _describe_large_rate(sw.summary(lr), len(sw.seeds), m["divergence_factor"])
        for lr in sw.large_learning_rates
    ]
    paragraphs = [
        f"Each learning rate trains {len(sw.seeds)} times, with seeds {sw.seeds[0]} to "
        f"{sw.seeds[-1]} (each seed draws its own borrowers, split and initial weights). "
        f"After {sw.epochs} epochs the mean training loss (± one standard deviation over "
        f"seeds) is {parts}: {order_text}.",
        f"At lr {slow.lr:g} the loss has barely moved from {f4(slow.first_loss_mean)}: "
        "starting from tiny weights, the gradient is tiny too (see section 6), and a small "
        "step times a tiny gradient leaves the network on the starting plateau for a long time.",
    ]
    if large:
        paragraphs.append(
            "Bigger steps help only up to a point: " + "; ".join(large) + ". A diverged run "
            "is drawn up to its last finite loss and marked with a cross."
        )
    table_rows = []
    for e in entries:
        status = e["verdict"]
        if e["n_diverged"]:
            status += f" ({e['n_diverged']} of {len(e['runs'])}, epoch {min(e['diverged_at'])}+)"
        table_rows.append(
            [
                f"{e['lr']:g}",
                f"{f4(e['first_loss_mean'])}",
                f"{f4(e['final_loss_mean'])} ± {f4(e['final_loss_sd'])}"
                if e["final_loss_mean"] is not None
                else "none (diverged)",
                f"{f3(e['final_accuracy_mean'])} ± {f3(e['final_accuracy_sd'])}"
                if e["final_accuracy_mean"] is not None
                else "none",
                status,
            ]
        )
    return Section(
        id="learning_rates",
        title="2. The learning rate sets the pace, until it breaks training",
        paragraphs=paragraphs,
        figures=[
            FigureSpec(
                "learning_rates",
                f"The tutorial's Figure 3: training loss and accuracy for three learning rates, "
                f"mean over {len(sw.seeds)} seeds with a band of ± one standard deviation.",
                figures.learning_rates(sw),
            ),
            FigureSpec(
                "learning_rate_stability",
                "Left: large learning rates over the first epochs, one line per seed (log "
                "scale); crosses mark where a run diverged. Right: the loss after the last "
                "epoch against the learning rate; diverged rates are crosses at the top.",
                figures.learning_rate_stability(sw),
            ),
        ],
        tables=[
            Table(
                caption=f"Training loss and accuracy after {sw.epochs} epochs, mean ± sd over "
                f"{len(sw.seeds)} seeds.",
                columns=["learning rate", "first loss", "final loss", "final accuracy", "verdict"],
                rows=table_rows,
            )
        ],
        metrics=m,
    )


def gradient_check_section(ctx: ReportContext) -> Section:
    g = ctx.results.gradient_check
    n_params = sum(r.checked + r.kinks_excluded for r in g.at_init)
    m = {
        "threshold": g.threshold,
        "eps": g.eps,
        "n_rows": g.n_rows,
        "n_parameters": n_params,
        "max_rel_error": g.max_rel_error,
        "passed": g.passed,
        "at_init": [asdict(r) for r in g.at_init],
        "trained": [asdict(r) for r in g.trained],
        "kinks_at_init": sum(r.kinks_excluded for r in g.at_init),
        "kinks_trained": sum(r.kinks_excluded for r in g.trained),
    }
    verdict = (
        f"below the {g.threshold:g} threshold: backprop's gradients are right"
        if g.passed
        else f"above the {g.threshold:g} threshold: look for a bug in the backward pass"
    )
    rows = [
        [
            a.param,
            a.shape,
            sci(a.max_rel_error),
            str(a.kinks_excluded),
            sci(t.max_rel_error),
            str(t.kinks_excluded),
        ]
        for a, t in zip(g.at_init, g.trained, strict=True)
    ]
    return Section(
        id="gradient_check",
        title="3. Checking backprop against finite differences",
        paragraphs=[
            f"Backprop is easy to get subtly wrong, so we check it. For each of the {n_params} "
            f"weights and biases θ in turn, we nudge it by ±h (h = {g.eps:g}), recompute the "
            "loss on all "
            f"{g.n_rows:,} training rows, and compare the slope (J(θ + h) − J(θ − h)) / 2h with "
            "the gradient from the backward pass, as a relative error |a − n| / (|a| + |n|).",
            f"Largest relative error, at the initial and at the trained weights: "
            f"{sci(g.max_rel_error)}, {verdict}. A nudge that pushes some hidden unit's input "
            "across 0 measures the ReLU's kink rather than its slope; those entries "
            f"({m['kinks_at_init']} at initialisation, {m['kinks_trained']} after training) "
            "are left out and counted.",
        ],
        figures=[
            FigureSpec(
                "gradient_check",
                "Largest relative error per parameter array; every entry was checked. "
                f"Below {g.threshold:g} (dashed line) the gradient is right.",
                figures.gradient_check(g),
            )
        ],
        tables=[
            Table(
                caption=f"Gradient check (h = {g.eps:g}, pass below {g.threshold:g}).",
                columns=[
                    "parameter",
                    "shape",
                    "max rel. error (initial)",
                    "kinks left out",
                    "max rel. error (trained)",
                    "kinks left out",
                ],
                rows=rows,
            )
        ],
        metrics=m,
    )


def generalisation_section(ctx: ReportContext) -> Section:
    r = ctx.results.generalisation
    gap = r.gap_to_bayes_accuracy
    last = r.epochs - 1
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "final_train_loss": r.final_train_loss,
        "final_train_accuracy": r.final_train_accuracy,
        "final_test_loss": r.final_test_loss,
        "final_test_accuracy": r.final_test_accuracy,
        "bayes_test_accuracy": r.bayes.test_accuracy,
        "bayes_test_log_loss": r.bayes.test_log_loss,
        "gap_to_bayes_accuracy": gap,
        "within_2pp_of_bayes": abs(gap) <= 0.02,
        "logistic_test_accuracy": r.logistic.test_accuracy,
        "logistic_test_log_loss": r.logistic.test_log_loss,
        "best_test_loss": r.best_test_loss,
        "best_test_loss_epoch": r.best_test_loss_epoch,
        "n_train": ctx.results.data.n_train,
        "n_parameters": _n_params(ctx),
        "train_loss": r.train_loss,
        "train_accuracy": r.train_accuracy,
        "test_loss": r.test_loss,
        "test_accuracy": r.test_accuracy,
    }
    if gap >= 0:
        vs_bayes = f"{pp(gap)} below the Bayes-optimal {f3(r.bayes.test_accuracy)}"
    else:
        vs_bayes = (
            f"{pp(-gap)} above the Bayes-optimal {f3(r.bayes.test_accuracy)}: on a finite "
            "test set a model can beat the ceiling by luck, though not on average"
        )
    overfit = (
        "The test loss is still at its lowest in the last epoch, so after "
        f"{r.epochs} epochs there is no sign of overfitting"
        if r.best_test_loss_epoch == last
        else f"The test loss was lowest ({f4(r.best_test_loss)}) at epoch "
        f"{r.best_test_loss_epoch} and ends {f4(r.test_loss[-1] - r.best_test_loss)} higher: "
        "the start of overfitting"
    )
    lin = r.logistic
    return Section(
        id="generalisation",
        title="4. Does it generalise? Train, test and the Bayes ceiling",
        paragraphs=[
            "Training loss says how well the network fits the borrowers it learnt from; the "
            "held-out test set says how well it predicts new ones.",
            f"After {r.epochs} epochs at lr {r.lr:g} the network's test accuracy is "
            f"{f3(r.final_test_accuracy)}, {vs_bayes}. Its test loss is "
            f"{f4(r.final_test_loss)} nats against the true probabilities' "
            f"{f4(r.bayes.test_log_loss)}. Training accuracy is {f3(r.final_train_accuracy)}. "
            f"{overfit}: {m['n_train']:,} training rows are plenty for "
            f"{m['n_parameters']} parameters.",
            f"Logistic regression (scikit-learn) on the same split scores {f3(lin.test_accuracy)} "
            f"accuracy and {f4(lin.test_log_loss)} log loss. In this data the true risk is a "
            "weighted sum of the features passed through a sigmoid, which is exactly a "
            "logistic regression, so the hidden layer has nothing extra to find here. "
            "Section 5 changes that.",
        ],
        figures=[
            FigureSpec(
                "generalisation",
                "Training (solid) and held-out test (dashed) loss and accuracy per epoch, with "
                "the Bayes-optimal values (dotted) and logistic regression (dash-dot) on the "
                "test set.",
                figures.generalisation(r),
            )
        ],
        metrics=m,
    )


def _n_params(ctx: ReportContext) -> int:
    return (len(FEATURES) + 1) * ctx.config.hidden + ctx.config.hidden + 1


def hidden_layer_section(ctx: ReportContext) -> Section:
    r = ctx.results.hidden_layer
    nl, li = r.nonlinear, r.linear
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "status": r.nonlinear_status,
        "linear": {k: asdict(v) for k, v in li.items()},
        "nonlinear": {k: asdict(v) for k, v in nl.items()},
        "nonlinear_gap_logistic": nl["bayes"].test_accuracy - nl["logistic"].test_accuracy,
        "nonlinear_gap_network": nl["bayes"].test_accuracy - nl["network"].test_accuracy,
        "linear_gap_logistic": li["bayes"].test_accuracy - li["logistic"].test_accuracy,
        "linear_gap_network": li["bayes"].test_accuracy - li["network"].test_accuracy,
        "test_loss": r.nonlinear_test_loss,
        "test_accuracy": r.nonlinear_test_accuracy,
        "train_loss": r.nonlinear_train_loss,
    }
    beats = nl["network"].test_accuracy > nl["logistic"].test_accuracy
    verdict = (
        f"The network closes most of that gap: {f3(nl['network'].test_accuracy)}, "
        f"{pp(m['nonlinear_gap_network'])} below Bayes, with test log loss "
        f"{f4(nl['network'].test_log_loss)} against logistic regression's "
        f"{f4(nl['logistic'].test_log_loss)} and the ceiling's {f4(nl['bayes'].test_log_loss)}. "
        f"Its {ctx.config.hidden} ReLU units are {ctx.config.hidden} bent lines, and sums of "
        "bent lines can follow a U or a threshold."
        if beats
        else f"Here the network does not do better ({f3(nl['network'].test_accuracy)}): "
        f"it may need more epochs than the {r.epochs} it had."
    )
    return Section(
        id="hidden_layer",
        title="5. Why a hidden layer: risk that is not a straight line",
        paragraphs=[
            "The same generator can make risk curved: higher for the young and the old than "
            "for the middle-aged (a U in age), jumping at a debt-to-income threshold and at "
            "three late payments, and worse still when high debt meets low income. The "
            f"network trains on it with the same learning rate for {r.epochs} epochs (a "
            "curved surface takes longer to fit).",
            "Logistic regression can only draw a straight boundary. On this data it reaches "
            f"{f3(nl['logistic'].test_accuracy)} test accuracy, {pp(m['nonlinear_gap_logistic'])} "
            f"below the Bayes-optimal {f3(nl['bayes'].test_accuracy)}. {verdict}",
            f"On the default, linear data the three stand within "
            f"{pp(max(abs(m['linear_gap_logistic']), abs(m['linear_gap_network'])))} of each "
            "other: a hidden layer pays off only when the truth is not linear.",
        ],
        figures=[
            FigureSpec(
                "hidden_layer",
                "Left: held-out accuracy of logistic regression, the network and the "
                "Bayes-optimal classifier on linear and on nonlinear risk. Right: the "
                "network's test loss on the nonlinear data as it trains.",
                figures.hidden_layer(r),
            )
        ],
        metrics=m,
    )


def inside_backprop_section(ctx: ReportContext) -> Section:
    r = ctx.results.inside_backprop
    dead = np.asarray(r.dead_share)
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "n_hidden": r.n_hidden,
        "layer_norms": r.layer_norms,
        "param_norms": r.param_norms,
        "layer1_norm_first": r.layer_norms["layer 1"][0],
        "layer2_norm_first": r.layer_norms["layer 2"][0],
        "first_ratio": r.first_ratio,
        "peak_epoch": r.peak_epoch,
        "peak_norm": r.peak_norm,
        "steepest_epoch": r.steepest_epoch,
        "steepest_drop": r.steepest_drop,
        "dead_share": r.dead_share,
        "max_dead_share": float(dead.max()),
        "max_dead_epoch": int(dead.argmax()),
        "final_dead_share": r.final_dead_share,
    }
    if m["max_dead_share"] == 0:
        dead_text = (
            f"None of the {r.n_hidden} hidden units died: at every epoch each one is active "
            "(outputs more than 0) for some training borrower, so each still receives a "
            "gradient. A unit whose input is negative for every row outputs 0, passes back "
            "a zero gradient and can never recover; large learning rates make that more likely."
        )
    else:
        dead_text = (
            f"Up to {100 * m['max_dead_share']:.0f}% of the {r.n_hidden} hidden units were "
            f"dead (epoch {m['max_dead_epoch']}); at the end {100 * r.final_dead_share:.0f}% "
            "are. A dead unit's input is negative for every row, so it outputs 0, passes back "
            "a zero gradient and can never recover."
        )
    return Section(
        id="inside_backprop",
        title="6. Inside backprop: how big the gradients are, and dead units",
        paragraphs=[
            f"At the first epoch the gradient reaching layer 1 is {r.first_ratio:.2f} times "
            f"the size of layer 2's ({sci(m['layer1_norm_first'])} against "
            f"{sci(m['layer2_norm_first'])}). The backward pass multiplies each hidden unit's "
            "error signal by that unit's outgoing weight in W2, and those start near "
            f"{ctx.config.init_scale:g}. So the first epochs mostly grow W2; as W2 grows, "
            f"more signal flows down to W1. Layer 1's gradient peaks at epoch {r.peak_epoch}, "
            f"close to where the loss falls fastest (epoch {r.steepest_epoch}, a drop of "
            f"{f4(r.steepest_drop)} in one step); after that both gradients shrink as the "
            "network settles into a minimum.",
            dead_text,
        ],
        figures=[
            FigureSpec(
                "inside_backprop",
                "Left: size of each layer's gradient per epoch (log scale); the dotted line "
                "marks the epoch of the steepest fall in loss. Right: the share of hidden "
                "units that output 0 for every training borrower.",
                figures.inside_backprop(r),
            )
        ],
        metrics=m,
    )


def tutorial_section(ctx: ReportContext) -> Section:
    res = ctx.results
    fb, sw, d = res.forward_vs_backprop, res.learning_rates, res.data
    ours = {
        "forward_only_loss": fb.forward_only.loss[-1],
        "forward_only_accuracy": fb.forward_only.accuracy[-1],
        "backprop_accuracy": fb.backprop.accuracy[-1],
        "learning_rate_final_losses": {
            lr_key(lr): sw.summary(lr).final_loss_mean for lr in sw.learning_rates
        },
    }
    ordered = ordered_slow_to_fast(sw)
    agree = {
        k: abs(ours[k] - TUTORIAL[k]) <= AGREEMENT
        for k in ("forward_only_loss", "forward_only_accuracy", "backprop_accuracy")
    }
    agree["learning_rate_order"] = ordered
    m = {
        "tutorial": TUTORIAL,
        "ours": ours,
        "agree": agree,
        "agreement_tolerance": AGREEMENT,
        "share_predicted_default": fb.share_predicted_default,
        "default_rate_train": d.default_rate_train,
        "bayes_train_accuracy": d.bayes.train_accuracy,
        "ln2": math.log(2.0),
    }
    reaches = ours["backprop_accuracy"] >= d.bayes.train_accuracy - AGREEMENT

    def word(ok: bool) -> str:
        return "agree" if ok else "differ"

    order_ours = ", ".join(f"{k}: {f4(v)}" for k, v in ours["learning_rate_final_losses"].items())
    rows = [
        [
            "forward-only loss (nats)",
            f"≈ {TUTORIAL['forward_only_loss']:g}",
            f4(ours["forward_only_loss"]),
            word(agree["forward_only_loss"]),
        ],
        [
            "forward-only accuracy",
            f"≈ {TUTORIAL['forward_only_accuracy']:g}",
            f3(ours["forward_only_accuracy"]),
            word(agree["forward_only_accuracy"]),
        ],
        [
            "backprop training accuracy",
            f"≈ {TUTORIAL['backprop_accuracy']:g}",
            f3(ours["backprop_accuracy"]),
            word(agree["backprop_accuracy"]),
        ],
        [
            "learning rates (final loss)",
            TUTORIAL["learning_rate_order"],
            order_ours,
            word(agree["learning_rate_order"]),
        ],
    ]
    paragraphs = [
        "The forward-only loss "
        + ("agrees" if agree["forward_only_loss"] else "differs")
        + " because it is not really a property of the data: with tiny initial weights every "
        f"prediction is about 1/2, and the loss of predicting 1/2 is ln 2 = {f3(m['ln2'])} "
        "nats for any data set.",
        (
            "The forward-only accuracy is a coin toss in disguise. With every output within "
            "a hair of 1/2, which side of 1/2 each one falls on is decided by the random "
            f"initial weights: our untrained network calls {100 * m['share_predicted_default']:.0f}"
            f"% of training borrowers defaults (the true rate is "
            f"{100 * d.default_rate_train:.0f}%), and scores {f3(ours['forward_only_accuracy'])}. "
            f"The tutorial's {TUTORIAL['forward_only_accuracy']:g} came from its own draw. "
            + (
                "Here the two happen to agree."
                if agree["forward_only_accuracy"]
                else "Neither number means anything beyond 'no better than guessing'."
            )
        ),
        (
            f"After training, our network reaches {f3(ours['backprop_accuracy'])} training "
            f"accuracy against the tutorial's {TUTORIAL['backprop_accuracy']:g}. Our data "
            "set lets this go as high as its Bayes-optimal accuracy "
            f"({f3(d.bayes.train_accuracy)} on the training set), which the network "
            + ("reaches; " if reaches else "approaches; ")
            + "the tutorial's data, its number of epochs and its learning rate differ, and its "
            "ceiling is unknown, so its lower figure is not a sign that either is wrong."
            if not agree["backprop_accuracy"]
            else f"After training the two agree ({f3(ours['backprop_accuracy'])} against "
            f"{TUTORIAL['backprop_accuracy']:g})."
        ),
        (
            "Learning rates are ordered as in the tutorial: larger steps, faster learning, "
            "within the stable range. What the tutorial does not show is that the order "
            "stops at some point (section 2)."
            if ordered
            else "Unlike the tutorial, our final losses are not ordered by learning rate."
        ),
    ]
    return Section(
        id="tutorial_comparison",
        title="7. Compared with the tutorial",
        paragraphs=paragraphs,
        tables=[
            Table(
                caption="The tutorial's reported values next to ours (numbers agree when "
                f"they differ by at most {AGREEMENT:g}).",
                columns=["quantity", "tutorial", "this report", "verdict"],
                rows=rows,
            )
        ],
        metrics=m,
    )
