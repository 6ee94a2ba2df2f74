"""Experiments 4 and 5: train and test curves against the Bayes-optimal level and logistic
regression, and why a hidden layer helps on curved risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engine.training import train
from ...nn.optim import GradientDescent
from .setup import (
    Baseline,
    Bayes,
    Config,
    DefaultRun,
    Split,
    Tick,
    _tick,
    bayes_reference,
    default_run,
    evaluate,
    initial_network,
    logistic_baseline,
    make_split,
    row_losses,
    standard_error,
)


# ---------------------------------------------------------------------------------------
# 4. Generalisation
# ---------------------------------------------------------------------------------------
@dataclass
class Generalisation:
    """Train and held-out test curves of the default run, against Bayes and a baseline.

    Sampling errors, from the per-row losses l_i at the final weights:
    ``test_loss_se`` = sd(l_test) / sqrt(n_test), how much the test loss would move on
    another test set of the same size; ``train_test_gap_se`` =
    sqrt(var(l_test) / n_test + var(l_train) / n_train), the same for the difference
    test loss minus training loss (the two sets are independent draws).
    """

    lr: float
    epochs: int
    train_loss: list[float]
    train_accuracy: list[float]
    test_loss: list[float]
    test_accuracy: list[float]
    final_train_loss: float
    final_train_accuracy: float
    final_test_loss: float
    final_test_accuracy: float
    best_test_loss: float
    best_test_loss_epoch: int
    bayes: Bayes
    logistic: Baseline
    n_train: int = 0
    n_test: int = 0
    test_loss_se: float = float("nan")
    train_test_gap_se: float = float("nan")

    @property
    def gap_to_bayes_accuracy(self) -> float:
        """Bayes-optimal test accuracy minus the network's (positive: below the ceiling)."""
        return self.bayes.test_accuracy - self.final_test_accuracy


def generalisation(config: Config, split: Split, run: DefaultRun | None = None) -> Generalisation:
    run = run or default_run(config, split)
    best = int(np.argmin(run.test_loss))
    train_rows = row_losses(run.params, split.X_train, split.y_train)
    test_rows = row_losses(run.params, split.X_test, split.y_test)
    return Generalisation(
        lr=run.lr,
        epochs=run.epochs,
        train_loss=run.loss,
        train_accuracy=run.accuracy,
        test_loss=run.test_loss,
        test_accuracy=run.test_accuracy,
        final_train_loss=run.final_train_loss,
        final_train_accuracy=run.final_train_accuracy,
        final_test_loss=run.final_test_loss,
        final_test_accuracy=run.final_test_accuracy,
        best_test_loss=float(run.test_loss[best]),
        best_test_loss_epoch=best,
        bayes=bayes_reference(split),
        logistic=logistic_baseline(split),
        n_train=int(train_rows.size),
        n_test=int(test_rows.size),
        test_loss_se=standard_error(test_rows),
        train_test_gap_se=float(np.hypot(standard_error(test_rows), standard_error(train_rows))),
    )


# ---------------------------------------------------------------------------------------
# 5. Why a hidden layer: curved risk
# ---------------------------------------------------------------------------------------
@dataclass
class ModelScores:
    test_accuracy: float
    test_log_loss: float


@dataclass
class HiddenLayer:
    """Network versus logistic regression versus Bayes, on linear and on nonlinear risk.

    On the nonlinear data the network trains for ``epochs`` epochs; its test curves are
    recorded per epoch (start-of-epoch weights).
    """

    lr: float
    epochs: int
    linear: dict[str, ModelScores]
    nonlinear: dict[str, ModelScores]
    nonlinear_train_loss: list[float]
    nonlinear_test_loss: list[float]
    nonlinear_test_accuracy: list[float]
    nonlinear_status: str


def hidden_layer(config: Config, linear: Generalisation, tick: Tick | None = None) -> HiddenLayer:
    """Fit both models to the nonlinear variant of the data; compare with the linear case."""
    split = make_split(config.n, config.seed, test_size=config.test_size, nonlinear=True)
    model = initial_network(config, config.seed)
    h = train(
        model,
        split.X_train,
        split.y_train,
        optimizer=GradientDescent(config.lr),
        epochs=config.nonlinear_epochs,
        validation_data=(split.X_test, split.y_test),
        divergence_factor=config.divergence_factor,
    )
    _tick(tick)
    test_loss, test_acc = evaluate(model, split.X_test, split.y_test)
    logistic, bayes = logistic_baseline(split), bayes_reference(split)
    return HiddenLayer(
        lr=config.lr,
        epochs=config.nonlinear_epochs,
        linear={
            "logistic": ModelScores(linear.logistic.test_accuracy, linear.logistic.test_log_loss),
            "network": ModelScores(linear.final_test_accuracy, linear.final_test_loss),
            "bayes": ModelScores(linear.bayes.test_accuracy, linear.bayes.test_log_loss),
        },
        nonlinear={
            "logistic": ModelScores(logistic.test_accuracy, logistic.test_log_loss),
            "network": ModelScores(test_acc, test_loss),
            "bayes": ModelScores(bayes.test_accuracy, bayes.test_log_loss),
        },
        nonlinear_train_loss=h.loss,
        nonlinear_test_loss=h.val_loss,
        nonlinear_test_accuracy=h.val_accuracy,
        nonlinear_status=h.status,
    )


# ---------------------------------------------------------------------------------------
