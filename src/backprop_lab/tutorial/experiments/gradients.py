"""Experiment 3: the gradient check of every parameter, at initialisation and after training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import textbook
from ...engine.gradcheck import GOOD, GradCheckResult, gradient_check
from .setup import Config, DefaultRun, Split, default_run, initial_network, initial_params


# ---------------------------------------------------------------------------------------
# 3. Gradient check
# ---------------------------------------------------------------------------------------
@dataclass
class GradientCheckRow:
    """One parameter array: its largest error |a - n| / max(scale, floor) (see
    :mod:`backprop_lab.engine.gradcheck`), the array's scale ||a||_inf + ||n||_inf and the floor,
    entries checked, entries whose stencil crossed a ReLU kink, how many of those a
    smaller step re-checked, and how many were left out."""

    param: str
    shape: str
    max_rel_error: float
    scale: float
    floor: float
    checked: int
    kinks: int
    kinks_rechecked: int
    kinks_excluded: int


@dataclass
class TutorialEntry:
    """One entry checked by hand, as the tutorial does: W1[0, 0] at the initial weights.

    With the tutorial's own functions (:mod:`backprop_lab.textbook`) on the training rows:

        analytic      a = dJ/dW1[0, 0] from textbook.backward
        numeric       n = (J(W1[0, 0] + h) - J(W1[0, 0] - h)) / 2h     (central difference)
        relative error  |a - n| / (|a| + |n|)

    ``crosses_kink``: the nudge of +-h moves some row's hidden input z1[:, 0] across 0,
    so the difference straddles the ReLU's kink (the tutorial's check does not look; the
    package's check then takes a smaller step). ``package_*``: the same entry in the
    package's check at the initial weights (its five-point slope, the step it used, and
    its error |a - n| / max(array scale, floor)).
    """

    param: str
    index: tuple[int, int]
    eps: float
    analytic: float
    numeric: float
    relative_error: float
    crosses_kink: bool
    package_numeric: float
    package_step: float
    package_error: float
    package_checked: bool


def tutorial_entry(
    config: Config, split: Split, check: GradCheckResult, index: tuple[int, int] = (0, 0)
) -> TutorialEntry:
    """Check W1[index] by hand at the initial weights, as the tutorial does."""
    params = initial_params(config, config.seed)
    X, y = split.X_train, split.y_train.reshape(-1, 1).astype(np.float64)
    y_hat, cache = textbook.forward(X, params)
    analytic = float(textbook.backward(X, y, y_hat, cache, params)["W1"][index])
    h = config.gradcheck_eps

    def loss_at(delta: float) -> tuple[float, np.ndarray]:
        nudged = {k: v.copy() for k, v in params.items()}
        nudged["W1"][index] += delta
        p, c = textbook.forward(X, nudged)
        return textbook.binary_cross_entropy(y, p, c["z2"]), c["z1"][:, index[1]] > 0

    (up, side_up), (down, side_down) = loss_at(h), loss_at(-h)
    side = cache["z1"][:, index[1]] > 0
    numeric = (up - down) / (2 * h)
    scale = abs(analytic) + abs(numeric)
    W1 = next(p for p in check.params if p.name == "W1")
    return TutorialEntry(
        param="W1",
        index=index,
        eps=h,
        analytic=analytic,
        numeric=float(numeric),
        relative_error=float(abs(analytic - numeric) / scale) if scale > 0 else 0.0,
        crosses_kink=bool(np.any(side_up != side) or np.any(side_down != side)),
        package_numeric=float(W1.numeric[index]),
        package_step=float(W1.step[index]),
        package_error=float(W1.error[index]),
        package_checked=bool(W1.checked[index]),
    )


@dataclass
class GradientCheckReport:
    """Backprop against finite differences for every entry of every parameter array,
    at the initial weights and at the trained weights of the default run, on the
    training rows."""

    threshold: float
    eps: float
    n_rows: int
    at_init: list[GradientCheckRow]
    trained: list[GradientCheckRow]
    tutorial_entry: TutorialEntry | None = field(default=None)

    @property
    def max_rel_error(self) -> float:
        return max(r.max_rel_error for r in (*self.at_init, *self.trained))

    @property
    def passed(self) -> bool:
        return self.max_rel_error < self.threshold


def gradient_check_experiment(
    config: Config, split: Split, run: DefaultRun | None = None
) -> GradientCheckReport:
    run = run or default_run(config, split)
    tables, checks = [], []
    for params in (initial_params(config, config.seed), run.params):
        model = initial_network(config, config.seed)
        model.set_params(params)
        result = gradient_check(
            model, split.X_train, split.y_train, eps=config.gradcheck_eps, tolerance=GOOD
        )
        checks.append(result)
        tables.append([GradientCheckRow(**row) for row in result.rows()])
    return GradientCheckReport(
        threshold=GOOD,
        eps=config.gradcheck_eps,
        n_rows=len(split.y_train),
        at_init=tables[0],
        trained=tables[1],
        tutorial_entry=tutorial_entry(config, split, checks[0]),
    )
