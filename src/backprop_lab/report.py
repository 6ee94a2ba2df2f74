"""The report: a list of sections, each with its title, text, figures, tables and metrics.

A section is built by a function ``builder(context) -> Section``. The builder first
puts every number it will state into ``section.metrics`` (plain JSON values), then
writes its sentences from that dict, so ``metrics.json`` holds every number the report
shows. To add a section, write a builder and pass ``[*SECTION_BUILDERS, builder]`` to
:func:`build_report`; the template loops over sections and needs no change.

Files written by :func:`write_report` into the output folder::

    report.html            one self-contained page (figures embedded as base64 PNG)
    metrics.json           {"config": ..., "<section id>": section.metrics, ...}
    figures/<name>.png     every figure, also as
    figures/<name>.svg

Each is written atomically (temporary file, then rename), report.html last.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from . import __version__, plots, plots_responsible
from .atomic import atomic_write_bytes, atomic_write_text
from .data import FEATURES, TRUE_WEIGHTS
from .experiments import (
    Config,
    LearningRateSummary,
    LearningRateSweep,
    Results,
    planned_runs,
    run_all,
)
from .experiments_responsible import ResponsibleChecks, responsible_checks
from .fairness import ELDERLY_AGE, audit_records

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
                plots.network_diagram(c, FEATURES),
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
                plots.forward_vs_backprop(r),
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
                plots.learning_rates(sw),
            ),
            FigureSpec(
                "learning_rate_stability",
                "Left: large learning rates over the first epochs, one line per seed (log "
                "scale); crosses mark where a run diverged. Right: the loss after the last "
                "epoch against the learning rate; diverged rates are crosses at the top.",
                plots.learning_rate_stability(sw),
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
                plots.gradient_check(g),
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
                plots.generalisation(r),
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
                plots.hidden_layer(r),
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
                plots.inside_backprop(r),
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


def _audit_row(table: Any, metric: str, group: str | None = None) -> dict[str, Any]:
    """One row of an audit table as JSON-safe {value, ci_low, ci_high, note}."""
    rows = table[table["metric"] == metric]
    rows = rows[rows["group"].isna()] if group is None else rows[rows["group"] == group]
    if len(rows) != 1:
        return {"value": None, "ci_low": None, "ci_high": None, "note": "not available"}
    r = rows.iloc[0]
    return json_safe(
        {"value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "note": r["note"]}
    )


def _pp(x: float) -> str:
    """Percentage points to one decimal, never '-0.0'."""
    return f"{round(100 * x, 1) + 0.0:.1f}"


def _pp_ci(row: dict[str, Any], sign: float = 1.0) -> str:
    """A difference of rates in percentage points with its interval: '30.2 pp (95% CI 23.9
    to 37.0 pp)'; ``sign`` -1 states a negative difference as a positive gap."""
    if row["value"] is None:
        return "n/a"
    text = f"{_pp(sign * row['value'])} pp"
    if row["ci_low"] is None or row["ci_high"] is None:
        return text
    lo, hi = sorted((sign * row["ci_low"], sign * row["ci_high"]))
    return f"{text} (95% CI {_pp(lo)} to {_pp(hi)} pp)"


def _pct_ci(row: dict[str, Any]) -> str:
    if row["value"] is None:
        return "n/a"
    text = f"{100 * row['value']:.1f}%"
    if row["ci_low"] is not None and row["ci_high"] is not None:
        text += f" ({100 * row['ci_low']:.1f}–{100 * row['ci_high']:.1f})"
    return text


