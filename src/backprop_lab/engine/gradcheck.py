"""Gradient checking: compare backprop's gradient with central finite differences.

For every entry theta_i of every parameter array:

    numeric_i  = (J(theta + h e_i) - J(theta - h e_i)) / (2h)          (central difference)
    rel_err_i  = |analytic_i - numeric_i| / max(|analytic_i| + |numeric_i|, floor)

Thresholds on the largest rel_err: below 1e-7 the gradient is right; above 1e-2 it is
wrong; in between, look closer (float32, or a kink nearby). The floor (1e-10) keeps
entries whose true gradient is zero (a dead unit) from dividing 0 by 0.

To keep round-off out of the difference, J(theta + h e_i) - J(theta - h e_i) is formed
row by row before the rows are averaged. ReLU and LeakyReLU have a kink at 0: when the
perturbation moves any pre-activation across 0 the difference quotient straddles two
slopes and means nothing, so that entry is flagged as a kink and left out of the
maximum (and counted) rather than reported as a failure.

Finite differences only test backward against forward: a forward pass that is wrong in
a self-consistent way passes. The test suite therefore also compares with PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .._util.validation import check_features, check_sample_weight
from ..nn.losses import Loss, get_loss
from ..nn.model import Sequential
from .training import prepare_targets

GOOD = 1e-7
WRONG = 1e-2
FLOOR = 1e-10


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """|a - n| / max(|a| + |n|, floor), elementwise."""
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


@dataclass
class ParamCheck:
    """The check of one parameter array."""

    name: str
    shape: tuple[int, ...]
    max_rel_error: float
    n_checked: int
    n_kinks: int
    worst_index: tuple[int, ...] | None
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)


@dataclass
class GradCheckResult:
    """Per-array results and the overall verdict at ``tolerance``."""

    params: list[ParamCheck]
    tolerance: float
    eps: float

    @property
    def max_rel_error(self) -> float:
        return max((p.max_rel_error for p in self.params), default=0.0)

    @property
    def n_kinks(self) -> int:
        return sum(p.n_kinks for p in self.params)

    @property
    def passed(self) -> bool:
        return self.max_rel_error < self.tolerance

    def rows(self) -> list[dict]:
        """One plain dict per parameter array (for tables and JSON)."""
        return [
            {
                "param": p.name,
                "shape": "x".join(map(str, p.shape)),
                "max_rel_error": p.max_rel_error,
                "checked": p.n_checked,
                "kinks_excluded": p.n_kinks,
            }
            for p in self.params
        ]

    def table(self) -> str:
        """A plain-text table with the verdict."""
        lines = [f"{'param':<6} {'shape':>7} {'max rel error':>14} {'checked':>8} {'kinks':>6}"]
        for r in self.rows():
            lines.append(
                f"{r['param']:<6} {r['shape']:>7} {r['max_rel_error']:>14.3e} "
                f"{r['checked']:>8} {r['kinks_excluded']:>6}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"overall max relative error {self.max_rel_error:.3e} "
            f"(tolerance {self.tolerance:g}; good < {GOOD:g}, wrong > {WRONG:g}): {verdict}"
        )
        return "\n".join(lines)


def _kink_pattern(model: Sequential) -> list[np.ndarray]:
    """Which side of 0 every pre-activation of every kinked activation is on."""
    return [layer.x > 0 for layer in model.layers if layer.has_kink]


def gradient_check(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "bce",
    *,
    l2: float = 0.0,
    sample_weight: ArrayLike | None = None,
    eps: float = 1e-5,
    tolerance: float = GOOD,
) -> GradCheckResult:
    """Check dJ/dtheta from backprop against central differences for EVERY parameter entry.

    J = L(model(X), y) + (l2 / 2) sum ||W||^2. The model's parameters are restored
    exactly afterwards.
    """
    loss = get_loss(loss)
    X = check_features(X, n_features=model.n_inputs, dtype=model.dtype)
    y = prepare_targets(loss, y, X.shape[0], model.n_outputs)
    w = check_sample_weight(sample_weight, X.shape[0])
    w = np.full(X.shape[0], 1.0 / X.shape[0]) if w is None else w / w.sum()

    _, grads = model.loss_and_gradients(X, y, loss, l2=l2, sample_weight=w)
    analytic = {name: g.copy() for name, g in grads.items()}
    base_pattern = _kink_pattern(model)

    def rows_and_pattern() -> tuple[np.ndarray, list[np.ndarray]]:
        return loss.per_row(model.forward(X), y), _kink_pattern(model)

    results = []
    for name, theta in model.params.items():
        numeric = np.zeros_like(theta, dtype=np.float64)
        kinks = np.zeros(theta.shape, dtype=bool)
        penalised = l2 and name.startswith("W")
        for i in np.ndindex(theta.shape):
            original = theta[i]
            theta[i] = original + eps
            up, pattern_up = rows_and_pattern()
            theta[i] = original - eps
            down, pattern_down = rows_and_pattern()
            theta[i] = original
            diff = float(w @ (up - down))
            if penalised:
                diff += 0.5 * l2 * ((original + eps) ** 2 - (original - eps) ** 2)
            numeric[i] = diff / (2 * eps)
            kinks[i] = any(
                np.any(a != b) or np.any(c != b)
                for a, b, c in zip(pattern_up, base_pattern, pattern_down, strict=True)
            )
        err = relative_error(analytic[name].astype(np.float64), numeric)
        err[kinks] = 0.0
        worst = (
            tuple(int(k) for k in np.unravel_index(np.argmax(err), err.shape)) if err.size else None
        )
        results.append(
            ParamCheck(
                name=name,
                shape=theta.shape,
                max_rel_error=float(err.max()) if err.size else 0.0,
                n_checked=int(theta.size - kinks.sum()),
                n_kinks=int(kinks.sum()),
                worst_index=worst,
                analytic=analytic[name],
                numeric=numeric,
            )
        )
    model.forward(X)  # leave the caches as they were for the unperturbed parameters
    return GradCheckResult(results, tolerance=tolerance, eps=eps)
