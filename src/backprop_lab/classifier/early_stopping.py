"""The training callback of :class:`~backprop_lab.classifier.estimator.BackpropClassifier`:
the monitored loss, the best weights so far, and when to stop.

With early stopping the monitored loss is the weighted validation log loss (without the
L2 penalty) after each epoch's update; without, the training objective J. An improvement
is a drop of more than ``tol``; training stops after ``n_iter_no_change`` epochs without
one, and the best epoch's weights are restored. A loss that turns NaN or infinite, or a
run that diverges, ends with a ConvergenceWarning (or an error) saying why.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..engine.training import History, worth_compiling
from ..nn import Sequential, get_loss

if TYPE_CHECKING:
    from .estimator import BackpropClassifier


class TrainingMonitor:
    """The callback for training.train: tracks the loss, keeps the best weights, stops.

    With early stopping it watches the validation log loss after each epoch's update;
    without, the training objective J. An improvement is a drop of more than ``tol``;
    training stops after ``n_iter_no_change`` epochs without one.
    """

    def __init__(
        self,
        clf: BackpropClassifier,
        X: np.ndarray,
        y_index: np.ndarray,
        weights: np.ndarray | None,
        val_rows: np.ndarray | None,
    ) -> None:
        self.clf = clf
        self.loss = get_loss(clf._loss_name)
        self.validating = val_rows is not None
        if self.validating:
            self.X_val = X[val_rows]
            self.y_val = clf._targets(y_index[val_rows])
            if self.loss.takes_class_indices is False:
                self.y_val = self.y_val.reshape(-1, 1)
            self.w_val = None if weights is None else weights[val_rows]
            if self.w_val is not None and self.w_val.sum() <= 0:
                self.w_val = None
            self.best = self._val_loss(clf.network_)
            self.best_params = clf.network_.get_params()
        else:
            self.best = np.inf
            self.best_params = None
        self.best_epoch = 0
        self.reference = self.best
        self.waited = 0
        self.stopped_early = False
        #: (epoch, value) when the monitored loss stopped training by turning NaN or inf.
        self.nonfinite: tuple[int, float] | None = None

    def _val_loss(self, network: Sequential) -> float:
        """The weighted validation log loss, without the L2 penalty: by the fused engine
        (forward and loss in one compiled pass on the threads) when it runs the network,
        else by the layers. The same number to rounding, in a fraction of the time on
        hundreds of thousands of rows (an L-BFGS iteration costs about one such pass). Below
        ``training.AUTO_MIN_ROW_PARAMETERS`` rows x parameters, by the layers: as fast
        there, and nothing to compile on a first run after installation."""
        if worth_compiling(self.X_val.shape[0], network.n_parameters()):
            from ..engine.fused import fused_loss, fused_support

            if fused_support(network, self.loss) is None:
                return fused_loss(
                    network, self.X_val, self.y_val, self.loss, sample_weight=self.w_val
                )
        return self.loss.forward(network.predict_logits(self.X_val), self.y_val, self.w_val)

    def __call__(self, epoch: int, network: Sequential, history: History) -> bool:
        if self.validating:
            current = self._val_loss(network)
            if np.isfinite(current):  # a NaN here would make a saved model invalid JSON
                self.clf.validation_scores_.append(current)
        else:
            current = history.loss[-1]
        if not np.isfinite(current):
            self.nonfinite = (epoch + 1, current)
            return True
        if current < self.best:
            self.best, self.best_epoch = current, epoch + 1
            if self.validating:
                self.best_params = network.get_params()
        if current < self.reference - self.clf.tol:
            self.reference, self.waited = current, 0
        else:
            self.waited += 1
        if self.waited >= self.clf.n_iter_no_change:
            self.stopped_early = True
            return True
        return False

    def finish(self, history: History) -> None:
        clf = self.clf
        if history.diverged or self.nonfinite is not None:
            message = diverged_message(history) if history.diverged else self._nonfinite_message()
            if not self.validating or self.best_epoch == 0:
                raise ValueError(message)
            warnings.warn(
                f"{message}; keeping the weights of epoch {self.best_epoch}",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.validating:
            clf.network_.set_params(self.best_params)
            clf.best_loss_ = float(self.best)
        else:
            clf.best_loss_ = float(min(clf.loss_curve_)) if clf.loss_curve_ else float("nan")
            self.best_epoch = history.epochs
        clf.best_epoch_ = self.best_epoch
        finished = self.stopped_early or history.converged  # L-BFGS: its tolerance met
        if not finished and not history.diverged and self.nonfinite is None:
            what = (
                "raise max_epochs"
                if clf.optimizer == "lbfgs"
                else "raise max_epochs or learning_rate"
            )
            warnings.warn(
                f"stopped after max_epochs={clf.max_epochs} epochs while the loss was still "
                f"improving; {what}",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _nonfinite_message(self) -> str:
        epoch, value = self.nonfinite
        what = "validation log loss" if self.validating else "training loss"
        return (
            f"training stopped at epoch {epoch}: the {what} became {value}; "
            "standardise the inputs (e.g. StandardScaler) or lower learning_rate"
        )


def diverged_message(history: History) -> str:
    return (
        f"training diverged at epoch {history.diverged_at}: {history.divergence_reason}; "
        "standardise the inputs (e.g. StandardScaler) or lower learning_rate"
    )
