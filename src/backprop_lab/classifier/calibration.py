"""Calibration: do predicted probabilities of default match observed default rates?

Measures (y = 1 for default, p = predicted probability of default):

    Brier score   B   = (1/N) sum_i (p_i - y_i)^2
    reliability   for bins b of p: mean p_b against the observed rate y_b
    ECE               = sum_b (n_b / N) |mean p_b - mean y_b|

The Brier score and the reliability means are computed with the operations of
scikit-learn's ``brier_score_loss`` and ``calibration_curve`` (the same bits; the tests
check), without importing scikit-learn.

Bins are equal-width on [0, 1] (``strategy='uniform'``) or hold equal numbers of rows
(``'quantile'``), exactly as ``sklearn.calibration.calibration_curve`` cuts them: row i
goes to bin searchsorted(inner edges, p_i), so p equal to an edge falls in the lower
bin; empty bins are left out.

Post-hoc calibration maps the model's logit z (log-odds of default) to a new
probability, fitted on *validation* data by minimising the log loss:

    Platt scaling         p = sigma(a z + b)       (two numbers a, b)
    temperature scaling   p = sigma(z / T)         (one number T > 0; T > 1 softens an
                                                    over-confident model)

Both are small JSON-able objects (``to_dict``/``calibrator_from_dict``) so that they can
be saved beside a model. Temperature scaling keeps the ranking and the p = 0.5 cut-off
of the model (z / T has the sign of z); Platt scaling can move the cut-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit

from .._util.validation import check_labels_and_scores

STRATEGIES = ("uniform", "quantile")


def _check_probs(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return check_labels_and_scores(y_true, p)


def _check_logits(y_true: ArrayLike, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return check_labels_and_scores(y_true, z, name="logits", probabilities=False)


def _bin_ids(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """The bin of every row, as calibration_curve assigns it."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    return np.searchsorted(edges[1:-1], p)


