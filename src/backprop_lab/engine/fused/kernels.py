"""The fused engine: the same numbers as the NumPy engine, computed in one compiled pass.

The reference engine (``nn/``) runs each layer over all N rows before the next layer
starts, so every activation is an N x width array that travels through main memory.
This module computes the same objective and gradients with the rows cut into blocks
of B rows (a few hundred) that stay in cache while they go forward and backward
through every layer:

    forward     z_l = a_{l-1} W_l + b_l,   a_l = f_l(z_l)          for l = 1..L, a_0 = X_B
    loss        J_B = sum_{i in B} w_i l_i,   g_L = dJ/da_L = w_i dl_i/da_L
    backward    g_l <- g_l * f_l'(z_l)                                (dJ/dz_l)
                dW_l += a_{l-1}^T g_l,   db_l += sum_rows g_l
                g_{l-1} = g_l W_l^T

with w_i = 1/N (or the normalised sample weight; a batch whose weights are all zero
has w_i = 0, so J_B = 0 and gradient 0, as 0/0 := 0 in nn/losses.py), so the gradient of
the batch is the SUM of the blocks' gradients:

    dJ/dtheta = sum_blocks G_B,   G_B = the gradient contribution of block B's rows.

Design note: the block gradient G_B is the unit of work. A full-batch gradient is a
sum of block gradients, which is also what a distributed engine computes per
partition before an all-reduce; nothing here needs more than one block in memory.

Reproducibility. Blocks are grouped into a fixed number of chunks (it depends on N
and B only, never on the number of threads). Each chunk is processed by one thread,
its blocks in row order, and accumulates the block gradients lane by lane: lane r
holds the sum of row r's terms over the chunk's blocks. At the end of the chunk the
lanes are added pairwise in a fixed tree, and the chunks' sums are added in chunk
order. Every floating-point addition therefore happens in the same order whatever
the thread scheduling, so results are bit-for-bit reproducible. Lanes also let the
compiler vectorise the sums over rows without ``fastmath`` (a plain running sum is a
serial chain under strict IEEE rules).

Memory. X is read once per epoch, block by block. Nothing of size N x width is ever
allocated: the working set is a few arrays of B x width per thread, plus B lanes per
parameter.

Everything in an epoch of mini-batch training (blocks, losses, gradients, divergence
checks, the optimiser's update) runs compiled; Python only runs between epochs.

Float32 models compute the forward pass and the error signals in float32 and
accumulate gradients, losses and optimiser arithmetic in float64.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import ArrayLike

from ..._util.validation import check_class_indices
from ...nn.layers import Dense, LeakyReLU, ReLU, Sigmoid, Tanh
from ...nn.losses import BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy, get_loss
from ...nn.model import Sequential
from ...nn.optim import Adam, GradientDescent, Momentum, Optimizer

__all__ = [
    "AUTO_MAX_PARAMETERS",
    "FusedNetwork",
    "FusedTrainer",
    "compile_network",
    "fused_loss_and_gradients",
    "fused_support",
    "get_threads",
    "predict_logits",
    "prefers_fused",
    "set_threads",
]

# Codes shared by the compiled kernels.
IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = 0, 1, 2, 3, 4
BCE, SOFTMAX, MSE = 0, 1, 2
GD, MOMENTUM, ADAM = 0, 1, 2

_ACTIVATION_CODES = {ReLU: RELU, LeakyReLU: LEAKY_RELU, Tanh: TANH, Sigmoid: SIGMOID}
_LOSS_CODES = {BinaryCrossEntropy: BCE, SoftmaxCrossEntropy: SOFTMAX, MeanSquaredError: MSE}
_OPTIMIZER_CODES = {GradientDescent: GD, Momentum: MOMENTUM, Adam: ADAM}

#: Rows in a block: at most MAX_BLOCK_ROWS, fewer (down to MIN_BLOCK_ROWS) for networks
#: with many parameters (see ``_block_rows``).
MAX_BLOCK_ROWS = 256
MIN_BLOCK_ROWS = 64
#: Upper bound on the chunks of one batch (chunks are the units handed to threads).
MAX_CHUNKS = 64
#: A chunk gets at least this many blocks, so small batches run on one thread.
MIN_BLOCKS_PER_CHUNK = 4

# error_model="numpy": x / 0 gives inf or NaN as in NumPy (and lets loops vectorise).
_JIT = {"cache": True, "error_model": "numpy", "fastmath": False}


# --------------------------------------------------------------------------------------
# Scalar maths that the compiler can vectorise (libm calls would stop it).
# --------------------------------------------------------------------------------------
@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits`` (a free reinterpretation)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


@njit(**_JIT)
def _exp_nonpositive(x: float) -> float:
    """e^x for x <= 0 (NaN stays NaN), to about 1e-15 relative.

    x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2, so e^x = 2^n e^r;
    e^r is its Taylor polynomial of degree 13 (truncation < 1e-17) and 2^n is built
    from its bits, in two factors so that results down to 2^-1074 stay exact.
    """
    xc = x if x >= -745.0 else -745.0
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(n)
    half = k >> 1
    y = p * _float_from_bits((half + 1023) << 52) * _float_from_bits((k - half + 1023) << 52)
    y = y if x >= -745.0 else 0.0
    return y if x == x else x


@njit(**_JIT)
def _log1p_unit(e: float) -> float:
    """log(1 + e) for 0 <= e <= 1, to about 1e-16 relative.

    log(1 + e) = 2 atanh(s) with s = e / (2 + e) in [0, 1/3] (no cancellation), and
    atanh(s) = s (1 + s^2/3 + s^4/5 + ...); 18 terms leave a truncation below 1e-17.
    """
    s = e / (2.0 + e)
    w = s * s
    p = 1.0 / 35.0
    p = p * w + 1.0 / 33.0
    p = p * w + 1.0 / 31.0
    p = p * w + 1.0 / 29.0
    p = p * w + 1.0 / 27.0
    p = p * w + 1.0 / 25.0
    p = p * w + 1.0 / 23.0
    p = p * w + 1.0 / 21.0
    p = p * w + 1.0 / 19.0
    p = p * w + 1.0 / 17.0
    p = p * w + 1.0 / 15.0
    p = p * w + 1.0 / 13.0
    p = p * w + 1.0 / 11.0
    p = p * w + 1.0 / 9.0
    p = p * w + 1.0 / 7.0
    p = p * w + 1.0 / 5.0
    p = p * w + 1.0 / 3.0
    p = p * w + 1.0
    return 2.0 * s * p


# --------------------------------------------------------------------------------------
# One block: load, forward, loss, backward. Buffers are feature-major (unit x row), so
# every inner loop runs over the block's rows and vectorises whatever the layer widths.
# --------------------------------------------------------------------------------------
@njit(**_JIT)
def _workspace(layout, n_params, n_targets, block, theta):
    """Buffers for one block of ``block`` rows (one set per thread).

    A[l] holds the input of Dense layer l (A[0] = the rows of X, transposed; A[L] = the
    network's output), Z[l] its pre-activation z, G two error-signal buffers used in
    turn, acc the gradient lanes (one row per parameter, then the loss and the hits),
    T the targets, C the class indices, W the weights (normalised, raw) and R scratch.
    Activations have the dtype of theta; sums are float64.
    """
    n_layers = layout.shape[0]
    width = layout[0, 0]
    for layer in range(n_layers):
        width = max(width, layout[layer, 1])
    A = np.zeros((n_layers + 1, width, block), dtype=theta.dtype)
    Z = np.zeros((n_layers, width, block), dtype=theta.dtype)
    G = np.zeros((2, width, block), dtype=theta.dtype)
    acc = np.zeros((n_params + 2, block))
    T = np.zeros((max(n_targets, 1), block))
    C = np.zeros(block, dtype=np.int64)
    W = np.zeros((2, block))
    R = np.zeros((4, block))
    return A, Z, G, acc, T, C, W, R


@njit(**_JIT)
def _load_block(X, rows, start, nb, A):
    """A[0][k, r] = X[i_r, k]: the block's rows, transposed.

    i_r = rows[start + r] when ``rows`` (a permutation) is given, else start + r.
    """
    shuffled = rows.shape[0] > 0
    for r in range(nb):
        i = rows[start + r] if shuffled else start + r
        for k in range(X.shape[1]):
            A[0, k, r] = X[i, k]


@njit(**_JIT)
def _load_targets(Y, classes, weights, rows, start, nb, w_sum, T, C, W):
    """The block's targets (T), class indices (C) and, if weighted, W = (w_i / w_sum, w_i)."""
    if rows.shape[0] == 0:  # contiguous rows: plain copies
        for k in range(Y.shape[1]):
            for r in range(nb):
                T[k, r] = Y[start + r, k]
        for r in range(nb if classes.shape[0] > 0 else 0):
            C[r] = classes[start + r]
        for r in range(nb if weights.shape[0] > 0 else 0):
            W[0, r] = weights[start + r] / w_sum
            W[1, r] = weights[start + r]
        return
    for r in range(nb):
        i = rows[start + r]
        for k in range(Y.shape[1]):
            T[k, r] = Y[i, k]
        if classes.shape[0] > 0:
            C[r] = classes[i]
        if weights.shape[0] > 0:
            W[0, r] = weights[i] / w_sum
            W[1, r] = weights[i]


@njit(**_JIT)
def _forward_block(net, A, Z, nb):
    """z_l = a_{l-1} W_l + b_l and a_l = f_l(z_l) for every layer, on the nb rows of A[0]."""
    theta, layout, slopes = net
    for layer in range(layout.shape[0]):
        n_in, n_out, w_off, b_off, act = layout[layer]
        slope = slopes[layer]
        for j in range(n_out):
            # z = sum_k a_k w_kj, two terms per pass: (a_0 w_0 + a_1 w_1) + (a_2 w_2 + a_3 w_3) ...
            w = theta[w_off + j]
            first = 2 - n_in % 2  # the first pass takes one term if n_in is odd, else two
            if first == 2:
                w1 = theta[w_off + n_out + j]
                for r in range(nb):
                    Z[layer, j, r] = A[layer, 0, r] * w + A[layer, 1, r] * w1
            else:
                for r in range(nb):
                    Z[layer, j, r] = A[layer, 0, r] * w
            for k in range(first, n_in, 2):
                w = theta[w_off + k * n_out + j]
                w1 = theta[w_off + (k + 1) * n_out + j]
                for r in range(nb):
                    Z[layer, j, r] += A[layer, k, r] * w + A[layer, k + 1, r] * w1
            b = theta[b_off + j]
            for r in range(nb):
                Z[layer, j, r] += b
            # a = f(z); each case mirrors the layer's forward in nn/layers.py
            if act == RELU:  # max(0, z), NaN stays NaN as in np.maximum
                for r in range(nb):
                    z = Z[layer, j, r]
                    A[layer + 1, j, r] = 0.0 if z < 0.0 else z
            elif act == LEAKY_RELU:  # z if z > 0 else slope z
                for r in range(nb):
                    z = Z[layer, j, r]
                    A[layer + 1, j, r] = z if z > 0.0 else slope * z
            elif act == TANH:
                for r in range(nb):
                    A[layer + 1, j, r] = math.tanh(Z[layer, j, r])
            elif act == SIGMOID:  # 1 / (1 + e^-z), with e = e^-|z| so nothing overflows
                for r in range(nb):
                    z = np.float64(Z[layer, j, r])
                    e = _exp_nonpositive(-abs(z))
                    A[layer + 1, j, r] = (1.0 if z >= 0.0 else e) / (1.0 + e)
            else:
                for r in range(nb):
                    A[layer + 1, j, r] = Z[layer, j, r]


@njit(**_JIT)
def _loss_block(loss, out, n_out, nb, T, C, W, G, acc, n_params, R):
    """Per row: the loss l_i, the hit (prediction == target) and g = w_i dl_i/dz into G[0].

    bce      l = max(z, 0) - y z + log(1 + e^-|z|)  (= softplus(z) - y z);  dl/dz = sigmoid(z) - y
    softmax  l = log sum_k e^(z_k - m) - (z_y - m),  m = max_k z_k;  dl/dz = softmax(z) - onehot(y)
    mse      l = (1/K) sum_k (z_k - y_k)^2;  dl/dz = 2 (z - y) / K

    The weighted loss sum_i w_i l_i and the weighted hits are added to the last two lanes
    of ``acc``; ``out`` is the network output A[L] (unit x row), of which n_out rows are used.
    """
    # Simple loops, one output array each, so that the compiler vectorises every one.
    lrow, hit, top, total = R[0], R[1], R[2], R[3]
    for r in range(nb):
        lrow[r] = 0.0
        hit[r] = 1.0
    if loss == BCE:
        e = top  # e = e^-|z|
        for k in range(n_out):
            for r in range(nb):
                e[r] = _exp_nonpositive(-abs(np.float64(out[k, r])))
            for r in range(nb):
                z = np.float64(out[k, r])
                lrow[r] += max(z, 0.0) - T[k, r] * z + _log1p_unit(e[r])
            for r in range(nb):
                sigmoid = (1.0 if out[k, r] >= 0.0 else e[r]) / (1.0 + e[r])
                G[0, k, r] = W[0, r] * (sigmoid - T[k, r])
            for r in range(nb):
                hit[r] = hit[r] if (1.0 if out[k, r] > 0.0 else 0.0) == T[k, r] else 0.0
    elif loss == SOFTMAX:
        for r in range(nb):
            top[r] = out[0, r]
            best = 0
            for k in range(1, n_out):
                if out[k, r] > top[r]:
                    top[r] = out[k, r]
                    best = k
            hit[r] = 1.0 if best == C[r] else 0.0
            total[r] = 0.0
        for k in range(n_out):
            for r in range(nb):
                G[0, k, r] = _exp_nonpositive(np.float64(out[k, r]) - top[r])
            for r in range(nb):
                total[r] += G[0, k, r]
        for r in range(nb):
            lrow[r] = -((np.float64(out[C[r], r]) - top[r]) - math.log(total[r]))
        for k in range(n_out):
            for r in range(nb):
                p = G[0, k, r] / total[r]
                G[0, k, r] = W[0, r] * (p - (1.0 if C[r] == k else 0.0))
    else:
        for k in range(n_out):
            for r in range(nb):
                d = np.float64(out[k, r]) - T[k, r]
                lrow[r] += d * d
            for r in range(nb):
                d = np.float64(out[k, r]) - T[k, r]
                G[0, k, r] = W[0, r] * (2.0 * d / n_out)
            for r in range(nb):
                hit[r] = hit[r] if (1.0 if out[k, r] > 0.5 else 0.0) == T[k, r] else 0.0
        for r in range(nb):
            lrow[r] = lrow[r] / n_out
    for r in range(nb):
        acc[n_params, r] += W[0, r] * lrow[r]
        acc[n_params + 1, r] += W[1, r] * hit[r]


@njit(**_JIT)
def _backward_block(net, A, Z, G, acc, nb):
    """Backpropagate g = dJ/da_L (in G[0]) and add the block's gradient to the lanes.

    For l = L..1:  g <- g * f_l'(z_l);  dW_l += a_{l-1}^T g;  db_l += sum_rows g;
    g <- g W_l^T (skipped for the first layer: nobody needs dJ/dX).
    """
    theta, layout, slopes = net
    cur = 0
    for layer in range(layout.shape[0] - 1, -1, -1):
        n_in, n_out, w_off, b_off, act = layout[layer]
        slope = slopes[layer]
        for j in range(n_out):  # dJ/dz = dJ/da * f'(z), mirroring each layer's backward
            if act == RELU:
                for r in range(nb):
                    G[cur, j, r] = G[cur, j, r] * (1.0 if Z[layer, j, r] > 0.0 else 0.0)
            elif act == LEAKY_RELU:
                for r in range(nb):
                    G[cur, j, r] = G[cur, j, r] * (1.0 if Z[layer, j, r] > 0.0 else slope)
            elif act == TANH:
                for r in range(nb):
                    a = A[layer + 1, j, r]
                    G[cur, j, r] = G[cur, j, r] * (1.0 - a * a)
            elif act == SIGMOID:
                for r in range(nb):
                    a = A[layer + 1, j, r]
                    G[cur, j, r] = G[cur, j, r] * a * (1.0 - a)
        for k in range(n_in):  # dW[k, j] lanes: acc[p, r] += a[k, r] g[j, r]
            for j in range(n_out):
                p = w_off + k * n_out + j
                for r in range(nb):
                    acc[p, r] += np.float64(A[layer, k, r]) * np.float64(G[cur, j, r])
        for j in range(n_out):
            for r in range(nb):
                acc[b_off + j, r] += G[cur, j, r]
        if layer > 0:
            nxt = 1 - cur
            for k in range(n_in):  # g_prev[k, r] = sum_j W[k, j] g[j, r]
                w = theta[w_off + k * n_out]
                for r in range(nb):
                    G[nxt, k, r] = w * G[cur, 0, r]
                for j in range(1, n_out):
                    w = theta[w_off + k * n_out + j]
                    for r in range(nb):
                        G[nxt, k, r] += w * G[cur, j, r]
            cur = nxt


@njit(**_JIT)
def _reduce_lanes(acc, out):
    """out[p] = sum of acc[p, :], added pairwise in a fixed tree (the block size is a power of 2)."""
    half = acc.shape[1] // 2
    while half >= 1:
        for p in range(acc.shape[0]):
            for r in range(half):
                acc[p, r] += acc[p, r + half]
        half //= 2
    for p in range(acc.shape[0]):
        out[p] = acc[p, 0]


@njit(**_JIT)
def _chunk(data, net, loss, need_grad, s0, s1, w_sum, block, chunk, n_chunks, ws, out):
    """Positions s0..s1 of the batch fall into n_chunks chunks of whole blocks: process
    chunk ``chunk``, ``block`` rows at a time in row order, and write its sums to ``out``.

    ``data`` = (X, targets, class indices, sample weights, row order), ``net`` = (theta,
    layout, slopes); empty arrays stand for absent targets, weights or order. w_sum is
    the batch's total sample weight. The workspace may have more lanes than ``block``:
    the spare lanes stay zero, and adding zeros leaves the pairwise sums unchanged.
    """
    X, Y, classes, weights, rows = data
    layout = net[1]
    A, Z, G, acc, T, C, W, R = ws
    n_params = acc.shape[0] - 2
    n_layers = layout.shape[0]
    n_blocks = (s1 - s0 + block - 1) // block
    acc[:, :] = 0.0
    if weights.shape[0] == 0:  # w_i = 1/n for every row
        W[0, :] = 1.0 / (s1 - s0)
        W[1, :] = 1.0
    for b in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):
        start = s0 + b * block
        nb = min(block, s1 - start)
        _load_block(X, rows, start, nb, A)
        _load_targets(Y, classes, weights, rows, start, nb, w_sum, T, C, W)
        _forward_block(net, A, Z, nb)
        _loss_block(loss, A[n_layers], layout[n_layers - 1, 1], nb, T, C, W, G, acc, n_params, R)
        if need_grad:
            _backward_block(net, A, Z, G, acc, nb)
    _reduce_lanes(acc, out)


