"""Sections for experiments 1 and 2: forward only against backprop, and the learning rates."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict
from typing import Any

from .. import figures
from ..experiments import (
    LearningRateSummary,
    LearningRateSweep,
)
from .base import (
    Claim,
    FigureSpec,
    ReportContext,
    Section,
    Table,
    decide_claims,
    f3,
    f4,
    json_safe,
    lr_key,
    sci,
)

#: The engine and the hand-written textbook loop give "the same numbers" when their
#: losses differ by at most this much at every epoch. Both do the same float64
#: operations, possibly in another order: each loss then differs by a few units of
#: round-off (2.2e-16 relative), and gradient descent near a minimum does not amplify
#: such differences, so anything above 1e-9 is a real difference, not rounding.
SAME_TO_ROUND_OFF = 1e-9
#: The loss at the slowest learning rate has "barely moved" when its mean fell by less
#: than this share of where it started (1% of ln 2 is about 0.007 nats).
BARELY_MOVED = 0.01


def _loss_falls(m: dict[str, Any]) -> bool:
    return m["backprop"]["loss_last"] < m["backprop"]["loss_first"]


def _accuracy_rises(m: dict[str, Any]) -> bool:
    return m["backprop"]["accuracy_last"] > m["backprop"]["accuracy_first"]


def _textbook_matches(m: dict[str, Any]) -> bool:
    diff = m["textbook_vs_engine"]
    return diff["max_abs_diff_loss"] <= SAME_TO_ROUND_OFF and diff["max_abs_diff_accuracy"] == 0


FORWARD_BACKPROP_CLAIMS = {
    "loss_flat_without_backprop": Claim(
        "every forward-only loss is the same number",
        lambda m: m["forward_only"]["all_losses_identical"],
        {True: "in every one of the", False: "the loss moves by"},
    ),
    "weights_unchanged": Claim(
        "the forward-only run ends with bit-for-bit its initial weights",
        lambda m: m["forward_only"]["weights_unchanged"],
        {
            True: "bit-for-bit the initial weights",
            False: "yet the weights changed, which should not happen",
        },
    ),
    "backprop_loss_falls": Claim(
        "the backprop run's last training loss is below its first",
        _loss_falls,
        {True: "With backprop the loss falls from", False: "With backprop the loss does not fall"},
    ),
    "backprop_accuracy_rises": Claim(
        "the backprop run's last training accuracy is above its first",
        _accuracy_rises,
        {True: "training accuracy rises from", False: "training accuracy does not rise"},
    ),
    "textbook_matches_engine": Claim(
        f"losses differ by at most SAME_TO_ROUND_OFF = {SAME_TO_ROUND_OFF:g} and accuracies "
        "not at all, at every epoch of both runs",
        _textbook_matches,
        {True: "gives the same numbers", False: "gives different numbers"},
    ),
}


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
    m = json_safe(m)
    claims = m["claims"] = decide_claims(FORWARD_BACKPROP_CLAIMS, m)

    def say(name: str) -> str:
        return FORWARD_BACKPROP_CLAIMS[name].say(claims[name])

    flat = (
        f"the loss is {f4(fo.loss[0])} nats {say('loss_flat_without_backprop')} {r.epochs} "
        f"epochs (largest minus smallest: exactly {r.forward_only_loss_range:g})"
        if claims["loss_flat_without_backprop"]
        else f"{say('loss_flat_without_backprop')} {sci(r.forward_only_loss_range)} over "
        f"{r.epochs} epochs"
    )
    unchanged = (
        f"the weights after the last epoch are {say('weights_unchanged')}"
        if claims["weights_unchanged"]
        else say("weights_unchanged")
    )
    falls = (
        f"{say('backprop_loss_falls')} {f4(bp.loss[0])} to {f4(bp.loss[-1])}"
        if claims["backprop_loss_falls"]
        else f"{say('backprop_loss_falls')}: it starts at {f4(bp.loss[0])} and ends at "
        f"{f4(bp.loss[-1])}"
    )
    rises = (
        f"{say('backprop_accuracy_rises')} {f3(bp.accuracy[0])} to {f3(bp.accuracy[-1])}"
        if claims["backprop_accuracy_rises"]
        else f"{say('backprop_accuracy_rises')}: {f3(bp.accuracy[0])} at the start, "
        f"{f3(bp.accuracy[-1])} at the end"
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
            f"gradient nothing tells the weights which way to move. {falls}, and {rises}.",
            f"Why {f3(m['ln2'])} at the start: with weights of size {ctx.config.init_scale:g} every "
            f"output ŷ is within {sci(r.initial_output_spread)} of 1/2, and the loss of "
            f"predicting 1/2 is −log(1/2) = ln 2 = {f4(m['ln2'])} nats, a coin toss.",
            "The curves come from the package's engine (training.train). The tutorial's "
            "own loop, written out by hand in textbook.train_model, "
            f"{say('textbook_matches_engine')}: the largest difference over both runs and all "
            "epochs is "
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


def _finals_by_rate(m: dict[str, Any], rates: list[float]) -> list[float | None]:
    return [m["final_loss_mean"][lr_key(lr)] for lr in sorted(rates)]


def _ordered(m: dict[str, Any]) -> bool:
    finals = _finals_by_rate(m, m["learning_rates"])
    return all(f is not None for f in finals) and all(a > b for a, b in itertools.pairwise(finals))


def _slowest_barely_moved(m: dict[str, Any]) -> bool | None:
    slow = next(e for e in m["rates"] if e["lr"] == min(m["learning_rates"]))
    if slow["final_loss_mean"] is None:
        return None
    return (
        slow["first_loss_mean"] - slow["final_loss_mean"] < BARELY_MOVED * slow["first_loss_mean"]
    )


def _order_stops(m: dict[str, Any]) -> bool | None:
    if not m["large_learning_rates"]:
        return None
    finals = _finals_by_rate(m, [*m["learning_rates"], *m["large_learning_rates"]])
    finals = [math.inf if f is None else f for f in finals]  # diverged: no final loss
    return not all(a > b for a, b in itertools.pairwise(finals))


LEARNING_RATE_CLAIMS = {
    "ordered_slow_to_fast": Claim(
        "the mean final loss strictly falls as the standard learning rate grows",
        _ordered,
        {
            True: "the larger the step, the lower the loss after the same number of epochs",
            False: "the losses are not ordered by step size here",
        },
    ),
    "slowest_barely_moved": Claim(
        "at the smallest standard rate the mean loss fell by less than BARELY_MOVED "
        f"({BARELY_MOVED:.0%}) of its first value (None if a run diverged)",
        _slowest_barely_moved,
        {True: "the loss has barely moved", False: "the loss has moved off the plateau"},
    ),
    "order_stops_at_large_rates": Claim(
        "over every rate, standard and large, the mean final loss does not strictly fall as "
        "the rate grows (a diverged rate counts as an infinite loss; None without large rates)",
        _order_stops,
        {
            True: "Bigger steps help only up to a point",
            False: "Bigger steps keep helping at every rate tried here",
        },
    ),
}


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
    m = {
        "epochs": sw.epochs,
        "seeds": sw.seeds,
        "learning_rates": rates,
        "large_learning_rates": sw.large_learning_rates,
        "rates": entries,
        "final_loss_mean": {lr_key(e["lr"]): e["final_loss_mean"] for e in entries},
        "verdict": {lr_key(e["lr"]): e["verdict"] for e in entries},
        "divergence_factor": ctx.config.divergence_factor,
        "barely_moved_share": BARELY_MOVED,
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(LEARNING_RATE_CLAIMS, m)
    m["ordered_slow_to_fast"] = claims["ordered_slow_to_fast"]

    def say(name: str) -> str:
        return LEARNING_RATE_CLAIMS[name].say(claims[name])

    parts = ", ".join(
        f"{f4(s.final_loss_mean)} ± {f4(s.final_loss_sd)} at lr {s.lr:g}"
        for s in (sw.summary(lr) for lr in rates)
    )
    order_text = say("ordered_slow_to_fast") + (
        ", as in the tutorial's Figure 3"
        if claims["ordered_slow_to_fast"]
        else ", unlike the tutorial's Figure 3"
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
    ]
    if claims["slowest_barely_moved"] is True:
        paragraphs.append(
            f"At lr {slow.lr:g} {say('slowest_barely_moved')} from "
            f"{f4(slow.first_loss_mean)} (less than {BARELY_MOVED:.0%} of it in {sw.epochs} "
            "epochs): starting from tiny weights, the gradient is tiny too (see section 6), "
            "and a small step times a tiny gradient leaves the network on the starting "
            "plateau for a long time."
        )
    elif claims["slowest_barely_moved"] is False:
        paragraphs.append(
            f"Even at lr {slow.lr:g} {say('slowest_barely_moved')}: from "
            f"{f4(slow.first_loss_mean)} to {f4(slow.final_loss_mean)} in {sw.epochs} epochs, "
            f"more than {BARELY_MOVED:.0%} of where it started. Starting from tiny weights the "
            "gradient is tiny too (see section 6), so small steps take many epochs to leave "
            "the starting plateau, but these were enough."
        )
    if large:
        paragraphs.append(
            say("order_stops_at_large_rates")
            + ": "
            + "; ".join(large)
            + ". A diverged run is drawn up to its last finite loss and marked with a cross."
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
