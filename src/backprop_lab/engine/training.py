"""Training loops: full batch (the tutorial's) or shuffled mini-batches, with or without backprop.

One epoch, for each batch B (the whole data set when ``batch_size`` is None):

    z = model.forward(X_B);  J = L(z, y_B) + (l2/2) sum ||W||^2        (forward)
    g = dJ/dtheta by model.backward                                    (backprop)
    theta <- optimizer.step(theta, g)                                  (update)

An engine (engine/base.py) computes the epochs: the NumPy layers (engine/reference.py)
or the compiled kernels (engine/fused/), chosen once per run by ``select_engine``. This
module holds what is the same for every engine: shuffles, validation, divergence,
callbacks and the History.

``History.loss[e]`` is the objective J of epoch e: for full batch, computed by the
forward pass at the start of the epoch, before its update (as the tutorial records it);
for mini-batches, the row-weighted mean over the epoch's batches. Validation metrics
are computed with the weights at the start of each epoch; ``History.val_loss`` is the
data loss L alone, without the L2 penalty (as the estimator's validation scores), so
that it measures fit to held-out rows whatever ``l2`` is. A batch whose sample weights
are all zero has loss 0 and gradient 0 (plus the penalty's), and weighs nothing in the
epoch's mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from tqdm import tqdm

from .._util.validation import (
    check_binary_labels,
    check_class_indices,
    check_features,
    check_sample_weight,
)
from ..nn.losses import BinaryCrossEntropy, Loss, SoftmaxCrossEntropy, get_loss
from ..nn.model import Sequential
from ..nn.optim import GradientDescent, Optimizer
from .base import Engine, nonfinite_array, nonfinite_loss
from .reference import ReferenceEngine

if TYPE_CHECKING:
    from .lbfgs import LBFGS

#: The values of ``train(engine=...)``.
ENGINES = ("auto", "reference", "fused")

#: ``engine="auto"`` computes a full-batch epoch with the reference engine when
#: rows x parameters is below this. There an epoch takes a fraction of a millisecond on
#: either engine (the N x width temporaries of the NumPy layers still fit in cache; see
#: docs/performance.md), so a run of a few hundred epochs gains less from the compiled
#: kernels than loading Numba and them costs, and its first run after installation would
#: wait several seconds for them to compile. The rule reads only the run's sizes, never
#: whether the kernels are compiled, so a run computes the same bits on its first use
#: after installation and on every later one.
AUTO_MIN_ROW_PARAMETERS = 2**19
#: ``engine="auto"`` computes mini-batch epochs with the reference engine when the run,
#: at its most epochs, costs less there than compiling the kernels: when
#: epochs x batches x (1 + batch x parameters / AUTO_STEP_ROW_PARAMETERS) is below this.
#: A reference step costs a fixed Python overhead (the layers, the loss, the update) plus
#: a share per row x parameter; AUTO_STEP_ROW_PARAMETERS is where the second equals the
#: first, and compiling the mini-batch loop costs as much as about 80,000 to 100,000
#: fixed overheads (measured together in one process; docs/performance.md, Start-up).
#: Below the threshold a run loses at most about one compile time on a warm
#: installation, and its first run after installation waits for no compiler.
AUTO_MIN_BATCH_STEPS = 2**16
#: Rows x parameters in one reference step that cost as much as its fixed overhead.
AUTO_STEP_ROW_PARAMETERS = 2**16
#: Scoring's threshold (rows x parameters) for the compiled kernel lives in ``base``,
#: so that scoring loads none of the training loop.


class TrainingDiverged(FloatingPointError):
    """Raised (with ``on_divergence='raise'``) when the loss blows up or turns NaN/inf."""

    def __init__(self, epoch: int, loss: float, reason: str) -> None:
        self.epoch, self.loss = epoch, loss
        super().__init__(f"training diverged at epoch {epoch}: {reason}; lower the learning rate")


@dataclass
class History:
    """Per-epoch record of a training run. ``status`` is 'completed' or 'diverged'.

    ``loss`` is the training objective J (data loss plus L2 penalty); ``val_loss`` is the
    data loss on the validation rows, without the penalty. With L-BFGS an "epoch" is one
    iteration, and both are recorded after it (see ``engine.lbfgs.train_lbfgs``).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    status: str = "completed"
    diverged_at: int | None = None
    divergence_reason: str | None = None
    engine: str = "reference"
    #: L-BFGS only (``optimizer="lbfgs"``): whether it met its tolerance, how it ended,
    #: and its function evaluations (each a pass over the training rows).
    converged: bool = False
    message: str = ""
    evaluations: int = 0

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_targets(loss: Loss, y: ArrayLike, n_rows: int, n_outputs: int) -> np.ndarray:
    """Check targets against the loss: 0/1 column for BCE, class indices for softmax."""
    if isinstance(loss, SoftmaxCrossEntropy):
        return check_class_indices(y, n_classes=n_outputs, n_rows=n_rows)
    if n_outputs == 1 and isinstance(loss, BinaryCrossEntropy):
        return check_binary_labels(y, n_rows=n_rows)
    t = np.asarray(y, dtype=np.float64).reshape(n_rows, -1) if np.size(y) else np.asarray(y)
    if np.size(t) == 0 or t.shape != (n_rows, n_outputs):
        raise ValueError(f"targets must have shape ({n_rows}, {n_outputs}); got {np.shape(y)}")
    if not np.all(np.isfinite(t)):
        raise ValueError("targets contain NaN or infinity")
    return t