@njit(nogil=True, **_JIT)
def _run_chunks(data, net, loss, need_grad, s0, s1, w_sum, block, first, last, out):
    """Chunks first..last-1 of a batch of len(out) chunks into out[first:last].

    Runs without the GIL: the threads of a full batch each run one of these.
    """
    ws = _workspace(net[1], out.shape[1] - 2, data[1].shape[1], block, net[0])
    for chunk in range(first, last):
        _chunk(
            data, net, loss, need_grad, s0, s1, w_sum, block, chunk, out.shape[0], ws, out[chunk]
        )


@njit(**_JIT)
def _finish_batch(out, theta, layout, l2, w_sum, need_grad, grad):
    """Add the chunks' sums in chunk order; add the L2 term. Returns (J, accuracy).

    J = sum_i w_i l_i + (l2/2) sum_l ||W_l||^2 and dJ/dW_l gets + l2 W_l (biases are not
    penalised), as in Sequential.loss_and_gradients.
    """
    n_params = theta.shape[0]
    total = np.zeros(out.shape[1])
    for chunk in range(out.shape[0]):
        for p in range(out.shape[1]):
            total[p] += out[chunk, p]
    value = total[n_params]
    accuracy = total[n_params + 1] / w_sum
    if need_grad:
        for p in range(n_params):
            grad[p] = total[p]
    if l2 != 0.0:
        for layer in range(layout.shape[0]):
            n_in, n_out, w_off = layout[layer, 0], layout[layer, 1], layout[layer, 2]
            squares = 0.0
            for p in range(w_off, w_off + n_in * n_out):
                squares += np.float64(theta[p]) * np.float64(theta[p])
                if need_grad:
                    grad[p] += l2 * theta[p]
            value += 0.5 * l2 * squares
    return value, accuracy


