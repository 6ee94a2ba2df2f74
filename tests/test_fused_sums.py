"""The fused engine's sums add in one fixed order, so results repeat to the bit.

The kernels add a chunk's lanes pairwise (lane r takes lane r + half, half = width/2,
width/4, ..., 1) and the chunks' sums in chunk order. These tests spell each order out
in plain Python and require the compiled sums to equal it bit for bit, on values whose
magnitudes span 30 decades, so that any other order would change the result.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lab.engine.fused.kernels import _reduce_lanes, finish_batch
from backprop_lab.engine.fused.layout import IDENTITY

WIDTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def pairwise_tree(lanes: list[float]) -> float:
    """lane r += lane r + half for half = width/2, ..., 1; the sum is lane 0."""
    lanes = list(lanes)
    half = len(lanes) // 2
    while half >= 1:
        for r in range(half):
            lanes[r] = lanes[r] + lanes[r + half]
        half //= 2
    return lanes[0]


def spread_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Signed values from 1e-15 to 1e15: rounding then depends on the order of additions."""
    return rng.choice([-1.0, 1.0], size=shape) * 10.0 ** rng.uniform(-15, 15, size=shape)


@pytest.mark.parametrize("width", WIDTHS)
def test_lanes_are_added_in_the_pairwise_tree(width: int) -> None:
    rng = np.random.default_rng(width)
    acc = spread_values(rng, (9, width))
    expected = [pairwise_tree(row) for row in acc.tolist()]
    out = np.full(9, np.nan)
    _reduce_lanes(acc.copy(), 2, 9, width, out)  # rows 2..8 only
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == expected[2:]
    if width >= 8:  # the order matters for these values: left to right differs somewhere
        assert any(sum(row) != e for row, e in zip(acc.tolist(), expected, strict=True))


@pytest.mark.parametrize("n_chunks", [1, 2, 5, 64])
def test_chunks_are_added_in_chunk_order(n_chunks: int) -> None:
    n_params = 6
    rng = np.random.default_rng(n_chunks)
    out = spread_values(rng, (n_chunks, n_params + 2))
    theta = rng.normal(size=n_params)
    layout = np.array([[2, 2, 0, 4, IDENTITY]], dtype=np.int64)  # W = theta[0:4], b = theta[4:6]
    grad = np.full(n_params, np.nan)
    w_sum = 3.0
    value, accuracy = finish_batch(out, theta, layout, 0.0, w_sum, True, grad)

    def in_order(column: int) -> float:
        total = 0.0
        for chunk in range(n_chunks):
            total = total + float(out[chunk, column])
        return total

    assert grad.tolist() == [in_order(p) for p in range(n_params)]
    assert value == in_order(n_params)
    assert accuracy == in_order(n_params + 1) / w_sum
