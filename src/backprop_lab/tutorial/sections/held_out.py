"""Sections for experiments 4 and 5: generalisation, and why a hidden layer."""

from __future__ import annotations

from dataclasses import asdict

from ...data.synthetic import FEATURES
from .. import figures
from .base import FigureSpec, ReportContext, Section, f3, f4, pp


def generalisation_section(ctx: ReportContext) -> Section:
    r = ctx.results.generalisation
    gap = r.gap_to_bayes_accuracy
    last = r.epochs - 1
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
        "n_parameters": _n_params(ctx),
        "train_loss": r.train_loss,
        "train_accuracy": r.train_accuracy,
        "test_loss": r.test_loss,
        "test_accuracy": r.test_accuracy,
    }
    if gap >= 0:
        vs_bayes = f"{pp(gap)} below the Bayes-optimal {f3(r.bayes.test_accuracy)}"
    else:
        vs_bayes = (
            f"{pp(-gap)} above the Bayes-optimal {f3(r.bayes.test_accuracy)}: on a finite "
            "test set a model can beat the ceiling by luck, though not on average"
        )
    overfit = (
        "The test loss is still at its lowest in the last epoch, so after "
        f"{r.epochs} epochs there is no sign of overfitting"
        if r.best_test_loss_epoch == last
        else f"The test loss was lowest ({f4(r.best_test_loss)}) at epoch "
        f"{r.best_test_loss_epoch} and ends {f4(r.test_loss[-1] - r.best_test_loss)} higher: "
        "the start of overfitting"
    )
    lin = r.logistic
    return Section(
        id="generalisation",
        title="4. Does it generalise? Train, test and the Bayes ceiling",
        paragraphs=[
            "Training loss says how well the network fits the borrowers it learnt from; the "
            "held-out test set says how well it predicts new ones.",
            f"After {r.epochs} epochs at lr {r.lr:g} the network's test accuracy is "
            f"{f3(r.final_test_accuracy)}, {vs_bayes}. Its test loss is "
            f"{f4(r.final_test_loss)} nats against the true probabilities' "
            f"{f4(r.bayes.test_log_loss)}. Training accuracy is {f3(r.final_train_accuracy)}. "
            f"{overfit}: {m['n_train']:,} training rows are plenty for "
            f"{m['n_parameters']} parameters.",
            f"Logistic regression (scikit-learn) on the same split scores {f3(lin.test_accuracy)} "
            f"accuracy and {f4(lin.test_log_loss)} log loss. In this data the true risk is a "
            "weighted sum of the features passed through a sigmoid, which is exactly a "
            "logistic regression, so the hidden layer has nothing extra to find here. "
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
        "test_loss": r.nonlinear_test_loss,
        "test_accuracy": r.nonlinear_test_accuracy,
        "train_loss": r.nonlinear_train_loss,
    }
    beats = nl["network"].test_accuracy > nl["logistic"].test_accuracy
    verdict = (
        f"The network closes most of that gap: {f3(nl['network'].test_accuracy)}, "
        f"{pp(m['nonlinear_gap_network'])} below Bayes, with test log loss "
        f"{f4(nl['network'].test_log_loss)} against logistic regression's "
        f"{f4(nl['logistic'].test_log_loss)} and the ceiling's {f4(nl['bayes'].test_log_loss)}. "
        f"Its {ctx.config.hidden} ReLU units are {ctx.config.hidden} bent lines, and sums of "
        "bent lines can follow a U or a threshold."
        if beats
        else f"Here the network does not do better ({f3(nl['network'].test_accuracy)}): "
        f"it may need more epochs than the {r.epochs} it had."
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
            f"{f3(nl['logistic'].test_accuracy)} test accuracy, {pp(m['nonlinear_gap_logistic'])} "
            f"below the Bayes-optimal {f3(nl['bayes'].test_accuracy)}. {verdict}",
            f"On the default, linear data the three stand within "
            f"{pp(max(abs(m['linear_gap_logistic']), abs(m['linear_gap_network'])))} of each "
            "other: a hidden layer pays off only when the truth is not linear.",
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