@njit(**_JIT)
def _normaliser(w_sum):
    """The divisor of the weights, w_sum, or 1 when it is 0: then every weight is 0, and
    0 / 1 = 0 gives the loss 0, gradient 0 and accuracy 0 of 0/0 := 0 (nn/losses.py)."""
    return w_sum if w_sum != 0.0 else 1.0


@njit(**_JIT)
def _block_size(n_rows, max_block):
    """The smallest power of two >= n_rows, capped at max_block (itself a power of two)."""
    block = 1
    while block < n_rows and block < max_block:
        block *= 2
    return block


@njit(**_JIT)
def _n_chunks(n_blocks):
    """Chunks for a batch of n_blocks blocks: a function of n_blocks only, never of threads."""
    return max(1, min(MAX_CHUNKS, n_blocks // MIN_BLOCKS_PER_CHUNK))


@njit(**_JIT)
def _optimizer_step(code, theta, grad, m, v, hyper, t):
    """One update of the flat parameter vector, mirroring optim.py line by line.

    gd        theta <- theta - lr g
    momentum  v <- mu v - lr g;  theta <- theta + v   (Nesterov: theta <- theta + mu v - lr g)
    adam      m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
              theta <- theta - lr m_hat / (sqrt(v_hat) + eps), m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)
    Returns the step count t (incremented for Adam).
    """
    lr, mu, nesterov, b1, b2, eps = hyper[1], hyper[2], hyper[3], hyper[4], hyper[5], hyper[6]
    if code == GD:
        for p in range(theta.shape[0]):
            theta[p] -= lr * grad[p]
    elif code == MOMENTUM:
        for p in range(theta.shape[0]):
            m[p] = m[p] * mu
            m[p] -= lr * grad[p]
            if nesterov != 0.0:
                theta[p] += mu * m[p] - lr * grad[p]
            else:
                theta[p] += m[p]
    else:
        t += 1
        c1 = 1.0 - b1 ** np.float64(t)
        c2 = 1.0 - b2 ** np.float64(t)
        for p in range(theta.shape[0]):
            g = grad[p]
            m[p] = m[p] * b1
            m[p] += (1.0 - b1) * g
            v[p] = v[p] * b2
            v[p] += (1.0 - b2) * g * g
            m_hat = m[p] / c1
            v_hat = v[p] / c2
            theta[p] -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return t


@njit(**_JIT)
def _train_epoch(data, net, loss, batch, hyper, backprop, optimizer, m, v, t, grad_sum, result):
    """One epoch of mini-batches, rows[s0:s0 + batch] for s0 = 0, batch, 2 batch, ...

    For each batch: objective and gradient, the checks, then the update; a batch with a
    non-finite objective (or gradient) ends the epoch before its update, as in
    training.train. ``grad_sum`` (if not empty) receives sum_batches share * gradient.
    ``result`` receives [epoch loss, epoch accuracy, status (0 ok, 1 loss not finite,
    2 gradient not finite), the bad loss, the index of the first bad gradient entry,
    Adam's step count]. ``hyper`` = [l2, lr, momentum, nesterov, beta1, beta2, eps,
    largest block].
    """
    X, Y, weights, rows = data[0], data[1], data[3], data[4]
    theta, layout = net[0], net[1]
    max_block = np.int64(hyper[7])
    n = X.shape[0]
    n_params = theta.shape[0]
    grad = np.zeros(n_params)
    total_w = 0.0
    for i in range(weights.shape[0]):
        total_w += weights[i]
    ws = _workspace(layout, n_params, Y.shape[1], _block_size(min(batch, n), max_block), theta)
    epoch_loss = 0.0
    epoch_acc = 0.0
    status, bad_value, bad_index = 0, 0.0, -1
    for s0 in range(0, n, batch):
        s1 = min(n, s0 + batch)
        w_batch = np.float64(s1 - s0)
        if weights.shape[0] > 0:
            w_batch = 0.0
            for q in range(s0, s1):
                w_batch += weights[rows[q] if rows.shape[0] > 0 else q]
        block = _block_size(s1 - s0, max_block)
        n_chunks = _n_chunks((s1 - s0 + block - 1) // block)
        out = np.empty((n_chunks, n_params + 2))
        w_norm = _normaliser(w_batch)
        for chunk in range(n_chunks):
            _chunk(
                data, net, loss, backprop, s0, s1, w_norm, block, chunk, n_chunks, ws, out[chunk]
            )
        value, accuracy = _finish_batch(out, theta, layout, hyper[0], w_norm, backprop, grad)
        if not np.isfinite(value):
            status, bad_value = 1, value
            break
        if backprop:
            for p in range(n_params):
                if not np.isfinite(grad[p]):
                    status, bad_index = 2, p
                    break
            if status != 0:
                break
        share = (s1 - s0) / n if weights.shape[0] == 0 else w_batch / total_w
        epoch_loss += share * value
        epoch_acc += share * accuracy
        if backprop:
            for p in range(grad_sum.shape[0]):
                grad_sum[p] += share * grad[p]
            t = _optimizer_step(optimizer, theta, grad, m, v, hyper, t)
    result[0] = epoch_loss
    result[1] = epoch_acc
    result[2] = status
    result[3] = bad_value
    result[4] = bad_index
    result[5] = t


@njit(nogil=True, **_JIT)
def _predict(X, net, block, out):
    """out = the network's output for every row of X, ``block`` rows at a time."""
    n_layers = net[1].shape[0]
    ws = _workspace(net[1], 0, 0, block, net[0])
    A, Z = ws[0], ws[1]
    no_rows = np.zeros(0, dtype=np.int64)
    for start in range(0, X.shape[0], block):
        nb = min(block, X.shape[0] - start)
        _load_block(X, no_rows, start, nb, A)
        _forward_block(net, A, Z, nb)
        for r in range(nb):
            for j in range(out.shape[1]):
                out[start + r, j] = A[n_layers, j, r]


# --------------------------------------------------------------------------------------
# Python side: from a Sequential model to the flat arrays the kernels read.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FusedNetwork:
    """A dense network flattened for the kernels.

    ``layout[l] = (n_in, n_out, offset of W_l, offset of b_l, activation code)`` into the
    flat parameter vector theta = [W1.ravel(), b1, W2.ravel(), b2, ...] (the order of
    ``model.params``); ``slopes[l]`` is the LeakyReLU slope after layer l (else 0).
    """

    layout: np.ndarray
    slopes: np.ndarray
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    n_params: int
    dtype: np.dtype
    max_block: int

    def flatten(
        self, arrays: dict[str, np.ndarray], dtype: type | np.dtype | None = None
    ) -> np.ndarray:
        """The named arrays laid end to end in the order of ``names`` (zeros where missing)."""
        flat = np.zeros(self.n_params, dtype=dtype or self.dtype)
        for name, offset, shape in zip(self.names, self.offsets, self.shapes, strict=True):
            if name in arrays:
                flat[offset : offset + math.prod(shape)] = np.ravel(arrays[name])
        return flat

    def unflatten(
        self,
        flat: np.ndarray,
        into: dict[str, np.ndarray] | None = None,
        dtype: type | np.dtype | None = None,
    ) -> dict[str, np.ndarray]:
        """Named arrays from ``flat``: written in place into ``into``'s arrays when given."""
        result = {} if into is None else into
        for name, offset, shape in zip(self.names, self.offsets, self.shapes, strict=True):
            part = flat[offset : offset + math.prod(shape)].reshape(shape)
            if name in result:
                result[name][...] = part
            else:
                result[name] = part.astype(dtype or self.dtype, copy=True)
        return result


def _block_rows(n_params: int) -> int:
    """Rows per block: MAX_BLOCK_ROWS, halved while the gradient lanes (8 bytes per
    parameter and row) exceed 2 MiB, but not below MIN_BLOCK_ROWS (shorter loops cost
    more than lanes that spill out of the L2 cache)."""
    block = MAX_BLOCK_ROWS
    while block > MIN_BLOCK_ROWS and (n_params + 2) * block * 8 > 2 * 2**20:
        block //= 2
    return block


def compile_network(model: Sequential) -> FusedNetwork | str:
    """The model as a FusedNetwork, or a sentence saying why the fused engine cannot run it.

    Supported: Dense layers, each followed by at most one ReLU, LeakyReLU, Tanh or Sigmoid,
    all parameters float32 or float64.
    """
    if not isinstance(model, Sequential):
        return f"the model is a {type(model).__name__}, not a Sequential"
    if np.dtype(model.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return f"parameters of dtype {model.dtype} (float32 or float64 needed)"
    rows, slopes = [], []
    for position, layer in enumerate(model.layers):
        if type(layer) is Dense:
            W, b = layer.params["W"], layer.params["b"]
            if W.dtype != model.dtype or b.dtype != model.dtype:
                return "parameters of mixed dtypes"
            rows.append([W.shape[0], W.shape[1], 0, 0, IDENTITY])
            slopes.append(0.0)
        elif type(layer) in _ACTIVATION_CODES:
            if not rows or rows[-1][4] != IDENTITY:
                return f"layer {position} ({layer!r}) does not directly follow a Dense layer"
            rows[-1][4] = _ACTIVATION_CODES[type(layer)]
            slopes[-1] = float(getattr(layer, "slope", 0.0))
        else:
            return f"layer {position} ({layer!r}) has no fused implementation"
    names, shapes, offsets = [], [], []
    offset = 0
    for i, row in enumerate(rows, start=1):
        n_in, n_out = row[0], row[1]
        if i > 1 and n_in != rows[i - 2][1]:
            return f"Dense layer {i} expects {n_in} inputs but receives {rows[i - 2][1]}"
        row[2], row[3] = offset, offset + n_in * n_out
        names += [f"W{i}", f"b{i}"]
        shapes += [(n_in, n_out), (n_out,)]
        offsets += [offset, offset + n_in * n_out]
        offset += n_in * n_out + n_out
    return FusedNetwork(
        layout=np.array(rows, dtype=np.int64),
        slopes=np.array(slopes, dtype=np.float64),
        names=tuple(names),
        shapes=tuple(shapes),
        offsets=tuple(offsets),
        n_params=offset,
        dtype=np.dtype(model.dtype),
        max_block=_block_rows(offset),
    )


def fused_support(
    model: Sequential, loss: str | Loss = "bce", optimizer: Optimizer | None = None
) -> str | None:
    """None when the fused engine can train ``model`` with ``loss`` and ``optimizer``;
    otherwise the reason it cannot, as a sentence."""
    network = compile_network(model)
    if isinstance(network, str):
        return network
    loss = get_loss(loss)
    if type(loss) not in _LOSS_CODES:
        return f"the loss {type(loss).__name__} has no fused implementation"
    if optimizer is not None and type(optimizer) not in _OPTIMIZER_CODES:
        return f"the optimizer {type(optimizer).__name__} has no fused implementation"
    return None


#: ``train(engine="auto")`` runs networks of at most this many parameters with the fused
#: engine. The kernels are written for the narrow networks of tabular data; for wide
#: layers the reference engine's matrix products (BLAS) are faster (see docs/performance.md).
AUTO_MAX_PARAMETERS = 4096


def prefers_fused(model: Sequential) -> bool:
    """True when the fused engine is expected to be the faster one for ``model``."""
    return model.n_parameters() <= AUTO_MAX_PARAMETERS


def _require(model: Sequential, loss: Loss, optimizer: Optimizer | None = None) -> FusedNetwork:
    reason = fused_support(model, loss, optimizer)
    if reason is not None:
        raise ValueError(f"the fused engine does not apply: {reason}")
    network = compile_network(model)
    assert isinstance(network, FusedNetwork)
    return network


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_WEIGHTS = np.zeros(0, dtype=np.float64)
_NO_CLASSES = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0), dtype=np.float64)


def _kernel_targets(loss: Loss, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float targets of shape (N, K), class indices of shape (N,)): one of them empty."""
    if type(loss) is SoftmaxCrossEntropy:
        return _NO_TARGETS, np.ascontiguousarray(y, dtype=np.int64)
    return np.ascontiguousarray(y, dtype=np.float64), _NO_CLASSES


def _kernel_weights(sample_weight: np.ndarray | None) -> np.ndarray:
    if sample_weight is None:
        return _NO_WEIGHTS
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_thread_count: int | None = None


def get_threads() -> int:
    """Threads that share the blocks of a batch: ``set_threads``'s value, else the
    NUMBA_NUM_THREADS setting (by default, the number of CPU cores)."""
    return _thread_count or max(1, int(numba.config.NUMBA_NUM_THREADS))


def set_threads(count: int | None) -> None:
    """Use ``count`` threads for the blocks of a batch (None: back to the default).

    The results do not depend on it: blocks are combined in a fixed order.
    """
    global _thread_count
    if count is not None and int(count) < 1:
        raise ValueError(f"the thread count must be at least 1; got {count}")
    _thread_count = None if count is None else int(count)


def _run_tasks(tasks: list) -> None:
    """Run callables on the shared thread pool (they release the GIL) and wait for all."""
    global _pool
    if len(tasks) == 1:
        tasks[0]()
        return
    with _pool_lock:
        if _pool is None or _pool[0] != get_threads():
            if _pool is not None:
                _pool[1].shutdown(wait=False)
            _pool = (get_threads(), ThreadPoolExecutor(get_threads(), thread_name_prefix="fused"))
        pool = _pool[1]
    for future in [pool.submit(task) for task in tasks]:
        future.result()


def _batch(
    network: FusedNetwork,
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    classes: np.ndarray,
    weights: np.ndarray,
    loss_code: int,
    l2: float,
    grad: np.ndarray | None,
) -> tuple[float, float]:
    """(J, accuracy) over all rows of X, the chunks spread over threads; fills ``grad``
    with dJ/dtheta when given. The result does not depend on the number of threads."""
    n = X.shape[0]
    w_sum = float(weights.sum()) if weights.size else float(n)
    w_sum = _normaliser(w_sum)
    block = _block_size(n, network.max_block)
    n_chunks = _n_chunks((n + block - 1) // block)
    out = np.empty((n_chunks, network.n_params + 2))
    need_grad = grad is not None
    n_tasks = 1 if n_chunks == 1 else min(n_chunks, 2 * get_threads())  # 2 per thread: balance

    data = (X, Y, classes, weights, _NO_ROWS)
    net = (theta, network.layout, network.slopes)

    def task(first: int, last: int) -> Callable[[], None]:
        return lambda: _run_chunks(
            data, net, loss_code, need_grad, 0, n, w_sum, block, first, last, out
        )

    _run_tasks(
        [task(i * n_chunks // n_tasks, (i + 1) * n_chunks // n_tasks) for i in range(n_tasks)]
    )
    value, accuracy = _finish_batch(
        out,
        theta,
        network.layout,
        float(l2),
        w_sum,
        need_grad,
        grad if need_grad else np.zeros(0),
    )
    return float(value), float(accuracy)


def fused_loss_and_gradients(
    model: Sequential,
    X: ArrayLike,
    y: ArrayLike,
    loss: str | Loss,
    *,
    l2: float = 0.0,
    sample_weight: ArrayLike | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """J = L(z(X), y) + (l2 / 2) sum_l ||W_l||^2 and dJ/dtheta, as ``model.loss_and_gradients``.

    Takes the same (already prepared) arrays: X of shape (N, n_inputs), y shaped like the
    outputs (class indices for softmax). Gradients come back in the model's dtype. Unlike
    the reference, the layers' caches are left untouched. Raises ValueError for models or
    losses the fused engine does not implement.
    """
    loss = get_loss(loss)
    network = _require(model, loss)
    X = np.ascontiguousarray(X, dtype=model.dtype)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != model.n_inputs:
        raise ValueError(f"X must have shape (N, {model.n_inputs}); got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("cannot compute a loss on 0 rows")
    if loss.takes_class_indices:  # the kernels would read a class -1 or K out of bounds
        y = check_class_indices(y, n_classes=model.n_outputs, n_rows=X.shape[0])
    expected = (X.shape[0],) if loss.takes_class_indices else (X.shape[0], model.n_outputs)
    if y.shape != expected:
        raise ValueError(
            f"targets of shape {y.shape} do not match outputs of shape {expected}; "
            "refusing to broadcast"
        )
    Y, classes = _kernel_targets(loss, y)
    weights = _kernel_weights(None if sample_weight is None else np.asarray(sample_weight))
    theta = network.flatten(model.params)
    grad = np.zeros(network.n_params)
    value, _ = _batch(network, theta, X, Y, classes, weights, _LOSS_CODES[type(loss)], l2, grad)
    return value, network.unflatten(grad)


def predict_logits(model: Sequential, X: ArrayLike, *, block_rows: int = 4096) -> np.ndarray:
    """The model's outputs z for every row of X, computed ``block_rows`` rows at a time.

    Equal to ``model.predict_logits(X)`` (to rounding), but the memory used beyond the
    (N, K) result is a few blocks per thread, whatever N is; like it, it keeps nothing in
    the layers. Models the fused engine cannot run are evaluated with their own layers'
    ``predict``, block by block.
    """
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive integer; got {block_rows}")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != model.n_inputs:
        raise ValueError(f"X must have shape (N, {model.n_inputs}); got {X.shape}")
    out = np.empty((X.shape[0], model.n_outputs), dtype=model.dtype)
    network = compile_network(model)
    if isinstance(network, str):
        for start in range(0, X.shape[0], block_rows):
            block = np.asarray(X[start : start + block_rows], dtype=model.dtype)
            out[start : start + block_rows] = model.predict_logits(block)
        return out
    net = (network.flatten(model.params), network.layout, network.slopes)
    block = int(block_rows)

    def task(start: int, stop: int) -> Callable[[], None]:
        def run() -> None:
            for lo in range(start, stop, 16 * block):  # converts at most 16 blocks at a time
                hi = min(stop, lo + 16 * block)
                part = np.ascontiguousarray(X[lo:hi], dtype=model.dtype)
                _predict(part, net, block, out[lo:hi])

        return run

    n_tasks = max(1, min(get_threads(), X.shape[0] // (4 * block)))
    bounds = [i * X.shape[0] // n_tasks for i in range(n_tasks + 1)]
    _run_tasks([task(bounds[i], bounds[i + 1]) for i in range(n_tasks)])
    return out


class FusedTrainer:
    """Runs training epochs for ``training.train`` with the compiled kernels.

    Between epochs the parameters and the optimiser's state live in the model and the
    optimiser as usual (so callbacks, checkpoints and later reference training see them);
    each epoch copies them into flat vectors, runs compiled, and copies them back.
    A full-batch epoch spreads its blocks over threads; a mini-batch epoch runs as one
    compiled loop over its batches (a step needs the previous step's parameters).
    """

    def __init__(
        self,
        model: Sequential,
        X: np.ndarray,
        y: np.ndarray,
        loss: Loss,
        optimizer: Optimizer,
        *,
        l2: float,
        sample_weight: np.ndarray | None,
        backprop: bool,
        track_gradients: bool,
    ) -> None:
        self.network = _require(model, loss, optimizer)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.loss_code = _LOSS_CODES[type(loss)]
        self.X = np.ascontiguousarray(X, dtype=model.dtype)
        self.Y, self.classes = _kernel_targets(loss, y)
        self.weights = _kernel_weights(sample_weight)
        self.l2, self.backprop = float(l2), bool(backprop)
        self.track = bool(track_gradients) and self.backprop

    def _state(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The optimiser's state as flat vectors (m, v) and its step count."""
        opt, empty = self.optimizer, np.zeros(0, self.network.dtype)
        if isinstance(opt, Momentum):
            return self.network.flatten(opt.velocity), empty, 0
        if isinstance(opt, Adam):
            return self.network.flatten(opt.m), self.network.flatten(opt.v), opt.t
        return empty, empty, 0

    def _store_state(self, m: np.ndarray, v: np.ndarray, t: int) -> None:
        opt = self.optimizer
        if isinstance(opt, Momentum):
            self.network.unflatten(m, opt.velocity)
        elif isinstance(opt, Adam):
            self.network.unflatten(m, opt.m)
            self.network.unflatten(v, opt.v)
            opt.t = t

    def _hyper(self) -> np.ndarray:
        """[l2, lr, momentum, nesterov, beta1, beta2, eps, largest block], read afresh
        every epoch (a callback may change the learning rate)."""
        opt = self.optimizer
        return np.array(
            [
                self.l2,
                opt.lr,
                getattr(opt, "momentum", 0.0),
                float(getattr(opt, "nesterov", False)),
                getattr(opt, "beta1", 0.0),
                getattr(opt, "beta2", 0.0),
                getattr(opt, "eps", 0.0),
                self.network.max_block,
            ],
            dtype=np.float64,
        )

    def _name_of(self, index: int) -> str:
        network = self.network
        for name, offset, shape in zip(network.names, network.offsets, network.shapes, strict=True):
            if offset <= index < offset + math.prod(shape):
                return name
        raise IndexError(index)

    def epoch(
        self, order: np.ndarray | None, batch_size: int
    ) -> tuple[float, float, dict[str, np.ndarray], str | None]:
        """One epoch over the rows: all at once (``order`` None) or in the batches
        order[0:batch_size], order[batch_size:2 batch_size], ...

        Returns (epoch loss, epoch accuracy, share-weighted gradient sums by name,
        divergence reason or None), exactly what the reference loop computes.
        """
        network, opt = self.network, self.optimizer
        theta = network.flatten(self.model.params)
        m, v, t = self._state()
        hyper = self._hyper()
        code = _OPTIMIZER_CODES[type(opt)]
        grad_sum = np.zeros(network.n_params if self.track else 0)
        if order is None:
            grad = np.zeros(network.n_params) if self.backprop else None
            value, accuracy = _batch(
                network,
                theta,
                self.X,
                self.Y,
                self.classes,
                self.weights,
                self.loss_code,
                self.l2,
                grad,
            )
            status, bad_index = 0, -1
            if not np.isfinite(value):
                status = 1
            elif grad is not None and not np.all(np.isfinite(grad)):
                status, bad_index = 2, int(np.argmin(np.isfinite(grad)))
            epoch_loss = epoch_acc = 0.0
            if status == 0:
                epoch_loss, epoch_acc = 1.0 * value, 1.0 * accuracy  # share = 1
                if grad is not None:
                    if self.track:
                        grad_sum += grad
                    t = _optimizer_step(code, theta, grad, m, v, hyper, t)
        else:
            result = np.zeros(6)
            rows = np.ascontiguousarray(order, dtype=np.int64)
            _train_epoch(
                (self.X, self.Y, self.classes, self.weights, rows),
                (theta, network.layout, network.slopes),
                self.loss_code,
                int(batch_size),
                hyper,
                self.backprop,
                code,
                m,
                v,
                int(t),
                grad_sum,
                result,
            )
            epoch_loss, epoch_acc, status = float(result[0]), float(result[1]), int(result[2])
            value, bad_index, t = float(result[3]), int(result[4]), int(result[5])
        if self.backprop:
            network.unflatten(theta, self.model.params)
            self._store_state(m, v, t)
        reason = None
        if status == 1:
            reason = f"loss became {value}"
        elif status == 2:
            reason = f"{self._name_of(bad_index)} became NaN or infinite"
        grad_sums = network.unflatten(grad_sum, dtype=np.float64) if self.track else {}
        return epoch_loss, epoch_acc, grad_sums, reason

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss without penalty, accuracy) of the current model on (X, y), unweighted."""
        theta = self.network.flatten(self.model.params)
        Y, classes = _kernel_targets(self.loss, y)
        X = np.ascontiguousarray(X, dtype=self.network.dtype)
        return _batch(self.network, theta, X, Y, classes, _NO_WEIGHTS, self.loss_code, 0.0, None)