def reliability_curve(
    y_true: ArrayLike, p_pred: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> pd.DataFrame:
    """Reliability-diagram data: one row per non-empty bin.

    Columns: bin, count n_b, mean_predicted (mean p in the bin), observed_rate (share of
    defaults in the bin), gap = mean_predicted - observed_rate. The two means are
    sum_b y / n_b and sum_b p / n_b by ``np.bincount``, as
    ``sklearn.calibration.calibration_curve`` computes them (which refuses one class).
    """
    y, p = _check_probs(y_true, p_pred)
    return _reliability(y, p, n_bins, strategy)


def _reliability(y: np.ndarray, p: np.ndarray, n_bins: int, strategy: str) -> pd.DataFrame:
    """:func:`reliability_curve` of checked labels and probabilities."""
    ids = _bin_ids(p, n_bins, strategy)
    counts = np.bincount(ids, minlength=n_bins)
    nonempty = np.flatnonzero(counts)
    observed = np.bincount(ids, weights=y, minlength=n_bins)[nonempty] / counts[nonempty]
    predicted = np.bincount(ids, weights=p, minlength=n_bins)[nonempty] / counts[nonempty]
    return pd.DataFrame(
        {
            "bin": nonempty,
            "count": counts[nonempty],
            "mean_predicted": predicted,
            "observed_rate": observed,
            "gap": predicted - observed,
        }
    )


def expected_calibration_error(
    y_true: ArrayLike, p_pred: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """ECE = sum_b (n_b / N) |mean p_b - observed rate_b| over the reliability bins."""
    return _ece(reliability_curve(y_true, p_pred, n_bins=n_bins, strategy=strategy))


def _ece(curve: pd.DataFrame) -> float:
    """sum_b (n_b / N) |gap_b| of a reliability curve."""
    weights = curve["count"].to_numpy() / curve["count"].sum()
    return float(np.sum(weights * np.abs(curve["gap"].to_numpy())))


def brier_score(y_true: ArrayLike, p_pred: ArrayLike) -> float:
    """(1/N) sum_i (p_i - y_i)^2 (``sklearn.metrics.brier_score_loss``'s bits)."""
    y, p = _check_probs(y_true, p_pred)
    return brier_from_checked(y, p)


def brier_from_checked(y: np.ndarray, p: np.ndarray) -> float:
    """(1/N) sum_i (p_i - y_i)^2 for checked 0/1 int64 labels and float64 probabilities,
    with ``sklearn.metrics.brier_score_loss``'s operations and so its bits: half the mean
    over rows of ((1 - y) - (1 - p))^2 + (y - p)^2 (its two columns 1 - p and p)."""
    b = y.astype(np.float64)  # the same operations, in place: b = y - p
    a = 1.0 - b
    a -= 1.0 - p  # a = (1 - y) - (1 - p)
    b -= p
    a *= a
    b *= b
    a += b
    return float(np.mean(a) * 0.5)


def log_loss_from_logits(y_true: ArrayLike, logits: ArrayLike) -> float:
    """-(1/N) sum_i [y_i log sigma(z_i) + (1 - y_i) log sigma(-z_i)], without overflow."""
    y, z = _check_logits(y_true, logits)
    return float(-np.mean(np.where(y == 1, log_expit(z), log_expit(-z))))


def calibration_summary(
    y_true: ArrayLike, p_pred: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> dict[str, float]:
    """Brier score, ECE, log loss, mean predicted and observed default rate, as a dict."""
    return calibration_report(y_true, p_pred, n_bins=n_bins, strategy=strategy)[0]


def calibration_report(
    y_true: ArrayLike, p_pred: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> tuple[dict[str, float], pd.DataFrame]:
    """(:func:`calibration_summary`, :func:`reliability_curve`) from one check of the
    inputs and one binning: log loss = -(1/N) sum_i [y_i log q_i + (1 - y_i) log(1 - q_i)]
    with q = p clipped to [eps, 1 - eps]."""
    y, p = _check_probs(y_true, p_pred)
    curve = _reliability(y, p, n_bins, strategy)
    summary = {
        "brier_score": brier_from_checked(y, p),
        "expected_calibration_error": _ece(curve),
        "log_loss": _log_loss(y, p),
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
        "n": int(y.size),
    }
    return summary, curve


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """-(1/N) sum_i [y_i log q_i + (1 - y_i) log(1 - q_i)], q = p clipped to [eps, 1 - eps]:
    the terms log q (defaults) and log1p(-q) (the others) in one array, and its mean."""
    eps = np.finfo(np.float64).eps
    q = np.clip(p, eps, 1 - eps)
    log_q = np.log(q)
    terms = np.negative(q, out=q)
    np.log1p(terms, out=terms)
    np.copyto(terms, log_q, where=y == 1)
    return float(-np.mean(terms))


# ---- post-hoc calibration -----------------------------------------------------------


def _fit_affine(y: np.ndarray, z: np.ndarray, x0: np.ndarray, slope_only: bool) -> np.ndarray:
    """argmin over (a, b) of the mean log loss of sigma(a z + b) (b = 0 if ``slope_only``).

    With u = a z + b: L = -(1/N) sum [y log sigma(u) + (1 - y) log sigma(-u)],
    dL/du = (sigma(u) - y) / N, so dL/da = sum dL/du * z and dL/db = sum dL/du.
    """
    from scipy.optimize import minimize  # only to fit: scoring never loads it

    yf = y.astype(np.float64)

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[0], (0.0 if slope_only else theta[1])
        u = a * z + b
        loss = -np.mean(yf * log_expit(u) + (1 - yf) * log_expit(-u))
        g = (expit(u) - yf) / z.size
        grad = np.array([g @ z] if slope_only else [g @ z, g.sum()])
        return float(loss), grad

    result = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B")
    if not np.all(np.isfinite(result.x)):
        raise ValueError("calibration fit failed: parameters are not finite")
    return result.x


@dataclass
class PlattScaling:
    """p = sigma(a z + b), (a, b) minimising validation log loss."""

    a: float = 1.0
    b: float = 0.0
    method: ClassVar[str] = "platt"

    def fit(self, logits: ArrayLike, y_true: ArrayLike) -> PlattScaling:
        y, z = _check_logits(y_true, logits)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both classes (defaults and repayments) in y_true")
        self.a, self.b = (float(v) for v in _fit_affine(y, z, np.array([1.0, 0.0]), False))
        return self

    def calibrated_logits(self, logits: ArrayLike) -> np.ndarray:
        """a z + b"""
        return self.a * np.asarray(logits, dtype=np.float64) + self.b

    @property
    def slope(self) -> float:
        """d(a z + b)/dz = a."""
        return self.a

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """sigma(a z + b): the calibrated probability of default."""
        return expit(self.calibrated_logits(logits))

    def to_dict(self) -> dict:
        return {"method": self.method, "a": self.a, "b": self.b}


@dataclass
class TemperatureScaling:
    """p = sigma(z / T), T > 0 minimising validation log loss.

    Fitted as the slope s = 1 / T of sigma(s z) (a one-parameter logistic fit, convex
    in s); T = 1 / s. A fitted slope s <= 0 means the logits rank defaults backwards
    and no temperature can help: that raises ValueError.
    """

    temperature: float = 1.0
    method: ClassVar[str] = "temperature"

    def fit(self, logits: ArrayLike, y_true: ArrayLike) -> TemperatureScaling:
        y, z = _check_logits(y_true, logits)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both classes (defaults and repayments) in y_true")
        (slope,) = _fit_affine(y, z, np.array([1.0]), True)
        if not slope > 0:
            raise ValueError(
                f"temperature scaling failed: the best slope on the logits is {slope:.3g} <= 0"
            )
        self.temperature = float(1.0 / slope)
        return self

    def calibrated_logits(self, logits: ArrayLike) -> np.ndarray:
        """z / T"""
        return np.asarray(logits, dtype=np.float64) / self.temperature

    @property
    def slope(self) -> float:
        """d(z / T)/dz = 1 / T."""
        return 1.0 / self.temperature

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """sigma(z / T): the calibrated probability of default."""
        return expit(self.calibrated_logits(logits))

    def to_dict(self) -> dict:
        return {"method": self.method, "temperature": self.temperature}


Calibrator = PlattScaling | TemperatureScaling
_CALIBRATORS: dict[str, type] = {"platt": PlattScaling, "temperature": TemperatureScaling}


def calibrator_from_dict(data: dict) -> Calibrator:
    """Rebuild a calibrator from its ``to_dict()``; checks every number."""
    if not isinstance(data, dict) or data.get("method") not in _CALIBRATORS:
        got = data.get("method") if isinstance(data, dict) else data
        raise ValueError(
            f"unknown calibration method {got!r}; expected one of {sorted(_CALIBRATORS)}"
        )
    fields = {"platt": ("a", "b"), "temperature": ("temperature",)}[data["method"]]
    values = {}
    for key in fields:
        v = data.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"calibration field {key!r} must be a finite number; got {v!r}")
        values[key] = float(v)
    if data["method"] == "temperature" and values["temperature"] <= 0:
        raise ValueError(f"temperature must be positive; got {values['temperature']!r}")
    return _CALIBRATORS[data["method"]](**values)


def fit_calibrator(method: str, logits: ArrayLike, y_true: ArrayLike) -> Calibrator:
    """Fit 'platt' or 'temperature' scaling on validation logits and labels."""
    if method not in _CALIBRATORS:
        raise ValueError(
            f"unknown calibration method {method!r}; expected one of {sorted(_CALIBRATORS)}"
        )
    return _CALIBRATORS[method]().fit(logits, y_true)