def _responsible_metrics(r: ResponsibleChecks) -> dict[str, Any]:
    age = r.age_audit
    bands = list(dict.fromkeys(age.loc[age["scope"] == "group", "group"]))
    per_band = {
        band: {
            metric: _audit_row(age, metric, band)
            for metric in (
                "count",
                "default_rate",
                "mean_predicted",
                "selection_rate",
                "true_positive_rate",
                "false_positive_rate",
                "calibration_gap",
            )
        }
        for band in bands
    }
    gaps = [abs(v["calibration_gap"]["value"] or 0.0) for v in per_band.values()]
    planted = []
    for run in r.planted:
        planted.append(
            {
                "planted_bias": run.planted_bias,
                "planted_gap": run.planted_size,
                "demographic_parity_difference": _audit_row(
                    run.table, "demographic_parity_difference"
                ),
                "approval_group_1_minus_group_0": _audit_row(run.table, "selection_rate_diff", "1"),
                "approval_rate": {
                    g: _audit_row(run.table, "selection_rate", g) for g in ("0", "1")
                },
                "records": json_safe(audit_records(run.table)),
            }
        )
    return json_safe(
        {
            "threshold": r.threshold,
            "n_bootstrap": r.n_bootstrap,
            "confidence": age.attrs["confidence"],
            "ig_steps": r.ig_steps,
            "n_test": r.n_test,
            "age_bands": bands,
            "age_reference_band": age.attrs["reference"],
            "by_age_band": per_band,
            "age_demographic_parity_difference": _audit_row(age, "demographic_parity_difference"),
            "age_demographic_parity_ratio": _audit_row(age, "demographic_parity_ratio"),
            "age_equal_opportunity_difference": _audit_row(age, "equal_opportunity_difference"),
            "largest_abs_calibration_gap_by_band": max(gaps) if gaps else None,
            "age_audit_records": audit_records(age),
            "regulation_b": None if r.age_check is None else r.age_check.to_dict(),
            "elderly_age": ELDERLY_AGE,
            "true_age_weight": TRUE_WEIGHTS["age"],
            "planted": planted,
            "calibration": r.calibration,
            "reliability": r.reliability.to_dict(orient="records"),
            "importance": r.importance.to_dict(orient="records"),
            "max_completeness_gap": r.max_completeness_gap,
            "baseline_logit": r.baseline_logit,
            "examples": [asdict(e) for e in r.examples],
        }
    )


def _regulation_b_text(m: dict[str, Any]) -> str:
    rb = m["regulation_b"]
    intro = (
        "US Regulation B lets a scoring system use age only if an applicant aged "
        f"{m['elderly_age']} or over never gets a less favourable value for age than the "
        "most favoured younger age class. Integrated gradients measure what age adds to each "
        "test borrower's log-odds of default, against the training-mean borrower "
        f"({m['ig_steps']} steps, more where needed: for every borrower the contributions "
        f"add up to the change in log-odds within {sci(m['max_completeness_gap'])}). "
    )
    if rb is None:
        return intro + "The test set has no borrower under 62 to compare with, so no check."
    if rb["n_elderly"] == 0:
        return intro + f"No test borrower is {m['elderly_age']} or over: nothing to check."
    classes = ", ".join(
        f"{c['class']} {round(c['median_attribution'], 3) + 0.0:+.3f}" for c in rb["classes"]
    )
    text = intro + (
        f"The median contribution of age by younger class is {classes}; the most favoured "
        f"class is {rb['most_favoured_class']}. Age counts less favourably than that for "
        f"{rb['n_adverse']} of the {rb['n_elderly']} test borrowers aged {m['elderly_age']} "
        f"or over, and raises the risk of {rb['n_raises_risk']} of them at all, "
    )
    direction = "lowers" if m["true_age_weight"] < 0 else "raises"
    if rb["passed"]:
        return text + (
            f"so the check passes. In this data age {direction} the risk (its true weight is "
            f"{m['true_age_weight']:+g} per standard deviation)."
        )
    return text + (
        f"so the check fails for them. In this data age {direction} the risk (its true weight "
        f"is {m['true_age_weight']:+g} per standard deviation), but a network can bend that "
        "for a few borrowers through its interactions between features, which is why the "
        "check looks at every elderly applicant and not at an average."
    )


