"""The tutorial's experiments, as a Python API that returns plain data.

Every function here returns dataclasses of lists, floats, ints and strings (plus, where
noted, the trained weights as NumPy arrays), so the report, the command line, the
notebook and the tests all use the same numbers. Nothing here draws or writes files:
figures live in :mod:`backprop_lab.plots`, the report in :mod:`backprop_lab.report`.

The set-up throughout is the tutorial's:

    X (N, 7) --Dense--> z1 (N, 8) --ReLU--> h --Dense--> z2 (N, 1) --sigmoid--> y_hat
    J = binary cross-entropy,   W <- W - lr dJ/dW   (full-batch gradient descent)

with the tutorial's initialisation ``W = 0.01 N(0, 1)``, ``b = 0``, features
standardised with statistics of the training split only, and 20% of the rows held out
(stratified) as a test set. Seeds fix the data, the split and the initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from . import textbook
from .data import (
    FEATURES,
    CreditRiskData,
    Standardizer,
    bayes_optimal_accuracy,
    bayes_optimal_log_loss,
    make_credit_risk,
    stratified_split,
)
from .gradcheck import GOOD, gradient_check
from .nn import Sequential, get_loss, mlp
from .optim import GradientDescent
from .training import History, prepare_targets, train
from .validation import InputError

#: Called once after each training run, so a caller can drive a progress bar.
Tick = Callable[[], None]

N_INPUTS = len(FEATURES)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Every setting of the experiments. The defaults reproduce the report.

    ``n`` borrowers (80% train, 20% test), ``epochs`` of full-batch gradient descent at
    learning rate ``lr`` from weights ``init_scale * N(0, 1)``. The learning-rate sweep
    repeats each rate over ``n_seeds`` seeds (``seed``, ``seed + 1``, ...), each with
    its own data, split and initial weights. The nonlinear data set, whose curved risk
    takes longer to fit, trains for ``nonlinear_epoch_factor * epochs`` epochs. A run
    whose loss exceeds ``divergence_factor`` times its first loss (or turns NaN/inf) is
    stopped and recorded as diverged.
    """

    n: int = 5000
    seed: int = 0
    epochs: int = 500
    lr: float = 0.1
    init_scale: float = 0.01
    hidden: int = 8
    test_size: float = 0.2
    learning_rates: tuple[float, ...] = (0.001, 0.01, 0.1)
    large_learning_rates: tuple[float, ...] = (1.0, 10.0, 30.0)
    n_seeds: int = 5
    nonlinear_epoch_factor: int = 4
    gradcheck_eps: float = 1e-5
    divergence_factor: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 100:
            raise InputError(f"n must be an integer of at least 100 borrowers; got {self.n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.epochs, int) or self.epochs < 2:
            raise InputError(f"epochs must be an integer of at least 2; got {self.epochs!r}")
        for name in ("lr", "init_scale", "gradcheck_eps", "divergence_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number; got {value!r}")
        if not 0.05 <= self.test_size <= 0.5:
            raise InputError(f"test_size must be in [0.05, 0.5]; got {self.test_size!r}")
        if self.hidden < 1 or self.n_seeds < 1 or self.nonlinear_epoch_factor < 1:
            raise InputError("hidden, n_seeds and nonlinear_epoch_factor must be at least 1")
        rates = (*self.learning_rates, *self.large_learning_rates)
        if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
            raise InputError(f"learning rates must be positive numbers; got {rates}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the learning-rate sweep: seed, seed + 1, ..., seed + n_seeds - 1."""
        return tuple(self.seed + k for k in range(self.n_seeds))

    @property
    def nonlinear_epochs(self) -> int:
        return self.nonlinear_epoch_factor * self.epochs

    @property
    def architecture(self) -> str:
        return f"{N_INPUTS}-{self.hidden}-1"


def planned_runs(config: Config) -> int:
    """How many training runs :func:`run_all` makes (one progress tick each)."""
    sweep = len(config.learning_rates) + len(config.large_learning_rates)
    # forward-only and backprop in the engine and in the textbook loop, the sweep,
    # one nonlinear run.
    return 4 + sweep * config.n_seeds + 1


# ---------------------------------------------------------------------------------------
# Shared pieces: data split, initial network, evaluation
# ---------------------------------------------------------------------------------------
@dataclass
class Split:
    """A stratified train/test split, standardised with the training split's statistics."""

    data: CreditRiskData
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    p_train: np.ndarray
    p_test: np.ndarray
    scaler: Standardizer
    train_index: np.ndarray
    test_index: np.ndarray


def make_split(n: int, seed: int, *, test_size: float = 0.2, nonlinear: bool = False) -> Split:
    """Draw ``n`` borrowers with ``seed``, split them (same seed), standardise."""
    data = make_credit_risk(n, seed=seed, nonlinear=nonlinear)
    X_train, X_test, y_train, y_test = stratified_split(
        data.X, data.y, test_size=test_size, seed=seed
    )
    scaler = Standardizer().fit(X_train)
    p = data.p_default.to_numpy()
    return Split(
        data=data,
        X_train=scaler.transform(X_train),
        X_test=scaler.transform(X_test),
        y_train=y_train.to_numpy(),
        y_test=y_test.to_numpy(),
        p_train=p[X_train.index.to_numpy()],
        p_test=p[X_test.index.to_numpy()],
        scaler=scaler,
        train_index=X_train.index.to_numpy(),
        test_index=X_test.index.to_numpy(),
    )


def initial_params(config: Config, seed: int) -> dict[str, np.ndarray]:
    """The tutorial's initial weights ``W = init_scale * N(0, 1)``, ``b = 0`` (textbook layout)."""
    return textbook.init_params(N_INPUTS, config.hidden, seed=seed, scale=config.init_scale)


def initial_network(config: Config, seed: int) -> Sequential:
    """The engine's 7-8-1 network holding exactly the weights of :func:`initial_params`."""
    model = mlp(N_INPUTS, hidden=(config.hidden,), seed=seed)
    model.set_params(initial_params(config, seed))
    return model


def evaluate(model: Sequential, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(binary cross-entropy in nats, accuracy) of ``model`` on (X, y)."""
    loss = get_loss("bce")
    targets = prepare_targets(loss, y, X.shape[0], 1)
    with np.errstate(all="ignore"):  # a diverged model may hold inf; the result says so
        z = model.predict_logits(X)
        return float(loss.forward(z, targets)), float(loss.accuracy(z, targets))


def dead_unit_share(params: dict[str, np.ndarray], X: np.ndarray) -> float:
    """Share of hidden ReLU units with output 0 for every row: max_i (X W1 + b1)_ij <= 0."""
    z1 = X @ params["W1"] + np.reshape(params["b1"], (1, -1))
    return float(np.mean(np.max(z1, axis=0) <= 0.0))


@dataclass
class Baseline:
    """Logistic regression (scikit-learn, default L2 penalty C=1) on the same split."""

    train_accuracy: float
    train_log_loss: float
    test_accuracy: float
    test_log_loss: float


def logistic_baseline(split: Split) -> Baseline:
    """Fit ``LogisticRegression`` on the standardised training split; score both splits."""
    clf = LogisticRegression(max_iter=1000).fit(split.X_train, split.y_train)
    p_train = clf.predict_proba(split.X_train)[:, 1]
    p_test = clf.predict_proba(split.X_test)[:, 1]
    return Baseline(
        train_accuracy=float(np.mean((p_train > 0.5) == split.y_train)),
        train_log_loss=float(log_loss(split.y_train, p_train, labels=[0, 1])),
        test_accuracy=float(np.mean((p_test > 0.5) == split.y_test)),
        test_log_loss=float(log_loss(split.y_test, p_test, labels=[0, 1])),
    )


@dataclass
class Bayes:
    """The Bayes-optimal classifier [p_default > 1/2] and the true probabilities' log loss."""

    train_accuracy: float
    train_log_loss: float
    test_accuracy: float
    test_log_loss: float


def bayes_reference(split: Split) -> Bayes:
    return Bayes(
        train_accuracy=bayes_optimal_accuracy(split.y_train, split.p_train),
        train_log_loss=bayes_optimal_log_loss(split.y_train, split.p_train),
        test_accuracy=bayes_optimal_accuracy(split.y_test, split.p_test),
        test_log_loss=bayes_optimal_log_loss(split.y_test, split.p_test),
    )


def _tick(tick: Tick | None) -> None:
    if tick is not None:
        tick()


# ---------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------
@dataclass
class FeatureSummary:
    name: str
    mean: float
    std: float
    min: float
    median: float
    max: float


@dataclass
class DataSummary:
    """What the network learns from: sizes, default rates, feature summaries, ceilings."""

    n: int
    n_train: int
    n_test: int
    seed: int
    default_rate: float
    default_rate_train: float
    default_rate_test: float
    features: list[FeatureSummary]
    bayes: Bayes


def data_summary(config: Config, split: Split | None = None) -> DataSummary:
    """Summaries of the seven raw features and the default rate of the default data set."""
    split = split or make_split(config.n, config.seed, test_size=config.test_size)
    X, y = split.data.X, split.data.y.to_numpy()
    features = [
        FeatureSummary(
            name=name,
            mean=float(X[name].mean()),
            std=float(X[name].std(ddof=0)),
            min=float(X[name].min()),
            median=float(X[name].median()),
            max=float(X[name].max()),
        )
        for name in FEATURES
    ]
    return DataSummary(
        n=len(y),
        n_train=len(split.y_train),
        n_test=len(split.y_test),
        seed=config.seed,
        default_rate=float(y.mean()),
        default_rate_train=float(split.y_train.mean()),
        default_rate_test=float(split.y_test.mean()),
        features=features,
        bayes=bayes_reference(split),
    )


# ---------------------------------------------------------------------------------------
# The default run: lr = config.lr from the tutorial's initial weights. Experiments 1, 4
# and 6 all read it, so it is trained once.
# ---------------------------------------------------------------------------------------
@dataclass
class DefaultRun:
    """The 7-8-1 network trained at ``lr`` on the default data, with everything recorded.

    Curves have one value per epoch, measured with the weights at the start of that
    epoch (before its update), as the tutorial records its loss. ``final_*`` are
    measured after the last update. ``dead_share[e]`` is the share of hidden units that
    output 0 for every training row at the start of epoch e.
    """

    lr: float
    seed: int
    epochs: int
    engine: str
    loss: list[float]
    accuracy: list[float]
    test_loss: list[float]
    test_accuracy: list[float]
    grad_norms: dict[str, list[float]]
    dead_share: list[float]
    status: str
    diverged_at: int | None
    divergence_reason: str | None
    final_train_loss: float
    final_train_accuracy: float
    final_test_loss: float
    final_test_accuracy: float
    final_dead_share: float
    params: dict[str, np.ndarray] = field(repr=False)


def default_run(config: Config, split: Split) -> DefaultRun:
    """Train the default network once, recording train/test curves, gradients, dead units."""
    model = initial_network(config, config.seed)
    dead = [dead_unit_share(model.params, split.X_train)]

    def record_dead_units(epoch: int, model: Sequential, history: History) -> bool:
        dead.append(dead_unit_share(model.params, split.X_train))  # start of epoch + 1
        return False

    history = train(
        model,
        split.X_train,
        split.y_train,
        optimizer=GradientDescent(config.lr),
        epochs=config.epochs,
        validation_data=(split.X_test, split.y_test),
        track_gradients=True,
        callback=record_dead_units,
        divergence_factor=config.divergence_factor,
    )
    train_loss, train_acc = evaluate(model, split.X_train, split.y_train)
    test_loss, test_acc = evaluate(model, split.X_test, split.y_test)
    return DefaultRun(
        lr=config.lr,
        seed=config.seed,
        epochs=config.epochs,
        engine=history.engine,
        loss=history.loss,
        accuracy=history.accuracy,
        test_loss=history.val_loss,
        test_accuracy=history.val_accuracy,
        grad_norms=history.grad_norms,
        dead_share=dead[: history.epochs],
        status=history.status,
        diverged_at=history.diverged_at,
        divergence_reason=history.divergence_reason,
        final_train_loss=train_loss,
        final_train_accuracy=train_acc,
        final_test_loss=test_loss,
        final_test_accuracy=test_acc,
        final_dead_share=dead[-1],
        params=model.get_params(),
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


# ---------------------------------------------------------------------------------------
# 3. Gradient check
# ---------------------------------------------------------------------------------------
@dataclass
class GradientCheckRow:
    param: str
    shape: str
    max_rel_error: float
    checked: int
    kinks_excluded: int


@dataclass
class GradientCheckReport:
    """Backprop against central differences for every entry of every parameter array,
    at the initial weights and at the trained weights of the default run, on the
    training rows."""

    threshold: float
    eps: float
    n_rows: int
    at_init: list[GradientCheckRow]
    trained: list[GradientCheckRow]

    @property
    def max_rel_error(self) -> float:
        return max(r.max_rel_error for r in (*self.at_init, *self.trained))

    @property
    def passed(self) -> bool:
        return self.max_rel_error < self.threshold


def gradient_check_experiment(
    config: Config, split: Split, run: DefaultRun | None = None
) -> GradientCheckReport:
    run = run or default_run(config, split)
    tables = []
    for params in (initial_params(config, config.seed), run.params):
        model = initial_network(config, config.seed)
        model.set_params(params)
        result = gradient_check(
            model, split.X_train, split.y_train, eps=config.gradcheck_eps, tolerance=GOOD
        )
        tables.append([GradientCheckRow(**row) for row in result.rows()])
    return GradientCheckReport(
        threshold=GOOD,
        eps=config.gradcheck_eps,
        n_rows=len(split.y_train),
        at_init=tables[0],
        trained=tables[1],
    )


# ---------------------------------------------------------------------------------------
# 4. Generalisation
# ---------------------------------------------------------------------------------------
@dataclass
class Generalisation:
    """Train and held-out test curves of the default run, against Bayes and a baseline."""

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

    @property
    def gap_to_bayes_accuracy(self) -> float:
        """Bayes-optimal test accuracy minus the network's (positive: below the ceiling)."""
        return self.bayes.test_accuracy - self.final_test_accuracy


def generalisation(config: Config, split: Split, run: DefaultRun | None = None) -> Generalisation:
    run = run or default_run(config, split)
    best = int(np.argmin(run.test_loss))
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
# 6. Inside backprop: gradient norms per layer, dead ReLU units
# ---------------------------------------------------------------------------------------
@dataclass
class InsideBackprop:
    """Per-layer gradient norms ||(dJ/dW_l, dJ/db_l)|| and dead hidden units per epoch.

    ``steepest_epoch`` is the epoch whose update lowered the training loss most;
    ``peak_epoch`` the epoch at which layer 1's gradient norm was largest.
    """

    lr: float
    epochs: int
    layer_norms: dict[str, list[float]]
    param_norms: dict[str, list[float]]
    dead_share: list[float]
    final_dead_share: float
    n_hidden: int
    first_ratio: float
    peak_epoch: int
    peak_norm: float
    steepest_epoch: int
    steepest_drop: float


def inside_backprop(config: Config, run: DefaultRun) -> InsideBackprop:
    g = {k: np.asarray(v) for k, v in run.grad_norms.items()}
    layers = {f"layer {i}": np.sqrt(g[f"W{i}"] ** 2 + g[f"b{i}"] ** 2).tolist() for i in (1, 2)}
    l1, l2 = np.asarray(layers["layer 1"]), np.asarray(layers["layer 2"])
    drops = -np.diff(run.loss)
    steepest = int(np.argmax(drops)) if drops.size else 0
    return InsideBackprop(
        lr=run.lr,
        epochs=run.epochs,
        layer_norms=layers,
        param_norms={k: list(v) for k, v in run.grad_norms.items()},
        dead_share=run.dead_share,
        final_dead_share=run.final_dead_share,
        n_hidden=config.hidden,
        first_ratio=float(l1[0] / l2[0]) if l2[0] > 0 else math.inf,
        peak_epoch=int(np.argmax(l1)),
        peak_norm=float(np.max(l1)),
        steepest_epoch=steepest,
        steepest_drop=float(drops[steepest]) if drops.size else 0.0,
    )


# ---------------------------------------------------------------------------------------
# Everything
# ---------------------------------------------------------------------------------------
@dataclass
class Results:
    """The results of every experiment, for one Config."""

    config: Config
    data: DataSummary
    run: DefaultRun
    forward_vs_backprop: ForwardVsBackprop
    learning_rates: LearningRateSweep
    gradient_check: GradientCheckReport
    generalisation: Generalisation
    hidden_layer: HiddenLayer
    inside_backprop: InsideBackprop
    split: Split = field(repr=False)


def run_all(config: Config | None = None, tick: Tick | None = None) -> Results:
    """Run every experiment; ``tick`` is called after each of :func:`planned_runs` runs."""
    config = config or Config()
    split = make_split(config.n, config.seed, test_size=config.test_size)
    run = default_run(config, split)
    fb = forward_vs_backprop(config, split, run, tick=tick)
    as_sweep_run = LearningRateRun(
        run.lr,
        run.seed,
        run.loss,
        run.accuracy,
        run.status,
        run.diverged_at,
        run.divergence_reason,
    )
    sweep = learning_rate_sweep(
        config, tick=tick, splits={config.seed: split}, known={(run.lr, run.seed): as_sweep_run}
    )
    gen = generalisation(config, split, run)
    return Results(
        config=config,
        data=data_summary(config, split),
        run=run,
        forward_vs_backprop=fb,
        learning_rates=sweep,
        gradient_check=gradient_check_experiment(config, split, run),
        generalisation=gen,
        hidden_layer=hidden_layer(config, gen, tick=tick),
        inside_backprop=inside_backprop(config, run),
        split=split,
    )
