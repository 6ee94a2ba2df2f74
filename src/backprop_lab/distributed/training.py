"""``fit_collection``: BackpropClassifier.fit on a dask array or dataframe.

The same steps as the in-memory ``fit`` with ``batch_size=None`` (full batch), each
iteration's sum over rows computed partition by partition on the workers:

1. one pass over the partitions for the labels: classes, counts and weights per class
   (all rows and the validation share), which fix the classes, 'auto' early stopping,
   'balanced' class weights, the L2 strength alpha / N and the output bias's start;
2. the partitions' rows checked and made ready on the workers (kept in worker memory
   with ``persist=True``, the default; read again every iteration with ``persist=False``);
3. per iteration: theta to every partition, S_p back (partials.py; persisted partitions
   in one task per worker thread, objective.py), added in a fixed tree over the partition
   index; J = S_loss / S_w + (l2/2) sum ||W||^2 and dJ/dtheta = S_grad / S_w + l2 W;
   then the optimiser's step on the client (gd, momentum, Adam: the fused engine's own
   step; 'lbfgs': engine.lbfgs.minimize_lbfgs calls the same objective).

Early stopping holds out the rows whose seeded row hash (partials.row_uniform) falls
below ``validation_fraction``: a function of each row's values, so the same rows
whatever the partitioning (not the in-memory fit's stratified split, so an early-stopped
fit matches the in-memory one only in distribution).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ..classifier.averaging import DEFAULT_ALPHA
from ..classifier.early_stopping import TrainingMonitor
from ..classifier.estimator import MIN_VALIDATION_ROWS, chosen_optimizer
from ..engine.base import became_nonfinite, nonfinite_array, nonfinite_loss
from ..engine.fused.kernels import optimizer_step
from ..engine.fused.layout import LOSS_CODES, OPTIMIZER_CODES, supported_network
from ..engine.fused.records import OptimizerSettings
from ..engine.training import History
from ..nn import get_loss
from ..nn.optim import get_optimizer
from .cluster import current_client, require_dask
from .objective import Objective
from .partials import RowSpec, as_frame, prepare, split_mask, tree_sum

#: progress(iteration from 1, J, seconds the iteration took)
Progress = Callable[[int, float, float], None]

#: As training.train: a loss above this many times the first epoch's is divergence.
DIVERGENCE_FACTOR = 10.0


# ---- the collection's partitions --------------------------------------------------------------
_Y, _W = "__backprop_lab_y__", "__backprop_lab_w__"


def _take(frame: Any, columns: list) -> Any:
    return frame[columns]


def _column(frame: Any, name: str) -> Any:
    return frame[name]


def partitions(X: Any, y: Any, sample_weight: Any = None) -> tuple[list, list, list, list[str]]:
    """Aligned per-partition pieces (delayed objects or arrays) of X, y and the weights,
    and X's column names (empty for an array).

    A dataframe X and series y (and weights) are joined into one frame first, so their
    partitions are the same rows even where dask would partition each one differently
    (read_parquet may merge files for a narrow selection of columns).
    """
    import dask
    import dask.array as da
    import dask.dataframe as dd

    names: list[str] = []
    if isinstance(X, dd.DataFrame) and isinstance(y, dd.Series):
        names = [str(c) for c in X.columns]
        extra = {_Y: y}
        if isinstance(sample_weight, dd.Series):
            extra[_W] = sample_weight
        elif sample_weight is not None:
            raise TypeError("with a dask dataframe X, sample_weight must be a dask series")
        joined = X.assign(**extra).to_delayed()
        columns = list(X.columns)
        x_parts = [dask.delayed(_take)(part, columns) for part in joined]
        y_parts = [dask.delayed(_column)(part, _Y) for part in joined]
        w_parts = (
            [dask.delayed(_column)(part, _W) for part in joined]
            if sample_weight is not None
            else [None] * len(joined)
        )
        return x_parts, y_parts, w_parts, names
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D dask array; got {X.ndim} dimension(s)")
        X = X.rechunk({1: -1})
        x_parts = list(X.to_delayed().ravel())
        sizes = X.chunks[0]
    elif isinstance(X, dd.DataFrame):
        raise TypeError("with a dask dataframe X, y must be a dask series")
    else:
        raise TypeError(f"X must be a dask array or dataframe; got {type(X).__name__}")

    def aligned(values: Any, what: str) -> list:
        if values is None:
            return [None] * len(x_parts)
        if isinstance(values, da.Array):
            pieces = list(values.ravel().rechunk((sizes,)).to_delayed().ravel())
        elif isinstance(values, dd.Series | dd.DataFrame):
            raise TypeError(f"with a dask array X, {what} must be a dask or NumPy array")
        else:
            values = np.asarray(values).ravel()
            if values.shape[0] != sum(sizes):
                raise ValueError(f"{what} has {values.shape[0]} rows; X has {sum(sizes)}")
            bounds = np.cumsum([0, *sizes])
            pieces = [values[a:b] for a, b in itertools.pairwise(bounds)]
        return pieces

    return x_parts, aligned(y, "y"), aligned(sample_weight, "sample_weight"), names


def label_stats(y: Any, w: Any, val: np.ndarray) -> dict:
    """{label: [rows, sum sample weight, validation rows, validation sum weight]}."""
    y = np.asarray(y).ravel()
    sw = np.ones(y.shape[0]) if w is None else np.asarray(w, dtype=np.float64).ravel()
    stats: dict = {}
    for label in np.unique(y):
        rows = y == label
        key = label.item() if isinstance(label, np.generic) else label
        stats[key] = [int(rows.sum()), float(sw[rows].sum()), int((rows & val).sum()),
                      float(sw[rows & val].sum())]  # fmt: skip
    return stats


def _collection_stats(X: Any, y: Any, w: Any, fraction: float, seed: int) -> dict:
    """label_stats of a partition; fraction 0 (no early stopping) skips the row hash."""
    if fraction <= 0:
        return label_stats(y, w, np.zeros(np.shape(y)[0], dtype=bool))
    return label_stats(y, w, split_mask(as_frame(X, y, w), "val", fraction, seed))


class CollectionSource:
    """The partitions of a dask array or dataframe (X, y and sample weights)."""

    def __init__(self, X: Any, y: Any, sample_weight: Any = None) -> None:
        self.x_parts, self.y_parts, self.w_parts, self.names = partitions(X, y, sample_weight)
        self.weighted = sample_weight is not None
        self.n_features = int(X.shape[1])

    def label_stats(self, fraction: float, seed: int) -> list:
        import dask

        return [
            dask.delayed(_collection_stats)(x, yy, w, fraction, seed)
            for x, yy, w in zip(self.x_parts, self.y_parts, self.w_parts, strict=True)
        ]

    def parts(self, spec: RowSpec) -> list:
        import dask

        return [
            dask.delayed(prepare)(x, yy, w, spec, f"partition {i}")
            for i, (x, yy, w) in enumerate(
                zip(self.x_parts, self.y_parts, self.w_parts, strict=True)
            )
        ]


def _merge_stats(a: dict, b: dict) -> dict:
    out = {k: list(v) for k, v in a.items()}
    for k, v in b.items():
        out[k] = [p + q for p, q in zip(out.get(k, [0, 0.0, 0, 0.0]), v, strict=True)]
    return out


class _ValidationMonitor(TrainingMonitor):
    """TrainingMonitor whose validation log loss is summed over the validation partitions."""

    def __init__(self, clf: Any, objective: Objective) -> None:
        super().__init__(clf, None, None, None, None)
        self.objective = objective
        self.validating = True
        self.best = self._val_loss(clf.network_)
        self.best_params = clf.network_.get_params()
        self.reference = self.best

    def _val_loss(self, network: Any) -> float:
        return self.objective.data_loss(self.objective.network.flatten(network.params))


# ---- fit ----------------------------------------------------------------------------------------
def fit_collection(
    clf: Any,
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    persist: bool = True,
    client: Any = None,
    progress: Progress | None = None,
) -> Any:
    """Fit ``clf`` (a BackpropClassifier) on a dask array or dataframe X and labels y.

    Full batch only (``batch_size`` None); ``warm_start`` is not supported here. With the
    same data, partitioned any way, and ``early_stopping=False``, the loss curve and
    weights equal the in-memory ``clf.fit(X.compute(), y.compute())`` to rounding.
    ``progress(iteration, J, seconds)`` is called after every iteration.
    """
    require_dask()
    return fit_source(
        clf,
        CollectionSource(X, y, sample_weight),
        persist=persist,
        client=client,
        progress=progress,
    )


def fit_source(
    clf: Any,
    source: Any,
    *,
    persist: bool = True,
    client: Any = None,
    progress: Progress | None = None,
) -> Any:
    """``fit_collection`` for any source of partitions: an object with ``label_stats(fraction,
    seed)`` and ``parts(spec)`` (lists of delayed values), ``weighted``, ``n_features`` and
    ``names`` (CollectionSource; tabular.TableSource)."""
    import dask

    sizes = clf._check_hyperparameters()
    if clf.batch_size is not None:
        raise ValueError("a dask collection trains full batch: set batch_size=None")
    if clf.warm_start and hasattr(clf, "network_"):
        raise ValueError("warm_start is not supported for dask collections")
    client = client or current_client()
    names = source.names
    fraction = float(clf.validation_fraction)
    rng = check_random_state(clf.random_state)
    split_seed, init_seed, _ = (int(s) for s in rng.randint(0, 2**31 - 1, size=3))

    # 1. labels, one pass
    # the validation share's counts only where early stopping may use them
    leaves = source.label_stats(fraction if clf.early_stopping is not False else 0.0, split_seed)
    stats = client.compute(tree_sum(leaves, dask.delayed(_merge_stats))).result()
    classes = np.array(sorted(stats))
    clf._start(classes)
    counts = np.array([stats[c][0] for c in classes], dtype=np.int64)
    clf.n_features_in_ = source.n_features
    if names:
        clf.feature_names_in_ = np.array(names, dtype=object)
    elif hasattr(clf, "feature_names_in_"):
        del clf.feature_names_in_
    if clf.early_stopping == "auto":
        early = bool(counts.min() * fraction >= MIN_VALIDATION_ROWS)  # the estimator's rule
    else:
        early = bool(clf.early_stopping)
    clf.early_stopping_ = early
    class_weight = _class_weights(clf.class_weight, classes, counts)

    # 2. the rows, on the workers
    softmax = len(classes) > 2
    split = "train" if early else "all"
    spec = RowSpec(classes, softmax, class_weight, split, fraction, split_seed)
    train_parts = _rows(client, source.parts(spec), persist)
    take = 0 if not early else 1  # train side = all minus validation
    per_class = np.array([stats[c][1] - (stats[c][3] if take else 0.0) for c in classes])
    n_train = int(sum(stats[c][0] - (stats[c][2] if take else 0) for c in classes))
    if n_train == 0:
        raise ValueError("no training rows (lower validation_fraction)")

    if (
        getattr(clf, "monotonic_cst", None) is not None
        and clf._monotone_constraint(sizes) is not None
    ):
        raise ValueError("monotonic_cst is not supported on a dask collection")
    network = clf._build(sizes, clf.n_features_in_, init_seed)
    clf.network_ = network
    weighted_counts = per_class * (1.0 if class_weight is None else class_weight)
    clf._set_prior_bias(np.arange(len(classes)), weighted_counts)
    loss = get_loss(clf._loss_name)
    # 'auto' resolved on every row, as the in-memory fit resolves it
    clf.optimizer_ = chosen_optimizer(clf.optimizer, clf.batch_size, int(counts.sum()))
    optimizer = (
        None if clf.optimizer_ == "lbfgs" else get_optimizer(clf.optimizer_, clf.learning_rate)
    )
    fused = supported_network(network, loss, optimizer)
    n_scale = float(per_class.sum()) if source.weighted else float(n_train)
    # alpha='auto' averages fold networks only on files of fewer than 100,000 rows, which
    # need no cluster: a collection gets one network with the default alpha.
    clf.alpha_ = DEFAULT_ALPHA if clf.alpha == "auto" else float(clf.alpha)
    clf.cv_log_loss_, clf.n_networks_ = {}, 1
    l2 = clf.alpha_ / max(n_scale, 1e-12)
    objective = Objective(client, train_parts, fused, LOSS_CODES[type(loss)], l2)
    clf.loss_curve_, clf.validation_scores_, clf.n_iter_ = [], [], 0
    if early:
        val_spec = RowSpec(classes, softmax, class_weight, "val", fraction, split_seed)
        val_parts = _rows(client, source.parts(val_spec), persist)
        val_objective = Objective(client, val_parts, fused, LOSS_CODES[type(loss)], 0.0)
        monitor: TrainingMonitor = _ValidationMonitor(clf, val_objective)
    else:
        monitor = TrainingMonitor(clf, None, None, None, None)

    # 3. iterations
    if clf.optimizer_ == "lbfgs":
        history = _lbfgs(clf, objective, monitor, progress)
    else:
        history = _first_order(clf, objective, optimizer, monitor, progress)
    clf.loss_curve_ = list(history.loss)
    clf.n_iter_ = history.epochs
    clf.distributed_passes_ = objective.passes
    monitor.finish(history)
    return clf


def _class_weights(class_weight: Any, classes: np.ndarray, counts: np.ndarray) -> np.ndarray | None:
    """Weight by class index, as sklearn's compute_sample_weight: a dict, or 'balanced'
    n / (K count_k)."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        return counts.sum() / (len(classes) * counts.astype(np.float64))
    if isinstance(class_weight, dict):
        return np.array([float(class_weight.get(c, 1.0)) for c in classes])
    raise ValueError(f"class_weight must be a dict, 'balanced' or None; got {class_weight!r}")


