"""BackpropClassifier: the package's network behind scikit-learn's classifier contract.

The network is :func:`backprop_lab.nn.mlp`, trained by :func:`backprop_lab.engine.training.train`
(no second backprop lives here). The output layer and loss depend on the labels:

* two classes: one output z and the sigmoid, p = sigmoid(z) = P(y = classes_[1] | x),
  binary cross-entropy l = -[y log p + (1 - y) log(1 - p)], whose backward is
  dl/dz = p - y;
* K > 2 classes: K outputs and the softmax, p_k = e^{z_k} / sum_j e^{z_j}, cross-entropy
  l = -log p_y, whose backward is dl/dz = p - onehot(y).

Both backward formulas are "prediction minus target"; nn/losses.py implements them side
by side (``BinaryCrossEntropy.dl_dz`` and ``SoftmaxCrossEntropy.dl_dz``).

The objective is the weighted mean loss plus an L2 penalty on the weights (not biases),
scaled by the N training rows as in scikit-learn's MLPClassifier (and as a Gaussian prior
would be: its pull weakens as data grows):

    J = sum_i w_i l_i / sum_i w_i + (alpha / (2 N)) sum_l ||W_l||^2,
    w_i = sample_weight_i * class_weight[y_i].

The defaults are chosen for real credit files (hundreds to tens of thousands of rows,
dozens of one-hot columns, 1-30% defaults), where an unregularised network overfits:

* the output weights start at zero and the output bias at the training log-odds
  (b = log(p / (1 - p)), or b_k = log p_k), so training starts from "everyone has the
  base rate" and grows the function from there;
* Adam (learning rate 0.01, full batch) and an L2 penalty whose strength is chosen from
  the data (``alpha='auto'``, :mod:`backprop_lab.classifier.averaging`): the rows are
  split into K = 5 stratified folds, network k is trained on the other four folds and
  scores fold k, alpha minimises the out-of-fold log loss
  CV(alpha) = sum_i w_i l(z_oof,i, y_i) / sum_i w_i over the candidates ``ALPHA_GRID``
  (at present alpha = 10 alone: wider grids chose by noise on files with few defaults),
  and the model averages the K networks' logits,
  z(x) = (1/K) sum_k z_k(x), stored as one network with K times the hidden units. A file
  of 100,000 rows or more (or a fit with monotone constraints) gets one network with
  alpha = 10 instead, minimised from LBFGS_MIN_ROWS (100,000) rows on by L-BFGS
  (``optimizer='auto'``): on large files it reaches the same or a lower validation loss
  in a third of the passes (benchmarks/lbfgs_scale.py);
* early stopping on the log loss (not accuracy) of a stratified validation split,
  keeping the weights of the best epoch. With ``early_stopping='auto'`` it runs only
  when every class has at least MIN_VALIDATION_ROWS rows in that split: the log loss of
  a handful of defaults is too noisy to pick an epoch by, and small files are better
  served by using every row with the L2 penalty alone.

One network's fit to a small file has high variance, and it shows as overconfidence: a
held-out log loss above logistic regression's at the same ROC AUC. The average of the
fold networks keeps their bias and cuts that variance. tests/test_safe_defaults.py
checks, on loan files of many shapes (backprop_lab.data.scenarios), that with these
defaults the held-out ROC AUC is at least LogisticRegression's - 0.01 and the log loss
at most 1.02 times its; tests/test_estimator_defaults.py checks one-hot-heavy files with
rare defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..engine.lbfgs import LBFGS
from ..engine.training import train
from ..nn import Sequential
from ..nn.monotone import MonotoneConstraint
from ..nn.optim import Optimizer, get_optimizer
from .averaging import DEFAULT_ALPHA, fit_auto
from .early_stopping import TrainingMonitor, diverged_message
from .fit_pieces import MIN_VALIDATION_ROWS as MIN_VALIDATION_ROWS
from .fit_pieces import OPTIMIZER_CHOICES as OPTIMIZER_CHOICES
from .fit_pieces import FitPieces
from .network_scoring import check_loaded_network, network_logits

#: With optimizer='auto', the fewest rows given to fit (with batch_size None) that
#: choose L-BFGS over Adam. From here on the two reach the same validation loss and
#: L-BFGS is the faster (benchmarks/lbfgs_scale.py measures both by size); below it,
#: the small-file defaults (tests/test_estimator_defaults.py) stay Adam's.
LBFGS_MIN_ROWS = 100_000


def chosen_optimizer(optimizer: str, batch_size: int | None, n_rows: int) -> str:
    """The optimizer a fit on ``n_rows`` rows runs: 'auto' becomes 'lbfgs' for full
    batches (``batch_size`` None) of at least LBFGS_MIN_ROWS rows, else 'adam'; any other
    value stays as it is."""
    if optimizer != "auto":
        return optimizer
    return "lbfgs" if batch_size is None and n_rows >= LBFGS_MIN_ROWS else "adam"


def _is_dask(value: object) -> bool:
    """A dask collection (array, dataframe, series), recognised without importing dask."""
    return hasattr(value, "__dask_graph__") and hasattr(value, "__dask_keys__")


class BackpropClassifier(FitPieces, ClassifierMixin, BaseEstimator):
    """A feed-forward network classifier trained by backpropagation.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (8,)
        Units in each hidden layer; ``(8,)`` is the tutorial's single layer of eight.
    activation : {'relu', 'leaky_relu', 'tanh', 'sigmoid'}, default 'relu'
        Hidden-layer activation.
    optimizer : {'auto', 'adam', 'momentum', 'gd', 'lbfgs'}, default 'auto'
        How gradients become updates (see :mod:`backprop_lab.nn.optim`). 'lbfgs': the
        full-batch quasi-Newton method of :mod:`backprop_lab.engine.lbfgs`; then an
        epoch is one iteration, ``learning_rate`` is unused, ``batch_size`` must be None,
        training also ends once max |dJ/dtheta| <= ``tol``, and ``partial_fit`` is absent.
        'auto': 'lbfgs' for full batches of at least ``LBFGS_MIN_ROWS`` rows, else
        'adam' (``partial_fit`` always uses 'adam'). ``optimizer_`` says which ran.
    learning_rate : float, default 0.01
        The optimiser's step size.
    max_epochs : int, default 1000
        Most passes over the training rows (early stopping usually ends far sooner).
    batch_size : int or None, default None
        Rows per gradient step; None uses every training row in each step (full batch).
    alpha : float or 'auto', default 'auto'
        L2 penalty strength: J adds (alpha / (2 N)) sum ||W||^2 (see the module docstring).
        A number trains one network with that alpha. 'auto' chooses alpha by
        cross-validation and averages the fold networks (module docstring and
        :mod:`~backprop_lab.classifier.averaging`), unless the file has at least
        ``SINGLE_NETWORK_ROWS`` (100,000) rows: then one network with alpha = 10.
        ``partial_fit`` and a ``warm_start`` fit continue with ``alpha_``.
    early_stopping : {'auto', True, False}, default 'auto'
        True: hold out ``validation_fraction`` of the rows (stratified by class), stop
        once their log loss has not improved by ``tol`` for ``n_iter_no_change`` epochs,
        and keep the weights of the epoch with the lowest validation log loss. False:
        train on every row and stop once the training objective J stops improving the
        same way. 'auto': True when every class would have at least
        ``MIN_VALIDATION_ROWS`` (20) validation rows, else False.
    validation_fraction : float, default 0.2
        Share of rows held out for early stopping.
    n_iter_no_change : int, default 25
        Patience, in epochs.
    tol : float, default 1e-4
        Smallest decrease of the monitored loss that counts as an improvement.
    class_weight : dict, 'balanced' or None, default None
        Multiplies each row's weight by its class's weight (scikit-learn's convention).
        Weighting changes the predicted probabilities, so leave it None when
        probabilities must be calibrated.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the validation split and the batch order; an int gives
        bit-for-bit identical fits.
    verbose : bool, default False
        Show a progress bar (on stderr) while training.
    warm_start : bool, default False
        When True, ``fit`` continues from the current weights instead of starting afresh.
    monotonic_cst : array-like of int, dict or None, default None
        Monotone constraints, scikit-learn's meaning: one of 1 (P(classes_[1]) may only
        rise with the feature), -1 (may only fall) or 0 (free) per feature, or a dict from
        feature names to those values (X given as a DataFrame). Binary targets only. The
        constraint holds by construction, for every input and at every epoch, through
        sign-constrained weights kept by projection after each step
        (:mod:`backprop_lab.nn.monotone`, which gives the proof); constrained models are
        trained by the reference engine, or with L-BFGS as L-BFGS-B's bounds on the
        weights' signs (gradients from the fused engine).

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted; for two classes ``classes_[1]`` is the positive one.
    n_features_in_, feature_names_in_ :
        Number (and, for a DataFrame, names) of the input columns.
    network_ : Sequential
        The trained network; its outputs are logits. It keeps no rows of data: ``fit``
        clears the layers' caches and scoring never fills them.
    loss_curve_ : list of float
        Training objective J per epoch.
    validation_scores_ : list of float
        Validation log loss after each epoch (lower is better; the data loss without the L2
        penalty, as ``History.val_loss``); empty without early stopping.
    early_stopping_ : bool
        Whether the last ``fit`` used early stopping (resolves 'auto').
    best_loss_ : float
        The lowest validation log loss with early stopping, else the lowest training J.
    best_epoch_ : int
        Epoch (from 1) whose weights were kept.
    n_iter_ : int
        Epochs run in the last call to ``fit`` (with ``partial_fit``: in total).
    optimizer_ : str
        The optimizer the last fit used ('auto' resolved).
    alpha_ : float
        The alpha used (the chosen one under 'auto').
    cv_log_loss_ : dict
        Under 'auto' with averaging, the out-of-fold log loss of each candidate alpha;
        else empty.
    n_networks_ : int
        Networks averaged into ``network_`` (1 for a single network). With more than
        one, ``loss_curve_``, ``validation_scores_``, ``n_iter_``, ``best_epoch_`` and
        ``best_loss_`` are those of the first fold network.
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (8,),
        activation: str = "relu",
        optimizer: str = "auto",
        learning_rate: float = 0.01,
        max_epochs: int = 1000,
        batch_size: int | None = None,
        alpha: float | str = "auto",
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 25,
        tol: float = 1e-4,
        class_weight: dict | str | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        warm_start: bool = False,
        monotonic_cst: ArrayLike | dict | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.monotonic_cst = monotonic_cst

    # ---- fitting (its steps: FitPieces, in fit_pieces.py) ----------------------------
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> BackpropClassifier:
        """Train on (X, y), starting afresh unless ``warm_start`` and already fitted.

        X and y may be dask collections (array or dataframe): then each iteration's full
        batch is summed partition by partition on a Dask cluster, with the same numbers
        (see :mod:`backprop_lab.distributed`, which needs the ``dask`` extra).
        """
        if _is_dask(X) or _is_dask(y):
            from ..distributed.training import fit_collection  # dask is an optional extra

            return fit_collection(self, X, y, sample_weight)
        sizes = self._check_hyperparameters()
        continuing = self.warm_start and hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=not continuing)
        check_classification_targets(y)
        classes = np.unique(y)
        if continuing:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"warm_start needs the same classes as before ({self.classes_.tolist()}); "
                    f"got {classes.tolist()}"
                )
        else:
            self._start(classes)
        y_index = np.searchsorted(self.classes_, y)
        sw, weights = self._row_weights(y, sample_weight, X.shape[0])
        rng = check_random_state(self.random_state)
        split_seed, init_seed, batch_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=3))

        self.early_stopping_ = self._use_early_stopping(y_index)
        constraint = self._monotone_constraint(sizes)
        if self.alpha == "auto" and not continuing and self._averages(y_index, constraint):
            fit_auto(self, X, y_index, sw, weights, sizes, (split_seed, init_seed, batch_seed))
            return self
        if not continuing:
            self.alpha_ = DEFAULT_ALPHA if self.alpha == "auto" else float(self.alpha)
            self.cv_log_loss_, self.n_networks_ = {}, 1
            self.network_ = self._build(sizes, X.shape[1], init_seed, constraint)
        if self.early_stopping_:
            train_rows, val_rows = self._validation_split(y_index, split_seed)
        else:
            train_rows, val_rows = np.arange(X.shape[0]), None
        self._train_network(
            self.network_,
            X,
            y_index,
            sw,
            weights,
            train_rows,
            val_rows,
            self.alpha_,
            batch_seed,
            fresh=not continuing,
            constraint=constraint,
        )
        return self

    def _train_network(
        self,
        network: Sequential,
        X: np.ndarray,
        y_index: np.ndarray,
        sw: np.ndarray | None,
        weights: np.ndarray | None,
        train_rows: np.ndarray,
        val_rows: np.ndarray | None,
        alpha: float,
        batch_seed: int,
        *,
        fresh: bool = True,
        constraint: MonotoneConstraint | None = None,
    ) -> None:
        """Train ``network`` (made ``network_``) on ``train_rows`` with penalty ``alpha``,
        early stopping on ``val_rows`` unless None; ``fresh`` starts the output layer at
        the base rate and the training records afresh. The optimiser is chosen on all
        of X's rows (``optimizer='auto'``); a monotone ``constraint`` is kept by
        projection after each step, or by L-BFGS-B's bounds."""
        self.network_ = network
        w_train = None if weights is None else weights[train_rows]
        if fresh:
            self._set_prior_bias(y_index[train_rows], w_train)
            self.loss_curve_, self.n_iter_ = [], 0
        self.validation_scores_ = []
        self.optimizer_ = chosen_optimizer(self.optimizer, self.batch_size, X.shape[0])
        if self.optimizer_ == "lbfgs":  # a monotone constraint: L-BFGS-B's bounds hold it
            bounds = None if constraint is None else constraint.bounds()
            self._optimizer = LBFGS(tol=float(self.tol), bounds=bounds)
        else:
            self._optimizer = self._constrained(
                get_optimizer(self.optimizer_, self.learning_rate), constraint
            )
        self._stream = np.random.default_rng(batch_seed)
        monitor = TrainingMonitor(self, X, y_index, weights, val_rows)
        history = train(
            self.network_,
            X[train_rows],
            self._targets(y_index[train_rows]),
            loss=self._loss_name,
            optimizer=self._optimizer,
            epochs=int(self.max_epochs),
            batch_size=self.batch_size,
            l2=self._l2(sw, train_rows, alpha),
            sample_weight=w_train,
            seed=self._stream,
            callback=monitor,
            progress=bool(self.verbose),
        )
        self.loss_curve_ = [*self.loss_curve_, *history.loss]
        self.n_iter_ = history.epochs
        self.network_.clear_cache()  # the model keeps its weights, never training rows
        monitor.finish(history)

    @available_if(lambda self: self.optimizer != "lbfgs")
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> BackpropClassifier:
        """One epoch over (X, y) from the current weights, with no early stopping.

        ``classes`` lists every label the stream will contain; it is needed on the first
        call unless that batch already holds them all. The optimiser's state (Adam's
        moments) carries over between calls, and from a previous ``fit``.
        """
        sizes = self._check_hyperparameters()
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        check_classification_targets(y)
        if first:
            self._start(np.unique(y) if classes is None else np.unique(np.asarray(classes)))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes {np.unique(classes).tolist()} differ from the first call's "
                f"{self.classes_.tolist()}"
            )
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(
                f"y holds label {y[np.argmax(unknown)]!r} at row {int(np.argmax(unknown))}, "
                f"not one of classes {self.classes_.tolist()}"
            )
        y_index = np.searchsorted(self.classes_, y)
        sw, weights = self._row_weights(y, sample_weight, X.shape[0])
        constraint = self._monotone_constraint(sizes)
        if first:
            rng = check_random_state(self.random_state)
            init_seed, stream_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
            self.network_ = self._build(sizes, X.shape[1], init_seed, constraint)
            self._set_prior_bias(y_index, weights)
            self._stream = np.random.default_rng(stream_seed)
            self.alpha_ = DEFAULT_ALPHA if self.alpha == "auto" else float(self.alpha)
            self.cv_log_loss_, self.n_networks_ = {}, 1
            self.loss_curve_, self.validation_scores_ = [], []
            self.n_iter_ = 0
        if not isinstance(getattr(self, "_optimizer", None), Optimizer):  # none, or L-BFGS
            self.optimizer_ = "adam" if self.optimizer == "auto" else self.optimizer
            self._optimizer = get_optimizer(self.optimizer_, self.learning_rate)
        self._optimizer = self._constrained(self._optimizer, constraint)
        if getattr(self, "_stream", None) is None:
            self._stream = np.random.default_rng(
                check_random_state(self.random_state).randint(2**31 - 1)
            )
        history = train(
            self.network_,
            X,
            self._targets(y_index),
            loss=self._loss_name,
            optimizer=self._optimizer,
            epochs=1,
            batch_size=self.batch_size,
            l2=self._l2(sw, np.arange(X.shape[0]), self.alpha_),
            sample_weight=weights,
            seed=self._stream,
        )
        self.network_.clear_cache()
        if history.diverged:
            raise ValueError(diverged_message(history))
        self.loss_curve_.append(history.loss[0])
        self.n_iter_ += 1
        self.best_loss_ = min(self.loss_curve_)
        self.best_epoch_ = self.n_iter_
        return self

    @classmethod
    def from_network(
        cls, network: Sequential, classes: ArrayLike, **params: object
    ) -> BackpropClassifier:
        """A fitted classifier around an already trained ``network`` (used to load models).

        ``classes`` are the labels in output order; the network needs one output for two
        classes and K outputs for K > 2. ``params`` are constructor parameters.
        """
        clf = cls(**params)
        classes = np.asarray(classes)
        check_loaded_network(network, classes, clf.monotonic_cst)
        clf._start(classes)
        clf.network_ = network
        clf.n_features_in_ = network.n_inputs
        clf.loss_curve_, clf.validation_scores_ = [], []
        clf.n_iter_ = 0
        clf.alpha_ = DEFAULT_ALPHA if clf.alpha == "auto" else float(clf.alpha)
        return clf

    # ---- prediction ----------------------------------------------------------------------
    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """The logits: z of shape (N,) for two classes, (N, K) for more.

        Computed by the network's own layers, ``SCORE_BLOCK_ROWS`` rows at a time
        (memory bounded whatever N is; see ``network_scoring.network_logits``); kept
        nowhere: a fitted classifier never carries the rows it scored.
        """
        if _is_dask(X):  # a dask collection of logits, computed where the rows lie
            from ..distributed.scoring import decision_function

            return decision_function(self, X)
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return network_logits(self.network_, X)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """P(class | x), columns in ``classes_`` order: [sigmoid(-z), sigmoid(z)] or softmax(z)."""
        if _is_dask(X):
            from ..distributed.scoring import predict_proba

            return predict_proba(self, X)
        z = self.decision_function(X)
        if z.ndim == 1:
            return np.column_stack([expit(-z), expit(z)])
        return softmax(z, axis=1)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """log P(class | x) from the logits (finite even where a probability rounds to 0)."""
        z = self.decision_function(X)
        if z.ndim == 1:
            return np.column_stack([log_expit(-z), log_expit(z)])
        return log_softmax(z, axis=1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class: classes_[1] where z > 0 (binary), else argmax_k z_k."""
        if _is_dask(X):
            from ..distributed.scoring import predict

            return predict(self, X)
        z = self.decision_function(X)
        index = (z > 0).astype(np.intp) if z.ndim == 1 else np.argmax(z, axis=1)
        return self.classes_[index]