def select_engine(
    engine: str,
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
    batch_size: int | None = None,
    epochs: int | None = None,
) -> Engine:
    """The engine that computes the epochs of ``train(engine=...)``, built for this run.

    ``"reference"``: the NumPy layers. ``"fused"``: the compiled kernels, or ValueError
    when they do not implement the model, loss or optimiser. ``"auto"``: the fused engine
    when it applies, ``prefers_fused(model)`` (at most ``AUTO_MAX_PARAMETERS``
    parameters) and the run is worth compiling for (``worth_compiling``, which reads
    the sizes and ``epochs``, the most epochs), else the reference engine. X and y are
    checked and prepared by ``train``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    chosen: type[Engine] = ReferenceEngine
    sizes = (X.shape[0], model.n_parameters(), batch_size, backprop, epochs)
    if engine == "fused" or (engine == "auto" and worth_compiling(*sizes)):
        from .fused import FusedEngine, fused_support, prefers_fused  # loads Numba

        unsupported = fused_support(model, loss, optimizer)
        if unsupported is None and (engine == "fused" or prefers_fused(model)):
            chosen = FusedEngine
        elif engine == "fused":
            raise ValueError(f"engine='fused' does not apply: {unsupported}")
    return chosen(
        model,
        X,
        y,
        loss,
        optimizer,
        l2=l2,
        sample_weight=sample_weight,
        backprop=backprop,
        track_gradients=track_gradients,
    )


def worth_compiling(
    n_rows: int,
    n_parameters: int,
    batch_size: int | None = None,
    backprop: bool = True,
    epochs: int | None = None,
) -> bool:
    """Whether ``engine="auto"`` should run an epoch on the compiled kernels (when they apply).

    Full-batch epochs (``batch_size`` None or at least ``n_rows``, and every forward-only
    epoch): only when n_rows x n_parameters is at least ``AUTO_MIN_ROW_PARAMETERS``.

    Mini-batch epochs (the reference engine pays a Python step per batch; the kernels run
    the epoch as one compiled loop): when the run's cost on the reference engine at its
    most ``epochs``, in fixed step overheads,

        steps x (1 + B x P / AUTO_STEP_ROW_PARAMETERS),   steps = epochs x ceil(N / B)

    (N rows, B rows per batch, P parameters) is at least ``AUTO_MIN_BATCH_STEPS``, about
    what compiling the kernels costs; always when ``epochs`` is None (not known).
    Computed in integers, so the boundary is exact.
    """
    if not backprop or batch_size is None or batch_size >= n_rows:  # one full batch
        return n_rows * n_parameters >= AUTO_MIN_ROW_PARAMETERS
    if epochs is None:
        return True
    steps = epochs * -(-n_rows // batch_size)
    work = steps * (AUTO_STEP_ROW_PARAMETERS + batch_size * n_parameters)
    return work >= AUTO_MIN_BATCH_STEPS * AUTO_STEP_ROW_PARAMETERS


def _divergence(loss: float, first: float | None, factor: float | None) -> str | None:
    """Why training should stop after an epoch of loss ``loss``: it is not finite, or it
    exceeds ``factor`` times the first epoch's loss ``first``; None when neither."""
    reason = nonfinite_loss(loss)
    if reason is None and factor is not None and first is not None:
        if loss > factor * max(first, 1e-12):
            reason = f"loss {loss:.4g} exceeds {factor:g} x the first epoch's {first:.4g}"
    return reason


