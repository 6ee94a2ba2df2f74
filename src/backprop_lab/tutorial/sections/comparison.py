"""The closing comparison with the tutorial's reported values."""

from __future__ import annotations

import itertools
import math
from typing import Any

from .base import (
    AGREEMENT,
    TUTORIAL,
    Claim,
    ReportContext,
    Section,
    Table,
    decide_claims,
    f3,
    f4,
    json_safe,
    lr_key,
    pp,
)


def _agrees(key: str) -> Any:
    def rule(m: dict[str, Any]) -> bool:
        return abs(m["ours"][key] - m["tutorial"][key]) <= AGREEMENT

    return rule


def _strictly_falling(finals: list[float | None]) -> bool:
    return all(f is not None for f in finals) and all(a > b for a, b in itertools.pairwise(finals))


def _order_agrees(m: dict[str, Any]) -> bool:
    return _strictly_falling(list(m["ours"]["learning_rate_final_losses"].values()))


def _order_stops(m: dict[str, Any]) -> bool | None:
    if not _order_agrees(m) or not m["large_rate_final_losses"]:
        return None
    finals = [
        *m["ours"]["learning_rate_final_losses"].values(),
        *m["large_rate_final_losses"].values(),
    ]
    return not _strictly_falling([math.inf if f is None else f for f in finals])


def _no_better_than_majority(m: dict[str, Any]) -> bool:
    rate = m["default_rate_train"]
    return m["ours"]["forward_only_accuracy"] <= max(rate, 1.0 - rate)


def _reaches_bayes(m: dict[str, Any]) -> bool:
    return m["ours"]["backprop_accuracy"] >= m["bayes_train_accuracy"] - AGREEMENT


def _ours_above_tutorial(m: dict[str, Any]) -> bool | None:
    if _agrees("backprop_accuracy")(m):
        return None
    return m["ours"]["backprop_accuracy"] > m["tutorial"]["backprop_accuracy"]


COMPARISON_CLAIMS = {
    "forward_only_loss_agrees": Claim(
        f"our forward-only loss is within AGREEMENT = {AGREEMENT:g} of the tutorial's",
        _agrees("forward_only_loss"),
        {
            True: "The forward-only loss agrees with the tutorial's",
            False: "The forward-only loss differs from the tutorial's",
        },
    ),
    "forward_only_accuracy_agrees": Claim(
        "our forward-only accuracy is within AGREEMENT of the tutorial's",
        _agrees("forward_only_accuracy"),
        {True: "Here the two happen to agree", False: "Here the two differ"},
    ),
    "untrained_no_better_than_majority": Claim(
        "the untrained network's accuracy is at most the share of the more common outcome "
        "in the training set (what always guessing that outcome scores)",
        _no_better_than_majority,
        {
            True: "no better than always guessing the more common outcome",
            False: "it beats always guessing the more common outcome",
        },
    ),
    "backprop_accuracy_agrees": Claim(
        "our trained accuracy is within AGREEMENT of the tutorial's",
        _agrees("backprop_accuracy"),
        {True: "After training the two agree", False: None},
    ),
    "reaches_bayes": Claim(
        "our trained training accuracy is at least the Bayes-optimal training accuracy minus "
        "AGREEMENT",
        _reaches_bayes,
        {True: "which the network reaches", False: "which the network falls short of"},
    ),
    "ours_above_tutorial": Claim(
        "our trained accuracy is above the tutorial's (None when they agree)",
        _ours_above_tutorial,
        {
            True: "so its lower figure is not a sign that either is wrong",
            False: "our lower figure comes from",
        },
    ),
    "learning_rate_order_agrees": Claim(
        "our mean final loss strictly falls as the standard learning rate grows",
        _order_agrees,
        {
            True: "Learning rates are ordered as in the tutorial",
            False: "Unlike the tutorial, our final losses are not ordered by learning rate",
        },
    ),
    "order_stops_at_large_rates": Claim(
        "with the large rates added, the mean final loss no longer strictly falls (a diverged "
        "rate counts as infinite; None unless the standard rates are ordered and large rates "
        "were tried)",
        _order_stops,
        {
            True: "What the tutorial does not show is that the order stops at some point",
            False: "the order holds at every larger rate tried here too",
        },
    ),
}


