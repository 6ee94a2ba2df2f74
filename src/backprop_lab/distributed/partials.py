"""What runs on a worker: a partition's rows made ready, its sums, and the fixed tree.

For partition p and parameters theta, a worker computes

    S_p = [ sum_{i in p} w_i dl_i/dtheta,  sum_{i in p} w_i l_i,  sum_{i in p} w_i [y_i = yhat_i],
            sum_{i in p} w_i ]

(w_i = 1 without sample or class weights) with the fused engine's block kernels, and the
client adds the S_p in a pairwise tree whose shape depends only on the number of
partitions, so a rerun adds the same numbers in the same order: bit-for-bit the same sums.

Nothing here imports dask: these are plain functions the scheduler ships to workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
import pandas as pd

from ..engine.fused import FusedNetwork
from ..engine.fused.kernels import block_size, chunk_count, run_chunks
from ..engine.fused.records import Net, Rows

_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0), dtype=np.float64)

T = TypeVar("T")


@dataclass(frozen=True)
class RowSpec:
    """How a worker turns a partition's raw (X, y, sample weight) into the kernels' rows.

    ``split`` keeps every row ('all'), or the rows whose ``row_uniform`` value is at least
    ``fraction`` ('train') or below it ('val').
    """

    classes: np.ndarray
    softmax: bool
    class_weight: np.ndarray | None = None  # by class index
    split: str = "all"
    fraction: float = 0.0
    seed: int = 0


class Part(NamedTuple):
    """A partition's rows as the kernels read them (see engine.fused.records.Rows)."""

    X: np.ndarray
    targets: np.ndarray  # (n, 1) float 0/1 for the sigmoid output; (0, 0) for softmax
    classes: np.ndarray  # (n,) class indices for softmax; else empty
    weights: np.ndarray  # (n,) w_i; empty when every row weighs 1


# ---- the validation share -------------------------------------------------------------------
def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that spreads every input bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def row_uniform(rows: pd.DataFrame, seed: int) -> np.ndarray:
    """u_i in [0, 1) for each row, from a hash of the row's values and ``seed``.

    u_i = top 53 bits of mix(hash(row_i) xor mix(seed)) / 2^53, with pandas' fixed-key row
    hash: a function of the row's values only, so a row falls on the same side of
    ``u < fraction`` whatever partition it is in, and identical rows on the same side.
    """
    with np.errstate(over="ignore"):
        h = pd.util.hash_pandas_object(rows, index=False).to_numpy(dtype=np.uint64)
        key = _mix(np.array([seed], dtype=np.uint64))[0]
        u = _mix(h ^ key) >> np.uint64(11)
    return u.astype(np.float64) * 2.0**-53


def split_mask(frame: pd.DataFrame, split: str, fraction: float, seed: int) -> np.ndarray | None:
    """The rows of ``frame`` a split keeps (None: all of them)."""
    if split == "all":
        return None
    u = row_uniform(frame, seed)
    return u < fraction if split == "val" else u >= fraction


# ---- a partition's rows ---------------------------------------------------------------------
def check_finite(X: np.ndarray, where: str, first_row: int = 1, columns: Sequence | None = None):
    """ValueError naming ``where``, the row (counted from ``first_row``) and the column of
    the first NaN or infinite value of X."""
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        column = repr(columns[c]) if columns is not None else str(int(c))
        raise ValueError(
            f"{where}, row {first_row + int(r)}, column {column}: value {float(X[r, c])} is "
            "not a finite number"
        )


def as_frame(X: object, y: object, w: object) -> pd.DataFrame:
    """One frame of a partition's features, label and weight (what the row hash reads)."""
    frame = pd.DataFrame(np.asarray(X)) if not isinstance(X, pd.DataFrame) else X.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame["__label__"] = np.asarray(y)
    if w is not None:
        frame["__weight__"] = np.asarray(w, dtype=np.float64)
    return frame