def responsible_section(ctx: ReportContext) -> Section:
    r = responsible_checks(ctx.config, ctx.results.split, ctx.results.run)
    m = _responsible_metrics(r)
    bands = m["by_age_band"]
    dp_age = m["age_demographic_parity_difference"]
    first_band, last_band = m["age_bands"][0], m["age_bands"][-1]
    biased, control = m["planted"]
    cal = m["calibration"]
    imp = m["importance"]
    level = f"{m['confidence']:.0%}"

    def approval(band: str) -> str:
        return _pct_ci(bands[band]["selection_rate"])

    bias_diff = biased["approval_group_1_minus_group_0"]
    control_diff = control["approval_group_1_minus_group_0"]
    control_covers = (
        control_diff["ci_low"] is not None
        and control_diff["ci_low"] <= 0 <= control_diff["ci_high"]
    )
    found = (
        bias_diff["ci_high"] is not None and bias_diff["ci_high"] < 0
    )  # group 1 approved less, beyond resampling noise
    worst = m["largest_abs_calibration_gap_by_band"]
    band_calibration = (
        f"The network's mean prediction is within {pp(worst)} of the observed default rate "
        "in every band: it is calibrated within each band, not only overall."
        if worst is not None and worst <= CALIBRATED_WITHIN
        else f"The network's mean prediction misses the observed default rate by up to "
        f"{pp(worst or 0.0)} in a band: it is not calibrated within bands."
    )
    top3 = ", ".join(f"{row['feature']} ({row['mean_abs_attribution']:.2f})" for row in imp[:3])
    paragraphs = [
        "The tutorial ends with a warning: backpropagation learns whatever the data holds, "
        "bias included, so a lender must check how a model treats groups of applicants and "
        "be able to explain each decision. These are those checks, on the default network "
        f"and its {m['n_test']:,} test borrowers. A borrower is approved when the predicted "
        f"probability of default is below {m['threshold']:g}; intervals are {level} "
        f"bootstrap intervals from {m['n_bootstrap']} resamples within each group.",
        f"By age band, approval ranges from {approval(first_band)} for {first_band} to "
        f"{approval(last_band)} for {last_band}: a demographic-parity difference (largest "
        f"minus smallest approval rate) of {_pp_ci(dp_age)}. Such a gap is not by itself "
        "evidence of unfair treatment: in this data older borrowers have longer credit "
        "histories, more years in employment and higher incomes, and age itself lowers the "
        "risk, so the observed default rates differ by band too (table below). "
        + band_calibration
        + " What the gap does show is how differently the bands are treated, which a lender "
        "must be able to justify.",
        _regulation_b_text(m),
        "Planted bias. The same borrowers are drawn again with a group label (30% of them, "
        "independent of every feature) and the group members' log-odds of default raised "
        f"by {biased['planted_bias']:g}, which costs them {pp(biased['planted_gap'])} of "
        "approval for a lender who knew the true probabilities. The same network, trained "
        "on the seven features and the group label, "
        + (
            f"approves group 1 {_pp_ci(bias_diff, sign=-1.0)} less often than group 0. "
            if bias_diff["value"] is not None and bias_diff["value"] < 0
            else "gives group 1 an approval rate that differs from group 0's by "
            f"{_pp_ci(bias_diff)}. "
        )
        + (
            "Backprop found the bias in the data and reproduced it. "
            if found
            else "At this data size the audit cannot tell that gap from noise. "
        )
        + "Trained on the same draw without the bias, the difference is "
        f"{_pp_ci(control_diff)}"
        + (
            ", an interval that covers zero."
            if control_covers
            else ", an interval that misses zero by chance here."
        ),
        f"Calibration on the test set: Brier score {f4(cal['brier_score'])}, expected "
        f"calibration error {f4(cal['expected_calibration_error'])} over ten equal-width "
        "bins of predicted probability (the distance between mean predicted and observed "
        "default rate, averaged over the bins with their borrowers as weights), log loss "
        f"{f4(cal['log_loss'])}.",
        "Global importance, the mean absolute integrated-gradient contribution over the "
        f"test borrowers, ranks {top3} highest. The last table gives three borrowers' own "
        "reasons: the features that raised their log-odds of default most, against the "
        f"training-mean borrower (whose log-odds are {m['baseline_logit']:+.2f}).",
    ]
    band_rows = [
        [
            band,
            f"{int(bands[band]['count']['value']):,}",
            f"{100 * bands[band]['default_rate']['value']:.1f}%",
            f"{100 * bands[band]['mean_predicted']['value']:.1f}%",
            _pct_ci(bands[band]["selection_rate"]),
            _pct_ci(bands[band]["true_positive_rate"]),
            _pct_ci(bands[band]["false_positive_rate"]),
        ]
        for band in m["age_bands"]
    ]
    planted_rows = [
        [
            f"planted bias {run['planted_bias']:g}",
            pp(run["planted_gap"]),
            _pp_ci(run["approval_group_1_minus_group_0"]),
            _pp_ci(run["demographic_parity_difference"]),
        ]
        for run in (biased, control)
    ]
    example_rows = [
        [
            f"test borrower {e['row'] + 1} ({e['label']})",
            f"{e['p_default']:.3f}",
            "; ".join(x["reason"] for x in e["reasons"]) or "no feature raised the risk",
        ]
        for e in m["examples"]
    ]
    groups = {
        f"planted bias {biased['planted_bias']:g}": r.planted[0].table,
        "no planted bias": r.planted[1].table,
    }
    return Section(
        id="responsible",
        title="8. Fairness, calibration and reasons",
        paragraphs=paragraphs,
        figures=[
            FigureSpec(
                "fairness_by_age",
                f"Approval rate by age band, overall, among borrowers who repaid and among "
                f"those who defaulted, with {level} bootstrap intervals.",
                plots_responsible.audit_figure(
                    r.age_audit, title="Approval by age band", xlabel="age band"
                ),
            ),
            FigureSpec(
                "planted_bias",
                "Left: approval rate of each group for the network trained with the planted "
                "bias and for the one trained without. Right: the demographic-parity "
                "difference of each, with its interval; the dashed line is the planted gap.",
                plots_responsible.planted_bias_figure(groups, biased["planted_gap"]),
            ),
            FigureSpec(
                "reliability",
                "Reliability diagram of the default network on the test set: observed "
                "default rate against mean predicted probability in ten equal-width bins "
                "(dashed: perfect calibration); below, the borrowers in each bin.",
                plots_responsible.reliability_figure(
                    {"default network": r.reliability},
                    title=f"Reliability: Brier {f4(cal['brier_score'])}, "
                    f"ECE {f4(cal['expected_calibration_error'])}",
                ),
            ),
            FigureSpec(
                "importance",
                "Mean absolute integrated-gradient contribution of each feature to the "
                "log-odds of default, over the test borrowers; hatched red: higher values "
                "raise the risk, blue: they lower it.",
                plots_responsible.importance_figure(
                    r.importance,
                    subtitle=f"mean |integrated gradient| over {m['n_test']:,} test borrowers",
                ),
            ),
        ],
        tables=[
            Table(
                caption=f"Test borrowers by age band; approval rates with {level} intervals.",
                columns=[
                    "age band",
                    "borrowers",
                    "default rate",
                    "mean P(default)",
                    "approval rate",
                    "approval among repaid",
                    "approval among defaulted",
                ],
                rows=band_rows,
            ),
            Table(
                caption="Planted bias: the audit of a network trained with it and of one "
                "trained without it.",
                columns=[
                    "training data",
                    "planted gap",
                    "group 1 minus group 0 approval",
                    "demographic-parity difference",
                ],
                rows=planted_rows,
            ),
            Table(
                caption="Three test borrowers: predicted probability of default and the "
                "features that raised it most (contributions to the log-odds of default).",
                columns=["borrower", "P(default)", "reasons"],
                rows=example_rows,
            ),
        ],
        metrics=m,
    )