# A diverging run overflows on its way to inf/NaN; that is detected and reported below,
# so the floating-point warnings it would print are silenced.
@np.errstate(over="ignore", invalid="ignore")
def train(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    *,
    loss: str | Loss = "bce",
    optimizer: Optimizer | LBFGS | str | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    backprop: bool = True,
    l2: float = 0.0,
    sample_weight: ArrayLike | None = None,
    seed: int | np.random.Generator = 0,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    track_gradients: bool = False,
    on_divergence: str = "stop",
    divergence_factor: float | None = 10.0,
    callback: Callable[[int, Sequential, History], bool | None] | None = None,
    progress: bool = False,
    engine: str = "auto",
) -> History:
    """Train ``model`` in place and return its History.

    ``backprop=False`` runs only forward passes (the tutorial's no-learning baseline).
    Divergence (a NaN/inf loss or gradient, or a loss above ``divergence_factor`` times
    the first epoch's) stops training with ``status='diverged'``, or raises
    :class:`TrainingDiverged` when ``on_divergence='raise'``. ``callback(epoch, model,
    history)`` runs after each epoch; returning True stops training.

    ``engine`` chooses how each epoch is computed (``select_engine``). ``"reference"`` runs the NumPy layers
    of :mod:`backprop_lab.nn` batch by batch, the code to read. ``"fused"`` runs the
    compiled kernels of :mod:`backprop_lab.engine.fused`: the same rows, batches, shuffles,
    updates and divergence checks, computed block by block in one pass over X; it
    raises ValueError for a model, loss or optimiser it does not implement (Dense layers
    with ReLU, LeakyReLU, Tanh or Sigmoid; bce, softmax, mse; GradientDescent, Momentum,
    Adam). ``"auto"`` (the default) uses ``"fused"`` when it applies, the network has
    at most ``fused.AUTO_MAX_PARAMETERS`` parameters (beyond that the reference engine's
    matrix products are faster) and the run is worth compiling for (``worth_compiling``:
    full-batch epochs of rows x parameters at least ``AUTO_MIN_ROW_PARAMETERS``, mini-batch
    runs whose ``epochs`` would cost more on NumPy than compiling), and ``"reference"``
    otherwise. Both give the same
    numbers: the test suite holds float64 losses and gradients to 1e-12 relative and float32 to 1e-5 over 50 epochs. ``History.engine``
    says which one ran. The first fused call in a fresh installation compiles the
    kernels (several seconds per dtype); they are cached on disk afterwards.

    ``optimizer="lbfgs"`` (or an :class:`~backprop_lab.engine.lbfgs.LBFGS` with its
    settings) minimises the full-batch objective by L-BFGS instead: ``epochs`` is then
    the most iterations, ``batch_size`` must be None, and the run also ends when
    L-BFGS converges (``History.converged``); see :mod:`backprop_lab.engine.lbfgs`.
    """
    if on_divergence not in ("stop", "raise"):
        raise ValueError("on_divergence must be 'stop' or 'raise'")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0; got {epochs}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    loss = get_loss(loss)
    lbfgs = _lbfgs_settings(optimizer)
    if lbfgs is not None and (batch_size is not None or not backprop or track_gradients):
        raise ValueError(
            "optimizer='lbfgs' minimises the full-batch objective: it needs batch_size=None, "
            "backprop=True and track_gradients=False"
        )
    optimizer = optimizer or GradientDescent(0.01)
    X = check_features(X, n_features=model.n_inputs, dtype=model.dtype)
    y = _as_model_dtype(prepare_targets(loss, y, X.shape[0], model.n_outputs), model)
    w = check_sample_weight(sample_weight, X.shape[0])
    if validation_data is not None:
        X_val = check_features(
            validation_data[0], n_features=model.n_inputs, name="X_val", dtype=model.dtype
        )
        y_val = prepare_targets(loss, validation_data[1], X_val.shape[0], model.n_outputs)
        y_val = _as_model_dtype(y_val, model)
    if lbfgs is not None:
        from .lbfgs import train_lbfgs

        return train_lbfgs(
            model,
            X,
            y,
            loss=loss,
            settings=lbfgs,
            max_iter=epochs,
            l2=l2,
            sample_weight=w,
            validation_data=None if validation_data is None else (X_val, y_val),
            callback=callback,
            progress=progress,
            engine=engine,
            on_divergence=on_divergence,
        )
    trainer = select_engine(
        engine,
        model,
        X,
        y,
        loss,
        optimizer,
        l2=l2,
        sample_weight=w,
        backprop=backprop,
        track_gradients=track_gradients,
        batch_size=batch_size,
        epochs=epochs,
    )
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    history = History(engine=trainer.name)

    for epoch in tqdm(range(epochs), desc="training", unit="epoch", disable=not progress):
        if validation_data is not None:
            val_loss, val_acc = trainer.evaluate(X_val, y_val)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_acc)
        # Shuffle only when learning. A forward-only epoch runs as one full batch, so its
        # loss is bit-for-bit the same every epoch.
        minibatch = backprop and batch_size is not None and batch_size < n
        order = rng.permutation(n) if minibatch else None
        result = trainer.epoch(order, batch_size or n)  # forward, backward, update per batch

        first = history.loss[0] if history.loss else None
        reason = result.divergence or _divergence(result.loss, first, divergence_factor)
        if reason is None:
            history.loss.append(float(result.loss))
            history.accuracy.append(float(result.accuracy))
            for name, g in result.grad_sums.items():
                history.grad_norms.setdefault(name, []).append(float(np.linalg.norm(g)))
            reason = nonfinite_array(model.params)
        if reason is not None:
            history.status, history.diverged_at, history.divergence_reason = (
                "diverged",
                epoch,
                reason,
            )
            if on_divergence == "raise":
                raise TrainingDiverged(epoch, result.loss, reason)
            break
        if callback is not None and callback(epoch, model, history):
            break
    return history


def _lbfgs_settings(optimizer: object) -> LBFGS | None:
    """The L-BFGS settings ``optimizer`` asks for ('lbfgs' or an LBFGS), else None."""
    if isinstance(optimizer, Optimizer) or optimizer is None:
        return None
    from .lbfgs import LBFGS

    if isinstance(optimizer, LBFGS):
        return optimizer
    if optimizer == "lbfgs":
        return LBFGS()
    raise ValueError(
        f"optimizer must be an Optimizer (nn.optim), 'lbfgs' or an LBFGS; got {optimizer!r}"
    )


def _as_model_dtype(y: np.ndarray, model: Sequential) -> np.ndarray:
    """Float targets in the model's dtype, so a float32 model computes in float32."""
    return y.astype(model.dtype, copy=False) if y.dtype.kind == "f" else y