def _rows(client: Any, parts: list, persist: bool):
    """Each partition's Part: futures held in worker memory, or (persist=False) the
    delayed recipe, read again by every pass."""
    from distributed import wait

    if not persist:
        return parts
    # partitions dealt to the workers in turn (a preference: a lost worker's partitions
    # are read again on another), so each worker sums an equal share in every pass
    workers = sorted(client.scheduler_info()["workers"])
    futures = [
        client.compute(part, workers=[workers[i % len(workers)]], allow_other_workers=True)
        for i, part in enumerate(parts)
    ]
    wait(futures)
    for future in futures:  # a bad value: raise its message (file/partition, row, column)
        if future.status == "error":
            future.result()
    return futures


def _first_order(clf: Any, objective: Objective, optimizer: Any, monitor: Any, progress):
    """gd / momentum / Adam, one full-batch step per iteration, as FusedEngine._full_batch
    and training.train compute it: J and g at theta, the checks, the step, the callback."""
    network, fused = clf.network_, objective.network
    theta = fused.flatten(network.params)
    m = np.zeros(fused.n_params)
    v = np.zeros(fused.n_params)
    t = 0
    settings = OptimizerSettings(
        rule=OPTIMIZER_CODES[type(optimizer)],
        lr=float(optimizer.lr),
        momentum=float(getattr(optimizer, "momentum", 0.0)),
        nesterov=bool(getattr(optimizer, "nesterov", False)),
        beta1=float(getattr(optimizer, "beta1", 0.0)),
        beta2=float(getattr(optimizer, "beta2", 0.0)),
        eps=float(getattr(optimizer, "eps", 0.0)),
    )
    history = History(engine="dask")
    for epoch in range(int(clf.max_epochs)):
        start = time.perf_counter()
        value, grad = objective(theta)
        reason = nonfinite_loss(value)
        if reason is None and not np.all(np.isfinite(grad)):
            reason = became_nonfinite(fused.name_of(int(np.argmin(np.isfinite(grad)))))
        if reason is None:
            t = optimizer_step(settings, theta, grad, m, v, t)
            fused.unflatten(theta, network.params)
            first = history.loss[0] if history.loss else None
            if first is not None and value > DIVERGENCE_FACTOR * max(first, 1e-12):
                reason = f"loss {value:.4g} exceeds {DIVERGENCE_FACTOR:g} x the first epoch's {first:.4g}"
            else:
                history.loss.append(value)
                reason = nonfinite_array(network.params)
        if reason is not None:
            history.status, history.diverged_at, history.divergence_reason = (
                "diverged",
                epoch,
                reason,
            )
            break
        if progress is not None:
            progress(epoch + 1, value, time.perf_counter() - start)
        if monitor(epoch, network, history):
            break
    return history