#: The report's sections, in order. Extend with ``[*SECTION_BUILDERS, my_builder]``.
SECTION_BUILDERS: list[SectionBuilder] = [
    about_section,
    data_section,
    network_section,
    forward_backprop_section,
    learning_rate_section,
    gradient_check_section,
    generalisation_section,
    hidden_layer_section,
    inside_backprop_section,
    tutorial_section,
    responsible_section,
]


# ---------------------------------------------------------------------------------------
# Assembling and writing
# ---------------------------------------------------------------------------------------
@dataclass
class Report:
    title: str
    sections: list[Section]
    metrics: dict[str, Any]
    figures: dict[str, tuple[bytes, bytes]]  # name -> (PNG, SVG)


def build_metrics(config: Config, sections: Sequence[Section]) -> dict[str, Any]:
    """{"config": ..., section.id: section.metrics, ...}, JSON-safe (no NaN, no inf)."""
    metrics: dict[str, Any] = {"config": {**asdict(config), "seeds": list(config.seeds)}}
    for section in sections:
        if section.id in metrics:
            raise ValueError(f"two sections share the id {section.id!r}")
        metrics[section.id] = section.metrics
    return json_safe(metrics)


def build_sections(
    results: Results, builders: Iterable[SectionBuilder] = SECTION_BUILDERS
) -> list[Section]:
    """Run every builder on ``results``, in order."""
    ctx = ReportContext(config=results.config, results=results)
    return [builder(ctx) for builder in builders]


