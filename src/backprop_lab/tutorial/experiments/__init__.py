"""The tutorial's experiments, as a Python API that returns plain data.

Every function here returns dataclasses of lists, floats, ints and strings (plus, where
noted, the trained weights as NumPy arrays), so the report, the command line, the
notebook and the tests all use the same numbers. Nothing here draws or writes files:
figures live in :mod:`backprop_lab.tutorial.figures`, the report in
:mod:`backprop_lab.tutorial.report`. One module per experiment (``learning``: 1 and 2,
``gradients``: 3, ``held_out``: 4 and 5, ``inside``: 6), their shared
``setup``, ``run`` (all of them), and ``responsible`` (the report's section 8).

The set-up throughout is the tutorial's:

    X (N, 7) --Dense--> z1 (N, 8) --ReLU--> h --Dense--> z2 (N, 1) --sigmoid--> y_hat
    J = binary cross-entropy,   W <- W - lr dJ/dW   (full-batch gradient descent)

with the tutorial's initialisation ``W = 0.01 N(0, 1)``, ``b = 0``, features
standardised with statistics of the training split only, and 20% of the rows held out
(stratified) as a test set. Seeds fix the data, the split and the initial weights.
"""

from __future__ import annotations

from .gradients import (
    GradientCheckReport,
    GradientCheckRow,
    TutorialEntry,
    gradient_check_experiment,
    tutorial_entry,
)
from .held_out import Generalisation, HiddenLayer, ModelScores, generalisation, hidden_layer
from .inside import InsideBackprop, inside_backprop
from .learning import (
    Curves,
    ForwardVsBackprop,
    LearningRateRun,
    LearningRateSummary,
    LearningRateSweep,
    forward_vs_backprop,
    learning_rate_sweep,
)
from .run import EXPERIMENTS, Results, run_all
from .setup import (
    N_INPUTS,
    Baseline,
    Bayes,
    Config,
    DataSummary,
    DefaultRun,
    FeatureSummary,
    Split,
    Tick,
    bayes_reference,
    data_summary,
    dead_unit_share,
    default_run,
    evaluate,
    initial_network,
    initial_params,
    logistic_baseline,
    make_split,
    planned_runs,
)

__all__ = [
    "EXPERIMENTS",
    "N_INPUTS",
    "Baseline",
    "Bayes",
    "Config",
    "Curves",
    "DataSummary",
    "DefaultRun",
    "FeatureSummary",
    "ForwardVsBackprop",
    "Generalisation",
    "GradientCheckReport",
    "GradientCheckRow",
    "HiddenLayer",
    "InsideBackprop",
    "LearningRateRun",
    "LearningRateSummary",
    "LearningRateSweep",
    "ModelScores",
    "Results",
    "Split",
    "Tick",
    "TutorialEntry",
    "bayes_reference",
    "data_summary",
    "dead_unit_share",
    "default_run",
    "evaluate",
    "forward_vs_backprop",
    "generalisation",
    "gradient_check_experiment",
    "hidden_layer",
    "initial_network",
    "initial_params",
    "inside_backprop",
    "learning_rate_sweep",
    "logistic_baseline",
    "make_split",
    "planned_runs",
    "run_all",
    "tutorial_entry",
]
