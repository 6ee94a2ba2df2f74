"""Checkers for the tutorial notebook's exercises: each runs the learner's function on small
fixed data, compares it with finite differences, and says ``right`` or ``wrong: ...``.

The notebook's backward pass has the signature of :func:`backprop_lab.textbook.backward`,
``backward(X, y, y_hat, cache, params) -> grads``, where ``cache`` holds z1, h and z2 of
the forward pass and ``grads`` holds dW1, db1, dW2, db2 under the names W1, b1, W2, b2.

For every parameter entry theta_i the numeric slope is the central difference

    n_i = (J(theta + h e_i) - J(theta - h e_i)) / (2h),   h = 1e-5,

and the error of a gradient array a against its slopes n is measured against the array's
scale, ``e = max_i |a_i - n_i| / (max_i |a_i| + max_i |n_i|)``: a tiny entry is held to
the same absolute precision as the large ones, not to its own size.

Tolerance, from the two errors of the central difference: truncation, h^2 |J'''| / 6,
about 2e-11 for the checker's O(1) weights and inputs, and round-off, about
u |J| / h = 2.2e-16 x 0.7 / 1e-5 = 2e-11 (u is float64's machine epsilon), so a correct
gradient is off by about 4e-11 absolutely, and its arrays have scales of 0.01 to 1: e is
at most about 4e-9; measured, 5e-11 for the ReLU network and 1e-10 for the tanh one. A
bug is off by a sizeable part of the array's largest entry (on these data, dropping ReLU'
gives e = 0.27, forgetting 1/N gives (N - 1) / (N + 1) = 0.9). ``TOLERANCE = 1e-6``
sits over a hundred times above the first and over a hundred thousand times below the
second.

ReLU has a kink at 0, where a difference quotient straddles two slopes. The checker's
data are drawn so that no pre-activation lies within ``KINK_MARGIN`` of 0, far more than
any nudge of h moves it (h x max |X| < 4e-5), so every slope here is a true derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_expit

from .. import textbook

#: The finite-difference step h.
STEP = 1e-5
#: Largest error e a gradient may have and be called right (derivation in the module doc).
TOLERANCE = 1e-6
#: The checker's pre-activations all lie at least this far from the ReLU kink at 0.
KINK_MARGIN = 1e-3
#: Rows of the checker's data: small enough to stay quick, enough to fill every unit.
N_ROWS = 20

Params = dict[str, np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray, dict, Params], Params]
TanhBackward = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Verdict:
    """The checker's answer: ``right`` is True or False; ``message`` says why."""

    right: bool
    message: str

    def __str__(self) -> str:
        return self.message


def exercise_data(n_rows: int = N_ROWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Params]:
    """Inputs X (n_rows, 7), labels y (n_rows, 1) and 7-8-1 weights for the checks.

    Weights are 0.5 x N(0, 1) and biases 0.1 x N(0, 1), larger than the tutorial's
    0.01 x N(0, 1) so that every gradient is well above round-off and a wrong term shows.
    Draws are repeated (with the next seed) until every pre-activation z1 = X W1 + b1 is at
    least ``KINK_MARGIN`` from 0 and some of them are negative, so that ReLU' matters.
    """
    while True:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n_rows, 7))
        y = (rng.random((n_rows, 1)) < 0.5).astype(float)
        params = {
            "W1": 0.5 * rng.standard_normal((7, 8)),
            "b1": 0.1 * rng.standard_normal((1, 8)),
            "W2": 0.5 * rng.standard_normal((8, 1)),
            "b2": 0.1 * rng.standard_normal((1, 1)),
        }
        z1 = X @ params["W1"] + params["b1"]
        if np.min(np.abs(z1)) >= KINK_MARGIN and np.any(z1 < 0):
            return X, y, params
        seed += 1


def _tanh_forward(X: np.ndarray, params: Params) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The 7-8-1 network with a tanh hidden layer: h = tanh(z1), otherwise as textbook."""
    z1 = X @ params["W1"] + params["b1"]
    h = np.tanh(z1)
    z2 = h @ params["W2"] + params["b2"]
    return textbook.sigmoid(z2), {"z1": z1, "h": h, "z2": z2}


def _loss(y: np.ndarray, z2: np.ndarray) -> float:
    """L = -(1/N) sum [y log sigmoid(z2) + (1 - y) log sigmoid(-z2)]"""
    return float(-np.mean(y * log_expit(z2) + (1.0 - y) * log_expit(-z2)))


def _slopes(forward: Callable, X: np.ndarray, y: np.ndarray, params: Params) -> Params:
    """Central differences (J(theta + h e_i) - J(theta - h e_i)) / 2h for every entry."""
    numeric = {}
    for name, theta in params.items():
        slope = np.zeros_like(theta)
        for i in np.ndindex(theta.shape):
            nudged = {key: value.copy() for key, value in params.items()}
            nudged[name][i] = theta[i] + STEP
            up = _loss(y, forward(X, nudged)[1]["z2"])
            nudged[name][i] = theta[i] - STEP
            down = _loss(y, forward(X, nudged)[1]["z2"])
            slope[i] = (up - down) / (2 * STEP)
        numeric[name] = slope
    return numeric


def scaled_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """e = max |a - n| / (max |a| + max |n|): the error against the array's scale."""
    scale = float(np.max(np.abs(analytic)) + np.max(np.abs(numeric)))
    return float(np.max(np.abs(analytic - numeric))) / scale if scale > 0 else 0.0


def _ratio_hint(analytic: np.ndarray, numeric: np.ndarray) -> str:
    """' (it is c x the finite-difference slope)' when the array is a multiple c != 1 of the slopes."""
    denominator = float(np.sum(numeric * numeric))
    if denominator == 0.0:
        return ""
    c = float(np.sum(analytic * numeric)) / denominator
    if scaled_error(analytic, c * numeric) < TOLERANCE and abs(c - 1.0) > 1e-3:
        return f" (it is {c:.4g} x the finite-difference slope)"
    return ""


