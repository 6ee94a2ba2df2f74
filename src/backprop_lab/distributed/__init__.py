"""Training and scoring on a Dask cluster, with the same numbers as on one machine.

A full-batch gradient is a sum over rows, so it is a sum over partitions:

    J(theta) = (1 / sum_i w_i) sum_p S_p(theta) + (l2 / 2) sum_l ||W_l||^2,
    S_p(theta) = sum_{i in partition p} w_i l_i(theta)   (and its gradient, by backprop)

Each worker computes S_p and dS_p/dtheta for its partitions with the fused engine's
block kernels (one task per worker thread and pass), the partial sums are added in a
fixed pairwise tree over the partition index, and only the
parameters (a few hundred floats) and the partial sums travel. The optimiser's step
(gd, momentum, Adam or L-BFGS) runs on the client, on the same vector the in-memory
fit would see, so the loss curve and the final weights agree with
``BackpropClassifier.fit`` on the gathered arrays to rounding (the tests hold them to
1e-10 relative), and are bit-for-bit identical across reruns with the same partitioning.

Modules:

    cluster.py   importing dask lazily, connecting to a scheduler (or starting a LocalCluster)
    partials.py  what runs on a worker: a partition's rows checked, its sums, the tree
    objective.py the distributed objective: a pass as one task per worker thread
    training.py  ``fit_collection``: BackpropClassifier.fit on a dask array or dataframe
    scoring.py   decision_function / predict_proba / predict as dask collections
    evaluation.py  credit_metrics from per-partition pieces (sums, counts, score histograms)
    tables.py    ``read_table`` (a glob of Parquet or CSV files), the Preprocessor from
                 distributed statistics, the validation share by a seeded row hash
    tabular.py   train, predict and evaluate a TabularModel on a table (the CLI's work)

Nothing here imports dask at import time: the rest of the package works without the
``dask`` extra, and these functions raise one clear error when it is missing.
"""

from __future__ import annotations

from typing import Any

_PUBLIC = {
    "connect": "cluster",
    "fit_collection": "training",
    "decision_function": "scoring",
    "predict_proba": "scoring",
    "read_table": "tables",
    "fit_preprocessor": "tables",
    "validation_share": "tables",
    "fit_table": "tabular",
    "predict_table": "tabular",
    "evaluate_table": "tabular",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        import importlib

        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
