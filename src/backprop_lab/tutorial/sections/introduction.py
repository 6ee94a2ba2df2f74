"""The report's opening sections: what it is, the data, and the network with its equations."""

from __future__ import annotations

from dataclasses import asdict

from ... import __version__
from ...data.synthetic import FEATURES
from .. import figures
from .base import FEATURE_MEANING, FigureSpec, ReportContext, Section, Table, f3, f4


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
            "In the equations below δ2 and δ1 are each row's error signals, as in the "
            "tutorial's code (δ2 = ŷ − y is N times ∂J/∂z2); the gradients average them over "
            "the N rows.",
        ],
        equations=[
            "forward    z1 = X W1 + b1        h = ReLU(z1) = max(0, z1)",
            "           z2 = h W2 + b2        ŷ = sigmoid(z2) = 1 / (1 + e^(−z2))",
            "loss       J  = −(1/N) Σ [ y log ŷ + (1 − y) log(1 − ŷ) ]       (nats)",
            "backward   δ2 = ŷ − y            ∂J/∂W2 = hᵀ δ2 / N     ∂J/∂b2 = mean(δ2)",
            "           δ1 = (δ2 W2ᵀ) ⊙ [z1 > 0]    ∂J/∂W1 = Xᵀ δ1 / N    ∂J/∂b1 = mean(δ1)",
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