def _judge_gradients(grads: object, numeric: Params, params: Params) -> tuple[bool, str, float]:
    """Compare each gradient array with its slopes; (right, details, largest error)."""
    if not isinstance(grads, dict):
        return False, f"it returned {type(grads).__name__}, not a dict of gradients", np.nan
    problems, worst = [], 0.0
    for name, theta in params.items():
        if name not in grads:
            problems.append(f"no gradient for {name!r}")
            continue
        g = np.asarray(grads[name], dtype=float)
        if g.shape != theta.shape:
            problems.append(f"d{name} has shape {g.shape}; {name} has shape {theta.shape}")
        elif not np.all(np.isfinite(g)):
            problems.append(f"d{name} holds NaN or infinity")
        else:
            e = scaled_error(g, numeric[name])
            worst = max(worst, e)
            if e > TOLERANCE:
                problems.append(
                    f"d{name} is off by {e:.2g} of its largest entry{_ratio_hint(g, numeric[name])}"
                )
    if problems:
        return False, "; ".join(problems), worst
    return True, f"every gradient matches finite differences (largest error {worst:.1e})", worst


def _call(label: str, fn: Callable, *args: object) -> tuple[object, str | None]:
    """fn(*args), or the one-line reason it could not be run."""
    try:
        return fn(*args), None
    except Exception as error:  # the learner's code: any exception is the answer "wrong"
        return None, f"{label}: wrong: it raised {type(error).__name__}: {error}"


def _say(verdict: Verdict, quiet: bool) -> Verdict:
    if not quiet:
        print(verdict.message)
    return verdict


def check_backward(backward: Backward, *, quiet: bool = False) -> Verdict:
    """Check a backward pass of the tutorial's 7-8-1 ReLU network against finite differences.

    ``backward(X, y, y_hat, cache, params)`` must return the gradients of the mean binary
    cross-entropy, ``{"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}``; the forward pass is
    :func:`backprop_lab.textbook.forward`. Prints and returns the :class:`Verdict`:
    ``NAME: right ...`` or ``NAME: wrong: ...`` naming each array that is off.
    """
    label = getattr(backward, "__name__", "backward")
    X, y, params = exercise_data()
    y_hat, cache = textbook.forward(X, params)
    grads, failure = _call(label, backward, X, y, y_hat, cache, params)
    if failure:
        return _say(Verdict(False, failure), quiet)
    right, details, _ = _judge_gradients(grads, _slopes(textbook.forward, X, y, params), params)
    return _say(Verdict(right, f"{label}: {'right' if right else 'wrong'}: {details}"), quiet)


def check_tanh_backward(tanh_backward: TanhBackward, *, quiet: bool = False) -> Verdict:
    """Check ``tanh_backward(z, grad) -> dL/dz`` for a = tanh(z), given grad = dL/da.

    Two checks, both with finite differences: entry by entry on a grid of z from -3 to 3
    (where the slope of tanh is (tanh(z + h) - tanh(z - h)) / 2h), then inside the 7-8-1
    network with a tanh hidden layer, whose backward pass uses
    delta1 = tanh_backward(z1, delta2 W2^T). Prints and returns the :class:`Verdict`.
    """
    label = getattr(tanh_backward, "__name__", "tanh_backward")
    rng = np.random.default_rng(1)
    z = np.linspace(-3.0, 3.0, 8 * N_ROWS).reshape(N_ROWS, 8)
    grad = rng.standard_normal(z.shape)
    result, failure = _call(label, tanh_backward, z.copy(), grad.copy())
    if failure:
        return _say(Verdict(False, failure), quiet)
    result = np.asarray(result, dtype=float)
    if result.shape != z.shape:
        message = f"{label}: wrong: it returned shape {result.shape} for z of shape {z.shape}"
        return _say(Verdict(False, message), quiet)
    expected = grad * (np.tanh(z + STEP) - np.tanh(z - STEP)) / (2 * STEP)
    e = scaled_error(result, expected) if np.all(np.isfinite(result)) else np.inf
    if not e <= TOLERANCE:
        i = np.unravel_index(np.argmax(np.abs(result - expected)), z.shape)
        message = (
            f"{label}: wrong: at z = {z[i]:.3g} with grad = {grad[i]:.3g} it gives "
            f"{result[i]:.6g}; finite differences give {expected[i]:.6g}"
        )
        return _say(Verdict(False, message), quiet)

    def backward(X, y, y_hat, cache, params):
        N = X.shape[0]
        delta2 = y_hat - y
        delta1 = tanh_backward(cache["z1"], delta2 @ params["W2"].T)
        return {
            "W1": X.T @ delta1 / N,
            "b1": delta1.mean(axis=0, keepdims=True),
            "W2": cache["h"].T @ delta2 / N,
            "b2": delta2.mean(axis=0, keepdims=True),
        }

    X, y, params = exercise_data()
    y_hat, cache = _tanh_forward(X, params)
    grads, failure = _call(label, backward, X, y, y_hat, cache, params)
    if failure:
        return _say(Verdict(False, failure), quiet)
    right, details, worst = _judge_gradients(grads, _slopes(_tanh_forward, X, y, params), params)
    if not right:
        return _say(Verdict(False, f"{label}: wrong: in the tanh network, {details}"), quiet)
    message = (
        f"{label}: right: it matches finite differences entry by entry (largest error "
        f"{e:.1e}) and in the 7-8-1 network with a tanh hidden layer ({worst:.1e})"
    )
    return _say(Verdict(True, message), quiet)
