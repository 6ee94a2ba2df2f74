"""Gradient checking: compare backprop's gradient with finite differences, entry by entry.

The numeric slope
-----------------
For every entry theta_i of every parameter array, the five-point stencil

    n_i = [8 (J(θ + h e_i) − J(θ − h e_i)) − (J(θ + 2h e_i) − J(θ − 2h e_i))] / (12 h)

is the central difference with its h^2 term cancelled (Richardson extrapolation of the
steps h and 2h): exact for polynomials of degree 4, truncation error h^4 |J^(5)| / 30,
about 3e-22 |J^(5)| at h = 1e-5, where the plain central difference would leave
h^2 |J'''| / 6 (measured up to 3e-12 on the report's trained network, and growing
with the weights as J''' does). Each difference J(θ + kh) − J(θ − kh) is formed row by row,
sum_r w_r (l_r(θ + kh) − l_r(θ − kh)), before the rows are summed; the L2 penalty's change
is (l2 / 2)(θ₊ − θ₋)(θ₊ + θ₋), the difference of squares without cancellation.

Both sides in float64
---------------------
The check runs on a float64 copy of the model and of the data the model sees (a float32
model's inputs rounded to float32, then widened exactly). Both the numeric slope and the
analytic gradient come from that copy: the backward pass is the same code for every
dtype, so the verdict says whether backward is the derivative of forward, free of
float32 round-off (in float32, θ ± h itself is rounded by up to 6e-8 |θ|, and J by
6e-8 J, which swamps a 1e-5 step). For a model that is not float64, ``dtype_error``
separately reports how far its own gradient is from the float64 one, on the same scale
as the check's error; it is information about float32 round-off, not part of the verdict.

The error measure
-----------------
Per parameter array, with s = ||a||_inf + ||n||_inf the array's scale,

    e_i = |a_i − n_i| / max(s, F),   F = E / RESOLUTION,   RESOLUTION = GOOD / 10,
    E   = (u / h) (3/2 M + 3/4 ||θ||_inf s),   M = sum_r w_r (|l_r| + ||z_r||_1),

where u = 2.2e-16 is float64's machine epsilon and z_r the row's logits. E bounds the
numeric slope's absolute error: each row's loss l_r is rounded by about u (|l_r| + ||z_r||_1)
(its own size and the logits it is computed from), so each of the stencil's two
differences is off by at most 2 u M and n_i by (8 · 2 + 2) u M / (12 h) = 3/2 u M / h; the
perturbed values θ ± kh are themselves rounded by up to u |θ| / 2, which moves n_i by up
to (8 + 1) u |θ| |J'| / (12 h) <= 3/4 u ||θ||_inf s / h. Truncation is negligible (above).
Derivation in two lines: a correct gradient has |a_i − n_i| <= E. If s >= F then
e_i <= E / s <= E / F = RESOLUTION; otherwise e_i <= E / F = RESOLUTION. So a correct
gradient gives e_i <= GOOD / 10 whatever the size of the entry or of the array, and a
bug that is off by a fraction ρ of the array's largest gradient gives e_i ≈ ρ (when the
gradient is smaller than the floor, ρ s / F). The bound adds every rounding error with
the same sign; in practice they partly cancel across rows, and over the test suite's
sweep correct gradients land 40 times lower still or more. Dividing by the array's scale rather than by each entry's own
size is the point: an entry of 5e-7 in an array whose largest gradient is 1e-2 is as
precise, absolutely, as the others, and dividing by its own size (the textbook
|a − n| / (|a| + |n|)) reports its ordinary round-off as a failure.

Verdicts on the largest e: below GOOD = 1e-7 the gradient is right (a correct gradient
stays below GOOD / 10 by construction, so a tenfold margin); above WRONG = 1e-2 it is
off by more than 1% of the array's largest gradient, which no rounding explains: a bug.
In between, some small term is wrong (an L2 penalty with the wrong sign and a tiny l2,
say): a bug still, only a small one. e never exceeds 1 (|a_i − n_i| <= |a_i| + |n_i| <= s).

Kinks
-----
ReLU and LeakyReLU have a kink at 0. When a stencil point moves any pre-activation
across 0, the differences straddle two slopes and mean nothing: that entry is counted in
``n_kinks`` and re-checked with steps h/10, h/100, h/1000. The first step whose four
points all keep every pre-activation on its side of 0 gives a valid slope (the loss is
smooth on that interval and the analytic gradient uses the same side); the round-off
bound grows as 1/step, so that entry's floor is F h / step. Entries that cross a kink
even at h/1000 (a pre-activation so close to 0 that a nudge of 2h/1000 moves it across,
or exactly on it, where the derivative does not exist) are left out and counted as
unchecked.

Finite differences only test backward against forward: a forward pass that is wrong in
a self-consistent way passes. The test suite therefore also compares with PyTorch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .._util.validation import check_features, check_sample_weight
from ..nn.losses import Loss, get_loss
from ..nn.model import Sequential
from .training import prepare_targets

GOOD = 1e-7
WRONG = 1e-2
#: The error a correct gradient may reach at most: tenfold inside GOOD (see the module doc).
RESOLUTION = GOOD / 10
#: float64's machine epsilon u.
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps)
#: Step divisors for re-checking an entry whose stencil crossed a kink.
KINK_STEP_DIVISORS = (10, 100, 1000)


def roundoff_bound(
    loss_magnitude: float, step: float, theta_max: float = 0.0, scale: float = 0.0
) -> float:
    """E = (u / step) (3/2 M + 3/4 ||θ||_inf s): the numeric slope's largest rounding error."""
    return UNIT_ROUNDOFF / step * (1.5 * loss_magnitude + 0.75 * theta_max * scale)