def _lbfgs(clf: Any, objective: Objective, monitor: Any, progress):
    """L-BFGS on the distributed objective (one pass per evaluation), recorded as
    engine.lbfgs.train_lbfgs records it: J after each iteration, the model updated after
    every iteration and to the last iterate at the end."""
    from ..engine.lbfgs import LBFGS, minimize_lbfgs

    settings = LBFGS(tol=float(clf.tol))
    network, fused = clf.network_, objective.network
    history = History(engine="dask")
    last = [time.perf_counter()]

    def callback(iteration: int, theta: np.ndarray, value: float) -> bool:
        fused.unflatten(np.asarray(theta), network.params)
        history.loss.append(float(value))
        now = time.perf_counter()
        if progress is not None:
            progress(iteration, float(value), now - last[0])
        last[0] = now
        return bool(monitor(iteration - 1, network, history))

    result = minimize_lbfgs(
        objective,
        fused.flatten(network.params).astype(np.float64),
        max_iter=int(clf.max_epochs),
        tol=settings.tol,
        callback=callback,
        ftol=settings.ftol,
        memory=settings.memory,
        max_fun=settings.max_fun,
    )
    fused.unflatten(np.asarray(result.theta), network.params)
    history.converged, history.message = result.converged, result.message
    history.evaluations = result.n_fun
    if result.diverged:
        history.status, history.diverged_at = "diverged", result.n_iter
        history.divergence_reason = result.message
    return history