def prepare(
    X: object, y: object, w: object, spec: RowSpec, where: str, u: np.ndarray | None = None
) -> Part:
    """A partition's raw X (array or frame), labels and sample weights as a checked Part.

    Labels become class indices (a label outside ``spec.classes`` is refused by row);
    w_i = sample_weight_i * class_weight[y_i]; rows outside ``spec.split`` are dropped,
    by the rows' ``row_uniform`` values ``u`` (computed from X, y and w when not given).
    """
    columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{where}: {X.shape[0]} rows of X but {y.shape[0]} labels")
    check_finite(X, where, columns=columns)
    if spec.split != "all":
        if u is None:
            keep = split_mask(as_frame(X, y, w), spec.split, spec.fraction, spec.seed)
        else:
            keep = u < spec.fraction if spec.split == "val" else u >= spec.fraction
        X, y = X[keep], y[keep]
        w = None if w is None else np.asarray(w)[keep]
    index = np.searchsorted(spec.classes, y)
    known = (index < len(spec.classes)) & (
        spec.classes[np.minimum(index, len(spec.classes) - 1)] == y
    )
    if not known.all():
        r = int(np.argmin(known))
        raise ValueError(f"{where}, row {r + 1}: label {y[r]!r} is not one of the classes")
    weights = None if w is None else np.asarray(w, dtype=np.float64).ravel()
    if weights is not None and (not np.all(np.isfinite(weights)) or (weights < 0).any()):
        r = int(np.argmax(~np.isfinite(weights) | (weights < 0)))
        raise ValueError(f"{where}, row {r + 1}: sample weight {weights[r]!r} is not >= 0")
    if spec.class_weight is not None:
        cw = spec.class_weight[index]
        weights = cw if weights is None else weights * cw
    X = np.ascontiguousarray(X)
    w_out = _EMPTY_F if weights is None else np.ascontiguousarray(weights)
    if spec.softmax:
        return Part(X, _NO_TARGETS, index.astype(np.int64), w_out)
    return Part(X, index.astype(np.float64).reshape(-1, 1), _EMPTY_I, w_out)


# ---- a partition's sums -----------------------------------------------------------------------
def partition_sums(
    part: Part, theta: np.ndarray, network: FusedNetwork, loss_code: int, need_grad: bool
) -> np.ndarray:
    """S_p = [sum w_i dl_i/dtheta (zeros without need_grad), sum w_i l_i, sum w_i hit_i,
    sum w_i] over the partition's rows, by the fused engine's block kernels.

    The kernels compute sum_i (w_i / w_sum) l_i; with w_sum = 1 that is the sum itself.
    Without weights they use w_i = 1/n (the partition's mean), multiplied back by n here.
    """
    n, n_params = part.X.shape[0], network.n_params
    result = np.zeros(n_params + 3)
    if n == 0:
        return result
    weighted = part.weights.size > 0
    rows = Rows(part.X, part.targets, part.classes, part.weights, _EMPTY_I)
    block = block_size(n, network.max_block)
    n_chunks = chunk_count((n + block - 1) // block)
    out = np.empty((n_chunks, n_params + 2))
    net = Net(np.ascontiguousarray(theta, dtype=np.float64), network.layout, network.slopes)
    run_chunks(rows, net, loss_code, need_grad, 0, n, 1.0, block, 0, n_chunks, out)
    total = np.zeros(n_params + 2)
    for chunk in range(n_chunks):  # in chunk order, as the in-memory engine adds them
        total += out[chunk]
    scale = 1.0 if weighted else float(n)
    result[: n_params + 1] = total[: n_params + 1] * scale
    result[n_params + 1] = total[n_params + 1]
    result[n_params + 2] = float(part.weights.sum()) if weighted else float(n)
    return result


def group_sums(
    parts: Sequence[Part],
    theta: np.ndarray,
    network: FusedNetwork,
    loss_code: int,
    need_grad: bool,
) -> np.ndarray:
    """[S_p for p in parts] stacked, one row per partition (partition_sums of each, in
    turn): the partitions one worker thread holds, summed in one task."""
    out = np.empty((len(parts), network.n_params + 3))
    for row, part in enumerate(parts):
        out[row] = partition_sums(part, theta, network, loss_code, need_grad)
    return out


def tree_sum(items: Sequence[T], add: Callable[[T, T], T]) -> T:
    """((s_0 + s_1) + (s_2 + s_3)) + ...: pairwise sums level by level, left to right.

    The shape of the tree depends only on len(items), so the same items give the same
    floating-point result every time; its depth is ceil(log2 P).
    """
    if not items:
        raise ValueError("no partitions to add")
    level = list(items)
    while len(level) > 1:
        nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
