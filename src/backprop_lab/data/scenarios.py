"""Loan files of many shapes, for checking a model's defaults against logistic regression.

A lender's file may have 300 rows or a million, 3 columns or 100, 1% defaults or 50%,
most columns pure noise, and columns that say nearly the same thing. ``make_scenario``
draws such a file from a known risk model, so any model's held-out scores can be set
beside logistic regression's on the same rows:

    data = make_scenario(Scenario(n_rows=2000, n_columns=50, default_rate=0.12), n_test=50_000)
    data.X_train, data.y_train, data.X_test, data.y_test, data.p_test

The columns (raw, unstandardised, as in a real file) come in four kinds, cycled:
normal on an arbitrary scale (age-like), log-normal (income-like, heavy right tail),
Poisson counts (late payments) and 0/1 flags (home owner). A share ``noise_share`` of
them have no effect on risk. With ``collinear``, columns come in blocks of four that
share one latent factor u, x = f(0.95 u + 0.31 e) (correlation about 0.9 between the
latent parts), so several columns carry one signal, as income, salary and rent do.

The true log-odds is

    eta = b + s * (sum_j w_j z_j) [+ nonlinear terms],

z_j the standardised latent value of informative column j, w ~ N(0, 1) normalised so that
the linear part has standard deviation 1 (``signal`` = s sets its strength; 1 gives a
ROC AUC near 0.75, a typical scorecard). ``truth='nonlinear'`` adds terms a straight
line cannot fit, of comparable size: a threshold s * 1.2 [z_0 > 1], an interaction
s * 0.8 z_1 z_2 and a U-shape s * 0.6 (|z_3| - 0.8) (on the first informative columns that
exist). The intercept b is solved (by bisection on the drawn rows) so the mean of
sigmoid(eta) is ``default_rate``; labels are Bernoulli(sigmoid(eta)).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

#: The kinds of truth make_scenario draws from.
TRUTHS = ("linear", "nonlinear")

#: Columns per block of collinear columns.
BLOCK = 4


class Scenario(NamedTuple):
    """The shape of one loan file (see the module docstring for each field's effect)."""

    n_rows: int
    n_columns: int
    default_rate: float
    truth: str = "linear"
    noise_share: float = 0.5
    collinear: bool = True
    signal: float = 1.0
    seed: int = 0

    @property
    def name(self) -> str:
        """A short label, e.g. ``n2000-d50-r12%-linear-noise50%-collinear``."""
        rate = f"{100 * self.default_rate:g}%"
        parts = [
            f"n{self.n_rows}",
            f"d{self.n_columns}",
            f"r{rate}",
            self.truth,
            f"noise{100 * self.noise_share:g}%",
        ]
        if self.collinear:
            parts.append("collinear")
        return "-".join(parts)


class ScenarioData(NamedTuple):
    """Training and test rows of one scenario; ``p_test`` is the true P(default | x)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    p_test: np.ndarray


def _check(scenario: Scenario, n_test: int) -> None:
    if scenario.n_rows < 2 or scenario.n_columns < 1 or n_test < 0:
        raise ValueError(f"a scenario needs 2+ rows, 1+ columns and n_test >= 0; got {scenario}")
    if not 0.0 < scenario.default_rate < 1.0:
        raise ValueError(f"default_rate must be between 0 and 1; got {scenario.default_rate}")
    if scenario.truth not in TRUTHS:
        raise ValueError(f"truth must be one of {TRUTHS}; got {scenario.truth!r}")
    if not 0.0 <= scenario.noise_share < 1.0:
        raise ValueError(f"noise_share must be in [0, 1); got {scenario.noise_share}")


def _latent(n: int, d: int, collinear: bool, rng: np.random.Generator) -> np.ndarray:
    """Standard normal latent values; with ``collinear``, blocks of BLOCK columns share a
    factor u: z = 0.95 u + 0.31 e (unit variance, correlation 0.95^2 = 0.9 in a block)."""
    z = rng.standard_normal((n, d))
    if collinear:
        for start in range(0, d, BLOCK):
            u = rng.standard_normal((n, 1))
            z[:, start : start + BLOCK] = (
                0.95 * u + np.sqrt(1 - 0.95**2) * z[:, start : start + BLOCK]
            )
    return z


def _observed(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The file's raw columns from the latent ones, by kind j % 4: normal on a scale,
    log-normal, Poisson count, 0/1 flag (each monotone in z in expectation)."""
    x = np.empty_like(z)
    for j in range(z.shape[1]):
        kind, col = j % 4, z[:, j]
        if kind == 0:
            x[:, j] = 40.0 + 12.0 * col
        elif kind == 1:
            x[:, j] = 30_000.0 * np.exp(0.6 * col)
        elif kind == 2:
            x[:, j] = rng.poisson(np.exp(0.7 * col))
        else:
            x[:, j] = (col + 0.3 * rng.standard_normal(col.shape) > 0.5).astype(np.float64)
    return x


def _log_odds(z: np.ndarray, scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """eta without the intercept: s * (w . z_informative) [+ the nonlinear terms]."""
    d = z.shape[1]
    n_informative = max(1, round((1.0 - scenario.noise_share) * d))
    # informative columns spread over the blocks: every other column of the file first
    order = np.r_[np.arange(0, d, 2), np.arange(1, d, 2)]
    informative = np.sort(order[:n_informative])
    w = rng.standard_normal(n_informative)
    zi = z[:, informative]
    linear = zi @ w
    eta = scenario.signal * linear / max(np.std(linear), 1e-12)
    if scenario.truth == "nonlinear":
        k = zi.shape[1]
        eta += scenario.signal * 1.2 * (zi[:, 0] > 1.0)
        if k >= 3:
            eta += scenario.signal * 0.8 * zi[:, 1] * zi[:, 2]
        if k >= 4:
            eta += scenario.signal * 0.6 * (np.abs(zi[:, 3]) - 0.8)
    return eta


def _intercept(eta: np.ndarray, rate: float) -> float:
    """b with mean(sigmoid(eta + b)) = rate, by bisection (the mean is increasing in b)."""
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if expit(eta + mid).mean() < rate else (lo, mid)
    return 0.5 * (lo + hi)


def make_scenario(scenario: Scenario, n_test: int = 0) -> ScenarioData:
    """Draw ``scenario.n_rows`` training rows and ``n_test`` test rows from one risk model.

    Every draw comes from ``np.random.default_rng(scenario.seed)``: the same scenario and
    ``n_test`` give the same arrays. Raises ValueError for an impossible shape, or when
    the training rows hold only one class (a file no classifier can be fitted to).
    """
    _check(scenario, n_test)
    rng = np.random.default_rng(scenario.seed)
    n = scenario.n_rows + n_test
    z = _latent(n, scenario.n_columns, scenario.collinear, rng)
    x = _observed(z, rng)
    eta = _log_odds(z, scenario, rng)
    p = expit(eta + _intercept(eta, scenario.default_rate))
    y = (rng.random(n) < p).astype(np.int64)
    m = scenario.n_rows
    if y[:m].min() == y[:m].max():
        raise ValueError(
            f"scenario {scenario.name} (seed {scenario.seed}) drew training rows of one class; "
            "use more rows or another seed"
        )
    return ScenarioData(x[:m], y[:m], x[m:], y[m:], p[m:])
