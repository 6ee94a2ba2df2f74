"""Sections for experiments 4 and 5: generalisation, and why a hidden layer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...data.synthetic import FEATURES
from .. import figures
from .base import Claim, FigureSpec, ReportContext, Section, decide_claims, f3, f4, json_safe, pp

#: A model is "near the ceiling" when its test accuracy is at most this far below the
#: Bayes-optimal accuracy on the same test set. 2 pp is about the sampling error of an
#: accuracy on the default 1,000-borrower test set (sqrt(0.76 * 0.24 / 1000) = 1.4 pp),
#: so a smaller shortfall is not worth a sentence.
NEAR_BAYES = 0.02
#: The test loss "rises" (overfitting) when it ends more than this many standard errors
#: of the test loss above its lowest value: a smaller rise is smaller than the amount
#: by which another test set of the same size would move the loss.
RISE_IN_SE = 1.0
#: Test loss exceeds training loss beyond chance when the difference is more than this
#: many standard errors of the difference (a one-sided test at about the 2% level).
GAP_IN_SE = 2.0
#: The network "closes most" of logistic regression's gap to the Bayes-optimal accuracy
#: when it closes more than this share of it.
MOST_OF_GAP = 0.5


# ---------------------------------------------------------------------------------------
# 4. Generalisation
# ---------------------------------------------------------------------------------------
def _fit(m: dict[str, Any]) -> str:
    rise = m["test_loss"][-1] - m["best_test_loss"]
    if rise > RISE_IN_SE * m["test_loss_se"]:
        return "overfitting"
    return "underfitting" if m["gap_to_bayes_accuracy"] > NEAR_BAYES else "good_fit"


def _near_bayes(m: dict[str, Any]) -> bool | None:
    gap = m["gap_to_bayes_accuracy"]
    return None if gap < 0 else gap <= NEAR_BAYES


def _fits_training_better(m: dict[str, Any]) -> bool:
    gap = m["final_test_loss"] - m["final_train_loss"]
    return gap > GAP_IN_SE * m["train_test_gap_se"]


GENERALISATION_CLAIMS = {
    "above_bayes": Claim(
        "the network's test accuracy is above the Bayes-optimal accuracy on the same test set",
        lambda m: m["gap_to_bayes_accuracy"] < 0,
        {True: "above the Bayes-optimal", False: "below the Bayes-optimal"},
    ),
    "near_bayes": Claim(
        f"the test accuracy is at most NEAR_BAYES = {NEAR_BAYES:g} below the Bayes-optimal "
        "(None when above it)",
        _near_bayes,
        {
            True: f"within {100 * NEAR_BAYES:g} pp of the ceiling",
            False: f"more than {100 * NEAR_BAYES:g} pp short of the ceiling",
        },
    ),
    "fit": Claim(
        f"'overfitting' when the test loss ends more than RISE_IN_SE = {RISE_IN_SE:g} "
        "standard errors of the test loss above its lowest; otherwise 'underfitting' when the "
        "test accuracy is more than NEAR_BAYES below the Bayes-optimal, else 'good_fit'",
        _fit,
        {
            "overfitting": "the start of overfitting",
            "underfitting": "it underfits",
            "good_fit": "no sign of overfitting",
        },
    ),
    "fits_training_better": Claim(
        f"test loss minus training loss exceeds GAP_IN_SE = {GAP_IN_SE:g} standard errors of "
        "that difference",
        _fits_training_better,
        {
            True: "fits its training borrowers better than new ones",
            False: "does as well on new borrowers as on those it learnt from",
        },
    ),
    "network_below_bayes_loss": Claim(
        "the network's test log loss is below the true probabilities'",
        lambda m: m["final_test_loss"] < m["bayes_test_log_loss"],
        {True: "The network's test log loss is below the true probabilities'", False: None},
    ),
    "logistic_below_bayes_loss": Claim(
        "logistic regression's test log loss is below the true probabilities'",
        lambda m: m["logistic_test_log_loss"] < m["bayes_test_log_loss"],
        {True: "Logistic regression's test log loss is below the true probabilities'", False: None},
    ),
}


def _apart(gap: float, word: str = "below") -> str:
    """'3.1 pp below' for a shortfall, '0.4 pp above' for a lead (gap = ceiling - model)."""
    return f"{pp(abs(gap))} {word if gap >= 0 else 'above'}"


def _below_ceiling_by_chance(n_test: int) -> str:
    return (
        ": the true probabilities have the lowest log loss on average over all borrowers, "
        f"but on a finite test sample ({n_test:,} borrowers) a model fitted to the training "
        "rows can come out lower by chance."
    )


def _fit_text(m: dict[str, Any], say: Any) -> str:
    last = m["epochs"] - 1
    lowest_at_end = m["best_test_loss_epoch"] == last
    se = f"standard error {f4(m['test_loss_se'])}"
    if m["claims"]["fit"] == "overfitting":
        return (
            f"The test loss was lowest ({f4(m['best_test_loss'])}) at epoch "
            f"{m['best_test_loss_epoch']} and ends {f4(m['test_loss'][-1] - m['best_test_loss'])} "
            f"higher, more than its {se}: {say('fit')}."
        )
    where = (
        "is still at its lowest in the last epoch"
        if lowest_at_end
        else f"was lowest at epoch {m['best_test_loss_epoch']} and ends only "
        f"{f4(m['test_loss'][-1] - m['best_test_loss'])} higher, within its {se}"
    )
    if m["claims"]["fit"] == "underfitting":
        return (
            f"The test loss {where}, but the accuracy is {pp(m['gap_to_bayes_accuracy'])} below "
            f"the ceiling, so after {m['epochs']} epochs {say('fit')}: the network has not yet "
            "learnt what the data hold"
            + (
                ", and its test loss is still falling, so more epochs or a larger learning "
                "rate would help."
                if lowest_at_end
                else "."
            )
        )
    return (
        f"The test loss {where}, and the accuracy is close to the ceiling: after "
        f"{m['epochs']} epochs there is {say('fit')}."
    )


def generalisation_section(ctx: ReportContext) -> Section:
    r = ctx.results.generalisation
    gap = r.gap_to_bayes_accuracy
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "final_train_loss": r.final_train_loss,
        "final_train_accuracy": r.final_train_accuracy,
        "final_test_loss": r.final_test_loss,
        "final_test_accuracy": r.final_test_accuracy,
        "bayes_test_accuracy": r.bayes.test_accuracy,
        "bayes_test_log_loss": r.bayes.test_log_loss,
        "gap_to_bayes_accuracy": gap,
        "within_2pp_of_bayes": abs(gap) <= 0.02,
        "logistic_test_accuracy": r.logistic.test_accuracy,
        "logistic_test_log_loss": r.logistic.test_log_loss,
        "best_test_loss": r.best_test_loss,
        "best_test_loss_epoch": r.best_test_loss_epoch,
        "n_train": ctx.results.data.n_train,
        "n_test": ctx.results.data.n_test,
        "n_parameters": _n_params(ctx),
        "test_loss_se": r.test_loss_se,
        "train_test_gap_se": r.train_test_gap_se,
        "near_bayes": NEAR_BAYES,
        "rise_in_se": RISE_IN_SE,
        "gap_in_se": GAP_IN_SE,
        "train_loss": r.train_loss,
        "train_accuracy": r.train_accuracy,
        "test_loss": r.test_loss,
        "test_accuracy": r.test_accuracy,
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(GENERALISATION_CLAIMS, m)

    def say(name: str) -> str:
        return GENERALISATION_CLAIMS[name].say(claims[name])

    if claims["above_bayes"]:
        vs_bayes = (
            f"{pp(-gap)} {say('above_bayes')} {f3(r.bayes.test_accuracy)}: on a finite "
            "test set a model can beat the ceiling by luck, though not on average"
        )
    else:
        vs_bayes = (
            f"{pp(gap)} {say('above_bayes')} {f3(r.bayes.test_accuracy)} ({say('near_bayes')})"
        )
    test_gap = r.final_test_loss - r.final_train_loss
    beyond = claims["fits_training_better"]
    gap_text = (
        f"Test loss minus training loss is {f4(test_gap)}, "
        + ("more" if beyond else "less")
        + f" than {GAP_IN_SE:g} standard errors of that difference "
        f"({f4(GAP_IN_SE * r.train_test_gap_se)}): the network {say('fits_training_better')}"
        + (
            f" ({m['n_train']:,} training rows for {m['n_parameters']} parameters)."
            if not beyond
            else f", despite {m['n_train']:,} training rows for {m['n_parameters']} parameters."
        )
    )
    network_below = (
        f" {say('network_below_bayes_loss')}" + _below_ceiling_by_chance(m["n_test"])
        if claims["network_below_bayes_loss"]
        else ""
    )
    lin = r.logistic
    logistic_below = (
        f" {say('logistic_below_bayes_loss')} ({f4(lin.test_log_loss)} < "
        f"{f4(r.bayes.test_log_loss)})" + _below_ceiling_by_chance(m["n_test"])
        if claims["logistic_below_bayes_loss"]
        else ""
    )
    return Section(
        id="generalisation",
        title="4. Does it generalise? Train, test and the Bayes ceiling",
        paragraphs=[
            "Training loss says how well the network fits the borrowers it learnt from; the "
            "held-out test set says how well it predicts new ones.",
            f"After {r.epochs} epochs at lr {r.lr:g} the network's test accuracy is "
            f"{f3(r.final_test_accuracy)}, {vs_bayes}. Its test loss is "
            f"{f4(r.final_test_loss)} nats against the true probabilities' "
            f"{f4(r.bayes.test_log_loss)}.{network_below} Training accuracy is "
            f"{f3(r.final_train_accuracy)}. {_fit_text(m, say)} {gap_text}",
            f"Logistic regression (scikit-learn) on the same split scores {f3(lin.test_accuracy)} "
            f"accuracy and {f4(lin.test_log_loss)} log loss.{logistic_below} In this data the "
            "true risk is a weighted sum of the features passed through a sigmoid, which is "
            "exactly a logistic regression, so the hidden layer has nothing extra to find here. "
            "Section 5 changes that.",
        ],
        figures=[
            FigureSpec(
                "generalisation",
                "Training (solid) and held-out test (dashed) loss and accuracy per epoch, with "
                "the Bayes-optimal values (dotted) and logistic regression (dash-dot) on the "
                "test set.",
                figures.generalisation(r),
            )
        ],
        metrics=m,
    )


def _n_params(ctx: ReportContext) -> int:
    return (len(FEATURES) + 1) * ctx.config.hidden + ctx.config.hidden + 1


# ---------------------------------------------------------------------------------------
# 5. Why a hidden layer
# ---------------------------------------------------------------------------------------
def _beats(m: dict[str, Any]) -> bool:
    nl = m["nonlinear"]
    return nl["network"]["test_accuracy"] > nl["logistic"]["test_accuracy"]


def _logistic_short(m: dict[str, Any]) -> bool:
    return m["nonlinear_gap_logistic"] > NEAR_BAYES


def _closes_most(m: dict[str, Any]) -> bool | None:
    if not (_beats(m) and _logistic_short(m)):
        return None
    closed = 1.0 - m["nonlinear_gap_network"] / m["nonlinear_gap_logistic"]
    return closed > MOST_OF_GAP


def _still_learning(m: dict[str, Any]) -> bool | None:
    if _beats(m):
        return None
    curve = m["test_loss"]
    return bool(curve) and min(curve) == curve[-1]


def _nonlinear_below_bayes_loss(m: dict[str, Any]) -> bool:
    nl = m["nonlinear"]
    return nl["network"]["test_log_loss"] < nl["bayes"]["test_log_loss"]


def _linear_all_close(m: dict[str, Any]) -> bool:
    return max(abs(m["linear_gap_logistic"]), abs(m["linear_gap_network"])) <= NEAR_BAYES


def _pays_off_only_when_curved(m: dict[str, Any]) -> bool:
    return _linear_all_close(m) and _beats(m) and _logistic_short(m)


HIDDEN_LAYER_CLAIMS = {
    "logistic_short_of_bayes": Claim(
        "on the nonlinear data logistic regression's test accuracy is more than NEAR_BAYES "
        "below the Bayes-optimal",
        _logistic_short,
        {
            True: "a straight boundary leaves a gap",
            False: "a straight boundary leaves little gap to close",
        },
    ),
    "network_beats_logistic": Claim(
        "on the nonlinear data the network's test accuracy is above logistic regression's",
        _beats,
        {True: "The network does better", False: "the network does not do better"},
    ),
    "closes_most_of_gap": Claim(
        f"the network closes more than MOST_OF_GAP = {MOST_OF_GAP:g} of logistic regression's "
        "gap to the Bayes-optimal accuracy (None unless it beats logistic regression and that "
        "gap exceeds NEAR_BAYES)",
        _closes_most,
        {True: "it closes most of that gap", False: "it closes only part of that gap"},
    ),
    "nonlinear_still_learning": Claim(
        "the network's test loss on the nonlinear data is lowest at the last epoch (None when "
        "the network beats logistic regression)",
        _still_learning,
        {True: "its test loss is still falling at the last epoch", False: None},
    ),
    "network_below_bayes_loss": Claim(
        "on the nonlinear data the network's test log loss is below the true probabilities'",
        _nonlinear_below_bayes_loss,
        {True: "The network's log loss is below the ceiling's", False: None},
    ),
    "linear_all_close": Claim(
        "on the linear data logistic regression and the network are both within NEAR_BAYES of "
        "the Bayes-optimal test accuracy",
        _linear_all_close,
        {True: "the three stand within", False: "the three do not stand together"},
    ),
    "pays_off_only_when_curved": Claim(
        "linear_all_close, and on the nonlinear data logistic regression falls short and the "
        "network beats it",
        _pays_off_only_when_curved,
        {True: "a hidden layer pays off only when the truth is not linear", False: None},
    ),
}


def hidden_layer_section(ctx: ReportContext) -> Section:
    r = ctx.results.hidden_layer
    nl, li = r.nonlinear, r.linear
    m = {
        "lr": r.lr,
        "epochs": r.epochs,
        "status": r.nonlinear_status,
        "linear": {k: asdict(v) for k, v in li.items()},
        "nonlinear": {k: asdict(v) for k, v in nl.items()},
        "nonlinear_gap_logistic": nl["bayes"].test_accuracy - nl["logistic"].test_accuracy,
        "nonlinear_gap_network": nl["bayes"].test_accuracy - nl["network"].test_accuracy,
        "linear_gap_logistic": li["bayes"].test_accuracy - li["logistic"].test_accuracy,
        "linear_gap_network": li["bayes"].test_accuracy - li["network"].test_accuracy,
        "near_bayes": NEAR_BAYES,
        "most_of_gap": MOST_OF_GAP,
        "test_loss": r.nonlinear_test_loss,
        "test_accuracy": r.nonlinear_test_accuracy,
        "train_loss": r.nonlinear_train_loss,
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(HIDDEN_LAYER_CLAIMS, m)

    def say(name: str) -> str:
        return HIDDEN_LAYER_CLAIMS[name].say(claims[name])

    net, lin, bayes = nl["network"], nl["logistic"], nl["bayes"]
    scores = (
        f"{f3(net.test_accuracy)}, {_apart(m['nonlinear_gap_network'])} Bayes, with test log "
        f"loss {f4(net.test_log_loss)} against logistic regression's {f4(lin.test_log_loss)} "
        f"and the ceiling's {f4(bayes.test_log_loss)}"
    )
    if claims["network_beats_logistic"]:
        if claims["closes_most_of_gap"] is not None:
            share = 1.0 - m["nonlinear_gap_network"] / m["nonlinear_gap_logistic"]
            past = ", past the ceiling by chance" if share > 1 else ""
            verdict = (
                f"{say('network_beats_logistic')}: {say('closes_most_of_gap')} "
                f"({100 * share:.0f}% of it{past}): {scores}."
            )
        else:
            verdict = f"{say('network_beats_logistic')}: {scores}."
        verdict += (
            f" Its {ctx.config.hidden} ReLU units are {ctx.config.hidden} bent lines, and sums "
            "of bent lines can follow a U or a threshold."
        )
    else:
        why = (
            f"training diverged (epoch {len(r.nonlinear_train_loss)})"
            if r.nonlinear_status == "diverged"
            else f"{say('nonlinear_still_learning')}, so it needs more than the {r.epochs} "
            "epochs it had"
            if claims["nonlinear_still_learning"]
            else f"{r.epochs} epochs were not enough for it to find the curves"
        )
        verdict = (
            f"Here {say('network_beats_logistic')} ({f3(net.test_accuracy)} against "
            f"{f3(lin.test_accuracy)}): {why}."
        )
    below_ceiling = (
        f" {say('network_below_bayes_loss')}" + _below_ceiling_by_chance(ctx.results.data.n_test)
        if claims["network_below_bayes_loss"]
        else ""
    )
    spread = max(abs(m["linear_gap_logistic"]), abs(m["linear_gap_network"]))
    if claims["linear_all_close"]:
        linear = f"On the default, linear data {say('linear_all_close')} {pp(spread)} of each other"
    else:
        linear = (
            f"On the default, linear data {say('linear_all_close')}: logistic regression is "
            f"{_apart(m['linear_gap_logistic'])} and the network "
            f"{_apart(m['linear_gap_network'])} the Bayes-optimal accuracy"
        )
    linear += (
        f": {say('pays_off_only_when_curved')}." if claims["pays_off_only_when_curved"] else "."
    )
    return Section(
        id="hidden_layer",
        title="5. Why a hidden layer: risk that is not a straight line",
        paragraphs=[
            "The same generator can make risk curved: higher for the young and the old than "
            "for the middle-aged (a U in age), jumping at a debt-to-income threshold and at "
            "three late payments, and worse still when high debt meets low income. The "
            f"network trains on it with the same learning rate for {r.epochs} epochs (a "
            "curved surface takes longer to fit).",
            "Logistic regression can only draw a straight boundary. On this data it reaches "
            f"{f3(lin.test_accuracy)} test accuracy, {_apart(m['nonlinear_gap_logistic'])} "
            f"the Bayes-optimal {f3(bayes.test_accuracy)}: "
            f"{say('logistic_short_of_bayes')}. {verdict}{below_ceiling}",
            linear,
        ],
        figures=[
            FigureSpec(
                "hidden_layer",
                "Left: held-out accuracy of logistic regression, the network and the "
                "Bayes-optimal classifier on linear and on nonlinear risk. Right: the "
                "network's test loss on the nonlinear data as it trains.",
                figures.hidden_layer(r),
            )
        ],
        metrics=m,
    )
