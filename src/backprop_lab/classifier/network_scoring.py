"""A trained network's logits and the checks of a network loaded from a file, without
scikit-learn.

``BackpropClassifier`` (:mod:`backprop_lab.classifier.estimator`) is a scikit-learn
estimator, and importing scikit-learn costs a command more than scoring a file of a
hundred thousand rows. The scoring rule and the checks that loading a model runs live
here, so that ``predict`` and ``evaluate`` score a saved model without that import;
the estimator calls the same functions, so both give the same numbers:

* :func:`network_logits`: z = the network's output layer, by its own layers, in blocks
  of at most SCORE_BLOCK_ROWS rows (memory bounded whatever N is);
* :func:`check_loaded_network`: classes (two or more, distinct, sorted), outputs (one for
  two classes, K for K > 2) and the monotone constraint (satisfied by the weights);
* :func:`monotone_constraint`: ``monotonic_cst`` checked, as the constraint on the
  network's weights (None when no input is constrained).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..nn import Sequential
from ..nn.monotone import MonotoneConstraint, check_monotonic_cst

#: Rows scored per pass of the layers: the activations of a block stay a few MB for any
#: width, so scoring N rows needs memory for the N logits and one block.
SCORE_BLOCK_ROWS = 2**15


def network_logits(network: Sequential, X: np.ndarray) -> np.ndarray:
    """z = the network's logits for float64 rows X of shape (N, n_inputs): (N,) for one
    output, (N, K) for K, by the network's own layers (``predict_logits``: z = x W + b
    and the activations, layer by layer), SCORE_BLOCK_ROWS rows at a time.

    Scoring is one pass: the fused engine's kernel would save about a third of it but
    costs loading Numba and its cached kernels (about 0.9 s), more than it saves below
    some 20 million rows, and a command that scores a file would pay it every time."""
    blocks = [
        network.predict_logits(X[start : start + SCORE_BLOCK_ROWS])
        for start in range(0, max(X.shape[0], 1), SCORE_BLOCK_ROWS)
    ]
    z = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
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
