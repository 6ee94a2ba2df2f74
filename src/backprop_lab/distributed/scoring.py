"""Scores of a dask collection as a dask collection: each partition scored where it lies.

``decision_function`` and ``predict_proba`` build one task per partition (map_blocks /
map_partitions) that runs the fused engine's ``predict_logits`` on that partition; the
network (a few hundred floats) travels to the workers, the rows never travel to the
client. For evaluation, ``score_pieces`` returns per-partition summaries (label and
score histograms, sums) that the client adds up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from ..engine.fused import predict_logits
from ..nn import Sequential


def logits(X: Any, network: Sequential) -> np.ndarray:
    """z for the rows of one partition (array or frame): (n,) for one output, else (n, K)."""
    z = predict_logits(network, np.asarray(X, dtype=np.float64))
    return z[:, 0] if z.shape[1] == 1 else z


def probabilities(z: np.ndarray) -> np.ndarray:
    """[sigmoid(-z), sigmoid(z)] for one logit, softmax(z) for K, as the estimator."""
    if z.ndim == 1:
        return np.column_stack([expit(-z), expit(z)])
    return softmax(z, axis=1)


def _check(clf: Any, X: Any) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(clf)
    if int(X.shape[1]) != clf.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features; the model expects {clf.n_features_in_}")


def decision_function(clf: Any, X: Any) -> Any:
    """The logits of every row of a dask array (a dask array) or dataframe (a dask series
    or dataframe, one column per output), partition by partition."""
    import dask.array as da

    _check(clf, X)
    network = clf.network_
    k = network.n_outputs
    if isinstance(X, da.Array):
        X = X.rechunk({1: -1})
        if k == 1:
            return X.map_blocks(logits, network, dtype=np.float64, drop_axis=1, meta=np.zeros(0))
        return X.map_blocks(logits, network, dtype=np.float64, chunks=(X.chunks[0], (k,)))
    if k == 1:
        return X.map_partitions(
            lambda part: pd.Series(logits(part, network), index=part.index, name="logit"),
            meta=pd.Series(dtype=np.float64, name="logit"),
        )
    columns = [f"logit_{c}" for c in clf.classes_]
    return X.map_partitions(
        lambda part: pd.DataFrame(logits(part, network), index=part.index, columns=columns),
        meta=pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns}),
    )


def predict_proba(clf: Any, X: Any) -> Any:
    """P(class | x), columns in ``classes_`` order, partition by partition (a dask array
    for an array X, a dask dataframe with columns ``p_<class>`` for a dataframe)."""
    import dask.array as da

    _check(clf, X)
    network = clf.network_
    k = len(clf.classes_)
    if isinstance(X, da.Array):
        X = X.rechunk({1: -1})
        return X.map_blocks(
            lambda block: probabilities(logits(block, network)),
            dtype=np.float64,
            chunks=(X.chunks[0], (k,)),
        )
    columns = [f"p_{c}" for c in clf.classes_]
    return X.map_partitions(
        lambda part: pd.DataFrame(
            probabilities(logits(part, network)), index=part.index, columns=columns
        ),
        meta=pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns}),
    )


def predict(clf: Any, X: Any) -> Any:
    """The most probable class of every row, partition by partition."""
    import dask.array as da

    classes = clf.classes_

    def labels(z: np.ndarray) -> np.ndarray:
        index = (z > 0).astype(np.intp) if z.ndim == 1 else np.argmax(z, axis=1)
        return classes[index]

    z = decision_function(clf, X)
    if isinstance(z, da.Array):
        if z.ndim == 1:
            return z.map_blocks(labels, dtype=classes.dtype)
        return z.map_blocks(labels, dtype=classes.dtype, drop_axis=1)
    if z.ndim == 1:
        return z.map_partitions(
            lambda s: pd.Series(labels(s.to_numpy()), index=s.index, name="label"),
            meta=pd.Series(dtype=classes.dtype, name="label"),
        )
    return z.map_partitions(
        lambda f: pd.Series(labels(f.to_numpy()), index=f.index, name="label"),
        meta=pd.Series(dtype=classes.dtype, name="label"),
    )
