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
# # Backpropagation by hand, on credit-risk data
#
# A network with 7 inputs, 8 ReLU units and one sigmoid output learns which borrowers
# default. You will write its forward pass and its backward pass line by line, each
# line beside its equation, check the gradient by finite differences, train it, and see
# what training does: the plateau before the loss falls, how the learning rate sets the
# pace, and overfitting. The exercises at the end break the backward pass on purpose and
# ask you to write one yourself; a checker says whether it is right.
#
# Run it as a notebook (`pip install -e '.[notebook]'`, then open `notebooks/tutorial.py`
# in Jupyter, where jupytext shows it as a notebook) or as a plain script
# (`python notebooks/tutorial.py`), which saves its figures to `tutorial-figures/`.
# Either way it takes a few seconds.

# %%
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit, log_expit

from backprop_lab import textbook
from backprop_lab.data import (
    Standardizer,
    bayes_optimal_log_loss,
    make_credit_risk,
    stratified_split,
)
from backprop_lab.engine.gradcheck import gradient_check
from backprop_lab.engine.training import train as package_train
from backprop_lab.nn import Dense, ReLU, Sequential, mlp
from backprop_lab.nn.optim import GradientDescent
from backprop_lab.tutorial import exercises


def in_jupyter() -> bool:
    """True inside a Jupyter kernel, False when run as a plain script."""
    try:
        return type(get_ipython()).__name__ == "ZMQInteractiveShell"
    except NameError:
        return False


FIGURES = Path("tutorial-figures")


def show(fig, name: str) -> None:
    """Show the figure in Jupyter; as a script, save it to tutorial-figures/NAME.png."""
    if in_jupyter():  # as a PNG image, whichever matplotlib backend is set
        from IPython.display import Image, display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        display(Image(buffer.getvalue()))
    else:
        FIGURES.mkdir(exist_ok=True)
        fig.savefig(FIGURES / f"{name}.png", dpi=100)
        print(f"figure saved to {FIGURES / name}.png")
    plt.close(fig)


# %% [markdown]
# ## 1. The data
#
# `make_credit_risk` draws borrowers with seven features (age, income, debt-to-income,
# years of credit history, late payments, home ownership, years employed) and a 0/1 label
# `default`, from a risk model it knows: it also returns each borrower's true probability
# of default, so we know the best log loss any model could reach on these borrowers.
# 80% train the network, 20% are held out to test it. The features are standardised
# (mean 0, standard deviation 1) with the training borrowers' means and deviations.
#
# The labels become a column, shape (N, 1), like the predictions will be: y of shape
# (N,) minus predictions of shape (N, 1) would broadcast to an (N, N) matrix.

# %%
data = make_credit_risk(2000, seed=0)
X_train_raw, X_test_raw, y_train_raw, y_test_raw = stratified_split(data.X, data.y, seed=0)
scaler = Standardizer().fit(X_train_raw)
X = scaler.transform(X_train_raw)  # (N, 7): the training borrowers
X_test = scaler.transform(X_test_raw)
y = y_train_raw.to_numpy().reshape(-1, 1).astype(float)  # (N, 1)
y_test = y_test_raw.to_numpy().reshape(-1, 1).astype(float)
p_train = data.p_default.to_numpy()[X_train_raw.index]  # each borrower's true P(default)
p_test = data.p_default.to_numpy()[X_test_raw.index]
N = X.shape[0]

print(f"{N} training borrowers, {len(y_test)} test borrowers; X {X.shape}, y {y.shape}")
print(f"default rate {y.mean():.3f}")
data.X.head()

# %% [markdown]
# ## 2. The network and its starting weights
#
# Four arrays of parameters. Weights start small and random, `0.01 x N(0, 1)`, biases at
# zero: the tutorial's initialisation (`backprop_lab.textbook.init_params`, the same draws).

# %%
rng = np.random.default_rng(0)
W1 = 0.01 * rng.standard_normal((7, 8))  # (7, 8): input -> hidden
b1 = np.zeros((1, 8))  # (1, 8)
W2 = 0.01 * rng.standard_normal((8, 1))  # (8, 1): hidden -> output
b2 = np.zeros((1, 1))  # (1, 1)
params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

same = all(np.array_equal(params[k], v) for k, v in textbook.init_params(seed=0).items())
print("the package's initial weights are the same:", same)

