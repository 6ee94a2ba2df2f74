"""Section for experiment 6: inside backprop (gradient norms, dead units)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import figures
from .base import Claim, FigureSpec, ReportContext, Section, decide_claims, f4, json_safe, sci

#: Layer 1's gradient peaks "close to" the steepest fall in loss when the two epochs are
#: at most this share of the run apart (at least one epoch).
CLOSE_EPOCHS = 0.05
#: The gradients have "shrunk" by the end when each layer's last norm is below this
#: share of its own largest norm over the run.
SHRUNK = 0.5


def _close_epochs(m: dict[str, Any]) -> int:
    return max(1, round(CLOSE_EPOCHS * m["epochs"]))


def _peak_near_steepest(m: dict[str, Any]) -> bool:
    return abs(m["peak_epoch"] - m["steepest_epoch"]) <= _close_epochs(m)


def _settled(m: dict[str, Any]) -> bool:
    return all(norms[-1] < SHRUNK * max(norms) for norms in m["layer_norms"].values())


INSIDE_CLAIMS = {
    "layer1_smaller_at_start": Claim(
        "at the first epoch layer 1's gradient norm is below layer 2's",
        lambda m: m["first_ratio"] is not None and m["first_ratio"] < 1,
        {
            True: "So the first epochs mostly grow W2",
            False: "Here layer 1's gradient is not the smaller one",
        },
    ),
    "peak_near_steepest": Claim(
        f"layer 1's gradient peaks at most CLOSE_EPOCHS = {CLOSE_EPOCHS:g} of the epochs (at "
        "least one) from the epoch of the steepest fall in training loss",
        _peak_near_steepest,
        {
            True: "close to where the loss falls fastest",
            False: "apart from where the loss falls fastest",
        },
    ),
    "gradients_settled": Claim(
        f"each layer's last gradient norm is below SHRUNK = {SHRUNK:g} of its largest",
        _settled,
        {
            True: "both gradients shrink as the network settles into a minimum",
            False: "the network has not settled into a minimum yet",
        },
    ),
    "units_died": Claim(
        "some hidden unit outputs 0 for every training borrower at some epoch",
        lambda m: m["max_dead_share"] > 0,
        {True: "hidden units were dead", False: "hidden units died"},
    ),
}


def inside_backprop_section(ctx: ReportContext) -> Section:
    r = ctx.results.inside_backprop
    dead = np.append(r.dead_share, r.final_dead_share)  # each epoch's start, then the end
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "n_hidden": r.n_hidden,
        "layer_norms": r.layer_norms,
        "param_norms": r.param_norms,
        "layer1_norm_first": r.layer_norms["layer 1"][0],
        "layer2_norm_first": r.layer_norms["layer 2"][0],
        "layer1_norm_last": r.layer_norms["layer 1"][-1],
        "layer2_norm_last": r.layer_norms["layer 2"][-1],
        "layer2_peak_norm": max(r.layer_norms["layer 2"]),
        "first_ratio": r.first_ratio,
        "peak_epoch": r.peak_epoch,
        "peak_norm": r.peak_norm,
        "steepest_epoch": r.steepest_epoch,
        "steepest_drop": r.steepest_drop,
        "close_epochs": CLOSE_EPOCHS,
        "shrunk": SHRUNK,
        "dead_share": r.dead_share,
        "max_dead_share": float(dead.max()),
        "max_dead_epoch": int(dead.argmax()),  # r.epochs: after the last update
        "final_dead_share": r.final_dead_share,
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(INSIDE_CLAIMS, m)

    def say(name: str) -> str:
        return INSIDE_CLAIMS[name].say(claims[name])

    start = (
        f"At the first epoch the gradient reaching layer 1 is {r.first_ratio:.2f} times "
        f"the size of layer 2's ({sci(m['layer1_norm_first'])} against "
        f"{sci(m['layer2_norm_first'])}). "
    )
    if claims["layer1_smaller_at_start"]:
        start += (
            "The backward pass multiplies each hidden unit's error signal by that unit's "
            f"outgoing weight in W2, and those start near {ctx.config.init_scale:g}. "
            f"{say('layer1_smaller_at_start')}; as W2 grows, more signal flows down to W1. "
        )
    else:
        start += (
            f"{say('layer1_smaller_at_start')}: the outgoing weights in W2 do not hold back "
            "the signal that flows down to W1. "
        )
    steepest = f"(epoch {r.steepest_epoch}, a drop of {f4(r.steepest_drop)} in one step)"
    peak = (
        f"Layer 1's gradient peaks at epoch {r.peak_epoch}, {say('peak_near_steepest')} {steepest}"
    )
    end = (
        f"; after that {say('gradients_settled')}: at the last epoch layer 1's gradient is "
        f"{sci(m['layer1_norm_last'])} (peak {sci(r.peak_norm)}) and layer 2's "
        f"{sci(m['layer2_norm_last'])} (peak {sci(m['layer2_peak_norm'])})."
        if claims["gradients_settled"]
        else f". At the last epoch layer 1's gradient is {sci(m['layer1_norm_last'])} (peak "
        f"{sci(r.peak_norm)}) and layer 2's {sci(m['layer2_norm_last'])} (peak "
        f"{sci(m['layer2_peak_norm'])}): not both below {SHRUNK:g} of their peaks, so "
        f"{say('gradients_settled')}."
    )
    if claims["units_died"]:
        dead_text = (
            f"Up to {100 * m['max_dead_share']:.0f}% of the {r.n_hidden} "
            f"{say('units_died')} (epoch {m['max_dead_epoch']}); at the end "
            f"{100 * r.final_dead_share:.0f}% are. A dead unit's input is negative for every "
            "row, so it outputs 0, passes back a zero gradient and can never recover."
        )
    else:
        dead_text = (
            f"None of the {r.n_hidden} {say('units_died')}: at every epoch each one is active "
            "(outputs more than 0) for some training borrower, so each still receives a "
            "gradient. A unit whose input is negative for every row outputs 0, passes back "
            "a zero gradient and can never recover; large learning rates make that more likely."
        )
    return Section(
        id="inside_backprop",
        title="6. Inside backprop: how big the gradients are, and dead units",
        paragraphs=[start + peak + end, dead_text],
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
