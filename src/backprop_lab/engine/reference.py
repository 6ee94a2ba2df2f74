"""The reference engine: each batch through the NumPy layers of ``backprop_lab.nn``.

This is the code to read: ``model.loss_and_gradients`` runs the forward pass layer by
layer over the batch's rows, the loss, and the backward pass; ``optimizer.step`` updates
the parameters. The fused engine (fused/) computes the same numbers block by block.

BLAS threads. A narrow network's matrix products (N x 7 times 7 x 8) are short and
memory-bound: a second BLAS thread saves little, and on a busy machine the product waits
for whichever thread the system has descheduled (a 0.4 ms product took 40 to 80 ms).
So an epoch over at least BLAS_SERIAL_ROWS rows of a network whose largest weight
matrix has at most BLAS_SERIAL_MAX_WEIGHTS entries runs its products on one thread; the
BLAS setting is restored afterwards. (Smaller batches are single-threaded in BLAS
anyway, and switching costs about 0.1 ms.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController

from ..nn.losses import Loss
from ..nn.model import Sequential
from ..nn.optim import Optimizer
from .base import Engine, EpochResult, nonfinite_array, nonfinite_loss

#: Epochs over at least this many rows of a narrow network run BLAS on one thread.
BLAS_SERIAL_ROWS = 2**14
#: A network is narrow when its largest weight matrix has at most this many entries.
BLAS_SERIAL_MAX_WEIGHTS = 1024

_controller: ThreadpoolController | None = None


@contextlib.contextmanager
def single_threaded_blas(active: bool) -> Iterator[None]:
    """Within the block, BLAS runs on one thread (when ``active``); restored afterwards."""
    global _controller
    if not active:
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()  # finds the loaded BLAS libraries once
    with _controller.limit(limits=1, user_api="blas"):
        yield


def narrow(model: Sequential) -> bool:
    """True when every weight matrix of ``model`` has at most BLAS_SERIAL_MAX_WEIGHTS entries."""
    return all(
        W.size <= BLAS_SERIAL_MAX_WEIGHTS for k, W in model.params.items() if k.startswith("W")
    )


class ReferenceEngine(Engine):
    """Epochs computed by the model's own layers, batch by batch."""

    name = "reference"

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
        self.model, self.X, self.y, self.w = model, X, y, sample_weight
        self.loss, self.optimizer, self.l2 = loss, optimizer, l2
        self.backprop, self.track_gradients = backprop, track_gradients
        self.narrow = narrow(model)

    def _serial_blas(self, batch_rows: int) -> bool:
        return self.narrow and batch_rows >= BLAS_SERIAL_ROWS

    def epoch(self, order: np.ndarray | None, batch_size: int) -> EpochResult:
        """One epoch; a batch with a non-finite objective or gradient ends it before its update.

        For each batch B: J_B = L(z(X_B), y_B) + penalty and g_B = dJ_B/dtheta by
        ``model.loss_and_gradients`` (or J_B alone without backprop), then
        ``optimizer.step``; the epoch's loss and accuracy are the share-weighted sums.
        """
        rows = self.X.shape[0] if order is None else min(batch_size, self.X.shape[0])
        with single_threaded_blas(self._serial_blas(rows)):
            return self._epoch(order, batch_size)

    def _epoch(self, order: np.ndarray | None, batch_size: int) -> EpochResult:
        model, X, y, w, loss = self.model, self.X, self.y, self.w, self.loss
        n = X.shape[0]
        step = n if order is None else batch_size
        epoch_loss = epoch_acc = 0.0
        grad_sums: dict[str, np.ndarray] = {}
        reason = None
        for start in range(0, n, step):
            idx = slice(None) if order is None else order[start : start + step]
            Xb, yb = X[idx], y[idx]
            wb = None if w is None else w[idx]
            share = (Xb.shape[0] / n) if w is None else (wb.sum() / w.sum())
            if self.backprop:
                value, grads = model.loss_and_gradients(Xb, yb, loss, l2=self.l2, sample_weight=wb)
                reason = nonfinite_loss(value) or nonfinite_array(grads)
            else:
                value = loss.forward(model.predict_logits(Xb), yb, wb) + _penalty(model, self.l2)
                reason = nonfinite_loss(value)
            if reason is not None:
                break
            epoch_loss += share * value
            epoch_acc += share * loss.accuracy(loss.z, yb, wb)
            if self.backprop:
                if self.track_gradients:
                    for name, g in grads.items():
                        grad_sums[name] = grad_sums.get(name, 0.0) + share * g
                self.optimizer.step(model.params, grads)
        return EpochResult(epoch_loss, epoch_acc, grad_sums, reason)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(L(z(X), y), accuracy) with z = model.predict_logits(X): no caches, no penalty."""
        with single_threaded_blas(self._serial_blas(X.shape[0])):
            z = self.model.predict_logits(X)
        return self.loss.forward(z, y), self.loss.accuracy(z, y)


def _penalty(model: Sequential, l2: float) -> float:
    """(l2 / 2) sum_l ||W_l||^2"""
    if not l2:
        return 0.0
    return (
        0.5 * l2 * sum(float(np.sum(W * W)) for k, W in model.params.items() if k.startswith("W"))
    )
