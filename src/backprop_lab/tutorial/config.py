"""The settings of the tutorial's experiments (``Config``), in a module of their own.

The command line reads these defaults to describe ``reproduce``'s options; the
experiments (:mod:`backprop_lab.tutorial.experiments`, which loads scikit-learn and
pandas) are imported only when a report is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._util.errors import InputError
from ..data.feature_names import FEATURES

#: Inputs of the tutorial's network: one per feature of the synthetic borrowers.
N_INPUTS = len(FEATURES)


@dataclass(frozen=True)
class Config:
    """Every setting of the experiments. The defaults reproduce the report.

    ``n`` borrowers (80% train, 20% test), ``epochs`` of full-batch gradient descent at
    learning rate ``lr`` from weights ``init_scale * N(0, 1)``. The learning-rate sweep
    repeats each rate over ``n_seeds`` seeds (``seed``, ``seed + 1``, ...), each with
    its own data, split and initial weights. The nonlinear data set, whose curved risk
    takes longer to fit, trains for ``nonlinear_epoch_factor * epochs`` epochs. A run
    whose loss exceeds ``divergence_factor`` times its first loss (or turns NaN/inf) is
    stopped and recorded as diverged.
    """

    n: int = 5000
    seed: int = 0
    epochs: int = 500
    lr: float = 0.1
    init_scale: float = 0.01
    hidden: int = 8
    test_size: float = 0.2
    learning_rates: tuple[float, ...] = (0.001, 0.01, 0.1)
    large_learning_rates: tuple[float, ...] = (1.0, 10.0, 30.0)
    n_seeds: int = 5
    nonlinear_epoch_factor: int = 4
    gradcheck_eps: float = 1e-5
    divergence_factor: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 100:
            raise InputError(f"n must be an integer of at least 100 borrowers; got {self.n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.epochs, int) or self.epochs < 2:
            raise InputError(f"epochs must be an integer of at least 2; got {self.epochs!r}")
        for name in ("lr", "init_scale", "gradcheck_eps", "divergence_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number; got {value!r}")
        if not 0.05 <= self.test_size <= 0.5:
            raise InputError(f"test_size must be in [0.05, 0.5]; got {self.test_size!r}")
        if self.hidden < 1 or self.n_seeds < 1 or self.nonlinear_epoch_factor < 1:
            raise InputError("hidden, n_seeds and nonlinear_epoch_factor must be at least 1")
        rates = (*self.learning_rates, *self.large_learning_rates)
        if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
            raise InputError(f"learning rates must be positive numbers; got {rates}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the learning-rate sweep: seed, seed + 1, ..., seed + n_seeds - 1."""
        return tuple(self.seed + k for k in range(self.n_seeds))

    @property
    def nonlinear_epochs(self) -> int:
        return self.nonlinear_epoch_factor * self.epochs

    @property
    def architecture(self) -> str:
        return f"{N_INPUTS}-{self.hidden}-1"
