"""What an engine is: the few methods through which ``train`` computes a run.

``train`` (training.py) holds the algorithm: epochs, shuffles, divergence, history. An
engine holds how one epoch is computed: for each batch B of the epoch

    forward   z = f(X_B; theta),  J = L(z, y_B) + (l2/2) sum_l ||W_l||^2
    backward  g = dJ/dtheta
    update    theta <- optimizer.step(theta, g)

An engine is built for one run (model, data, loss, optimiser and settings fixed), and
keeps the parameters and the optimiser's state in the model and the optimiser between
epochs, so callbacks and later runs see them. The reference engine (reference.py) and
the fused engine (fused/) implement it; another engine (a cluster, a GPU) is another
implementation, and ``training.select_engine`` the one place that chooses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class EpochResult:
    """What one epoch reports to the training loop.

    ``loss`` and ``accuracy`` are sum_B share_B J_B and sum_B share_B acc_B over the
    batches that completed, share_B = |B| / N (or the batch's share of the sample
    weight). ``grad_sums`` holds sum_B share_B dJ_B/dtheta by parameter name when
    gradients are tracked (else it is empty). ``divergence`` is the reason the epoch
    stopped before a batch's update (a NaN or infinite objective or gradient), else None.
    """

    loss: float
    accuracy: float
    grad_sums: dict[str, np.ndarray]
    divergence: str | None = None


class Engine(ABC):
    """Computes the epochs of one training run.

    Implementations take ``(model, X, y, loss, optimizer, *, l2, sample_weight, backprop,
    track_gradients)``: arrays already checked by ``train``, ``y`` prepared for the loss.
    """

    #: What ``History.engine`` records.
    name: ClassVar[str]

    @abstractmethod
    def epoch(self, order: np.ndarray | None, batch_size: int) -> EpochResult:
        """One epoch: one full batch (``order`` None) or the batches order[0:batch_size],
        order[batch_size:2 batch_size], ...; for each, the objective and (when learning)
        the gradient, the finiteness checks, then the update."""

    @abstractmethod
    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(data loss L without the penalty, accuracy) of the current model on (X, y),
        every row weighing the same."""


def nonfinite_loss(loss: float) -> str | None:
    """The divergence reason when the objective is NaN or infinite, else None."""
    return None if np.isfinite(loss) else f"loss became {loss}"


def nonfinite_array(arrays: dict[str, np.ndarray]) -> str | None:
    """The divergence reason naming the first array with a NaN or infinite entry, else None."""
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            return became_nonfinite(name)
    return None


def became_nonfinite(name: str) -> str:
    """The divergence reason for the array ``name`` (a parameter or its gradient)."""
    return f"{name} became NaN or infinite"
