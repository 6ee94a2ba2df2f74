"""Platt and temperature scaling of a cluster-trained model, from per-partition sums.

The calibration rows are a seeded hash share of the training rows
(:func:`~backprop_lab.distributed.tables.calibration_rows`), set aside before the
preprocessing and the network are fitted, as ``fit_tabular`` sets aside a stratified
share. Each partition keeps its rows' network logits z and labels y (two numbers a
row) in worker memory; the client minimises the mean log loss of sigma(a z + b)
(temperature: b = 0, a = 1/T) by Newton's method, each step one pass of sums:

    u = a z + b, p = sigma(u)
    N L = -sum [y log sigma(u) + (1 - y) log sigma(-u)]
    N grad = sum (p - y) (z, 1)
    N H    = sum p (1 - p) (z z, z; z, 1)
    step   = -H^{-1} grad, halved until L does not rise by more than its round-off

L is convex in (a, b), so the steps converge (quadratically near the optimum); they stop
when the step is below 1e-12 (1 + |theta|) or after 100 passes. The result is the
log-loss minimum itself; ``fit_tabular``'s L-BFGS-B stops within its own tolerance
of it (its gradient norm below 1e-5), so the two agree to that tolerance, not bitwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from .._util.validation import InputError
from ..classifier.calibration import PlattScaling, TemperatureScaling
from ..classifier.tabular_model import TabularModel
from .partials import tree_sum
from .tables import Table, calibration_rows

#: Newton passes at most, and the relative step below which they stop.
MAX_PASSES, STEP_TOLERANCE = 100, 1e-12
#: Relative round-off of the summed loss N L (a sum of N terms of a few ulps each).
ROUND_OFF = 1e-12


def _logits(frame, model: TabularModel, test_size, test_seed, calibration, file):
    """(z, y) of a partition's calibration rows: the network's logit and 1 for default."""
    rows = calibration_rows(frame, test_size, test_seed, calibration)
    y = model.class_index(rows[model.target], file=file) == model.positive_index
    z = model.default_logits(model.transform(rows, file=file))
    return z.astype(np.float64), y.astype(np.float64)


def _sums(zy, theta: tuple[float, float]) -> np.ndarray:
    """(N, N L, N grad_a, N grad_b, N H_aa, N H_ab, N H_bb, defaults) at theta = (a, b)."""
    z, y = zy
    u = theta[0] * z + theta[1]
    p = expit(u)
    w = p * (1 - p)
    loss = -np.sum(y * log_expit(u) + (1 - y) * log_expit(-u))
    g = p - y
    return np.array(
        [z.size, loss, g @ z, g.sum(), w @ (z * z), w @ z, w.sum(), y.sum()], dtype=np.float64
    )


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def fit_table_calibration(
    model: TabularModel,
    table: Table,
    method: str,
    *,
    test_size: float,
    test_seed: int,
    calibration: tuple[float, int],
    client: Any,
) -> dict:
    """Set ``model.calibrator`` ('platt' or 'temperature') fitted on the calibration rows;
    returns what ``fit_tabular`` records in ``training['calibration']``."""
    import dask

    parts = client.persist(
        [
            dask.delayed(_logits)(part, model, test_size, test_seed, calibration, file)
            for part, file in zip(table.partitions(), table.files, strict=True)
        ]
    )

    def sums(theta: tuple[float, float]) -> np.ndarray:
        leaves = [dask.delayed(_sums)(p, theta) for p in parts]
        return client.compute(tree_sum(leaves, dask.delayed(_add))).result()

    slope_only = method == "temperature"
    theta = np.array([1.0, 0.0])
    s = start = sums((1.0, 0.0))
    n, defaults = int(start[0]), int(start[7])
    if n < 2 or defaults in (0, n):
        raise InputError(
            f"the calibration share holds {n} rows with {defaults} defaults; calibration "
            "needs both classes there (raise --calibration-size)"
        )
    for _ in range(MAX_PASSES):
        grad = s[2:4]
        hess = np.array([[s[4], s[5]], [s[5], s[6]]])
        if slope_only:
            step = np.array([-grad[0] / hess[0, 0], 0.0])
        else:
            # H is singular when every calibration row has the same logit z (the two
            # columns [z, 1] are then proportional): the least-squares step is the
            # minimum-norm Newton step, which moves a z + b to the best constant
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:  # halve until the loss does not rise (convex: a few halvings at most)
            trial = sums(tuple(theta + t * step))
            # near the minimum L changes by less than its round-off: accept within that
            if trial[1] <= s[1] * (1 + ROUND_OFF) or t < 1e-10:
                break
            t /= 2
        theta, s = theta + t * step, trial
        if np.max(np.abs(t * step)) <= STEP_TOLERANCE * (1 + np.max(np.abs(theta))):
            break
    if not np.all(np.isfinite(theta)):
        raise InputError("calibration fit failed: parameters are not finite")
    if slope_only:
        if not theta[0] > 0:
            raise InputError(
                f"temperature scaling failed: the best slope on the logits is {theta[0]:.3g} <= 0"
            )
        model.calibrator = TemperatureScaling(float(1.0 / theta[0]))
    else:
        model.calibrator = PlattScaling(float(theta[0]), float(theta[1]))
    return {
        **model.calibrator.to_dict(),
        "rows": n,
        "log_loss_before": float(start[1] / n),
        "log_loss_after": float(s[1] / n),
    }