# %% [markdown]
# ## 3. The forward pass, line by line
#
# | line | equation | shape |
# |---|---|---|
# | `z1 = X @ W1 + b1` | z1 = X W1 + b1 | (N, 8) |
# | `h = np.maximum(0, z1)` | h = ReLU(z1) | (N, 8) |
# | `z2 = h @ W2 + b2` | z2 = h W2 + b2 | (N, 1) |
# | `y_hat = expit(z2)` | y_hat = sigmoid(z2) = 1 / (1 + e^-z2) | (N, 1) |
# | `loss = ...` | L = -(1/N) sum [y log y_hat + (1 - y) log(1 - y_hat)] | a number |
#
# The loss is computed from z2 with `log_expit(z2) = log sigmoid(z2)` and
# `log_expit(-z2) = log(1 - sigmoid(z2))`: the same numbers, but they never take log(0)
# when y_hat rounds to 0 or 1.

# %%
z1 = X @ W1 + b1  # z1 = X W1 + b1
h = np.maximum(0, z1)  # h = ReLU(z1)
z2 = h @ W2 + b2  # z2 = h W2 + b2
y_hat = expit(z2)  # y_hat = sigmoid(z2)
loss = -np.mean(y * log_expit(z2) + (1 - y) * log_expit(-z2))  # binary cross-entropy

for name, value in [("X", X), ("z1", z1), ("h", h), ("z2", z2), ("y_hat", y_hat)]:
    print(f"{name:>6} {value.shape}")
print(f"y_hat from {y_hat.min():.4f} to {y_hat.max():.4f}")
print(f"loss {loss:.4f} nats; ln 2 = {np.log(2):.4f}")

# %% [markdown]
# **What to notice: why 0.693 at the start.** With weights of about 0.01, z1, h and z2
# are all close to 0, so y_hat = sigmoid(0) = 1/2 for every borrower. A borrower who
# defaults then costs -log(1/2) = ln 2 = 0.693, and one who repays -log(1 - 1/2) = ln 2
# too: the untrained network is a coin toss, and its loss is ln 2 whatever the labels.

# %% [markdown]
# ## 4. The backward pass, line by line
#
# The chain rule, from the loss back to each parameter. The sigmoid and the
# cross-entropy together have a simple derivative: per borrower, dL/dz2 = y_hat - y
# (the loss averages over N borrowers, so the 1/N comes in where rows are summed).
#
# | line | equation | shape |
# |---|---|---|
# | `delta2 = y_hat - y` | delta2 = y_hat - y (per row) | (N, 1) |
# | `dW2 = h.T @ delta2 / N` | dW2 = h^T delta2 / N | (8, 1) |
# | `db2 = delta2.mean(axis=0, keepdims=True)` | db2 = (1/N) sum of delta2's rows | (1, 1) |
# | `delta1 = (delta2 @ W2.T) * (z1 > 0)` | delta1 = (delta2 W2^T) * ReLU'(z1) | (N, 8) |
# | `dW1 = X.T @ delta1 / N` | dW1 = X^T delta1 / N | (7, 8) |
# | `db1 = delta1.mean(axis=0, keepdims=True)` | db1 = (1/N) sum of delta1's rows | (1, 8) |
#
# ReLU'(z1) is 1 where z1 > 0 and 0 elsewhere: a mask that lets the error through only
# where the unit was on in the forward pass. Each gradient has its parameter's shape.

# %%
delta2 = y_hat - y  # delta2 = y_hat - y
dW2 = h.T @ delta2 / N  # dW2 = h^T delta2 / N
db2 = delta2.mean(axis=0, keepdims=True)  # db2 = mean of delta2's rows
delta1 = (delta2 @ W2.T) * (z1 > 0)  # delta1 = (delta2 W2^T) * ReLU'(z1)
dW1 = X.T @ delta1 / N  # dW1 = X^T delta1 / N
db1 = delta1.mean(axis=0, keepdims=True)  # db1 = mean of delta1's rows

for name, value in [("delta2", delta2), ("dW2", dW2), ("db2", db2)]:
    print(f"{name:>6} {value.shape}")
for name, value in [("delta1", delta1), ("dW1", dW1), ("db1", db1)]:
    print(f"{name:>6} {value.shape}")
print(f"largest |dW2| {np.abs(dW2).max():.2e}, largest |dW1| {np.abs(dW1).max():.2e}")

# %% [markdown]
# dW1 is much smaller than dW2: the error reaching the first layer has passed through W2,
# whose entries are about 0.01. Keep that in mind for the plateau below.
#
# The same lines, packed into two functions so we can call them again. The package's
# `backprop_lab.textbook` holds the same two functions; both give the same numbers.


