"""backprop-lab: learn, check and use backpropagation on tabular data."""

from __future__ import annotations

__version__ = "0.1.0"

# Heavier front ends load on first use, so `import backprop_lab` stays quick.
_LAZY = {
    "BackpropClassifier": ("classifier.estimator", "BackpropClassifier"),
    "TabularModel": ("classifier.tabular_model", "TabularModel"),
    "fit_tabular": ("classifier.fitting", "fit_tabular"),
    "load_model": ("classifier.tabular_model", "load_model"),
    "credit_metrics": ("classifier.metrics", "credit_metrics"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
