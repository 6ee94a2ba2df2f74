"""Input checks shared by every layer of the package.

Each check raises :class:`ValueError` (or its subclass :class:`InputError`) with a
message that names the problem: which array or file, which column, which row.
This module imports nothing else from the package but :mod:`.errors` (where
:class:`InputError` lives, so that what needs only the error loads no NumPy), so anything
may use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError as InputError

#: Rows per block in the finiteness check of check_features.
_FINITE_CHECK_ROWS = 65536


def check_features(
    X: ArrayLike,
    *,
    n_features: int | None = None,
    name: str = "X",
    dtype: type | np.dtype = np.float64,
) -> np.ndarray:
    """Return ``X`` as a finite 2-D array of ``dtype``, or raise a ValueError naming the fault.

    Checks, in order: 2-D, at least one row, the expected number of columns, numeric,
    and finite (the first NaN or infinity is reported by row and column).
    """
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (rows x features); got {arr.ndim} dimension(s)"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 rows")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features but {n_features} were expected")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    # Blocks of rows, so that the check needs a small temporary whatever N is.
    for start in range(0, arr.shape[0], _FINITE_CHECK_ROWS):
        finite = np.isfinite(arr[start : start + _FINITE_CHECK_ROWS])
        if not finite.all():
            row, col = (int(i) for i in np.argwhere(~finite)[0])
            row += start
            what = "NaN" if np.isnan(arr[row, col]) else "infinity"
            raise ValueError(f"{name} contains {what} at row {row}, column {col}")
    return arr


def check_binary_labels(y: ArrayLike, *, n_rows: int | None = None, name: str = "y") -> np.ndarray:
    """Return 0/1 labels as a float column vector of shape (N, 1), or raise a ValueError.

    Accepts shape (N,) or (N, 1): the reshape to (N, 1) is explicit here so that no
    later arithmetic ever broadcasts (N,) against (N, 1) into an (N, N) matrix.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, 1); got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 labels")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} rows but {name} has {arr.shape[0]} labels")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold 0/1 labels; got dtype {arr.dtype}")
    values = arr.astype(np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} must hold only 0 and 1; found {arr[row]!r} at row {row}")
    return values.reshape(-1, 1)


def check_class_indices(
    y: ArrayLike, *, n_classes: int, n_rows: int | None = None, name: str = "y"
) -> np.ndarray:
    """Return integer class indices in ``[0, n_classes)`` of shape (N,), or raise a ValueError."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices; got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 labels")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} rows but {name} has {arr.shape[0]} labels")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices; got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{name} must hold class indices 0..{n_classes - 1}; found {arr[row].item()!r} "
            f"at row {row}"
        )
    return arr.astype(np.intp, copy=False)


def check_sample_weight(sample_weight: ArrayLike | None, n_rows: int) -> np.ndarray | None:
    """Return non-negative finite weights of shape (N,) with a positive sum, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(f"sample_weight must have shape ({n_rows},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("sample_weight must not be all zero")
    return w


def check_labels_and_scores(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    y_name: str = "y_true",
    name: str = "p_pred",
    probabilities: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (0/1 labels as int64, scores as float64), both flat, or raise naming the row.

    Scores must be finite, and with ``probabilities`` also in [0, 1].
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y_name} has {y.size} labels but {name} has {s.size} values")
    if y.size == 0:
        raise ValueError(f"no rows: {y_name} is empty")
    bad = ~((y == 0) | (y == 1))  # np.isin(y, (0, 1)), without its sort
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"must hold 0 or 1; found {y[row].item()!r}", column=y_name, row=row)
    ok = np.isfinite(s) & ((s >= 0) & (s <= 1) if probabilities else True)
    if not ok.all():
        row = int(np.argmax(~ok))
        what = "a probability in [0, 1]" if probabilities else "finite"
        raise InputError(f"must be {what}; found {float(s[row])!r}", column=name, row=row)
    return y.astype(np.int64), s
