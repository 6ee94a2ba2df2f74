"""Section for experiment 6: inside backprop (gradient norms, dead units)."""

from __future__ import annotations

import numpy as np

from .. import figures
from .base import FigureSpec, ReportContext, Section, f4, sci


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
