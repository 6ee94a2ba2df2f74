"""The engine's gradients equal PyTorch autograd's in float64 (the independent oracle).

Finite differences only test backward against forward; PyTorch also tests the forward
pass, since it computes both from its own definitions of each layer and loss.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab.nn import get_loss, mlp

TORCH_ACT = {
    "relu": torch.nn.functional.relu,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def torch_objective(params, X, y, loss, activation, l2, weights):
    """The same network and objective written with torch operations."""
    n_dense = len(params) // 2
    a = torch.from_numpy(X)
    for i in range(1, n_dense + 1):
        a = a @ params[f"W{i}"] + params[f"b{i}"]
        if i < n_dense:
            a = TORCH_ACT[activation](a)
    if loss == "bce":
        rows = torch.nn.functional.binary_cross_entropy_with_logits(
            a, torch.from_numpy(y), reduction="none"
        ).sum(dim=1)
    elif loss == "softmax":
        rows = torch.nn.functional.cross_entropy(a, torch.from_numpy(y), reduction="none")
    else:
        rows = torch.nn.functional.mse_loss(a, torch.from_numpy(y), reduction="none").mean(dim=1)
    w = torch.from_numpy(weights)
    value = (w * rows).sum() / w.sum()
    penalty = sum((params[k] ** 2).sum() for k in params if k.startswith("W"))
    return value + 0.5 * l2 * penalty


def make_targets(loss, rng, n, n_out):
    if loss == "bce":
        return (rng.random((n, 1)) < 0.5).astype(float)
    if loss == "softmax":
        return rng.integers(0, n_out, size=n)
    return rng.normal(size=(n, n_out))


def assert_grads_match(model, X, y, loss_name, activation, l2, weights):
    loss = get_loss(loss_name)
    value, grads = model.loss_and_gradients(X, y, loss, l2=l2, sample_weight=weights)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    t_value = torch_objective(params, X, y, loss_name, activation, l2, weights)
    t_value.backward()
    assert value == pytest.approx(t_value.item(), rel=1e-12)
    for name, g in grads.items():
        expected = params[name].grad.numpy()
        np.testing.assert_allclose(
            g, expected, rtol=1e-10, atol=1e-13 * max(1.0, np.abs(expected).max()), err_msg=name
        )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    hidden=st.lists(st.integers(1, 9), min_size=0, max_size=3),
    activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
    loss_name=st.sampled_from(["bce", "softmax", "mse"]),
    n=st.sampled_from([1, 2, 7, 64]),
    l2=st.sampled_from([0.0, 0.3]),
    weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gradients_equal_pytorch(hidden, activation, loss_name, n, l2, weighted, seed):
    """Depth 1-4 (0-3 hidden layers), every activation and loss, batch sizes including 1."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 8))
    n_out = 1 if loss_name == "bce" else int(rng.integers(2, 4))
    model = mlp(n_in, hidden=tuple(hidden), n_outputs=n_out, activation=activation, seed=seed)
    X = rng.normal(size=(n, n_in))
    y = make_targets(loss_name, rng, n, n_out)
    weights = rng.uniform(0.1, 2.0, size=n) if weighted else np.ones(n)
    assert_grads_match(model, X, y, loss_name, activation, l2, weights)


def test_input_gradient_equals_pytorch():
    """dL/dX from the backward pass (used for explanations) matches autograd too."""
    rng = np.random.default_rng(3)
    model = mlp(5, hidden=(6, 4), activation="tanh", seed=3)
    X = rng.normal(size=(10, 5))
    y = (rng.random((10, 1)) < 0.5).astype(float)
    loss = get_loss("bce")
    loss.forward(model.forward(X), y)
    dX = model.backward(loss.backward(), need_input_grad=True)
    Xt = torch.tensor(X, requires_grad=True)
    params = {k: torch.tensor(v) for k, v in model.params.items()}
    a = torch.tanh(Xt @ params["W1"] + params["b1"])
    a = torch.tanh(a @ params["W2"] + params["b2"])
    z = a @ params["W3"] + params["b3"]
    torch.nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_saturated_logits_give_finite_loss_and_gradients():
    """|z| up to 1e4: no overflow warning, finite loss equal to torch's."""
    z = np.array([[1e4], [-1e4], [30.0], [-30.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    loss = get_loss("bce")
    with np.errstate(
        over="raise", divide="raise", invalid="raise"
    ):  # underflow to 0 is exact enough
        value = loss.forward(z, y)
        grad = loss.backward()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(z), torch.from_numpy(y)
    ).item()
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-12)
    # dL/dz = (y_hat - y) / N: exactly +-1/4 at |z| = 1e4, and about +-e^-30 / 4 at |z| = 30
    # (y_hat - y = -(1 - sigmoid(30)) loses relative precision to cancellation, not absolute).
    tiny = 0.25 / (1.0 + np.exp(30.0))
    np.testing.assert_allclose(grad[:, 0], [0.25, -0.25, -tiny, tiny], rtol=0, atol=1e-16)