# %%
def forward(X, params):
    """y_hat and the cache (z1, h, z2) that the backward pass needs."""
    z1 = X @ params["W1"] + params["b1"]  # z1 = X W1 + b1
    h = np.maximum(0, z1)  # h = ReLU(z1)
    z2 = h @ params["W2"] + params["b2"]  # z2 = h W2 + b2
    return expit(z2), {"z1": z1, "h": h, "z2": z2}  # y_hat = sigmoid(z2)


def bce(y, z2):
    """L = -(1/N) sum [y log sigmoid(z2) + (1 - y) log(1 - sigmoid(z2))]"""
    return float(-np.mean(y * log_expit(z2) + (1 - y) * log_expit(-z2)))


def backward(X, y, y_hat, cache, params):
    """Gradients of the mean binary cross-entropy: dW1, db1, dW2, db2."""
    N = X.shape[0]
    delta2 = y_hat - y  # delta2 = y_hat - y
    dW2 = cache["h"].T @ delta2 / N  # dW2 = h^T delta2 / N
    db2 = delta2.mean(axis=0, keepdims=True)
    delta1 = (delta2 @ params["W2"].T) * (cache["z1"] > 0)  # (delta2 W2^T) * ReLU'(z1)
    dW1 = X.T @ delta1 / N  # dW1 = X^T delta1 / N
    db1 = delta1.mean(axis=0, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


y_hat, cache = forward(X, params)
grads = backward(X, y, y_hat, cache, params)
package_grads = textbook.backward(X, y, *textbook.forward(X, params), params)
print(
    "same as the package's textbook.backward:",
    all(np.allclose(grads[k], package_grads[k], rtol=1e-12, atol=0) for k in grads),
)

# %% [markdown]
# ## 5. Is the gradient right? Finite differences by hand
#
# dW1[0, 0] claims how fast the loss changes when W1[0, 0] changes. Measure it: nudge
# W1[0, 0] up by a small step, then down, and divide the change of the loss by the
# change of the weight,
#
#     slope = (L(W1[0, 0] + step) - L(W1[0, 0] - step)) / (2 step).
#
# The step is 1e-5: large enough that the difference of the two losses, which agree in
# their first eight digits, keeps about eight correct digits (float64 holds about 16),
# and small enough that the slope is nearly the derivative. The relative error
# |backprop - slope| / (|backprop| + |slope|) of a correct gradient is then about 1e-8
# or less; a wrong one is off in the first or second digit.

# %%
step = 1e-5
nudged = {name: value.copy() for name, value in params.items()}
nudged["W1"][0, 0] = params["W1"][0, 0] + step
loss_up = bce(y, forward(X, nudged)[1]["z2"])
nudged["W1"][0, 0] = params["W1"][0, 0] - step
loss_down = bce(y, forward(X, nudged)[1]["z2"])
slope = (loss_up - loss_down) / (2 * step)

analytic = grads["W1"][0, 0]
relative_error = abs(analytic - slope) / (abs(analytic) + abs(slope))
print(f"backprop dW1[0, 0]   {analytic:.12f}")
print(f"finite differences   {slope:.12f}")
print(f"relative error       {relative_error:.1e}")

# %% [markdown]
# One entry of 81 agrees. The package's `gradient_check` does the same for every entry
# of every array, on the package's own network (`backprop_lab.nn`, which computes the
# same layers) holding our weights. It measures each entry's error against its array's
# largest gradient rather than against the entry's own size, so that a tiny entry is not
# held to a tighter standard than the large ones. ReLU has a kink at 0: a nudge that
# moves some z1 across 0 straddles two slopes, and the check handles those entries
# rather than report them as failures.

# %%
model = mlp(7, hidden=(8,))  # the 7-8-1 ReLU network
model.set_params(params)  # ... with our starting weights
check = gradient_check(model, X, y)
print(check.table())
print(f"gradient check passed: {check.passed} (largest error {check.max_rel_error:.1e})")

# %% [markdown]
# ## 6. Training: forward passes alone learn nothing
#
# Training repeats three steps: the forward pass, the backward pass, and a step of
# gradient descent down the slope, `W <- W - lr dW` for every parameter, with the
# learning rate lr. The loss and accuracy are recorded at each epoch's forward pass,
# before its update. With `backprop=False` the loop runs only the forward pass: the
# weights never change.


# %%
def fit(params, lr, epochs, *, backprop=True, X=X, y=y, X_test=X_test, y_test=y_test):
    """Full-batch gradient descent from a copy of params; the per-epoch curves."""
    params = {name: value.copy() for name, value in params.items()}
    curves = {"loss": [], "accuracy": [], "test_loss": []}
    for _ in range(epochs):
        y_hat, cache = forward(X, params)
        curves["loss"].append(bce(y, cache["z2"]))
        curves["accuracy"].append(float(np.mean((y_hat > 0.5) == (y == 1))))
        curves["test_loss"].append(bce(y_test, forward(X_test, params)[1]["z2"]))
        if backprop:
            grads = backward(X, y, y_hat, cache, params)
            for name in params:
                params[name] -= lr * grads[name]  # W <- W - lr dW
    return params, curves


EPOCHS = 2000
_, forward_only = fit(params, lr=0.1, epochs=500, backprop=False)
runs = {lr: fit(params, lr, EPOCHS) for lr in (0.001, 0.01, 0.1)}
trained, curves = runs[0.1]

base_rate = y.mean()
base_rate_loss = -(base_rate * np.log(base_rate) + (1 - base_rate) * np.log(1 - base_rate))
print(
    f"forward only: loss {forward_only['loss'][0]:.4f} at every epoch? "
    f"{len(set(forward_only['loss'])) == 1}"
)
print(
    f"backprop, lr 0.1: loss {curves['loss'][0]:.4f} -> {curves['loss'][499]:.4f} "
    f"after 500 epochs, {curves['loss'][-1]:.4f} after {EPOCHS}"
)
print(f"loss of predicting the default rate {base_rate:.3f} for everyone: {base_rate_loss:.4f}")
print(
    "first epoch with loss below 0.65:", next(i for i, v in enumerate(curves["loss"]) if v < 0.65)
)

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_loss.plot(forward_only["loss"], color="grey", label="forward passes only")
ax_loss.plot(curves["loss"][:500], label="forward + backprop, lr 0.1")
ax_loss.axhline(base_rate_loss, color="black", linestyle=":", label="predict the default rate")
ax_loss.set(xlabel="epoch", ylabel="training loss (nats)", title="Loss")
ax_loss.legend()
ax_acc.plot(forward_only["accuracy"], color="grey", label="forward passes only")
ax_acc.plot(curves["accuracy"][:500], label="forward + backprop, lr 0.1")
ax_acc.set(xlabel="epoch", ylabel="training accuracy", title="Accuracy")
fig.tight_layout()
show(fig, "1-forward-only-vs-backprop")

# %% [markdown]
# **What to notice.** Forward passes alone leave the loss at 0.693 forever: without the
# backward pass nothing tells the weights which way to move. With backprop, the loss first
# drops a little, to about 0.690, the loss of predicting the default rate for everyone
# (the output bias b2 learns that first: its gradient is not multiplied by any small
# weight). Then comes a **plateau**: for over a hundred epochs the loss barely moves,
# before it falls fast. The plateau is the small starting weights at work: dW1 is
# proportional to W2 and dW2 to h, which is proportional to W1, so while both layers'
# weights are about 0.01 each gradient is tiny. Each step makes the weights a little
# larger and the next gradient a little larger, until they grow fast enough that the
# loss drops. Accuracy sits at the share of repaid loans (everyone predicted to repay)
# until the network starts to separate borrowers.
#
# The package's `train` runs the same loop (its reference engine, the NumPy layers of
# `backprop_lab.nn`) and records the same losses:

# %%
model = mlp(7, hidden=(8,))
model.set_params(params)
history = package_train(model, X, y, optimizer=GradientDescent(0.1), epochs=500, engine="reference")
difference = np.max(np.abs(np.array(history.loss) - curves["loss"][:500]))
print(f"largest difference from our loop over 500 epochs: {difference:.1e}")

# %% [markdown]
# ## 7. Learning rates: 0.001, 0.01 and 0.1
#
# The same starting weights, trained with three learning rates for 2000 epochs each.

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
for lr, (_, run_curves) in runs.items():
    ax.plot(run_curves["loss"], label=f"lr {lr:g}")
ax.axhline(base_rate_loss, color="black", linestyle=":", label="predict the default rate")
ax.set(xlabel="epoch", ylabel="training loss (nats)", title="Learning rates")
ax.legend()
fig.tight_layout()
show(fig, "2-learning-rates")

for lr, (_, run_curves) in runs.items():
    below = next((i for i, v in enumerate(run_curves["loss"]) if v < 0.65), None)
    left = "still on the plateau" if below is None else f"below 0.65 from epoch {below}"
    print(f"lr {lr:>5g}: final loss {run_curves['loss'][-1]:.4f}, {left}")

# %% [markdown]
# **What to notice.** Every rate follows the same path (the same plateau, then the same
# fall), only at its own speed: a step of lr 0.1 goes as far as ten steps of lr 0.01.
# With lr 0.01 the plateau lasts about ten times longer, and lr 0.001 is still on it
# after 2000 epochs: a small learning rate is not wrong, only slow. (Rates too large
# overshoot: `backprop-lab reproduce` shows rates 1, 10 and 30, and the largest diverge.)

# %% [markdown]
# ## 8. Held-out borrowers
#
# The loss on the 400 test borrowers, which training never sees, beside the training
# loss. The dotted line is the loss of the true default probabilities on the same test
# borrowers: no model can beat it on average.

# %%
bayes_train = bayes_optimal_log_loss(y.ravel(), p_train)
bayes_test = bayes_optimal_log_loss(y_test.ravel(), p_test)
best_epoch = int(np.argmin(curves["test_loss"]))
print(f"training borrowers: network {curves['loss'][-1]:.4f}, true probabilities {bayes_train:.4f}")
print(
    f"test borrowers:     network {curves['test_loss'][-1]:.4f}, true probabilities {bayes_test:.4f}"
)
print(
    f"lowest test loss {curves['test_loss'][best_epoch]:.4f} at epoch {best_epoch}, "
    f"then up by {curves['test_loss'][-1] - curves['test_loss'][best_epoch]:.4f}"
)

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(curves["loss"], label="training borrowers")
ax.plot(curves["test_loss"], label="test borrowers")
ax.axhline(bayes_test, color="black", linestyle=":", label="true probabilities (test)")
ax.set(xlabel="epoch", ylabel="loss (nats)", title="Train and test, 1600 training borrowers")
ax.legend()
fig.tight_layout()
show(fig, "3-train-and-test")

# %% [markdown]
# **What to notice.** The test loss follows the training loss down and flattens close
# to the true probabilities' loss; the gap between the training and test curves is
# mostly the two samples being different (the true probabilities, too, score better on
# the training borrowers than on the test ones). After its lowest point the test loss
# creeps up by a few thousandths while the training loss keeps falling: overfitting,
# barely visible, because 1600 borrowers leave 81 parameters little room to memorise.
# With fewer borrowers it shows:

# %%
small = slice(0, 100)  # the first 100 training borrowers
_, small_curves = fit(params, lr=0.1, epochs=3000, X=X[small], y=y[small])
small_best = int(np.argmin(small_curves["test_loss"]))
print(
    f"100 borrowers: lowest test loss {small_curves['test_loss'][small_best]:.4f} "
    f"at epoch {small_best}; after 3000 epochs training loss "
    f"{small_curves['loss'][-1]:.4f}, test loss {small_curves['test_loss'][-1]:.4f}"
)

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(small_curves["loss"], label="training borrowers (100)")
ax.plot(small_curves["test_loss"], label="test borrowers (400)")
ax.axvline(small_best, color="grey", linestyle="--", label="lowest test loss")
ax.axhline(bayes_test, color="black", linestyle=":", label="true probabilities (test)")
ax.set(xlabel="epoch", ylabel="loss (nats)", title="Overfitting: 100 training borrowers")
ax.legend()
fig.tight_layout()
show(fig, "4-overfitting")

# %% [markdown]
# **What to notice.** On 100 borrowers the training loss keeps falling towards 0 while
# the test loss turns up after a couple of hundred epochs and ends far above where it
# started (0.693): the network has learned the 100 borrowers' noise, not the risk, and is
# confidently wrong about new ones. Stopping at the lowest test loss (early stopping, on
# a validation set rather than the test set) or penalising large weights (L2) are the
# usual remedies; `BackpropClassifier` does both.

# %% [markdown]
# ## 9. Exercises
#
# ### Exercise 1: break the backward pass
#
# Each function below is `backward` with one line changed. The checker
# `exercises.check_backward` compares a backward function's gradients with finite
# differences for every entry, as in section 5, on a small fixed batch, and says `right`
# or `wrong`, naming the arrays that are off. Run it on the correct backward pass and on
# the two broken ones, then try bugs of your own: edit a line in one of the functions
# (swap `y_hat - y` for `y - y_hat`, use a sum for db1 instead of the mean, leave out a
# transpose) and run the cell again.


# %%
def backward_without_relu_mask(X, y, y_hat, cache, params):
    """backward, with delta1 = delta2 W2^T: the ReLU mask is missing."""
    N = X.shape[0]
    delta2 = y_hat - y
    dW2 = cache["h"].T @ delta2 / N
    db2 = delta2.mean(axis=0, keepdims=True)
    delta1 = delta2 @ params["W2"].T  # <- the bug: no * ReLU'(z1)
    dW1 = X.T @ delta1 / N
    db1 = delta1.mean(axis=0, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def backward_without_1_over_N(X, y, y_hat, cache, params):
    """backward, summing over rows where it should average: the 1/N is missing."""
    delta2 = y_hat - y
    dW2 = cache["h"].T @ delta2  # <- the bug: no / N
    db2 = delta2.sum(axis=0, keepdims=True)  # <- and a sum, not the mean
    delta1 = (delta2 @ params["W2"].T) * (cache["z1"] > 0)
    dW1 = X.T @ delta1  # <- no / N
    db1 = delta1.sum(axis=0, keepdims=True)  # <- a sum, not the mean
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


for backward_pass in (backward, backward_without_relu_mask, backward_without_1_over_N):
    exercises.check_backward(backward_pass)

# %% [markdown]
# The missing mask leaves dW2 and db2 right (they come before the mask) and makes dW1 and
# db1 wrong; the missing 1/N makes every gradient N times too large (the checker's batch
# has N = 20 rows). The second bug is the sneakier one: training still works, only with
# a learning rate N times larger than the one you set.
#
# The package's full check catches the first bug too. Here is the package's network
# with a ReLU layer whose backward pass forgets its mask:


# %%
class ReLUWithoutMask(ReLU):
    """A ReLU layer whose backward pass returns g instead of g * ReLU'(x)."""

    def backward(self, g):
        return g  # <- the bug


broken = Sequential([Dense(7, 8), ReLUWithoutMask(), Dense(8, 1)])
broken.set_params(params)
broken_check = gradient_check(broken, X, y)
print(broken_check.table())
print(
    f"gradient check passed: {broken_check.passed} (largest error {broken_check.max_rel_error:.1e})"
)

# %% [markdown]
# ### Exercise 2: write tanh's backward pass
#
# A hidden layer can use tanh instead of ReLU: h = tanh(z1). Its backward pass turns
# grad = dL/dh into dL/dz1 = grad * tanh'(z1), and tanh'(z) = 1 - tanh(z)^2. Replace the
# `raise` line with one line that returns dL/dz, then run the cell: the checker compares
# it with finite differences entry by entry and inside the 7-8-1 network with a tanh
# hidden layer, and says `right` or `wrong`.


# %%
def my_tanh_backward(z, grad):
    """dL/dz for a = tanh(z), given z and grad = dL/da (both of shape (N, 8))."""
    raise NotImplementedError("write tanh's backward here")  # <- your line instead


verdict = exercises.check_tanh_backward(my_tanh_backward)

# %% [markdown]
# A common slip is to write the derivative in terms of z instead of tanh(z). The
# checker catches it:


# %%
def tanh_backward_with_a_slip(z, grad):
    return grad * (1 - z**2)  # 1 - z^2, where it should be 1 - tanh(z)^2


verdict = exercises.check_tanh_backward(tanh_backward_with_a_slip)

# %% [markdown]
# #### Solution
#
# Try the exercise first. In Jupyter the solution's code is folded away: click the cell
# to open it.


# %% jupyter={"source_hidden": true}
def tanh_backward_solution(z, grad):
    a = np.tanh(z)  # a = tanh(z)
    return grad * (1 - a**2)  # dL/dz = dL/da * tanh'(z) = grad * (1 - a^2)


verdict = exercises.check_tanh_backward(tanh_backward_solution)

# %% [markdown]
# ## Where next
#
# - `backprop-lab reproduce` runs the full experiments (five seeds per learning rate,
#   larger rates, a gradient check after training, the hidden layer against logistic
#   regression on curved risk, dead ReLU units) and writes a report.
# - `backprop-lab explore` lets you watch the network learn in the browser and trace
#   one borrower through the forward and backward pass.
# - `backprop_lab.nn` holds the same layers for any depth, each `backward` beside its
#   `forward`; the documentation site (`mkdocs serve`) has their API reference.
