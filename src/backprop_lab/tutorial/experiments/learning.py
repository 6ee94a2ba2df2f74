"""Experiments 1 and 2: forward passes only against forward + backprop (the tutorial's Figures
1 and 2), and the learning-rate sweep (Figure 3) with the larger rates that overshoot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ... import textbook
from ...engine.training import train
from ...nn.optim import GradientDescent
from .setup import (
    Config,
    DefaultRun,
    Split,
    Tick,
    _tick,
    default_run,
    initial_network,
    initial_params,
    make_split,
)


# ---------------------------------------------------------------------------------------
# 1. Forward only versus forward + backprop (the tutorial's Figures 1 and 2)
# ---------------------------------------------------------------------------------------
@dataclass
class Curves:
    """Training loss and accuracy per epoch of one run."""

    loss: list[float]
    accuracy: list[float]


@dataclass
class ForwardVsBackprop:
    """The same initial weights trained with and without the backward pass.

    ``forward_only`` and ``backprop`` come from the engine (:func:`training.train`);
    ``textbook_*`` from the tutorial's hand-written ``textbook.train_model``.
    ``max_abs_diff_*`` is the largest difference between the two, over both runs and
    every epoch. ``share_predicted_default`` is the share of training rows the untrained
    network calls a default (y_hat > 0.5); ``initial_output_spread`` is max |y_hat - 1/2|
    over the training rows at the initial weights.
    """

    lr: float
    epochs: int
    forward_only: Curves
    backprop: Curves
    textbook_forward_only: Curves
    textbook_backprop: Curves
    max_abs_diff_loss: float
    max_abs_diff_accuracy: float
    forward_only_loss_range: float
    forward_only_weights_unchanged: bool
    share_predicted_default: float
    initial_output_spread: float


def forward_vs_backprop(
    config: Config, split: Split, run: DefaultRun | None = None, tick: Tick | None = None
) -> ForwardVsBackprop:
    """Run forward-only and forward + backprop from the same weights, in both implementations."""
    run = run or default_run(config, split)
    model = initial_network(config, config.seed)
    before = model.get_params()
    history = train(
        model, split.X_train, split.y_train, epochs=config.epochs, backprop=False
    )  # the optimiser is never called: the weights cannot move
    _tick(tick)
    unchanged = all(np.array_equal(before[k], v) for k, v in model.params.items())
    y_col = split.y_train.reshape(-1, 1).astype(np.float64)
    start = initial_params(config, config.seed)
    book = {}
    for backprop in (False, True):
        _, losses, accs = textbook.train_model(
            split.X_train, y_col, start, config.lr, config.epochs, backprop=backprop
        )
        book[backprop] = Curves(losses, accs)
        _tick(tick)
    _tick(tick)  # the engine's backprop run is the default run
    pairs = [
        (history.loss, book[False].loss, history.accuracy, book[False].accuracy),
        (run.loss, book[True].loss, run.accuracy, book[True].accuracy),
    ]
    y_hat, _ = textbook.forward(split.X_train, start)
    return ForwardVsBackprop(
        lr=config.lr,
        epochs=config.epochs,
        forward_only=Curves(history.loss, history.accuracy),
        backprop=Curves(run.loss, run.accuracy),
        textbook_forward_only=book[False],
        textbook_backprop=book[True],
        max_abs_diff_loss=max(float(np.max(np.abs(np.subtract(a, b)))) for a, b, _, _ in pairs),
        max_abs_diff_accuracy=max(float(np.max(np.abs(np.subtract(c, d)))) for _, _, c, d in pairs),
        forward_only_loss_range=float(np.max(history.loss) - np.min(history.loss)),
        forward_only_weights_unchanged=unchanged,
        share_predicted_default=float(np.mean(y_hat > 0.5)),
        initial_output_spread=float(np.max(np.abs(y_hat - 0.5))),
    )


# ---------------------------------------------------------------------------------------
# 2. Learning rates (the tutorial's Figure 3), and where training becomes unstable
# ---------------------------------------------------------------------------------------
@dataclass
class LearningRateRun:
    """One (learning rate, seed) run. A diverged run's curves stop where it diverged."""

    lr: float
    seed: int
    loss: list[float]
    accuracy: list[float]
    status: str
    diverged_at: int | None
    divergence_reason: str | None

    @property
    def final_loss(self) -> float | None:
        return self.loss[-1] if self.status == "completed" and self.loss else None

    @property
    def final_accuracy(self) -> float | None:
        return self.accuracy[-1] if self.status == "completed" and self.accuracy else None


