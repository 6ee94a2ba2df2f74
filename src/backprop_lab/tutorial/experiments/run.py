"""Every experiment for one Config: ``run_all`` and its ``Results``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .gradients import GradientCheckReport, gradient_check_experiment
from .held_out import Generalisation, HiddenLayer, generalisation, hidden_layer
from .inside import InsideBackprop, inside_backprop
from .learning import (
    ForwardVsBackprop,
    LearningRateRun,
    LearningRateSweep,
    forward_vs_backprop,
    learning_rate_sweep,
)
from .setup import (
    Config,
    DataSummary,
    DefaultRun,
    Split,
    Tick,
    data_summary,
    default_run,
    make_split,
)

# ---------------------------------------------------------------------------------------
# Everything
# ---------------------------------------------------------------------------------------
#: The experiments of :func:`run_all`, in the order they run (one ``on_experiment`` call each).
EXPERIMENTS = (
    "data and the default run",
    "forward passes only against backprop",
    "learning rates",
    "generalisation",
    "gradient check",
    "hidden layer",
    "inside backprop",
)


@dataclass
class Results:
    """The results of every experiment, for one Config."""

    config: Config
    data: DataSummary
    run: DefaultRun
    forward_vs_backprop: ForwardVsBackprop
    learning_rates: LearningRateSweep
    gradient_check: GradientCheckReport
    generalisation: Generalisation
    hidden_layer: HiddenLayer
    inside_backprop: InsideBackprop
    split: Split = field(repr=False)


def run_all(
    config: Config | None = None,
    tick: Tick | None = None,
    on_experiment: Callable[[str], None] | None = None,
) -> Results:
    """Run every experiment; ``tick`` is called after each of :func:`planned_runs` runs,
    ``on_experiment`` with each name of :data:`EXPERIMENTS` once that experiment is done."""
    config = config or Config()
    done = on_experiment or (lambda name: None)
    split = make_split(config.n, config.seed, test_size=config.test_size)
    run = default_run(config, split)
    done(EXPERIMENTS[0])
    fb = forward_vs_backprop(config, split, run, tick=tick)
    done(EXPERIMENTS[1])
    as_sweep_run = LearningRateRun(
        run.lr,
        run.seed,
        run.loss,
        run.accuracy,
        run.status,
        run.diverged_at,
        run.divergence_reason,
    )
    sweep = learning_rate_sweep(
        config, tick=tick, splits={config.seed: split}, known={(run.lr, run.seed): as_sweep_run}
    )
    done(EXPERIMENTS[2])
    gen = generalisation(config, split, run)
    done(EXPERIMENTS[3])
    check = gradient_check_experiment(config, split, run)
    done(EXPERIMENTS[4])
    hidden = hidden_layer(config, gen, tick=tick)
    done(EXPERIMENTS[5])
    inside = inside_backprop(config, run)
    done(EXPERIMENTS[6])
    return Results(
        config=config,
        data=data_summary(config, split),
        run=run,
        forward_vs_backprop=fb,
        learning_rates=sweep,
        gradient_check=check,
        generalisation=gen,
        hidden_layer=hidden,
        inside_backprop=inside,
        split=split,
    )
