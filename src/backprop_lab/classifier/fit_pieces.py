"""The pieces of BackpropClassifier's fit, as a mixin the estimator inherits.

Each method is one step of :meth:`~backprop_lab.classifier.estimator.BackpropClassifier.fit`
(and of ``partial_fit``, ``from_network`` and the fold networks of
:mod:`~backprop_lab.classifier.averaging`): the hyperparameters checked, the output layer
and loss chosen, a fresh network built, the monotone constraint and its projection, the row
weights w_i = sample_weight_i * class_weight[y_i], the early-stopping rule and its
stratified validation split, the output bias started at the training log-odds, and the L2
scale alpha / N. The estimator's module docstring gives the objective they make up.
The methods read the estimator's parameters and fitted attributes through ``self``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logit
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_sample_weight

from .._util.validation import check_sample_weight
from ..nn import ACTIVATIONS, Sequential, mlp
from ..nn.monotone import MonotoneConstraint, ProjectedOptimizer
from ..nn.optim import OPTIMIZERS, Optimizer
from .averaging import SINGLE_NETWORK_ROWS
from .network_scoring import monotone_constraint

#: The values of ``optimizer``: the update rules of nn.optim, L-BFGS, and 'auto'.
OPTIMIZER_CHOICES = ("auto", *OPTIMIZERS, "lbfgs")
#: With early_stopping='auto', the fewest validation rows of any class that turn it on.
MIN_VALIDATION_ROWS = 20


#: Initialisation that suits each activation (He for the ReLU family, Glorot otherwise).
_INIT = {"relu": "he", "leaky_relu": "he", "tanh": "xavier", "sigmoid": "xavier"}


class FitPieces:
    """The steps of BackpropClassifier's fit (a mixin: it holds no state of its own)."""

    def _check_hyperparameters(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(isinstance(s, numbers.Integral) and s >= 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got {sizes!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}"
            )
        if self.optimizer not in OPTIMIZER_CHOICES:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZER_CHOICES)}; got {self.optimizer!r}"
            )
        if not (isinstance(self.max_epochs, numbers.Integral) and self.max_epochs >= 1):
            raise ValueError(f"max_epochs must be a positive integer; got {self.max_epochs!r}")
        if self.batch_size is not None and not (
            isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1
        ):
            raise ValueError(
                f"batch_size must be a positive integer or None; got {self.batch_size!r}"
            )
        if self.optimizer == "lbfgs" and self.batch_size is not None:
            raise ValueError("optimizer='lbfgs' takes every row at once: set batch_size=None")
        if not (
            (isinstance(self.alpha, str) and self.alpha == "auto")
            or (
                isinstance(self.alpha, numbers.Real) and np.isfinite(self.alpha) and self.alpha >= 0
            )
        ):
            raise ValueError(f"alpha must be 'auto' or a non-negative number; got {self.alpha!r}")
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(
                f"early_stopping must be 'auto', True or False; got {self.early_stopping!r}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be between 0 and 1; got {self.validation_fraction!r}"
            )
        if not (isinstance(self.n_iter_no_change, numbers.Integral) and self.n_iter_no_change >= 1):
            raise ValueError(
                f"n_iter_no_change must be a positive integer; got {self.n_iter_no_change!r}"
            )
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"tol must be a non-negative number; got {self.tol!r}")
        return sizes

    def _start(self, classes: np.ndarray) -> None:
        if len(classes) < 2:
            raise ValueError(
                f"y has only one class ({classes.tolist()}); a classifier needs at least two "
                "classes"
            )
        self.classes_ = classes
        self._loss_name = "bce" if len(classes) == 2 else "softmax"

    def _build(
        self,
        sizes: tuple[int, ...],
        n_inputs: int,
        seed: int,
        constraint: MonotoneConstraint | None = None,
    ) -> Sequential:
        """A fresh network; under a monotone constraint its weights turned to their
        allowed signs (:meth:`MonotoneConstraint.orient`)."""
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        network = mlp(
            n_inputs,
            hidden=sizes,
            n_outputs=n_outputs,
            activation=self.activation,
            init=_INIT[self.activation],
            seed=seed,
        )
        if constraint is not None:
            constraint.orient(network.params)
        return network

    def _monotone_constraint(self, sizes: tuple[int, ...]) -> MonotoneConstraint | None:
        """The checked ``monotonic_cst`` as a constraint on the network's weights, or
        None when no feature is constrained. Needs ``n_features_in_`` and ``classes_``."""
        return monotone_constraint(
            self.monotonic_cst,
            self.n_features_in_,
            sizes,
            len(self.classes_),
            getattr(self, "feature_names_in_", None),
        )

    def _constrained(
        self, optimizer: Optimizer, constraint: MonotoneConstraint | None
    ) -> Optimizer:
        """``optimizer`` followed by the projection onto the constraint (its state kept);
        the current weights are projected first, so continued training starts inside it."""
        if isinstance(optimizer, ProjectedOptimizer):
            optimizer = optimizer.inner
        if constraint is None:
            return optimizer
        constraint.project(self.network_.params)
        return ProjectedOptimizer(optimizer, constraint)

    def _row_weights(
        self, y: np.ndarray, sample_weight: ArrayLike | None, n: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The checked sample weights and w_i = sample_weight_i * class_weight[y_i]
        (None where absent)."""
        sw = check_sample_weight(sample_weight, n)
        w = sw
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            w = cw if sw is None else sw * cw
            check_sample_weight(w, n)
        return sw, w

    def _use_early_stopping(self, y_index: np.ndarray) -> bool:
        """True, False, or for 'auto': whether every class would have at least
        MIN_VALIDATION_ROWS rows in the validation split."""
        if self.early_stopping != "auto":
            return bool(self.early_stopping)
        smallest = np.bincount(y_index, minlength=len(self.classes_)).min()
        return bool(smallest * self.validation_fraction >= MIN_VALIDATION_ROWS)

    def _validation_split(self, y_index: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Stratified rows for training and validation (plain random if a class is tiny)."""
        n = len(y_index)
        n_val = int(np.ceil(self.validation_fraction * n))
        if n < 2 or n_val >= n:
            raise ValueError(
                f"early stopping needs at least 2 rows to split off a validation set; got {n} "
                "(set early_stopping=False)"
            )
        counts = np.bincount(y_index, minlength=len(self.classes_))
        stratify = y_index if counts.min() >= 2 and n_val >= len(self.classes_) else None
        if stratify is not None and n - n_val < len(self.classes_):
            stratify = None
        rows = np.arange(n)
        train_rows, val_rows = train_test_split(
            rows, test_size=n_val, stratify=stratify, random_state=seed
        )
        return np.sort(train_rows), np.sort(val_rows)

    def _set_prior_bias(self, y_index: np.ndarray, w: np.ndarray | None) -> None:
        """Zero the output weights and start the output bias at the training log-odds,
        b = log(p / (1 - p)) (binary) or b_k = log p_k (softmax): the untrained network
        predicts the base rates for every row."""
        k = len(self.classes_)
        share = np.bincount(y_index, weights=w, minlength=k)
        share = np.clip(share / share.sum(), 1e-6, 1.0)
        params = self.network_.get_params()
        n_layers = sum(1 for name in params if name.startswith("b"))
        params[f"W{n_layers}"][...] = 0.0
        last = f"b{n_layers}"
        params[last] = (
            np.array([logit(min(share[1], 1 - 1e-6))]) if k == 2 else np.log(share / share.sum())
        )
        self.network_.set_params(params)

    def _l2(self, sample_weight: np.ndarray | None, rows: np.ndarray, alpha: float) -> float:
        """alpha / N, N the number of training rows or, with sample weights, their total
        (a row of weight 2 counts as two rows, so weighting and repeating rows agree)."""
        n = rows.size if sample_weight is None else float(sample_weight[rows].sum())
        return float(alpha) / max(n, 1e-12)

    def _targets(self, y_index: np.ndarray) -> np.ndarray:
        return y_index.astype(np.float64) if self._loss_name == "bce" else y_index

    def _records(self) -> tuple[list[float], list[float], int, int, float]:
        """The training records of the last trained network."""
        return (
            self.loss_curve_,
            self.validation_scores_,
            self.n_iter_,
            self.best_epoch_,
            self.best_loss_,
        )

    def _averages(self, y_index: np.ndarray, constraint: MonotoneConstraint | None) -> bool:
        """alpha='auto' averages K fold networks on files of fewer than
        SINGLE_NETWORK_ROWS rows without monotone constraints (a constrained network's
        hidden units alternate in orientation, which side-by-side members of odd width
        would not)."""
        return bool(len(y_index) < SINGLE_NETWORK_ROWS) and constraint is None