def render_figures(
    sections: Sequence[Section], on_figure: Callable[[], None] | None = None
) -> dict[str, tuple[bytes, bytes]]:
    """PNG and SVG bytes of every figure, by name (names must be unique)."""
    figures: dict[str, tuple[bytes, bytes]] = {}
    for section in sections:
        for spec in section.figures:
            if spec.name in figures:
                raise ValueError(f"two figures share the name {spec.name!r}")
            figures[spec.name] = plots.render(spec.figure)
            if on_figure is not None:
                on_figure()
    return figures


def build_report(
    results: Results,
    builders: Iterable[SectionBuilder] = SECTION_BUILDERS,
    on_figure: Callable[[], None] | None = None,
) -> Report:
    """Build every section from ``results`` and render its figures."""
    sections = build_sections(results, builders)
    return _assemble(results.config, sections, render_figures(sections, on_figure))


def _assemble(
    config: Config, sections: list[Section], figures: dict[str, tuple[bytes, bytes]]
) -> Report:
    return Report(
        title=f"backprop-lab: the {config.architecture} network on credit-risk data",
        sections=sections,
        metrics=build_metrics(config, sections),
        figures=figures,
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("backprop_lab", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: Report) -> str:
    """The self-contained page: figures inline as base64 PNG, every value escaped."""
    images = {
        name: base64.b64encode(png).decode("ascii") for name, (png, _) in report.figures.items()
    }
    numbering, k = {}, 0
    for section in report.sections:
        for spec in section.figures:
            k += 1
            numbering[spec.name] = k
    widths = {
        spec.name: round(spec.figure.get_figwidth() * 100)
        for section in report.sections
        for spec in section.figures
    }
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=report.title,
        sections=report.sections,
        images=images,
        numbering=numbering,
        widths=widths,
        config=report.metrics["config"],
    )


def metrics_json(metrics: dict[str, Any]) -> str:
    """metrics.json's text; refuses NaN and infinity outright."""
    return json.dumps(metrics, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write figures, metrics.json, then report.html into ``out_dir``; return their paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    paths: dict[str, Path] = {}
    for name, (png, svg) in report.figures.items():
        for ext, data in (("png", png), ("svg", svg)):
            path = out / "figures" / f"{name}.{ext}"
            atomic_write_bytes(path, data)
            paths[f"{name}.{ext}"] = path
    paths["metrics.json"] = out / "metrics.json"
    atomic_write_text(paths["metrics.json"], metrics_json(report.metrics))
    paths["report.html"] = out / "report.html"
    atomic_write_text(paths["report.html"], render_html(report))
    return paths


@dataclass
class Outcome:
    report: Report
    paths: dict[str, Path]
    seconds: float


def reproduce(
    config: Config | None = None,
    out_dir: str | Path = "backprop-lab-report",
    *,
    progress: bool = False,
    builders: Iterable[SectionBuilder] = SECTION_BUILDERS,
) -> Outcome:
    """Run every experiment, build the report and write it; ``progress`` shows a tqdm bar."""
    config = config or Config()
    start = time.perf_counter()
    with tqdm(
        total=planned_runs(config),
        desc="training",
        unit="step",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        results = run_all(config, tick=lambda: bar.update(1))
        sections = build_sections(results, builders)
        bar.total += sum(len(section.figures) for section in sections)
        bar.set_description("figures")
        figures = render_figures(sections, on_figure=lambda: bar.update(1))
        report = _assemble(config, sections, figures)
        bar.set_description("writing")
        paths = write_report(report, out_dir)
    return Outcome(report=report, paths=paths, seconds=time.perf_counter() - start)
