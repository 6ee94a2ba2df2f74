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

from .checks import generalisation, gradient_check, hidden_layer, inside_backprop
from .learning import forward_vs_backprop, learning_rate_stability, learning_rates, network_diagram
from .style import (
    ACC_LABEL,
    BAYES,
    EPOCH_LABEL,
    FORWARD_ONLY,
    LOGISTIC,
    LOSS_LABEL,
    LR_COLOURS,
    NETWORK,
    PNG_DPI,
    STYLE,
    lr_colour,
    lr_label,
    render,
)

__all__ = [
    "ACC_LABEL",
    "BAYES",
    "EPOCH_LABEL",
    "FORWARD_ONLY",
    "LOGISTIC",
    "LOSS_LABEL",
    "LR_COLOURS",
    "NETWORK",
    "PNG_DPI",
    "STYLE",
    "forward_vs_backprop",
    "generalisation",
    "gradient_check",
    "hidden_layer",
    "inside_backprop",
    "learning_rate_stability",
    "learning_rates",
    "lr_colour",
    "lr_label",
    "network_diagram",
    "render",
]
