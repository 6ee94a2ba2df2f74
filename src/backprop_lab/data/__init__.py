"""Data: synthetic borrowers with a known risk model (``synthetic``), and a lender's own
CSV files with their preprocessing (``tabular``).

The synthetic generator's names are importable from here: ``from backprop_lab.data
import make_credit_risk, Standardizer, stratified_split``.
"""

__all__ = [
    "DEFAULT_BIAS_GROUP_SHARE",
    "DEFAULT_INTERCEPT",
    "DEFAULT_NOISE",
    "FEATURES",
    "GROUP_COLUMN",
    "REFERENCE_MEAN",
    "REFERENCE_STD",
    "TRUE_WEIGHTS",
    "CreditRiskData",
    "Standardizer",
    "bayes_optimal_accuracy",
    "bayes_optimal_log_loss",
    "expected_bayes_accuracy",
    "make_credit_risk",
    "planted_approval_gap",
    "stratified_split",
]


def __getattr__(name: str) -> object:
    """The names of ``synthetic``, imported on first use (PEP 562): importing a module of
    this package (``data.feature_names``, ``data.table_files``) loads neither ``synthetic``
    nor NumPy for it."""
    if name in __all__:
        from . import synthetic

        return getattr(synthetic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
