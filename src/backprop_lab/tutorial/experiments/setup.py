"""The experiments' shared set-up: settings, the data split, the tutorial's initial network,
evaluation, the baselines (logistic regression, Bayes-optimal), the data summary and the
default training run that experiments 1, 4 and 6 read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ... import textbook
from ...data.synthetic import (
    FEATURES,
    CreditRiskData,
    Standardizer,
    bayes_optimal_accuracy,
    bayes_optimal_log_loss,
    make_credit_risk,
    stratified_split,
)
from ...engine.training import History, prepare_targets, train
from ...nn import Sequential, get_loss, mlp
from ...nn.optim import GradientDescent
from ..config import N_INPUTS, Config

#: Called once after each training run, so a caller can drive a progress bar.
Tick = Callable[[], None]


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


def row_losses(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's binary cross-entropy (nats) under the 7-8-1 network holding ``params``:
    l_i = -[y_i log y_hat_i + (1 - y_i) log(1 - y_hat_i)]; their mean is :func:`evaluate`'s loss."""
    model = mlp(X.shape[1], hidden=(params["W1"].shape[1],))
    model.set_params(params)
    loss = get_loss("bce")
    targets = prepare_targets(loss, y, X.shape[0], 1)
    with np.errstate(all="ignore"):  # a diverged model may hold inf; the result says so
        return np.asarray(loss.per_row(model.predict_logits(X), targets), dtype=np.float64)


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of ``values``: sd / sqrt(n) (sample sd, ddof = 1)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2:
        return float("nan")
    return float(np.std(values, ddof=1) / np.sqrt(values.size))


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
