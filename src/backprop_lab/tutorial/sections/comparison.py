"""The closing comparison with the tutorial's reported values."""

from __future__ import annotations

import math

from .base import AGREEMENT, TUTORIAL, ReportContext, Section, Table, f3, f4, lr_key
from .learning import ordered_slow_to_fast


def tutorial_section(ctx: ReportContext) -> Section:
    res = ctx.results
    fb, sw, d = res.forward_vs_backprop, res.learning_rates, res.data
    ours = {
        "forward_only_loss": fb.forward_only.loss[-1],
        "forward_only_accuracy": fb.forward_only.accuracy[-1],
        "backprop_accuracy": fb.backprop.accuracy[-1],
        "learning_rate_final_losses": {
            lr_key(lr): sw.summary(lr).final_loss_mean for lr in sw.learning_rates
        },
    }
    ordered = ordered_slow_to_fast(sw)
    agree = {
        k: abs(ours[k] - TUTORIAL[k]) <= AGREEMENT
        for k in ("forward_only_loss", "forward_only_accuracy", "backprop_accuracy")
    }
    agree["learning_rate_order"] = ordered
    m = {
        "tutorial": TUTORIAL,
        "ours": ours,
        "agree": agree,
        "agreement_tolerance": AGREEMENT,
        "share_predicted_default": fb.share_predicted_default,
        "default_rate_train": d.default_rate_train,
        "bayes_train_accuracy": d.bayes.train_accuracy,
        "ln2": math.log(2.0),
    }
    reaches = ours["backprop_accuracy"] >= d.bayes.train_accuracy - AGREEMENT

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
    paragraphs = [
        "The forward-only loss "
        + ("agrees" if agree["forward_only_loss"] else "differs")
        + " because it is not really a property of the data: with tiny initial weights every "
        f"prediction is about 1/2, and the loss of predicting 1/2 is ln 2 = {f3(m['ln2'])} "
        "nats for any data set.",
        (
            "The forward-only accuracy is a coin toss in disguise. With every output within "
            "a hair of 1/2, which side of 1/2 each one falls on is decided by the random "
            f"initial weights: our untrained network calls {100 * m['share_predicted_default']:.0f}"
            f"% of training borrowers defaults (the true rate is "
            f"{100 * d.default_rate_train:.0f}%), and scores {f3(ours['forward_only_accuracy'])}. "
            f"The tutorial's {TUTORIAL['forward_only_accuracy']:g} came from its own draw. "
            + (
                "Here the two happen to agree."
                if agree["forward_only_accuracy"]
                else "Neither number means anything beyond 'no better than guessing'."
            )
        ),
        (
            f"After training, our network reaches {f3(ours['backprop_accuracy'])} training "
            f"accuracy against the tutorial's {TUTORIAL['backprop_accuracy']:g}. Our data "
            "set lets this go as high as its Bayes-optimal accuracy "
            f"({f3(d.bayes.train_accuracy)} on the training set), which the network "
            + ("reaches; " if reaches else "approaches; ")
            + "the tutorial's data, its number of epochs and its learning rate differ, and its "
            "ceiling is unknown, so its lower figure is not a sign that either is wrong."
            if not agree["backprop_accuracy"]
            else f"After training the two agree ({f3(ours['backprop_accuracy'])} against "
            f"{TUTORIAL['backprop_accuracy']:g})."
        ),
        (
            "Learning rates are ordered as in the tutorial: larger steps, faster learning, "
            "within the stable range. What the tutorial does not show is that the order "
            "stops at some point (section 2)."
            if ordered
            else "Unlike the tutorial, our final losses are not ordered by learning rate."
        ),
    ]
    return Section(
        id="tutorial_comparison",
        title="7. Compared with the tutorial",
        paragraphs=paragraphs,
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
