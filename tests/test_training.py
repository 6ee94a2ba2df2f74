"""Training loop: modes, mini-batches, divergence, dtypes, optimisers against torch.optim."""

import numpy as np
import pytest
import torch

from backprop_lab.engine.training import TrainingDiverged, train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import Adam, GradientDescent, Momentum, get_optimizer


def test_forward_only_never_changes_weights(linear_data):
    X, y = linear_data
    model = mlp(7, seed=0)
    before = model.get_params()
    history = train(model, X, y, backprop=False, epochs=10, batch_size=32)
    assert len(set(history.loss)) == 1 and len(history.loss) == 10
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_minibatch_training_is_seeded_and_learns(linear_data):
    X, y = linear_data
    runs = []
    for _ in range(2):
        model = mlp(7, seed=0)
        runs.append(train(model, X, y, optimizer=Adam(0.01), epochs=20, batch_size=32, seed=5))
    assert runs[0].loss == runs[1].loss
    assert runs[0].loss[-1] < runs[0].loss[0] - 0.1
    other = train(mlp(7, seed=0), X, y, optimizer=Adam(0.01), epochs=20, batch_size=32, seed=6)
    assert other.loss != runs[0].loss


def test_ragged_last_batch_weights_rows_equally(linear_data):
    """With backprop off, the mini-batch epoch loss equals the full-batch loss."""
    X, y = linear_data
    full = train(mlp(7, seed=1), X, y, backprop=False, epochs=1)
    batched = train(mlp(7, seed=1), X, y, backprop=False, epochs=1, batch_size=33)
    assert batched.loss[0] == pytest.approx(full.loss[0], rel=1e-12)
    assert batched.accuracy[0] == pytest.approx(full.accuracy[0], rel=1e-12)


def test_validation_history_and_gradient_norms(linear_data):
    X, y = linear_data
    h = train(
        mlp(7), X[:300], y[:300], epochs=5, validation_data=(X[300:], y[300:]), track_gradients=True
    )
    assert len(h.val_loss) == len(h.val_accuracy) == 5
    assert set(h.grad_norms) == {"W1", "b1", "W2", "b2"}
    assert all(len(v) == 5 and min(v) > 0 for v in h.grad_norms.values())


def test_divergence_is_recorded_not_silent(linear_data):
    X, y = linear_data
    h = train(mlp(7, seed=0), X, y, optimizer=GradientDescent(100.0), epochs=200)
    assert h.status == "diverged" and h.diverged
    assert h.diverged_at is not None and len(h.loss) <= h.diverged_at + 1
    assert all(np.isfinite(h.loss))
    with pytest.raises(TrainingDiverged, match="diverged at epoch"):
        train(
            mlp(7, seed=0),
            X,
            y,
            optimizer=GradientDescent(100.0),
            epochs=200,
            on_divergence="raise",
        )


def test_nan_loss_is_caught(linear_data):
    X, y = linear_data
    model = mlp(7)
    model.params["W2"][0, 0] = np.inf
    h = train(model, X, y, epochs=3)
    assert h.status == "diverged" and h.diverged_at == 0 and h.loss == []


def test_float32_training(linear_data):
    X, y = linear_data
    model = mlp(7, dtype=np.float32)
    h = train(model, X, y, optimizer=GradientDescent(0.1), epochs=50)
    assert model.params["W1"].dtype == np.float32
    ref = train(mlp(7), X, y, optimizer=GradientDescent(0.1), epochs=50)
    np.testing.assert_allclose(h.loss, ref.loss, rtol=1e-5)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: GradientDescent(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda: Momentum(0.1, 0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        (
            lambda: Momentum(0.1, 0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        ),
        (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    ],
    ids=["gd", "momentum", "nesterov", "adam"],
)
def test_optimisers_match_torch(ours, theirs):
    """Ten steps on the same gradients give the same parameters as torch.optim."""
    rng = np.random.default_rng(0)
    theta = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=2)}
    t_params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in theta.items()}
    opt, t_opt = ours(), theirs(list(t_params.values()))
    for _ in range(10):
        grads = {k: rng.normal(size=v.shape) for k, v in theta.items()}
        opt.step(theta, grads)
        for k, p in t_params.items():
            p.grad = torch.from_numpy(grads[k])
        t_opt.step()
    for k in theta:
        np.testing.assert_allclose(theta[k], t_params[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_bad_training_arguments(linear_data):
    X, y = linear_data
    with pytest.raises(ValueError, match="learning rate must be a positive"):
        get_optimizer("gd", -1.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        train(mlp(7), X, y, batch_size=0)
    with pytest.raises(ValueError, match="unknown loss"):
        train(mlp(7), X, y, loss="hinge")
