"""Experiment 6: inside backprop, the gradient norm per layer and the dead ReLU units per epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .setup import Config, DefaultRun


# 6. Inside backprop: gradient norms per layer, dead ReLU units
# ---------------------------------------------------------------------------------------
@dataclass
class InsideBackprop:
    """Per-layer gradient norms ||(dJ/dW_l, dJ/db_l)|| and dead hidden units per epoch.

    ``steepest_epoch`` is the epoch whose update lowered the training loss most;
    ``peak_epoch`` the epoch at which layer 1's gradient norm was largest.
    """

    lr: float
    epochs: int
    layer_norms: dict[str, list[float]]
    param_norms: dict[str, list[float]]
    dead_share: list[float]
    final_dead_share: float
    n_hidden: int
    first_ratio: float
    peak_epoch: int
    peak_norm: float
    steepest_epoch: int
    steepest_drop: float


def inside_backprop(config: Config, run: DefaultRun) -> InsideBackprop:
    g = {k: np.asarray(v) for k, v in run.grad_norms.items()}
    layers = {f"layer {i}": np.sqrt(g[f"W{i}"] ** 2 + g[f"b{i}"] ** 2).tolist() for i in (1, 2)}
    l1, l2 = np.asarray(layers["layer 1"]), np.asarray(layers["layer 2"])
    drops = -np.diff(run.loss)
    steepest = int(np.argmax(drops)) if drops.size else 0
    return InsideBackprop(
        lr=run.lr,
        epochs=run.epochs,
        layer_norms=layers,
        param_norms={k: list(v) for k, v in run.grad_norms.items()},
        dead_share=run.dead_share,
        final_dead_share=run.final_dead_share,
        n_hidden=config.hidden,
        first_ratio=float(l1[0] / l2[0]) if l2[0] > 0 else math.inf,
        peak_epoch=int(np.argmax(l1)),
        peak_norm=float(np.max(l1)),
        steepest_epoch=steepest,
        steepest_drop=float(drops[steepest]) if drops.size else 0.0,
    )
