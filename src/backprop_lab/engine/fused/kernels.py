"""Batches and epochs from blocks: the sums, the update, the epoch loop, and prediction.

The gradient of a batch is the sum of its blocks' gradients (block.py computes one
block). Blocks are grouped into a fixed number of chunks (it depends on the batch's
size and the block size only, never on the number of threads). Each chunk is processed
by one thread, its blocks in row order, into lanes; at the end of the chunk the lanes
are added pairwise in a fixed tree, and the chunks' sums are added in chunk order. Every
floating-point addition therefore happens in the same order whatever the thread
scheduling, so results are bit-for-bit reproducible.

A mini-batch epoch (``train_epoch``) runs whole here: for each batch the blocks, the
objective, the checks and the optimiser's update, with Python only between epochs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .block import backward_block, forward_block, load_block, load_targets, loss_block, workspace
from .layout import FLOAT32_LANE_BLOCKS, GD, MAX_CHUNKS, MIN_BLOCKS_PER_CHUNK, MOMENTUM
from .maths import JIT
from .records import EpochOutcome, Status


@njit(**JIT)
def _sum16(a):
    """a[0] + ... + a[15] in _reduce_lanes's tree (halves added pairwise: lane r + lane
    r + 8, then r + 4, r + 2, r + 1), written out so that no short loop is left."""
    t0, t1, t2, t3 = a[0] + a[8], a[1] + a[9], a[2] + a[10], a[3] + a[11]
    t4, t5, t6, t7 = a[4] + a[12], a[5] + a[13], a[6] + a[14], a[7] + a[15]
    u0, u1, u2, u3 = t0 + t4, t1 + t5, t2 + t6, t3 + t7
    return (u0 + u2) + (u1 + u3)


@njit(**JIT)
def _reduce_lanes(acc, p0, p1, width, out):
    """out[p] = sum of acc[p, :width] for p0 <= p < p1, added pairwise in a fixed tree
    (width, the block size, is a power of 2): while more than 16 lanes are left, lane r
    takes lane r + half; the last 16 are added by _sum16 in the same tree."""
    half = width // 2
    while half >= 16:
        for p in range(p0, p1):
            for r in range(half):
                acc[p, r] += acc[p, r + half]
        half //= 2
    if half == 8:
        for p in range(p0, p1):
            out[p] = _sum16(acc[p])
        return
    while half >= 1:
        for p in range(p0, p1):
            for r in range(half):
                acc[p, r] += acc[p, r + half]
        half //= 2
    for p in range(p0, p1):
        out[p] = acc[p, 0]


@njit(**JIT)
def _reduce_converted(part, acc, out):
    """out[p] = sum of part[p, :] in float64, in _reduce_lanes's tree, when the gradient
    lanes of ``acc`` hold nothing yet: its first level, a[r] = part[r] + part[r + half],
    reads ``part`` directly (the same sums as adding part into zeroed lanes first)."""
    half = part.shape[1] // 2
    if half == 0:
        for p in range(part.shape[0]):
            out[p] = np.float64(part[p, 0])
        return
    for p in range(part.shape[0]):
        for r in range(half):
            acc[p, r] = np.float64(part[p, r]) + np.float64(part[p, r + half])
    _reduce_lanes(acc, 0, part.shape[0], half, out)


@njit(**JIT)
def _flush_lanes(part, acc):
    """acc[p, r] += part[p, r] (in float64), then part = 0."""
    for p in range(part.shape[0]):
        for r in range(part.shape[1]):
            acc[p, r] += np.float64(part[p, r])
            part[p, r] = 0.0


@njit(**JIT)
def _chunk(data, net, loss, need_grad, s0, s1, w_sum, block, chunk, n_chunks, ws, out):
    """Positions s0..s1 of the batch fall into n_chunks chunks of whole blocks: process
    chunk ``chunk``, ``block`` rows at a time in row order, and write its sums to ``out``.

    ``data`` is a records.Rows, ``net`` a records.Net, ``ws`` a records.Workspace. w_sum
    is the batch's total sample weight. The workspace may have more lanes than ``block``:
    the spare lanes stay zero, and adding zeros leaves the pairwise sums unchanged.

    The gradient's lanes ``ws.part`` have theta's dtype. A float64 model's hold the
    chunk's gradient sums and are summed as they are; a float32 model's are added into
    the float64 lanes ``acc`` every FLOAT32_LANE_BLOCKS blocks, so that a float32 lane
    sums at most that many terms before they continue in float64.
    """
    X, Y, classes, weights, order = data
    A, Z, G, acc, part, T, C, W, R = ws
    layout = net.layout
    n_params = acc.shape[0] - 2
    n_layers = layout.shape[0]
    n_blocks = (s1 - s0 + block - 1) // block
    first, last = chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks
    wide = part.itemsize == 8  # float64 lanes: ``part`` is summed directly
    once = last - first < FLOAT32_LANE_BLOCKS  # float32 lanes added once, at the end
    part[:, :] = 0.0
    acc[n_params if wide or once else 0 :, :] = 0.0
    if weights.shape[0] == 0:  # w_i = 1/n for every row
        W[0, :] = 1.0 / (s1 - s0)
        W[1, :] = 1.0
    lane_blocks = n_blocks + 1 if wide else FLOAT32_LANE_BLOCKS
    pending = 0  # blocks in ``part`` not yet added into ``acc``
    for b in range(first, last):
        start = s0 + b * block
        nb = min(block, s1 - start)
        load_block(X, order, start, nb, A)
        load_targets(Y, classes, weights, order, start, nb, w_sum, T, C, W)
        forward_block(net, A, Z, nb)
        loss_block(loss, A[n_layers], layout[n_layers - 1, 1], nb, T, C, W, G, acc, n_params, R)
        if need_grad:
            backward_block(net, A, Z, G, part, nb)
            pending += 1
            if pending == lane_blocks:
                _flush_lanes(part, acc)
                pending = 0
    width = acc.shape[1]
    if wide:
        _reduce_lanes(part, 0, n_params, width, out)
    elif once:
        _reduce_converted(part, acc, out)
    else:
        if pending > 0:
            _flush_lanes(part, acc)
        _reduce_lanes(acc, 0, n_params, width, out)
    _reduce_lanes(acc, n_params, n_params + 2, width, out)  # the loss and the hits


@njit(nogil=True, **JIT)
def run_chunks(data, net, loss, need_grad, s0, s1, w_sum, block, first, last, out):
    """Chunks first..last-1 of a batch of len(out) chunks into out[first:last].

    Runs without the GIL: the threads of a full batch each run one of these.
    """
    ws = workspace(net.layout, out.shape[1] - 2, data.targets.shape[1], block, net.theta)
    for chunk in range(first, last):
        _chunk(
            data, net, loss, need_grad, s0, s1, w_sum, block, chunk, out.shape[0], ws, out[chunk]
        )


@njit(**JIT)
def finish_batch(out, theta, layout, l2, w_sum, need_grad, grad):
    """Add the chunks' sums in chunk order; add the L2 term. Returns (J, accuracy).

    J = sum_i w_i l_i + (l2/2) sum_l ||W_l||^2 and dJ/dW_l gets + l2 W_l (biases are not
    penalised), as in Sequential.loss_and_gradients.
    """
    n_params = theta.shape[0]
    value, hits = 0.0, 0.0
    for chunk in range(out.shape[0]):
        value += out[chunk, n_params]
        hits += out[chunk, n_params + 1]
    accuracy = hits / w_sum
    if need_grad:
        for p in range(n_params):
            total = 0.0
            for chunk in range(out.shape[0]):
                total += out[chunk, p]
            grad[p] = total
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


@njit(**JIT)
def weight_total(weights):
    """sum_i w_i, added in row order (train_epoch adds a batch's weights the same way, so a
    full batch gets the same w_sum on either path of trainer.FusedEngine)."""
    total = 0.0
    for i in range(weights.shape[0]):
        total += weights[i]
    return total


@njit(**JIT)
def normaliser(w_sum):
    """The divisor of the weights, w_sum, or 1 when it is 0: then every weight is 0, and
    0 / 1 = 0 gives the loss 0, gradient 0 and accuracy 0 of 0/0 := 0 (nn/losses.py)."""
    return w_sum if w_sum != 0.0 else 1.0


@njit(**JIT)
def block_size(n_rows, max_block):
    """The smallest power of two >= n_rows, capped at max_block (itself a power of two)."""
    block = 1
    while block < n_rows and block < max_block:
        block *= 2
    return block


@njit(**JIT)
def chunk_count(n_blocks):
    """Chunks for a batch of n_blocks blocks: a function of n_blocks only, never of threads."""
    return max(1, min(MAX_CHUNKS, n_blocks // MIN_BLOCKS_PER_CHUNK))


@njit(**JIT)
def optimizer_step(opt, theta, grad, m, v, t):
    """One update of the flat parameter vector by ``opt`` (a records.OptimizerSettings),
    mirroring optim.py line by line.

    gd        theta <- theta - lr g
    momentum  v <- mu v - lr g;  theta <- theta + v   (Nesterov: theta <- theta + mu v - lr g)
    adam      m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
              theta <- theta - lr m_hat / (sqrt(v_hat) + eps), m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)
    Returns the step count t (incremented for Adam).
    """
    lr, mu, b1, b2, eps = opt.lr, opt.momentum, opt.beta1, opt.beta2, opt.eps
    if opt.rule == GD:
        for p in range(theta.shape[0]):
            theta[p] -= lr * grad[p]
    elif opt.rule == MOMENTUM:
        for p in range(theta.shape[0]):
            m[p] = m[p] * mu
            m[p] -= lr * grad[p]
            if opt.nesterov:
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


@njit(**JIT)
def train_epoch(data, net, loss, batch, l2, max_block, backprop, opt, m, v, t, grad_sum):
    """One epoch of mini-batches, order[s0:s0 + batch] for s0 = 0, batch, 2 batch, ...

    For each batch: objective J (with the penalty (l2/2) sum ||W||^2) and gradient, the
    checks, then the update by ``opt``; a batch with a non-finite objective (or gradient)
    ends the epoch before its update, as in training.train. ``grad_sum`` (if not empty)
    receives sum_batches share * gradient; m, v and t are the optimiser's state. Blocks
    have at most ``max_block`` rows. Returns a records.EpochOutcome.
    """
    X, weights, order = data.X, data.weights, data.order
    theta, layout = net.theta, net.layout
    n = X.shape[0]
    n_params = theta.shape[0]
    grad = np.zeros(n_params)
    total_w = weight_total(weights)
    n_targets = data.targets.shape[1]
    largest = block_size(min(batch, n), max_block)
    ws = workspace(layout, n_params, n_targets, largest, theta)
    # Every batch has at most as many chunks as the first (a full-size batch).
    sums = np.empty((chunk_count((min(batch, n) + largest - 1) // largest), n_params + 2))
    epoch_loss = 0.0
    epoch_acc = 0.0
    status, bad_loss, bad_index = Status.COMPLETED, 0.0, -1
    for s0 in range(0, n, batch):
        s1 = min(n, s0 + batch)
        w_batch = np.float64(s1 - s0)
        if weights.shape[0] > 0:
            w_batch = 0.0
            for q in range(s0, s1):
                w_batch += weights[order[q] if order.shape[0] > 0 else q]
        block = block_size(s1 - s0, max_block)
        chunks = chunk_count((s1 - s0 + block - 1) // block)
        out = sums[:chunks]
        w_norm = normaliser(w_batch)
        for chunk in range(chunks):
            _chunk(data, net, loss, backprop, s0, s1, w_norm, block, chunk, chunks, ws, out[chunk])
        value, accuracy = finish_batch(out, theta, layout, l2, w_norm, backprop, grad)
        if not np.isfinite(value):
            status, bad_loss = Status.LOSS_NOT_FINITE, value
            break
        if backprop:
            for p in range(n_params):
                if not np.isfinite(grad[p]):
                    status, bad_index = Status.GRADIENT_NOT_FINITE, p
                    break
            if status != Status.COMPLETED:
                break
        share = (s1 - s0) / n if weights.shape[0] == 0 else w_batch / total_w
        epoch_loss += share * value
        epoch_acc += share * accuracy
        if backprop:
            for p in range(grad_sum.shape[0]):
                grad_sum[p] += share * grad[p]
            t = optimizer_step(opt, theta, grad, m, v, t)
    return EpochOutcome(epoch_loss, epoch_acc, status, bad_loss, bad_index, t)


@njit(nogil=True, **JIT)
def predict(X, net, block, out):
    """out = the network's output for every row of X, ``block`` rows at a time."""
    n_layers = net.layout.shape[0]
    ws = workspace(net.layout, 0, 0, block, net.theta)
    in_order = np.zeros(0, dtype=np.int64)
    for start in range(0, X.shape[0], block):
        nb = min(block, X.shape[0] - start)
        load_block(X, in_order, start, nb, ws.A)
        forward_block(net, ws.A, ws.Z, nb)
        for r in range(nb):
            for j in range(out.shape[1]):
                out[start + r, j] = ws.A[n_layers, j, r]
