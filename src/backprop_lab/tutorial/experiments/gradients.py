"""Experiment 3: the gradient check of every parameter, at initialisation and after training."""

from __future__ import annotations

from dataclasses import dataclass

from ...engine.gradcheck import GOOD, gradient_check
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
class GradientCheckReport:
    """Backprop against finite differences for every entry of every parameter array,
    at the initial weights and at the trained weights of the default run, on the
    training rows."""

    threshold: float
    eps: float
    n_rows: int
    at_init: list[GradientCheckRow]
    trained: list[GradientCheckRow]

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
    tables = []
    for params in (initial_params(config, config.seed), run.params):
        model = initial_network(config, config.seed)
        model.set_params(params)
        result = gradient_check(
            model, split.X_train, split.y_train, eps=config.gradcheck_eps, tolerance=GOOD
        )
        tables.append([GradientCheckRow(**row) for row in result.rows()])
    return GradientCheckReport(
        threshold=GOOD,
        eps=config.gradcheck_eps,
        n_rows=len(split.y_train),
        at_init=tables[0],
        trained=tables[1],
    )
