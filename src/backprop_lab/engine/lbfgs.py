"""L-BFGS for full-batch training: the objective as a function of one flat vector, and the solver.

Gradient descent and Adam step along the gradient with a fixed learning rate. L-BFGS
(limited-memory BFGS) keeps the last m pairs

    s_k = theta_{k+1} - theta_k,   y_k = g_{k+1} - g_k          (g = dJ/dtheta)

and multiplies the gradient by the inverse-Hessian approximation H_k they define (the
two-loop recursion): theta_{k+1} = theta_k - t_k H_k g_k, with the step t_k found by a
line search that meets the Wolfe conditions

    J(theta + t d) <= J(theta) + c1 t g^T d,   |g(theta + t d)^T d| <= c2 |g^T d|.

There is no learning rate, and each iteration costs one or a few passes over the data
(function evaluations, ``n_fun``). ``scipy.optimize.minimize(method="L-BFGS-B")`` runs
the recursion and the line search; this module supplies J and dJ/dtheta.

The objective of a network, whole or as a sum over blocks of rows, is in
``engine/objective.py`` (re-exported here): ``ModelObjective`` for rows in memory,
``block_loss_and_gradient`` and ``penalised`` for rows in blocks.

Dtypes. scipy works in float64, so theta and the gradient it sees are float64. A float32
model computes in float32: each evaluation rounds theta to float32, runs the forward
pass and the error signals in float32, and accumulates the loss and gradients in float64
(as the fused engine always does). J then carries float32 rounding (about 1e-7 relative),
so the line search stops making progress near the optimum: ask for ``tol`` no smaller
than about 1e-5 of a float32 model. Float64 models give J and dJ/dtheta to round-off.

:func:`backprop_lab.engine.training.train` runs L-BFGS with ``optimizer="lbfgs"`` (or
``LBFGS(...)``), recording the same History as the other optimisers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..nn.losses import Loss
from ..nn.model import Sequential
from .objective import (
    BlockSums,
    FlatNetwork,
    ModelObjective,
    block_loss_and_gradient,
    flat_network,
    penalised,
)

if TYPE_CHECKING:
    from .training import History

__all__ = [
    "DEFAULT_FTOL",
    "DEFAULT_MEMORY",
    "DEFAULT_TOL",
    "LBFGS",
    "BlockSums",
    "FlatNetwork",
    "LbfgsResult",
    "ModelObjective",
    "block_loss_and_gradient",
    "flat_network",
    "minimize_lbfgs",
    "penalised",
]

#: A function of the flat float64 parameters: (J, dJ/dtheta as a float64 vector).
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
#: Called after each iteration with (iteration from 1, theta, J); True stops the run.
IterationCallback = Callable[[int, np.ndarray, float], "bool | None"]

#: Default tolerance on the gradient: stop when max_i |dJ/dtheta_i| <= tol.
DEFAULT_TOL = 1e-5
#: Default tolerance on the decrease, scipy's: stop when
#: (J_k - J_{k+1}) / max(|J_k|, |J_{k+1}|, 1) <= ftol (1e7 times the machine epsilon).
DEFAULT_FTOL = 1e7 * float(np.finfo(np.float64).eps)
#: Pairs (s_k, y_k) kept: scipy's default m.
DEFAULT_MEMORY = 10


@dataclass
class LbfgsResult:
    """What ``minimize_lbfgs`` returns.

    ``theta`` and ``loss`` are the last iterate and J there; ``history[k - 1]`` is J after
    iteration k (so ``history[-1] == loss`` when at least one iteration ran).
    ``n_fun`` counts evaluations of the objective (each one pass over the data);
    ``converged`` says a tolerance was met (``tol`` on the gradient or ``ftol`` on the
    decrease), ``stopped`` that the callback ended the run, ``diverged`` that J or its
    gradient turned NaN or infinite at a trial point; ``message`` says how it ended.
    """

    theta: np.ndarray
    loss: float
    n_iter: int
    n_fun: int
    converged: bool
    message: str
    history: list[float] = field(default_factory=list)
    stopped: bool = False
    diverged: bool = False


class _NonFinite(Exception):
    """The objective gave NaN or infinity at a trial point (scipy cannot handle it)."""

    def __init__(self, value: float, where: str) -> None:
        self.value, self.where = value, where


def minimize_lbfgs(
    objective: Objective,
    theta0: ArrayLike,
    *,
    max_iter: int = 1000,
    tol: float = DEFAULT_TOL,
    callback: IterationCallback | None = None,
    bounds: tuple[ArrayLike, ArrayLike] | None = None,
    ftol: float = DEFAULT_FTOL,
    memory: int = DEFAULT_MEMORY,
    max_fun: int | None = None,
) -> LbfgsResult:
    """Minimise J from theta0 with L-BFGS-B (``scipy.optimize.minimize``, ``jac=True``).

    ``objective(theta)`` returns (J, dJ/dtheta) for a 1-D float64 theta. The run stops
    when max_i |proj g_i| <= ``tol`` (the gradient, projected on the bounds), when the
    relative decrease of J in an iteration is at most ``ftol``, after ``max_iter``
    iterations or ``max_fun`` evaluations (default 15000, scipy's), when
    ``callback(iteration, theta, J)`` returns True (or raises StopIteration), or when J
    or its gradient is NaN or infinite at a trial point (``converged`` False; the last
    iterate is kept). ``bounds`` = (lower, upper), arrays like theta (-inf/inf: no bound;
    a scalar applies to every entry): L-BFGS-B keeps lower <= theta <= upper, theta0
    clipped into them first. ``memory`` is the number m of pairs kept.
    """
    theta0 = np.array(theta0, dtype=np.float64).ravel()
    if theta0.size == 0 or not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 must be a non-empty vector of finite numbers")
    if not (isinstance(max_iter, int | np.integer) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    for name, value in (("tol", tol), ("ftol", ftol)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number; got {value!r}")
    if not (isinstance(memory, int | np.integer) and memory >= 1):
        raise ValueError(f"memory must be a positive integer; got {memory!r}")
    scipy_bounds = None
    if bounds is not None:
        from scipy.optimize import Bounds

        lower = np.broadcast_to(np.asarray(bounds[0], dtype=np.float64), theta0.shape)
        upper = np.broadcast_to(np.asarray(bounds[1], dtype=np.float64), theta0.shape)
        if np.any(lower > upper) or np.any(np.isnan(lower)) or np.any(np.isnan(upper)):
            raise ValueError("bounds: every lower bound must be at most its upper bound")
        theta0 = np.clip(theta0, lower, upper)
        scipy_bounds = Bounds(lower, upper)

    n_fun = 0
    history: list[float] = []
    last = [theta0.copy(), math.nan]
    stopped = False

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal n_fun
        n_fun += 1
        value, grad = objective(theta)
        value = float(value)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != theta.shape:
            raise ValueError(
                f"the objective's gradient has shape {grad.shape}; {theta.shape} needed"
            )
        if not math.isfinite(value):
            raise _NonFinite(value, f"J = {value}")
        if not np.all(np.isfinite(grad)):
            raise _NonFinite(value, f"dJ/dtheta[{int(np.argmin(np.isfinite(grad)))}] not finite")
        if n_fun == 1:
            last[1] = value
        return value, grad

    def on_iteration(intermediate_result) -> None:  # scipy's name for the argument
        nonlocal stopped
        theta, value = intermediate_result.x.copy(), float(intermediate_result.fun)
        history.append(value)
        last[0], last[1] = theta, value
        if callback is not None and callback(len(history), theta.copy(), value):
            stopped = True
            raise StopIteration

    from scipy.optimize import minimize

    options = {"maxiter": int(max_iter), "gtol": float(tol), "ftol": float(ftol)}
    options["maxcor"] = int(memory)
    if max_fun is not None:
        options["maxfun"] = int(max_fun)
    from threadpoolctl import threadpool_limits

    try:
        # L-BFGS-B's own algebra is on m x n and m x m matrices (m = 10): BLAS threads
        # only add their wake-up cost, which on a busy machine exceeded a pass over the
        # rows of a mid-sized file.
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(
                fun,
                theta0,
                jac=True,
                method="L-BFGS-B",
                bounds=scipy_bounds,
                callback=on_iteration,
                options=options,
            )
    except _NonFinite as error:
        return LbfgsResult(
            theta=last[0],
            loss=float(last[1]),
            n_iter=len(history),
            n_fun=n_fun,
            converged=False,
            message=f"the objective was not finite at evaluation {n_fun} ({error.where}); "
            f"kept iteration {len(history)}",
            history=history,
            diverged=True,
        )
    stopped = stopped or bool(getattr(on_iteration, "stop_iteration", False))
    return LbfgsResult(
        theta=np.array(result.x, dtype=np.float64),
        loss=float(result.fun),
        n_iter=len(history),
        n_fun=n_fun,
        converged=int(result.status) == 0,
        message=str(result.message),
        history=history,
        stopped=stopped,
    )


# ---- L-BFGS as train()'s optimizer ------------------------------------------------------------
@dataclass(frozen=True)
class LBFGS:
    """L-BFGS settings for ``train(model, X, y, optimizer=LBFGS(tol=1e-6), epochs=200)``
    (``optimizer="lbfgs"`` is ``LBFGS()``).

    ``train``'s ``epochs`` is the most iterations; ``tol``, ``ftol``, ``memory`` and
    ``max_fun`` are those of ``minimize_lbfgs``. ``bounds`` maps parameter names to
    (lower, upper) limits, e.g. ``{"W1": (0.0, np.inf)}`` (see ``FlatNetwork.bounds``).
    """

    tol: float = DEFAULT_TOL
    ftol: float = DEFAULT_FTOL
    memory: int = DEFAULT_MEMORY
    max_fun: int | None = None
    bounds: dict[str, tuple[ArrayLike, ArrayLike]] | None = field(default=None, hash=False)


def train_lbfgs(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    *,
    loss: Loss,
    settings: LBFGS,
    max_iter: int,
    l2: float,
    sample_weight: np.ndarray | None,
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    callback: Callable[[int, Sequential, History], bool | None] | None,
    progress: bool,
    engine: str,
    on_divergence: str,
) -> History:
    """``train``'s L-BFGS run on prepared arrays: minimise the full-batch J from the model's
    weights, the model updated after every iteration (callbacks see it) and at the end.

    ``History.loss[k - 1]`` is J after iteration k and ``val_loss[k - 1]`` the validation
    data loss there (the gradient methods record both at the start of each epoch);
    ``accuracy`` stays empty (an iteration's evaluations are at trial points). ``converged``,
    ``message`` and ``evaluations`` (passes over the data) say how the run ended.
    """
    from tqdm import tqdm

    from ..nn.optim import GradientDescent
    from .training import History, TrainingDiverged, select_engine

    objective = ModelObjective(
        model, X, y, loss=loss, l2=l2, sample_weight=sample_weight, engine=engine
    )
    network = objective.network
    history = History(engine=network.engine)
    if max_iter == 0:
        return history
    evaluator = None
    if validation_data is not None:  # the engine's evaluate reads the model's weights
        X_val, y_val = validation_data
        evaluator = select_engine(
            network.engine, model, X_val, y_val, loss, GradientDescent(1.0), backprop=False
        )
    bar = tqdm(total=max_iter, desc="L-BFGS", unit="it", disable=not progress)

    def on_iteration(iteration: int, theta: np.ndarray, value: float) -> bool:
        model.set_params(network.unflatten(theta))
        history.loss.append(value)
        if evaluator is not None:
            val_loss, val_accuracy = evaluator.evaluate(*validation_data)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.6g}", refresh=False)
        return bool(callback is not None and callback(iteration - 1, model, history))

    try:
        result = minimize_lbfgs(
            objective,
            objective.theta0,
            max_iter=int(max_iter),
            tol=settings.tol,
            callback=on_iteration,
            bounds=None if settings.bounds is None else network.bounds(settings.bounds),
            ftol=settings.ftol,
            memory=settings.memory,
            max_fun=settings.max_fun,
        )
    finally:
        bar.close()
    model.set_params(network.unflatten(result.theta))
    history.converged, history.message = result.converged, result.message
    history.evaluations = result.n_fun
    if result.diverged:
        history.status, history.diverged_at = "diverged", result.n_iter
        history.divergence_reason = result.message
        if on_divergence == "raise":
            raise TrainingDiverged(result.n_iter, result.loss, result.message)
    return history