@dataclass
class LearningRateSummary:
    """One learning rate over all seeds.

    ``verdict``: 'diverged' (some seed diverged), 'unstable' (the mean final loss is
    above the mean first loss: training made things worse) or 'stable'. Mean and
    standard-deviation curves (sample sd across seeds, 0 for one seed) are given only
    when every seed ran all epochs; otherwise they are None.
    """

    lr: float
    verdict: str
    n_diverged: int
    diverged_at: list[int]
    first_loss_mean: float
    final_loss_mean: float | None
    final_loss_sd: float | None
    final_accuracy_mean: float | None
    final_accuracy_sd: float | None
    loss_mean: list[float] | None
    loss_sd: list[float] | None
    accuracy_mean: list[float] | None
    accuracy_sd: list[float] | None


@dataclass
class LearningRateSweep:
    epochs: int
    seeds: list[int]
    learning_rates: list[float]
    large_learning_rates: list[float]
    runs: list[LearningRateRun]
    summaries: list[LearningRateSummary]

    def summary(self, lr: float) -> LearningRateSummary:
        return next(s for s in self.summaries if s.lr == lr)

    def runs_for(self, lr: float) -> list[LearningRateRun]:
        return [r for r in self.runs if r.lr == lr]


def _mean_sd(rows: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    a = np.asarray(rows, dtype=np.float64)
    sd = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return a.mean(axis=0).tolist(), sd.tolist()


def _summarise(lr: float, runs: list[LearningRateRun], epochs: int) -> LearningRateSummary:
    diverged = [r.diverged_at for r in runs if r.status == "diverged"]
    complete = not diverged and all(len(r.loss) == epochs for r in runs)
    firsts = [r.loss[0] for r in runs if r.loss]
    first = float(np.mean(firsts)) if firsts else math.nan
    if complete:
        loss_mean, loss_sd = _mean_sd([r.loss for r in runs])
        acc_mean, acc_sd = _mean_sd([r.accuracy for r in runs])
        verdict = "unstable" if loss_mean[-1] > first else "stable"
        return LearningRateSummary(
            lr,
            verdict,
            0,
            [],
            first,
            loss_mean[-1],
            loss_sd[-1],
            acc_mean[-1],
            acc_sd[-1],
            loss_mean,
            loss_sd,
            acc_mean,
            acc_sd,
        )
    return LearningRateSummary(
        lr,
        "diverged",
        len(diverged),
        sorted(int(d) for d in diverged),
        first,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


def learning_rate_sweep(
    config: Config,
    tick: Tick | None = None,
    splits: dict[int, Split] | None = None,
    known: dict[tuple[float, int], LearningRateRun] | None = None,
) -> LearningRateSweep:
    """Train at every learning rate for every seed (its own data, split and initial weights).

    ``known`` maps (lr, seed) to a run already made with exactly these settings (the
    default run), which is reused instead of trained again.
    """
    splits = dict(splits or {})
    known = known or {}
    runs = []
    rates = [*config.learning_rates, *config.large_learning_rates]
    for seed in config.seeds:
        for lr in rates:
            if (lr, seed) in known:
                runs.append(known[(lr, seed)])
                _tick(tick)
                continue
            if seed not in splits:
                splits[seed] = make_split(config.n, seed, test_size=config.test_size)
            split = splits[seed]
            model = initial_network(config, seed)
            h = train(
                model,
                split.X_train,
                split.y_train,
                optimizer=GradientDescent(lr),
                epochs=config.epochs,
                divergence_factor=config.divergence_factor,
            )
            runs.append(
                LearningRateRun(
                    lr, seed, h.loss, h.accuracy, h.status, h.diverged_at, h.divergence_reason
                )
            )
            _tick(tick)
    summaries = [_summarise(lr, [r for r in runs if r.lr == lr], config.epochs) for lr in rates]
    return LearningRateSweep(
        epochs=config.epochs,
        seeds=list(config.seeds),
        learning_rates=list(config.learning_rates),
        large_learning_rates=list(config.large_learning_rates),
        runs=runs,
        summaries=summaries,
    )
