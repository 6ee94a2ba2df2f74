"""The fused engine: the same numbers as the NumPy engine, computed in one compiled pass.

The reference engine (``nn/``) runs each layer over all N rows before the next layer
starts, so every activation is an N x width array that travels through main memory.
This package computes the same objective and gradients with the rows cut into blocks
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

Float32 models compute the forward pass and the error signals in float32. Their
gradient lanes are float32 too, each summing at most 8 terms (one per block) before they
are added into float64 lanes; losses, accuracies and optimiser arithmetic are float64.

A full batch of fewer than trainer.SERIAL_ROWS rows runs on the calling thread as one
compiled call per epoch; larger ones hand their chunks to the thread pool. The chunks,
and so the results, are the same either way.

The package, by job:

    maths.py    scalar e^x and log(1 + e) that the compiler can vectorise
    layout.py   a Sequential model as flat arrays and codes; what the engine supports
    records.py  the named values the kernels take and return
    block.py    one block of rows: load, forward, loss, backward (compiled)
    kernels.py  chunks, batch sums, the optimiser's step, the epoch loop, prediction (compiled)
    trainer.py  the Python side: threads, FusedEngine, fused_loss(_and_gradients), predict_logits
"""

from .layout import (
    AUTO_MAX_PARAMETERS,
    FusedNetwork,
    compile_network,
    fused_support,
    prefers_fused,
)
from .trainer import (
    FusedEngine,
    flat_loss_and_gradient,
    fused_loss,
    fused_loss_and_gradients,
    get_threads,
    predict_logits,
    set_threads,
)

__all__ = [
    "AUTO_MAX_PARAMETERS",
    "FusedEngine",
    "FusedNetwork",
    "compile_network",
    "flat_loss_and_gradient",
    "fused_loss",
    "fused_loss_and_gradients",
    "fused_support",
    "get_threads",
    "predict_logits",
    "prefers_fused",
    "set_threads",
]
