"""One block of rows through the network: load, forward, loss, backward.

For the B rows of a block (a few hundred, so that they stay in cache):

    forward     z_l = a_{l-1} W_l + b_l,   a_l = f_l(z_l)          for l = 1..L, a_0 = X_B
    loss        J_B = sum_{i in B} w_i l_i,   g_L = dJ/da_L = w_i dl_i/da_L
    backward    g_l <- g_l * f_l'(z_l)                                (dJ/dz_l)
                dW_l += a_{l-1}^T g_l,   db_l += sum_rows g_l
                g_{l-1} = g_l W_l^T

Buffers are feature-major (unit x row), so every inner loop runs over the block's rows
and vectorises whatever the layer widths. The gradient is added to lanes: lane r holds
the sum of row r's terms. The lanes ``part`` have the model's dtype, so a float32 model's
backward pass runs on float32 SIMD lanes (twice as many per instruction, half the bytes);
kernels.py adds them into the float64 lanes ``acc`` every few blocks (see there for how
lanes and blocks are summed).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .layout import BCE, LEAKY_RELU, RELU, SIGMOID, SOFTMAX, TANH
from .maths import JIT, as_float_of, exp_nonpositive, exp_nonpositive_of, log1p_unit_of
from .records import Workspace


@njit(**JIT)
def workspace(layout, n_params, n_targets, block, theta):
    """The buffers (records.Workspace) for one block of ``block`` rows: one set per thread.

    Activations and the gradient's lanes ``part`` have the dtype of theta; the lanes
    ``acc`` (gradient, loss, hits), targets and weights are float64.
    """
    n_layers = layout.shape[0]
    width = layout[0, 0]
    for layer in range(n_layers):
        width = max(width, layout[layer, 1])
    A = np.zeros((n_layers + 1, width, block), dtype=theta.dtype)
    Z = np.zeros((n_layers, width, block), dtype=theta.dtype)
    G = np.zeros((2, width, block), dtype=theta.dtype)
    acc = np.zeros((n_params + 2, block))
    part = np.zeros((n_params, block), dtype=theta.dtype)
    T = np.zeros((max(n_targets, 1), block))
    C = np.zeros(block, dtype=np.int64)
    W = np.zeros((2, block))
    R = np.zeros((4, block))
    return Workspace(A, Z, G, acc, part, T, C, W, R)


@njit(**JIT)
def load_block(X, order, start, nb, A):
    """A[0][k, r] = X[i_r, k]: the block's rows, transposed.

    i_r = order[start + r] when ``order`` (a permutation) is given, else start + r.
    """
    shuffled = order.shape[0] > 0
    for r in range(nb):
        i = order[start + r] if shuffled else start + r
        for k in range(X.shape[1]):
            A[0, k, r] = X[i, k]


@njit(**JIT)
def load_targets(Y, classes, weights, order, start, nb, w_sum, T, C, W):
    """The block's targets (T), class indices (C) and, if weighted, W = (w_i / w_sum, w_i).

    Y, classes, weights and order are the fields of records.Rows (float64 or int64 in
    every run, so this compiles once for both dtypes of the model).
    """
    if order.shape[0] == 0:  # contiguous rows: plain copies
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
        i = order[start + r]
        for k in range(Y.shape[1]):
            T[k, r] = Y[i, k]
        if classes.shape[0] > 0:
            C[r] = classes[i]
        if weights.shape[0] > 0:
            W[0, r] = weights[i] / w_sum
            W[1, r] = weights[i]


@njit(**JIT)
def forward_block(net, A, Z, nb):
    """z_l = a_{l-1} W_l + b_l and a_l = f_l(z_l) for every layer, on the nb rows of A[0]."""
    theta, layout, slopes = net.theta, net.layout, net.slopes
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
                    z = Z[layer, j, r]
                    e = exp_nonpositive_of(-abs(z))
                    one = as_float_of(z, 1.0)
                    A[layer + 1, j, r] = (one if z >= 0.0 else e) / (one + e)
            else:
                for r in range(nb):
                    A[layer + 1, j, r] = Z[layer, j, r]


@njit(**JIT)
def loss_block(loss, out, n_out, nb, T, C, W, G, acc, n_params, R):
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
    if loss == BCE:  # in the model's dtype, as the reference's layers compute it
        e = G[1, 0]  # e = e^-|z| (G[1] is free until the backward pass)
        for k in range(n_out):
            for r in range(nb):
                e[r] = exp_nonpositive_of(-abs(out[k, r]))
            for r in range(nb):
                z = out[k, r]
                y = as_float_of(z, T[k, r])
                lrow[r] += max(z, as_float_of(z, 0.0)) - y * z + log1p_unit_of(e[r])
            for r in range(nb):
                z = out[k, r]
                one = as_float_of(z, 1.0)
                sigmoid = (one if z >= 0.0 else e[r]) / (one + e[r])
                G[0, k, r] = as_float_of(z, W[0, r]) * (sigmoid - as_float_of(z, T[k, r]))
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
                G[0, k, r] = exp_nonpositive(np.float64(out[k, r]) - top[r])
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


@njit(**JIT)
def backward_block(net, A, Z, G, part, nb):
    """Backpropagate g = dJ/da_L (in G[0]) and add the block's gradient to the lanes
    ``part`` (theta's dtype; part[p, r] += row r's term of dJ/dtheta_p).

    For l = L..1:  g <- g * f_l'(z_l);  dW_l += a_{l-1}^T g;  db_l += sum_rows g;
    g <- g W_l^T (skipped for the first layer: nobody needs dJ/dX).
    """
    theta, layout, slopes = net.theta, net.layout, net.slopes
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
        for k in range(n_in):  # dW[k, j] lanes: part[p, r] += a[k, r] g[j, r]
            for j in range(n_out):
                p = w_off + k * n_out + j
                for r in range(nb):
                    part[p, r] += A[layer, k, r] * G[cur, j, r]
        for j in range(n_out):
            for r in range(nb):
                part[b_off + j, r] += G[cur, j, r]
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
