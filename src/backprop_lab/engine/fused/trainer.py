"""The fused engine's Python side: threads, batches, the engine object, and prediction.

Python turns the model, data and optimiser into the kernels' named values
(records.Rows, records.Net, records.OptimizerSettings), runs the kernels (a full batch's
chunks on a thread pool, a mini-batch epoch as one compiled loop) and copies the results
back into the model and the optimiser between epochs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..._util.validation import check_class_indices
from ...nn.losses import Loss, SoftmaxCrossEntropy, get_loss
from ...nn.model import Sequential
from ...nn.optim import Adam, Momentum, Optimizer
from ..base import Engine, EpochResult, became_nonfinite, nonfinite_loss
from .kernels import (
    block_size,
    chunk_count,
    finish_batch,
    normaliser,
    optimizer_step,
    predict,
    run_chunks,
    train_epoch,
    weight_total,
)
from .layout import (
    LOSS_CODES,
    OPTIMIZER_CODES,
    FusedNetwork,
    compile_network,
    supported_network,
)
from .records import EpochOutcome, Net, OptimizerSettings, Rows, Status

_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_WEIGHTS = np.zeros(0, dtype=np.float64)
_NO_CLASSES = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0), dtype=np.float64)

#: A full batch of fewer rows runs on the calling thread, as one compiled call per epoch:
#: handing its chunks to the pool costs more than it saves. The chunks, and so the
#: result, are the same on either path (they depend on N only).
SERIAL_ROWS = 2**15


def _rows(X: np.ndarray, loss: Loss, y: np.ndarray, sample_weight: np.ndarray | None) -> Rows:
    """The kernels' view of the data, in row order: float targets of shape (N, K) or, for
    softmax, class indices of shape (N,); sample weights when given."""
    if type(loss) is SoftmaxCrossEntropy:
        targets, classes = _NO_TARGETS, np.ascontiguousarray(y, dtype=np.int64)
    else:
        targets, classes = np.ascontiguousarray(y, dtype=np.float64), _NO_CLASSES
    weights = (
        _NO_WEIGHTS
        if sample_weight is None
        else np.ascontiguousarray(sample_weight, dtype=np.float64)
    )
    return Rows(X, targets, classes, weights, _NO_ROWS)


def _net(network: FusedNetwork, theta: np.ndarray) -> Net:
    return Net(theta, network.layout, network.slopes)


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_thread_count: int | None = None


def get_threads() -> int:
    """Threads that share the blocks of a batch: ``set_threads``'s value, else the
    NUMBA_NUM_THREADS setting (by default, the number of CPU cores)."""
    return _thread_count or max(1, int(numba.config.NUMBA_NUM_THREADS))


def set_threads(count: int | None) -> None:
    """Use ``count`` threads for the blocks of a batch (None: back to the default).

    The results do not depend on it: blocks are combined in a fixed order.
    """
    global _thread_count
    if count is not None and int(count) < 1:
        raise ValueError(f"the thread count must be at least 1; got {count}")
    _thread_count = None if count is None else int(count)


def _run_tasks(tasks: list[Callable[[], None]]) -> None:
    """Run callables on the shared thread pool (they release the GIL) and wait for all."""
    global _pool
    if len(tasks) == 1:
        tasks[0]()
        return
    with _pool_lock:
        if _pool is None or _pool[0] != get_threads():
            if _pool is not None:
                _pool[1].shutdown(wait=False)
            _pool = (get_threads(), ThreadPoolExecutor(get_threads(), thread_name_prefix="fused"))
        pool = _pool[1]
    for future in [pool.submit(task) for task in tasks]:
        future.result()


def _batch(
    network: FusedNetwork,
    theta: np.ndarray,
    data: Rows,
    loss_code: int,
    l2: float,
    grad: np.ndarray | None,
    divisor: float | None = None,
) -> tuple[float, float]:
    """(J, accuracy) over all rows of ``data``, the chunks spread over threads; fills
    ``grad`` with dJ/dtheta when given. The result does not depend on the number of threads.

    Each row's loss is weighted by w_i / w_sum, w_sum = sum_i w_i (N without weights):
    J is the weighted mean. With ``divisor`` (and explicit weights), by w_i / divisor.
    """
    n = data.X.shape[0]
    w_sum = weight_total(data.weights) if data.weights.size else float(n)
    w_sum = normaliser(w_sum if divisor is None else float(divisor))
    block = block_size(n, network.max_block)
    n_chunks = chunk_count((n + block - 1) // block)
    out = np.empty((n_chunks, network.n_params + 2))
    need_grad = grad is not None
    # Two tasks per thread balance the load; small batches run on the calling thread.
    n_tasks = 1 if n < SERIAL_ROWS else min(n_chunks, 2 * get_threads())
    net = _net(network, theta)

    def task(first: int, last: int) -> Callable[[], None]:
        return lambda: run_chunks(
            data, net, loss_code, need_grad, 0, n, w_sum, block, first, last, out
        )

    _run_tasks(
        [task(i * n_chunks // n_tasks, (i + 1) * n_chunks // n_tasks) for i in range(n_tasks)]
    )
    value, accuracy = finish_batch(
        out,
        theta,
        network.layout,
        float(l2),
        w_sum,
        need_grad,
        grad if need_grad else np.zeros(0),
    )
    return float(value), float(accuracy)


def _prepared(
    model: Sequential, X: ArrayLike, y: ArrayLike, loss: Loss, sample_weight: ArrayLike | None
) -> tuple[FusedNetwork, Rows]:
    """The model as a FusedNetwork and (X, y, weights) as the kernels' Rows, checked."""
    network = supported_network(model, loss)
    X = np.ascontiguousarray(X, dtype=model.dtype)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != model.n_inputs:
        raise ValueError(f"X must have shape (N, {model.n_inputs}); got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("cannot compute a loss on 0 rows")
    if loss.takes_class_indices:  # the kernels would read a class -1 or K out of bounds
        y = check_class_indices(y, n_classes=model.n_outputs, n_rows=X.shape[0])
    expected = (X.shape[0],) if loss.takes_class_indices else (X.shape[0], model.n_outputs)
    if y.shape != expected:
        raise ValueError(
            f"targets of shape {y.shape} do not match outputs of shape {expected}; "
            "refusing to broadcast"
        )
    weights = None if sample_weight is None else np.asarray(sample_weight)
    return network, _rows(X, loss, y, weights)


def fused_loss_and_gradients(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    loss: str | Loss,
    *,
    l2: float = 0.0,
    sample_weight: ArrayLike | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """J = L(z(X), y) + (l2 / 2) sum_l ||W_l||^2 and dJ/dtheta, as ``model.loss_and_gradients``.

    Takes the same (already prepared) arrays: X of shape (N, n_inputs), y shaped like the
    outputs (class indices for softmax). Gradients come back in the model's dtype. Unlike
    the reference, the layers' caches are left untouched. Raises ValueError for models or
    losses the fused engine does not implement.
    """
    loss = get_loss(loss)
    network, data = _prepared(model, X, y, loss, sample_weight)
    theta = network.flatten(model.params)
    grad = np.zeros(network.n_params)
    value, _ = _batch(network, theta, data, LOSS_CODES[type(loss)], l2, grad)
    return value, network.unflatten(grad)


def fused_loss(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    loss: str | Loss,
    *,
    sample_weight: ArrayLike | None = None,
) -> float:
    """L(z(X), y), the weighted mean loss without penalty: forward and loss in one pass
    over X (no gradient, nothing of size N kept), on the threads. The same number as
    ``fused_loss_and_gradients(...)[0]`` with l2 = 0; arrays as it takes them."""
    loss = get_loss(loss)
    network, data = _prepared(model, X, y, loss, sample_weight)
    theta = network.flatten(model.params)
    return _batch(network, theta, data, LOSS_CODES[type(loss)], 0.0, None)[0]


def flat_loss_and_gradient(
    network: FusedNetwork,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    loss: Loss,
    *,
    l2: float = 0.0,
    sample_weight: np.ndarray | None = None,
    divisor: float | None = None,
) -> tuple[float, np.ndarray]:
    """J and dJ/dtheta (float64) at the flat parameters ``theta`` (the network's dtype).

        J = sum_i w_i l_i / D + (l2 / 2) sum_l ||W_l||^2,   D = ``divisor`` or sum_i w_i

    (w_i = 1 without weights). With the default D this is ``fused_loss_and_gradients``'s
    weighted mean; with D = 1 and l2 = 0 it is the plain sum sum_i w_i l_i of a block of
    rows, whose blocks add up to the sum over all rows. The arrays must already be
    prepared: X contiguous in the network's dtype with n_inputs columns, y of shape
    (N, n_outputs) float or, for softmax, (N,) class indices in 0..K-1 (they are not
    checked here: this runs once per function evaluation).
    """
    if divisor is not None and sample_weight is None:
        sample_weight = np.ones(X.shape[0])  # the kernels' unweighted mode divides by N
    data = _rows(X, loss, y, sample_weight)
    grad = np.zeros(network.n_params)
    value, _ = _batch(network, theta, data, LOSS_CODES[type(loss)], l2, grad, divisor)
    return value, grad


def predict_logits(model: Sequential, X: ArrayLike, *, block_rows: int = 4096) -> np.ndarray:
    """The model's outputs z for every row of X, computed ``block_rows`` rows at a time.

    Equal to ``model.predict_logits(X)`` (to rounding), but the memory used beyond the
    (N, K) result is a few blocks per thread, whatever N is; like it, it keeps nothing in
    the layers. Models the fused engine cannot run are evaluated with their own layers'
    ``predict``, block by block.
    """
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive integer; got {block_rows}")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != model.n_inputs:
        raise ValueError(f"X must have shape (N, {model.n_inputs}); got {X.shape}")
    out = np.empty((X.shape[0], model.n_outputs), dtype=model.dtype)
    network = compile_network(model)
    if isinstance(network, str):
        for start in range(0, X.shape[0], block_rows):
            block = np.asarray(X[start : start + block_rows], dtype=model.dtype)
            out[start : start + block_rows] = model.predict_logits(block)
        return out
    net = _net(network, network.flatten(model.params))
    block = int(block_rows)

    def task(start: int, stop: int) -> Callable[[], None]:
        def run() -> None:
            for lo in range(start, stop, 16 * block):  # converts at most 16 blocks at a time
                hi = min(stop, lo + 16 * block)
                part = np.ascontiguousarray(X[lo:hi], dtype=model.dtype)
                predict(part, net, block, out[lo:hi])

        return run

    n_tasks = max(1, min(get_threads(), X.shape[0] // (4 * block)))
    bounds = [i * X.shape[0] // n_tasks for i in range(n_tasks + 1)]
    _run_tasks([task(bounds[i], bounds[i + 1]) for i in range(n_tasks)])
    return out


class FusedEngine(Engine):
    """Runs training epochs with the compiled kernels (see ``engine.base.Engine``).

    Between epochs the parameters and the optimiser's state live in the model and the
    optimiser as usual (so callbacks, checkpoints and later reference training see them);
    each epoch copies them into flat vectors, runs compiled, and copies them back.
    A full-batch epoch of at least SERIAL_ROWS rows spreads its blocks over threads; a
    smaller one, and a mini-batch epoch, run as one compiled loop over the epoch's batches
    (a step needs the previous step's parameters).
    Raises ValueError for a model, loss or optimiser the kernels do not implement.
    """

    name = "fused"

    def __init__(
        self,
        model: Sequential,
        X: np.ndarray,
        y: np.ndarray,
        loss: Loss,
        optimizer: Optimizer,
        *,
        l2: float = 0.0,
        sample_weight: np.ndarray | None = None,
        backprop: bool = True,
        track_gradients: bool = False,
    ) -> None:
        self.network = supported_network(model, loss, optimizer)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.loss_code = LOSS_CODES[type(loss)]
        self.data = _rows(np.ascontiguousarray(X, dtype=model.dtype), loss, y, sample_weight)
        self.l2, self.backprop = float(l2), bool(backprop)
        self.track = bool(track_gradients) and self.backprop

    def _state(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The optimiser's state as flat vectors (m, v) and its step count."""
        opt, empty = self.optimizer, np.zeros(0, self.network.dtype)
        if isinstance(opt, Momentum):
            return self.network.flatten(opt.velocity), empty, 0
        if isinstance(opt, Adam):
            return self.network.flatten(opt.m), self.network.flatten(opt.v), opt.t
        return empty, empty, 0

    def _store_state(self, m: np.ndarray, v: np.ndarray, t: int) -> None:
        opt = self.optimizer
        if isinstance(opt, Momentum):
            self.network.unflatten(m, opt.velocity)
        elif isinstance(opt, Adam):
            self.network.unflatten(m, opt.m)
            self.network.unflatten(v, opt.v)
            opt.t = t

    def _settings(self) -> OptimizerSettings:
        """The optimiser's rule and hyper-parameters, read afresh every epoch (a callback
        may change the learning rate), each converted to the one type the kernels take."""
        opt = self.optimizer
        return OptimizerSettings(
            rule=OPTIMIZER_CODES[type(opt)],
            lr=float(opt.lr),
            momentum=float(getattr(opt, "momentum", 0.0)),
            nesterov=bool(getattr(opt, "nesterov", False)),
            beta1=float(getattr(opt, "beta1", 0.0)),
            beta2=float(getattr(opt, "beta2", 0.0)),
            eps=float(getattr(opt, "eps", 0.0)),
        )

    def _full_batch(
        self,
        theta: np.ndarray,
        opt: OptimizerSettings,
        m: np.ndarray,
        v: np.ndarray,
        t: int,
        grad_sum: np.ndarray,
    ) -> EpochOutcome:
        """One full-batch epoch: J and dJ/dtheta over all rows on the threads, the checks,
        then one update (the share of the only batch is 1)."""
        grad = np.zeros(self.network.n_params) if self.backprop else None
        value, accuracy = _batch(self.network, theta, self.data, self.loss_code, self.l2, grad)
        if not np.isfinite(value):
            return EpochOutcome(0.0, 0.0, Status.LOSS_NOT_FINITE, value, -1, t)
        if grad is not None and not np.all(np.isfinite(grad)):
            bad_index = int(np.argmin(np.isfinite(grad)))
            return EpochOutcome(0.0, 0.0, Status.GRADIENT_NOT_FINITE, 0.0, bad_index, t)
        if grad is not None:
            if self.track:
                grad_sum += grad
            t = optimizer_step(opt, theta, grad, m, v, t)
        return EpochOutcome(value, accuracy, Status.COMPLETED, 0.0, -1, t)

    def epoch(self, order: np.ndarray | None, batch_size: int) -> EpochResult:
        """One epoch over the rows: all at once (``order`` None) or in the batches
        order[0:batch_size], order[batch_size:2 batch_size], ..., exactly what the
        reference engine computes."""
        network = self.network
        theta = network.flatten(self.model.params)
        m, v, t = self._state()
        opt = self._settings()
        grad_sum = np.zeros(network.n_params if self.track else 0)
        n = self.data.X.shape[0]
        if order is None and n >= SERIAL_ROWS:
            outcome = self._full_batch(theta, opt, m, v, t, grad_sum)
        else:  # mini-batches, or a small full batch: the one batch order[0:n] = 0..n-1
            rows = _NO_ROWS if order is None else np.ascontiguousarray(order, dtype=np.int64)
            outcome = train_epoch(
                self.data._replace(order=rows),
                _net(network, theta),
                self.loss_code,
                n if order is None else int(batch_size),
                self.l2,
                network.max_block,
                self.backprop,
                opt,
                m,
                v,
                int(t),
                grad_sum,
            )
        if self.backprop:
            network.unflatten(theta, self.model.params)
            self._store_state(m, v, outcome.adam_steps)
        reason = None
        if outcome.status == Status.LOSS_NOT_FINITE:
            reason = nonfinite_loss(outcome.bad_loss)
        elif outcome.status == Status.GRADIENT_NOT_FINITE:
            reason = became_nonfinite(network.name_of(outcome.bad_index))
        grad_sums = network.unflatten(grad_sum, dtype=np.float64) if self.track else {}
        return EpochResult(outcome.loss, outcome.accuracy, grad_sums, reason)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss without penalty, accuracy) of the current model on (X, y), unweighted."""
        theta = self.network.flatten(self.model.params)
        data = _rows(np.ascontiguousarray(X, dtype=self.network.dtype), self.loss, y, None)
        return _batch(self.network, theta, data, self.loss_code, 0.0, None)
