"""Integrated gradients of piecewise-linear networks, summed segment by segment.

The segment walk must give the same quadrature sums (and so the same attributions and
refinement steps) as evaluating the gradient at every node, which is what
``_path_integral`` does for any network.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lab.nn import mlp
from backprop_lab.responsible import gradients as grad
from backprop_lab.responsible import segments as seg
from backprop_lab.responsible.attributions import integrated_gradients
from backprop_lab.responsible.integrated import DEFAULT_TOLERANCE

# Attributions (at most about 12 here) are sums of at most 4096 node terms, so the two
# orders of summation differ by at most ~4096 * 2.2e-16 * 12 ~ 1e-11 (measured: 5e-14);
# 1e-10 is 10x above that bound.
ATOL = 1e-10


def node_by_node(model, X, baseline, *, steps=64, rule="riemann", output=None, max_steps=4096):
    """integrated_gradients' doubling loop with every node evaluated (the general path)."""
    X = grad._inputs(model, X)
    B = grad._baseline_array(baseline, X)
    f = grad._logits(model, X, output) - grad._logits(model, B, output)
    a = grad._path_integral(model, X, B, steps, rule, output, 1e-5)
    used = np.full(X.shape[0], steps)
    m = steps
    while m * 2 <= max_steps:
        todo = np.flatnonzero(np.abs(a.sum(axis=1) - f) > DEFAULT_TOLERANCE)
        if todo.size == 0:
            break
        m *= 2
        a[todo] = grad._path_integral(model, X[todo], B[todo], m, rule, output, 1e-5)
        used[todo] = m
    return a, used


def random_network(hidden, activation, *, n_outputs=1, seed=0, dtype=np.float64):
    """Weights and biases large enough that most paths cross several kinks."""
    net = mlp(5, hidden=hidden, activation=activation, n_outputs=n_outputs, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    net.set_params(
        {k: (v + rng.normal(0.0, 0.4, v.shape)).astype(dtype) for k, v in net.params.items()}
    )
    return net


CASES = [
    ((8,), "relu", 1, None),
    ((16, 8), "relu", 1, None),
    ((6, 5, 4), "leaky_relu", 1, None),
    ((7,), "relu", 3, 2),  # softmax network: the logit of class 2
]


@pytest.mark.parametrize("rule", ["riemann", "trapezoid"])
@pytest.mark.parametrize(("hidden", "activation", "n_outputs", "output"), CASES)
def test_segments_give_the_node_by_node_attributions(hidden, activation, n_outputs, output, rule):
    net = random_network(hidden, activation, n_outputs=n_outputs)
    assert seg._piecewise_linear(net) is not None
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    baseline = 0.5 * rng.normal(size=5)
    fast = integrated_gradients(net, X, baseline, rule=rule, output=output)
    slow, used = node_by_node(net, X, baseline, rule=rule, output=output)
    np.testing.assert_allclose(fast.attributions, slow, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(fast.steps, used)
    # the cases refine: some rows stop at 64 steps, some need more
    assert (fast.steps == 64).any() and (fast.steps > 64).any()


def test_float32_network_matches_its_own_node_by_node_sums():
    net = random_network((8,), "relu", dtype=np.float32)
    X = np.random.default_rng(2).normal(size=(200, 5)).astype(np.float32)
    fast = integrated_gradients(net, X)
    slow, _ = node_by_node(net, X, None)
    # the walk runs in float64, the node evaluations in float32: round-off of 6e-8 relative
    # on terms up to about 11, adding up like a random walk over up to 4096 nodes, is
    # about sqrt(4096) * 6e-8 * 11 ~ 4e-5 (measured: 1.1e-6); 5e-4 is 10x above that
    np.testing.assert_allclose(fast.attributions, slow, rtol=0, atol=5e-4)


def test_one_kink_by_hand():
    # f(x) = 2 relu(x1 - x2): from (0, 2) to (4, 0), x1 - x2 = -2 + 6t crosses 0 at
    # t = 1/3. The midpoint rule with m nodes (k + 1/2)/m puts ceil(m/3 - 1/2) of them
    # before the kink (gradient 0) and the rest after (gradient (2, -2)).
    net = mlp(2, hidden=(1,), seed=0)
    net.set_params(
        {"W1": np.array([[1.0], [-1.0]]), "b1": [0.0], "W2": np.array([[2.0]]), "b2": [0.0]}
    )
    layers = seg._piecewise_linear(net)
    X, B = np.array([[4.0, 0.0]]), np.array([[0.0, 2.0]])
    sums, done = seg._segment_quadrature(layers, X, B, [64, 128, 3], "riemann", 0, 10)
    assert done.all()
    for i, m in enumerate([64, 128, 3]):
        after = m - int(np.ceil(m / 3 - 0.5))
        np.testing.assert_allclose(sums[i, 0], np.array([2.0, -2.0]) * after / m, rtol=1e-15)
    # trapezoid: the end node t = 0 sits before the kink, t = 1 after it
    sums, _ = seg._segment_quadrature(layers, X, B, [4], "trapezoid", 0, 10)
    # interior nodes 1/4, 2/4, 3/4: two after 1/3, weight 1/4 each; end node 1: 1/8
    np.testing.assert_allclose(sums[0, 0], np.array([2.0, -2.0]) * (2 / 4 + 1 / 8), rtol=1e-15)


def test_paths_with_too_many_segments_fall_back_to_every_node(monkeypatch):
    net = random_network((8,), "relu")
    X = np.random.default_rng(3).normal(size=(50, 5))
    expected = integrated_gradients(net, X)
    monkeypatch.setattr(seg, "SEGMENTS_PER_UNIT", 0)  # no segment at all: every row falls back
    fallback = integrated_gradients(net, X)
    np.testing.assert_allclose(fallback.attributions, expected.attributions, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(fallback.steps, expected.steps)


def test_only_piecewise_linear_networks_take_the_walk():
    assert seg._piecewise_linear(mlp(3, hidden=(4,), activation="tanh")) is None
    assert seg._piecewise_linear(lambda A: A.sum(axis=1)) is None
    layers = seg._piecewise_linear(mlp(3, hidden=(4, 2), activation="leaky_relu"))
    assert [slope for _, _, slope in layers] == [0.01, 0.01, None]
