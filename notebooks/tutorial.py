# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Backpropagation, step by step, on credit-risk data
#
# This notebook walks through the same steps as `backprop-lab reproduce`, with the
# package's Python API: the data, one forward and one backward pass by hand, training
# with and without backprop, learning rates, a gradient check, generalisation, why the
# hidden layer matters, and what happens inside backprop. It uses a smaller data set
# and fewer epochs than the report so that it runs in seconds; the command
# `backprop-lab reproduce` runs the full version.
#
# Convert it to a notebook with `jupytext --to notebook notebooks/tutorial.py`, or run it
# as a script.

# %%
import io

import numpy as np
from IPython.display import Image, display

from backprop_lab import textbook
from backprop_lab.tutorial import experiments
from backprop_lab.tutorial import figures as plots


def show(fig):
    """Display a matplotlib figure (a plain Figure, no pyplot) as a PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    display(Image(buffer.getvalue()))


config = experiments.Config(
    n=2000,
    epochs=300,
    n_seeds=3,
    large_learning_rates=(1.0, 30.0),
    nonlinear_epoch_factor=5,
)
split = experiments.make_split(config.n, config.seed, test_size=config.test_size)
print(f"{len(split.y_train)} training and {len(split.y_test)} test borrowers")

# %% [markdown]
# ## 1. The data
#
# Seven features per borrower and a 0/1 label `default`. The generator also knows each
# borrower's true probability of default, so we know the best accuracy any model can
# reach (the Bayes-optimal accuracy).

# %%
summary = experiments.data_summary(config, split)
print(f"default rate {summary.default_rate:.3f}")
print(
    f"Bayes-optimal test accuracy {summary.bayes.test_accuracy:.3f}, "
    f"log loss {summary.bayes.test_log_loss:.4f} nats"
)
split.data.X.describe().round(2)

# %% [markdown]
# ## 2. One forward and one backward pass, by hand
#
# `textbook` writes the tutorial's network out line by line:
# `z1 = X W1 + b1`, `h = ReLU(z1)`, `z2 = h W2 + b2`, `y_hat = sigmoid(z2)`, and the
# backward pass `delta2 = y_hat - y`, `dW2 = h^T delta2 / N`, ... Note the labels'
# shape: (N, 1), like the predictions.

# %%
params = experiments.initial_params(config, config.seed)
X, y = split.X_train, split.y_train.reshape(-1, 1).astype(float)
y_hat, cache = textbook.forward(X, params)
loss = textbook.binary_cross_entropy(y, y_hat, cache["z2"])
grads = textbook.backward(X, y, y_hat, cache, params)
print("shapes:", {k: v.shape for k, v in cache.items()})
print(f"loss at the start {loss:.4f} nats (ln 2 = {np.log(2):.4f})")
print("gradient sizes:", {k: f"{np.linalg.norm(g):.2e}" for k, g in grads.items()})

# %% [markdown]
# ## 3. Forward passes alone learn nothing
#
# The same initial weights, trained with and without the backward pass. The engine
# (`training.train`) draws the lines; the hand-written `textbook.train_model` draws the
# circles.

# %%
run = experiments.default_run(config, split)
fb = experiments.forward_vs_backprop(config, split, run)
print(f"forward only: every epoch's loss identical? {len(set(fb.forward_only.loss)) == 1}")
print(f"backprop: loss {fb.backprop.loss[0]:.4f} -> {fb.backprop.loss[-1]:.4f}")
print(f"engine vs textbook, largest loss difference {fb.max_abs_diff_loss:.1e}")
show(plots.forward_vs_backprop(fb))

# %% [markdown]
# ## 4. Learning rates
#
# Each rate over three seeds, mean and a band of one standard deviation, plus large
# rates that overshoot or diverge.

# %%
sweep = experiments.learning_rate_sweep(config, splits={config.seed: split})
for s in sweep.summaries:
    final = "diverged" if s.final_loss_mean is None else f"{s.final_loss_mean:.4f}"
    print(f"lr {s.lr:>6g}: {s.verdict:<8} final loss {final}")
show(plots.learning_rates(sweep))
show(plots.learning_rate_stability(sweep))

# %% [markdown]
# ## 5. Gradient check
#
# Every weight nudged by plus and minus h and 2h; the slope of the loss,
# [8 (J(θ+h) − J(θ−h)) − (J(θ+2h) − J(θ−2h))] / 12h, compared with backprop's gradient.
# Each difference is measured against its array's scale (the largest analytic plus the
# largest numeric entry), or against the floor that rounding allows if that is larger, so
# small entries are not held to a tighter standard than big ones.

# %%
check = experiments.gradient_check_experiment(config, split, run)
print(f"largest relative error {check.max_rel_error:.1e} (pass below {check.threshold:g})")
show(plots.gradient_check(check))

# %% [markdown]
# ## 6. Generalisation
#
# Held-out test curves against the Bayes-optimal ceiling and logistic regression.

# %%
gen = experiments.generalisation(config, split, run)
print(
    f"test accuracy {gen.final_test_accuracy:.3f}; Bayes-optimal {gen.bayes.test_accuracy:.3f}; "
    f"logistic regression {gen.logistic.test_accuracy:.3f}"
)
show(plots.generalisation(gen))

# %% [markdown]
# ## 7. Why a hidden layer
#
# On risk that bends (a U in age, thresholds, an interaction), logistic regression
# cannot follow; the hidden layer can.

# %%
hidden = experiments.hidden_layer(config, gen)
for name, scores in hidden.nonlinear.items():
    print(f"nonlinear risk, {name:<8}: test accuracy {scores.test_accuracy:.3f}")
show(plots.hidden_layer(hidden))

# %% [markdown]
# ## 8. Inside backprop
#
# Each layer's gradient size per epoch, and how many hidden units are dead.

# %%
inside = experiments.inside_backprop(config, run)
print(
    f"layer 1 / layer 2 gradient at the start: {inside.first_ratio:.2f}; "
    f"dead units at the end: {inside.final_dead_share:.0%}"
)
show(plots.inside_backprop(inside))

# %% [markdown]
# ## The full report
#
# `backprop-lab reproduce` runs all of this at full size and writes
# `backprop-lab-report/report.html`, `metrics.json` and every figure as PNG and SVG.
# From Python: `backprop_lab.tutorial.report.reproduce(experiments.Config(), "backprop-lab-report")`.
