"""From a Sequential model to the flat arrays the kernels read, and what the engine supports.

The kernels see a network as a flat parameter vector theta = [W1.ravel(), b1, W2.ravel(),
b2, ...] and a table with one row per Dense layer; layers, losses and optimisers are
integer codes. ``compile_network`` builds that view (or says why it cannot), and
``fused_support`` / ``prefers_fused`` are the rule ``train(engine='auto')`` applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...nn.layers import Dense, LeakyReLU, ReLU, Sigmoid, Tanh
from ...nn.losses import BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy, get_loss
from ...nn.model import Sequential
from ...nn.optim import Adam, GradientDescent, Momentum, Optimizer

# Codes shared by the compiled kernels.
IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID = 0, 1, 2, 3, 4
BCE, SOFTMAX, MSE = 0, 1, 2
GD, MOMENTUM, ADAM = 0, 1, 2

ACTIVATION_CODES = {ReLU: RELU, LeakyReLU: LEAKY_RELU, Tanh: TANH, Sigmoid: SIGMOID}
LOSS_CODES = {BinaryCrossEntropy: BCE, SoftmaxCrossEntropy: SOFTMAX, MeanSquaredError: MSE}
OPTIMIZER_CODES = {GradientDescent: GD, Momentum: MOMENTUM, Adam: ADAM}

#: Rows in a block: at most MAX_BLOCK_ROWS, fewer (down to MIN_BLOCK_ROWS) for networks
#: with many parameters (see ``_block_rows``).
MAX_BLOCK_ROWS = 256
MIN_BLOCK_ROWS = 64
#: A float32 model sums its gradient's terms in float32 lanes over at most this many
#: blocks (one term per lane and block), then adds them into float64 lanes.
FLOAT32_LANE_BLOCKS = 8
#: Upper bound on the chunks of one batch (chunks are the units handed to threads).
MAX_CHUNKS = 64
#: A chunk gets at least this many blocks, so small batches run on one thread.
MIN_BLOCKS_PER_CHUNK = 4

#: ``train(engine="auto")`` runs networks of at most this many parameters with the fused
#: engine. The kernels are written for the narrow networks of tabular data; for wide
#: layers the reference engine's matrix products (BLAS) are faster (see docs/performance.md).
AUTO_MAX_PARAMETERS = 4096


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

    def name_of(self, index: int) -> str:
        """The name of the array that holds entry ``index`` of theta."""
        for name, offset, shape in zip(self.names, self.offsets, self.shapes, strict=True):
            if offset <= index < offset + math.prod(shape):
                return name
        raise IndexError(index)


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
        elif type(layer) in ACTIVATION_CODES:
            if not rows or rows[-1][4] != IDENTITY:
                return f"layer {position} ({layer!r}) does not directly follow a Dense layer"
            rows[-1][4] = ACTIVATION_CODES[type(layer)]
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
    if type(loss) not in LOSS_CODES:
        return f"the loss {type(loss).__name__} has no fused implementation"
    if optimizer is not None and type(optimizer) not in OPTIMIZER_CODES:
        return f"the optimizer {type(optimizer).__name__} has no fused implementation"
    return None


def prefers_fused(model: Sequential) -> bool:
    """True when the fused engine is expected to be the faster one for ``model``."""
    return model.n_parameters() <= AUTO_MAX_PARAMETERS


def supported_network(
    model: Sequential, loss: Loss, optimizer: Optimizer | None = None
) -> FusedNetwork:
    """The model as a FusedNetwork; ValueError (with the reason) when the engine does not apply."""
    reason = fused_support(model, loss, optimizer)
    if reason is not None:
        raise ValueError(f"the fused engine does not apply: {reason}")
    network = compile_network(model)
    assert isinstance(network, FusedNetwork)
    return network
