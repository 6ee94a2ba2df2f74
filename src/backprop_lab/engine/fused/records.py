"""The named values the compiled kernels take and return.

Numba compiles named tuples like plain tuples (same machine code, fields read by name),
so the kernels' interface can say what each value is instead of passing ``hyper[1..7]``
or filling ``result[0..5]``. Every field has one fixed type (the Python side converts
before calling), so each kernel compiles once per dtype of the model.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np


class Rows(NamedTuple):
    """The rows a kernel reads. An empty array stands for what a run does not have."""

    X: np.ndarray  # (N, n_inputs), the model's dtype
    targets: np.ndarray  # (N, K) float targets; (0, 0) for softmax, which reads ``classes``
    classes: np.ndarray  # (N,) int64 class indices for softmax; else empty
    weights: np.ndarray  # (N,) sample weights; empty: every row weighs the same
    order: np.ndarray  # int64 permutation of the rows (the epoch's shuffle); empty: 0..N-1


class Net(NamedTuple):
    """The network as the kernels see it (see layout.FusedNetwork)."""

    theta: np.ndarray  # flat parameters [W1.ravel(), b1, W2.ravel(), b2, ...]
    layout: np.ndarray  # per Dense layer: (n_in, n_out, offset of W, offset of b, activation)
    slopes: np.ndarray  # LeakyReLU slope after each Dense layer (else 0)


class Workspace(NamedTuple):
    """Buffers for one block of rows, one set per thread; activations in theta's dtype.

    Buffers are feature-major (unit x row), so every inner loop runs over the block's rows.
    """

    A: np.ndarray  # A[l]: the input of Dense layer l (A[0] = rows of X, A[L] = the output)
    Z: np.ndarray  # Z[l]: the pre-activation z of Dense layer l
    G: np.ndarray  # two error-signal buffers, used in turn going backward
    acc: np.ndarray  # float64 lanes: one row per parameter, then the loss, then the hits
    part: np.ndarray  # the gradient's lanes in theta's dtype, added into ``acc`` in turn
    T: np.ndarray  # float targets of the block's rows
    C: np.ndarray  # class indices of the block's rows
    W: np.ndarray  # W[0]: normalised weights w_i / w_sum; W[1]: raw weights w_i
    R: np.ndarray  # scratch rows for the loss


class OptimizerSettings(NamedTuple):
    """The optimiser's rule and hyper-parameters (read afresh every epoch)."""

    rule: int  # layout.GD, layout.MOMENTUM or layout.ADAM
    lr: float
    momentum: float  # Momentum's mu (else 0)
    nesterov: bool
    beta1: float  # Adam's (else 0)
    beta2: float
    eps: float


class Status(IntEnum):
    """How an epoch ended."""

    COMPLETED = 0
    LOSS_NOT_FINITE = 1  # a batch's objective was NaN or infinite: no update for it
    GRADIENT_NOT_FINITE = 2  # a batch's gradient had a NaN or infinite entry: no update


class EpochOutcome(NamedTuple):
    """What one compiled epoch returns."""

    loss: float  # sum over the completed batches of share * J_batch
    accuracy: float  # the same sum of the batches' accuracies
    status: Status
    bad_loss: float  # the non-finite objective (status LOSS_NOT_FINITE), else 0
    bad_index: int  # first non-finite entry of theta's gradient (GRADIENT_NOT_FINITE), else -1
    adam_steps: int  # Adam's step count t after the epoch (unchanged for other rules)
