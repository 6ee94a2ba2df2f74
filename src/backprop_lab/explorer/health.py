"""What the page says about a run besides its curves: warnings and the Bayes-optimal band.

Warnings (each defined on numbers the session already holds):

* **dead units**: a ReLU hidden unit is *dead* when its pre-activation z1 = x W1 + b1 is
  <= 0 for every training row. Its output is 0 for every borrower and ReLU'(z1) = 0, so
  no gradient reaches its incoming weights and it never learns again.
* **oscillating**: among the last ``OSC_WINDOW`` recorded epochs, the training loss rose
  from one epoch to the next at least ``OSC_RISES`` times by more than ``OSC_RISE`` of
  its value. Gradient descent with a small enough learning rate lowers a full-batch loss
  every epoch; repeated rises mean the steps overshoot (too large a learning rate), or,
  with small mini-batches, that the noise of the batches dominates.

The Bayes-optimal line predicts each test borrower with the true default probability p.
Its test loss is a mean over n test rows of l_r = -[y log p + (1 - y) log(1 - p)], so it
is itself a sample: its standard error is sd(l_r) / sqrt(n), and a model fitted to the
training rows can beat it on a given test set by chance (by about 2 standard errors in 1
of 40 draws), and beats it on its own training rows more easily (it was fitted to them).
Only the expected loss over new borrowers cannot be beaten.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Epochs looked at, rises counted, and the relative size of a rise that counts.
OSC_WINDOW = 10
OSC_RISES = 3
OSC_RISE = 0.005


def per_row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """l_r = -[y_r log p_r + (1 - y_r) log(1 - p_r)] for each row, with p clipped to
    [eps, 1 - eps] as ``bayes_optimal_log_loss`` does (with no label noise, p is 0 or 1)."""
    y = np.asarray(y, dtype=np.float64)
    eps = np.finfo(np.float64).eps
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return -np.where(y == 1, np.log(p), np.log1p(-p))


def bayes_band(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Mean log loss of the true probabilities on these rows and its standard error.

    ``se = sd(l_r) / sqrt(n)`` with the sample standard deviation (ddof = 1); the page shows
    ``mean ± 2 se``, the range that holds the loss of about 95% of test sets of this size.
    """
    losses = per_row_log_loss(y, p)
    n = losses.size
    return {"mean": float(losses.mean()), "se": float(losses.std(ddof=1) / np.sqrt(n)), "n": n}


def dead_units(z1_train: np.ndarray, activation: str) -> list[bool]:
    """For each hidden unit: ReLU with z1 <= 0 on every training row (False for tanh/sigmoid)."""
    if activation != "relu":
        return [False] * z1_train.shape[1]
    return [bool(v) for v in np.all(z1_train <= 0, axis=0)]


def oscillating(losses: list[float]) -> bool:
    """Whether the last OSC_WINDOW losses rose at least OSC_RISES times by more than OSC_RISE."""
    recent = np.asarray(losses[-OSC_WINDOW:], dtype=np.float64)
    if recent.size < OSC_WINDOW or not np.all(np.isfinite(recent)):
        return False
    rises = np.diff(recent) > OSC_RISE * recent[:-1]
    return int(rises.sum()) >= OSC_RISES


def warnings(losses: list[float], dead: list[bool]) -> list[dict[str, Any]]:
    """The warnings that hold now, each as {code, text} (empty when all is well)."""
    out = []
    if oscillating(losses):
        out.append(
            {
                "code": "oscillating",
                "text": f"oscillating: the training loss rose {_rises(losses)} times in the "
                f"last {OSC_WINDOW} epochs (the steps overshoot: try a smaller learning rate)",
            }
        )
    n_dead = sum(dead)
    if n_dead:
        out.append(
            {
                "code": "dead_units",
                "text": f"{n_dead} of {len(dead)} units dead (z ≤ 0 for every training "
                "borrower: they pass no signal and never learn again)",
            }
        )
    return out


def _rises(losses: list[float]) -> int:
    recent = np.asarray(losses[-OSC_WINDOW:], dtype=np.float64)
    return int((np.diff(recent) > OSC_RISE * recent[:-1]).sum())