def relative_error(
    analytic: np.ndarray, numeric: np.ndarray, floor: float | np.ndarray = 0.0
) -> np.ndarray:
    """e_i = |a_i − n_i| / max(||a||_inf + ||n||_inf, floor), elementwise (0 where both are 0)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    diff = np.abs(analytic - numeric)
    if diff.size == 0:
        return diff
    scale = float(np.max(np.abs(analytic)) + np.max(np.abs(numeric)))
    denominator = np.maximum(scale, floor)  # NaN (a diverged model) stays NaN: no verdict
    return np.divide(diff, denominator, out=np.zeros_like(diff), where=denominator != 0)


@dataclass
class ParamCheck:
    """The check of one parameter array.

    ``error`` holds e_i for every entry (NaN where ``checked`` is False: an entry whose
    stencil crossed a kink even at the smallest step); ``step`` the step each entry's
    slope used (h, or a smaller one after a kink). ``dtype_error`` is the model's own-dtype
    gradient against the float64 one, on the same scale (None for a float64 model).
    """

    name: str
    shape: tuple[int, ...]
    max_rel_error: float
    n_checked: int
    n_kinks: int
    n_kinks_rechecked: int
    worst_index: tuple[int, ...] | None
    scale: float
    floor: float
    dtype_error: float | None
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)
    error: np.ndarray = field(repr=False)
    step: np.ndarray = field(repr=False)
    checked: np.ndarray = field(repr=False)

    @property
    def n_unchecked(self) -> int:
        """Kinked entries that no step could check: left out of ``max_rel_error``."""
        return self.n_kinks - self.n_kinks_rechecked

    @property
    def resolved(self) -> bool:
        """Whether a gradient wholly wrong (off by its own scale s) would fail: s / F >= GOOD.

        Not so when the array's gradients are all below GOOD * F (weights collapsed to
        near zero, or a loss so large that rounding swamps every difference): such an
        array passes whatever backward computes. s = 0 (both sides exactly 0) is resolved.
        """
        return self.scale == 0.0 or self.scale >= GOOD * self.floor


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
        """Entries whose stencil at step h crossed a ReLU kink."""
        return sum(p.n_kinks for p in self.params)

    @property
    def n_kinks_rechecked(self) -> int:
        """Of those, the entries checked with a smaller step instead."""
        return sum(p.n_kinks_rechecked for p in self.params)

    @property
    def n_unchecked(self) -> int:
        """Entries left out: their stencil crossed a kink at every step."""
        return sum(p.n_unchecked for p in self.params)

    @property
    def dtype_error(self) -> float | None:
        """Largest own-dtype against float64 gradient difference (None for float64 models)."""
        values = [p.dtype_error for p in self.params if p.dtype_error is not None]
        return max(values) if values else None

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
                "scale": p.scale,
                "floor": p.floor,
                "checked": p.n_checked,
                "kinks": p.n_kinks,
                "kinks_rechecked": p.n_kinks_rechecked,
                "kinks_excluded": p.n_unchecked,
            }
            for p in self.params
        ]

    def table(self) -> str:
        """A plain-text table with the verdict."""
        lines = [
            f"{'param':<6} {'shape':>7} {'max rel error':>13} {'scale':>9} {'floor':>9} "
            f"{'checked':>8} {'kinks':>6} {'rechecked':>10}"
        ]
        for r in self.rows():
            lines.append(
                f"{r['param']:<6} {r['shape']:>7} {r['max_rel_error']:>13.3e} {r['scale']:>9.2e} "
                f"{r['floor']:>9.2e} {r['checked']:>8} {r['kinks']:>6} {r['kinks_rechecked']:>10}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"overall max relative error {self.max_rel_error:.3e} (tolerance {self.tolerance:g}; "
            f"good < {GOOD:g}, wrong > {WRONG:g}): {verdict}"
        )
        lines.append(
            "relative error = |analytic - numeric| / max(scale, floor); scale = max |analytic| "
            "+ max |numeric| over the array; floor = largest rounding error / "
            f"{RESOLUTION:g}"
        )
        if self.n_unchecked:
            lines.append(f"{self.n_unchecked} entries sit on a ReLU kink and were not checked")
        unresolved = [p.name for p in self.params if not p.resolved]
        if unresolved:
            lines.append(
                f"{', '.join(unresolved)}: gradients below what the differences resolve "
                f"(scale < {GOOD:g} x floor), so a bug there would pass unseen"
            )
        if self.dtype_error is not None:
            lines.append(
                f"the model's own-dtype gradient differs from the float64 one by "
                f"{self.dtype_error:.2e} of the array's scale (its round-off; not in the verdict)"
            )
        return "\n".join(lines)


def _float64_copy(model: Sequential) -> Sequential:
    """A copy of the model (same classes, so the same backward code) with float64 parameters."""
    net = copy.deepcopy(model)
    for layer in net.layers:
        for key, value in layer.params.items():
            layer.params[key] = value.astype(np.float64)
    net.dtype = np.dtype(np.float64)
    return net


def _kink_pattern(model: Sequential) -> list[np.ndarray]:
    """Which side of 0 every pre-activation of every kinked activation is on."""
    return [layer.x > 0 for layer in model.layers if layer.has_kink]


class _Objective:
    """J of a float64 network on fixed data, differenced row by row, with kink tracking."""

    def __init__(
        self, net: Sequential, X: np.ndarray, y: np.ndarray, loss: Loss, w: np.ndarray, l2: float
    ) -> None:
        self.net, self.X, self.y, self.loss, self.w, self.l2 = net, X, y, loss, w, l2
        z = net.forward(X)
        rows = loss.per_row(z, y)
        #: M = sum_r w_r (|l_r| + ||z_r||_1), the size of what each row's loss is rounded on.
        self.magnitude = float(w @ (np.abs(rows) + np.abs(z).sum(axis=1)))
        self.base_pattern = _kink_pattern(net)

    def _rows(self) -> tuple[np.ndarray, bool]:
        """l_r for every row, and whether any pre-activation changed side of its kink."""
        rows = self.loss.per_row(self.net.forward(self.X), self.y)
        crossed = any(
            np.any(now != base)
            for now, base in zip(_kink_pattern(self.net), self.base_pattern, strict=True)
        )
        return rows, crossed

    def difference(
        self, theta: np.ndarray, index: tuple[int, ...], step: float, penalised: bool
    ) -> tuple[float, bool]:
        """J(θ + step e_i) − J(θ − step e_i), row by row; and whether a kink was crossed."""
        original = theta[index]
        theta[index] = original + step
        up, crossed_up = self._rows()
        plus = float(theta[index])  # θ + step as stored (rounded)
        theta[index] = original - step
        down, crossed_down = self._rows()
        minus = float(theta[index])
        theta[index] = original
        diff = float(self.w @ (up - down))
        if penalised:
            diff += 0.5 * self.l2 * (plus - minus) * (plus + minus)
        return diff, crossed_up or crossed_down

    def slope(
        self, theta: np.ndarray, index: tuple[int, ...], step: float, penalised: bool
    ) -> tuple[float, bool]:
        """n_i = [8 (J(θ+h) − J(θ−h)) − (J(θ+2h) − J(θ−2h))] / 12h; whether a kink was crossed."""
        near, crossed_near = self.difference(theta, index, step, penalised)
        far, crossed_far = self.difference(theta, index, 2 * step, penalised)
        return (8.0 * near - far) / (12.0 * step), crossed_near or crossed_far


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
    """Check dJ/dθ from backprop against finite differences for EVERY parameter entry.

    J = L(model(X), y) + (l2 / 2) sum ||W||^2, on a float64 copy of the model; the
    model's own parameters are never touched. ``eps`` is the step h. The measure, its
    derivation and the kink handling are in the module docstring.
    """
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"the finite-difference step eps must be a positive number; got {eps!r}")
    loss = get_loss(loss)
    X = check_features(X, n_features=model.n_inputs, dtype=model.dtype)  # what the model sees
    y = prepare_targets(loss, y, X.shape[0], model.n_outputs)
    w = check_sample_weight(sample_weight, X.shape[0])
    w = np.full(X.shape[0], 1.0 / X.shape[0]) if w is None else w / w.sum()

    own = None
    if model.dtype != np.float64:
        _, grads = model.loss_and_gradients(X, y, loss, l2=l2, sample_weight=w)
        own = {name: g.astype(np.float64) for name, g in grads.items()}
    net = _float64_copy(model)
    X = X.astype(np.float64)
    _, grads = net.loss_and_gradients(X, y, loss, l2=l2, sample_weight=w)
    analytic = {name: g.copy() for name, g in grads.items()}
    objective = _Objective(net, X, y, loss, w, l2)

    results = []
    for name, theta in net.params.items():
        penalised = bool(l2) and name.startswith("W")
        numeric = np.zeros(theta.shape)
        step = np.full(theta.shape, float(eps))
        kinked = np.zeros(theta.shape, dtype=bool)
        checked = np.ones(theta.shape, dtype=bool)
        for i in np.ndindex(theta.shape):
            numeric[i], kinked[i] = objective.slope(theta, i, eps, penalised)
            if not kinked[i]:
                continue
            checked[i] = False
            for divisor in KINK_STEP_DIVISORS:
                slope, crossed = objective.slope(theta, i, eps / divisor, penalised)
                if not crossed:
                    numeric[i], step[i], checked[i] = slope, eps / divisor, True
                    break
        results.append(
            _param_check(
                name,
                theta,
                analytic[name],
                numeric,
                step,
                checked,
                kinked,
                objective,
                None if own is None else own[name],
                eps,
            )
        )
    return GradCheckResult(results, tolerance=tolerance, eps=eps)


def _param_check(
    name: str,
    theta: np.ndarray,
    analytic: np.ndarray,
    numeric: np.ndarray,
    step: np.ndarray,
    checked: np.ndarray,
    kinked: np.ndarray,
    objective: _Objective,
    own: np.ndarray | None,
    eps: float,
) -> ParamCheck:
    """e_i = |a_i − n_i| / max(s, F h / step_i) over the checked entries of one array."""
    a, n = analytic[checked], numeric[checked]
    scale = float(np.max(np.abs(a)) + np.max(np.abs(n))) if a.size else 0.0
    theta_max = float(np.max(np.abs(theta), initial=0.0))

    def floor(h: float | np.ndarray) -> float | np.ndarray:
        return roundoff_bound(objective.magnitude, h, theta_max, scale) / RESOLUTION

    error = np.full(theta.shape, np.nan)
    checked_error = relative_error(a, n, floor(step[checked]))
    error[checked] = checked_error
    worst = None
    if a.size:  # argmax picks a NaN (a diverged model) first, as max does
        flat = np.flatnonzero(checked)[np.argmax(checked_error)]
        worst = tuple(int(k) for k in np.unravel_index(flat, theta.shape))
    dtype_error = None
    if own is not None:
        dtype_error = float(np.max(relative_error(analytic, own, floor(eps)), initial=0.0))
    return ParamCheck(
        name=name,
        shape=theta.shape,
        max_rel_error=float(np.max(checked_error)) if a.size else 0.0,
        n_checked=int(checked.sum()),
        n_kinks=int(kinked.sum()),
        n_kinks_rechecked=int((kinked & checked).sum()),
        worst_index=worst,
        scale=scale,
        floor=float(floor(eps)),
        dtype_error=dtype_error,
        analytic=analytic,
        numeric=numeric,
        error=error,
        step=step,
        checked=checked,
    )
