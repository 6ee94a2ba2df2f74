"""A trained network's logits and the checks of a network loaded from a file, without
scikit-learn.

``BackpropClassifier`` (:mod:`backprop_lab.classifier.estimator`) is a scikit-learn
estimator, and importing scikit-learn costs a command more than scoring a file of a
hundred thousand rows. The scoring rule and the checks that loading a model runs live
here, so that ``predict`` and ``evaluate`` score a saved model without that import;
the estimator calls the same functions, so both give the same numbers:

* :func:`network_logits`: z = the network's output layer, block by block by the fused
  engine's ``predict_logits`` when rows x parameters reach
  ``AUTO_MIN_SCORE_ROW_PARAMETERS``, else by the network's own layers in one pass;
* :func:`check_loaded_network`: classes (two or more, distinct, sorted), outputs (one for
  two classes, K for K > 2) and the monotone constraint (satisfied by the weights);
* :func:`monotone_constraint`: ``monotonic_cst`` checked, as the constraint on the
  network's weights (None when no input is constrained).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..engine.base import AUTO_MIN_SCORE_ROW_PARAMETERS
from ..nn import Sequential
from ..nn.monotone import MonotoneConstraint, check_monotonic_cst


def network_logits(network: Sequential, X: np.ndarray) -> np.ndarray:
    """z = the network's logits for float64 rows X of shape (N, n_inputs): (N,) for one
    output, (N, K) for K; the fused engine's blocks from AUTO_MIN_SCORE_ROW_PARAMETERS rows
    x parameters on (memory bounded whatever N is), else the network's own layers."""
    if X.shape[0] * network.n_parameters() >= AUTO_MIN_SCORE_ROW_PARAMETERS:
        from ..engine.fused import predict_logits

        z = predict_logits(network, X)
    else:
        z = network.predict_logits(X)
    return z[:, 0] if z.shape[1] == 1 else z


def checked_inputs(network: Sequential, X: ArrayLike) -> np.ndarray:
    """X as a float64 array of shape (N, n_inputs) with finite values, or ValueError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != network.n_inputs:
        raise ValueError(
            f"X has shape {X.shape}; the network takes rows of {network.n_inputs} inputs"
        )
    if not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
    return X


def monotone_constraint(
    monotonic_cst: object,
    n_inputs: int,
    sizes: tuple[int, ...],
    n_classes: int,
    feature_names: object = None,
) -> MonotoneConstraint | None:
    """The checked ``monotonic_cst`` as a constraint on the weights of a network with
    ``n_inputs`` inputs and hidden ``sizes``, or None when no input is constrained."""
    signs = check_monotonic_cst(monotonic_cst, n_inputs, feature_names)
    if not signs.any():
        return None
    if n_classes > 2:
        raise ValueError("monotonic constraints are not supported for multiclass classification.")
    return MonotoneConstraint(signs, [n_inputs, *sizes, 1])


def check_loaded_network(network: Sequential, classes: np.ndarray, monotonic_cst: object) -> None:
    """Raise ValueError unless ``network`` can be a fitted classifier of ``classes`` (in
    output order) under ``monotonic_cst``."""
    if len(classes) < 2 or len(np.unique(classes)) != len(classes):
        raise ValueError(f"classes must be two or more distinct labels; got {classes.tolist()}")
    if not np.array_equal(np.sort(classes), classes):
        raise ValueError("classes must be sorted, as fit would order them")
    expected = 1 if len(classes) == 2 else len(classes)
    if network.n_outputs != expected:
        raise ValueError(
            f"a network for {len(classes)} classes needs {expected} output(s); "
            f"this one has {network.n_outputs}"
        )
    widths = [W.shape[1] for name, W in network.params.items() if name.startswith("W")]
    constraint = monotone_constraint(
        monotonic_cst, network.n_inputs, tuple(widths[:-1]), len(classes)
    )
    if constraint is not None and (problem := constraint.violation(network.params)):
        raise ValueError(f"the network does not satisfy monotonic_cst: {problem}")