def tutorial_section(ctx: ReportContext) -> Section:
    res = ctx.results
    fb, sw, d = res.forward_vs_backprop, res.learning_rates, res.data
    ours = {
        "forward_only_loss": fb.forward_only.loss[-1],
        "forward_only_accuracy": fb.forward_only.accuracy[-1],
        "backprop_accuracy": fb.backprop.accuracy[-1],
        "learning_rate_final_losses": {
            lr_key(lr): sw.summary(lr).final_loss_mean for lr in sorted(sw.learning_rates)
        },
    }
    m = {
        "tutorial": TUTORIAL,
        "ours": ours,
        "agreement_tolerance": AGREEMENT,
        "share_predicted_default": fb.share_predicted_default,
        "default_rate_train": d.default_rate_train,
        "bayes_train_accuracy": d.bayes.train_accuracy,
        "epochs": ctx.config.epochs,
        "large_rate_final_losses": {
            lr_key(lr): sw.summary(lr).final_loss_mean for lr in sorted(sw.large_learning_rates)
        },
        "ln2": math.log(2.0),
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(COMPARISON_CLAIMS, m)
    agree = m["agree"] = {
        "forward_only_loss": claims["forward_only_loss_agrees"],
        "forward_only_accuracy": claims["forward_only_accuracy_agrees"],
        "backprop_accuracy": claims["backprop_accuracy_agrees"],
        "learning_rate_order": claims["learning_rate_order_agrees"],
    }

    def say(name: str) -> str:
        return COMPARISON_CLAIMS[name].say(claims[name])

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
    loss_text = (
        f"{say('forward_only_loss_agrees')} ({f4(ours['forward_only_loss'])} against "
        f"{TUTORIAL['forward_only_loss']:g}) because it is not really a property of the data: "
        "with tiny initial weights every prediction is about 1/2, and the loss of predicting "
        f"1/2 is ln 2 = {f3(m['ln2'])} nats for any data set."
        if claims["forward_only_loss_agrees"]
        else f"{say('forward_only_loss_agrees')} ({f4(ours['forward_only_loss'])} against "
        f"{TUTORIAL['forward_only_loss']:g}): with tiny initial weights every prediction would "
        f"be about 1/2, with a loss of ln 2 = {f3(m['ln2'])} nats for any data set, so these "
        "initial weights are not tiny."
    )
    guessing = (
        "Neither number means anything beyond 'no better than guessing'."
        if claims["untrained_no_better_than_majority"]
        else "Ours beats guessing only by the luck of its initial weights."
    )
    apart = abs(ours["forward_only_accuracy"] - TUTORIAL["forward_only_accuracy"])
    accuracy_text = (
        "The forward-only accuracy is a coin toss in disguise. With every output within "
        "a hair of 1/2, which side of 1/2 each one falls on is decided by the random "
        f"initial weights: our untrained network calls {100 * m['share_predicted_default']:.0f}"
        f"% of training borrowers defaults (the true rate is "
        f"{100 * d.default_rate_train:.0f}%), and scores {f3(ours['forward_only_accuracy'])}: "
        f"{say('untrained_no_better_than_majority')} "
        f"({f3(max(d.default_rate_train, 1 - d.default_rate_train))}). "
        f"The tutorial's {TUTORIAL['forward_only_accuracy']:g} came from its own draw. "
        f"{say('forward_only_accuracy_agrees')}"
        + (". " if claims["forward_only_accuracy_agrees"] else f" by {pp(apart)}. ")
        + guessing
    )
    short = d.bayes.train_accuracy - ours["backprop_accuracy"]
    ceiling = f"its Bayes-optimal accuracy ({f3(d.bayes.train_accuracy)} on the training set), " + (
        say("reaches_bayes")
        if claims["reaches_bayes"]
        else f"{say('reaches_bayes')} by {pp(short)} after {ctx.config.epochs} epochs"
    )
    if claims["backprop_accuracy_agrees"]:
        trained_text = (
            f"{say('backprop_accuracy_agrees')} ({f3(ours['backprop_accuracy'])} against "
            f"{TUTORIAL['backprop_accuracy']:g} training accuracy); our data set lets this go "
            f"as high as {ceiling}."
        )
    elif claims["ours_above_tutorial"]:
        trained_text = (
            f"After training, our network reaches {f3(ours['backprop_accuracy'])} training "
            f"accuracy against the tutorial's {TUTORIAL['backprop_accuracy']:g}. Our data "
            f"set lets this go as high as {ceiling}; the tutorial's data, its number of epochs "
            "and its learning rate differ, and its ceiling is unknown, "
            f"{say('ours_above_tutorial')}."
        )
    else:
        why = (
            "data with more luck in them, whose ceiling is itself lower"
            if claims["reaches_bayes"]
            else "a run too short to finish learning (section 4), not from harder data"
        )
        trained_text = (
            f"After training, our network reaches {f3(ours['backprop_accuracy'])} training "
            f"accuracy against the tutorial's {TUTORIAL['backprop_accuracy']:g}. Our data "
            f"set lets this go as high as {ceiling}: {say('ours_above_tutorial')} {why}."
        )
    if claims["learning_rate_order_agrees"]:
        order_text = (
            f"{say('learning_rate_order_agrees')}: larger steps, faster learning, within the "
            "stable range."
        )
        if claims["order_stops_at_large_rates"] is True:
            order_text += f" {say('order_stops_at_large_rates')} (section 2)."
        elif claims["order_stops_at_large_rates"] is False:
            order_text += f" Here {say('order_stops_at_large_rates')} (section 2)."
    else:
        order_text = f"{say('learning_rate_order_agrees')}."
    return Section(
        id="tutorial_comparison",
        title="7. Compared with the tutorial",
        paragraphs=[loss_text, accuracy_text, trained_text, order_text],
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
