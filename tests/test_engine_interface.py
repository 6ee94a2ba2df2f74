"""The engine interface: one choice per run, the same results through the same methods,
and the compiled epoch's named outcome.

Engine comparisons use the tolerance of tests/test_fused.py: float64 to 1e-12 relative
(the engines add the same terms in different orders; a 7-8-1 network's gradients carry
round-off of a few 1e-16 relative per operation, 1e-12 leaves three orders of margin).
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lab.engine.base import Engine, EpochResult
from backprop_lab.engine.fused import AUTO_MAX_PARAMETERS, FusedEngine
from backprop_lab.engine.fused.kernels import train_epoch
from backprop_lab.engine.fused.layout import ADAM, MSE, compile_network
from backprop_lab.engine.fused.records import (
    EpochOutcome,
    Net,
    OptimizerSettings,
    Rows,
    Status,
)
from backprop_lab.engine.reference import ReferenceEngine
from backprop_lab.engine.training import prepare_targets, select_engine, train
from backprop_lab.nn import Dense, Sequential, get_loss, mlp
from backprop_lab.nn.optim import Adam, GradientDescent

TOL = 1e-12


class CustomGD(GradientDescent):
    """A subclass may change ``step``: the fused engine must not run it."""


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 7))
    y = prepare_targets(get_loss("bce"), (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float), 203, 1)
    return X, y


def build(engine: str, model: Sequential, X, y, optimizer=None, batch_size=16) -> Engine:
    return select_engine(
        engine,
        model,
        X,
        y,
        get_loss("bce"),
        optimizer or GradientDescent(0.1),
        track_gradients=True,
        batch_size=batch_size,
    )


def test_select_engine_applies_the_auto_reference_fused_rule(data):
    X, y = data
    small, wide = mlp(7), mlp(7, hidden=(64, 64))
    assert wide.n_parameters() > AUTO_MAX_PARAMETERS >= small.n_parameters()
    assert isinstance(build("auto", small, X, y), FusedEngine)  # mini-batches of 16
    # a full batch of 203 rows is as fast with NumPy, which needs nothing compiled
    assert isinstance(build("auto", small, X, y, batch_size=None), ReferenceEngine)
    assert isinstance(build("auto", wide, X, y), ReferenceEngine)  # BLAS is faster there
    assert isinstance(build("fused", wide, X, y), FusedEngine)
    assert isinstance(build("reference", small, X, y), ReferenceEngine)
    custom = CustomGD(0.1)
    assert isinstance(build("auto", small, X, y, custom), ReferenceEngine)
    with pytest.raises(ValueError, match="engine='fused' does not apply: the optimizer"):
        build("fused", small, X, y, custom)
    with pytest.raises(ValueError, match="engine must be one of"):
        build("gpu", small, X, y)
    assert {FusedEngine.name, ReferenceEngine.name} == {"fused", "reference"}


@pytest.mark.parametrize("batch_size", [None, 16])
def test_both_engines_give_the_same_epoch_results(data, batch_size):
    """Driven directly through the interface: the same epochs, the same EpochResults."""
    X, y = data
    n = X.shape[0]
    results: dict[str, list[EpochResult]] = {}
    evaluations: dict[str, list[tuple[float, float]]] = {}
    for name in ("reference", "fused"):
        engine = build(name, mlp(7, seed=3), X, y, Adam(0.01))
        rng = np.random.default_rng(1)
        results[name], evaluations[name] = [], []
        for _ in range(4):
            order = None if batch_size is None else rng.permutation(n)
            results[name].append(engine.epoch(order, batch_size or n))
            evaluations[name].append(engine.evaluate(X[:50], y[:50]))
    for ref, fused in zip(results["reference"], results["fused"], strict=True):
        assert ref.divergence is None and fused.divergence is None
        assert fused.loss == pytest.approx(ref.loss, rel=TOL, abs=0)
        assert fused.accuracy == pytest.approx(ref.accuracy, rel=TOL, abs=0)
        assert list(fused.grad_sums) == list(ref.grad_sums) == ["W1", "b1", "W2", "b2"]
        for name, g in ref.grad_sums.items():
            scale = float(np.max(np.abs(g)))
            assert float(np.max(np.abs(fused.grad_sums[name] - g))) <= TOL * scale
    for (l0, a0), (l1, a1) in zip(evaluations["reference"], evaluations["fused"], strict=True):
        assert l1 == pytest.approx(l0, rel=TOL, abs=0) and a1 == a0


def overflowing_gradient_model() -> tuple[Sequential, np.ndarray, np.ndarray]:
    """A finite loss whose gradient overflows: x = 1e308, z = (x W1) W2 = 1 with W1 = 1,
    W2 = 1e-308, so the MSE loss (z - 0)^2 = 1 is finite, but dJ/dW2 = (x W1) * 2 (z - 0)
    = 2e308 is infinite (and dJ/dW1 = x * 2 (z - 0) W2 = 2 is not)."""
    model = Sequential([Dense(1, 1), Dense(1, 1)])
    model.set_params({"W1": [[1.0]], "b1": [0.0], "W2": [[1e-308]], "b2": [0.0]})
    return model, np.full((4, 1), 1e308), np.zeros((4, 1))


@pytest.mark.parametrize("batch_size", [None, 2])
def test_a_gradient_that_overflows_is_named_by_both_engines(batch_size):
    for engine in ("reference", "fused"):
        model, X, y = overflowing_gradient_model()
        history = train(
            model, X, y, loss="mse", epochs=3, batch_size=batch_size, engine=engine, seed=0
        )
        assert history.engine == engine
        assert (history.status, history.diverged_at) == ("diverged", 0)
        assert history.divergence_reason == "W2 became NaN or infinite"
        assert model.params["W2"][0, 0] == 1e-308  # the bad batch was not applied


def test_the_compiled_epoch_returns_named_values(data):
    """Adam counts one step per batch; a non-finite loss stops the epoch before its update."""
    X, _ = data
    model = mlp(7, n_outputs=2, seed=0)
    network = compile_network(model)
    Y = np.stack([X[:, 0], X[:, 1]], axis=1)
    no_classes, no_weights = np.zeros(0, np.int64), np.zeros(0)
    rows = Rows(X, Y, no_classes, no_weights, np.arange(X.shape[0], dtype=np.int64))
    adam = OptimizerSettings(ADAM, 0.01, 0.0, False, 0.9, 0.999, 1e-8)

    def run(theta: np.ndarray, t: int) -> EpochOutcome:
        m, v = np.zeros_like(theta), np.zeros_like(theta)
        net = Net(theta, network.layout, network.slopes)
        grad_sum = np.zeros(0)
        return train_epoch(
            rows, net, MSE, 50, 0.0, network.max_block, True, adam, m, v, t, grad_sum
        )

    theta = network.flatten(model.params)
    outcome = run(theta.copy(), 5)
    assert isinstance(outcome, EpochOutcome)
    assert outcome.status is Status.COMPLETED and outcome.bad_index == -1
    assert outcome.adam_steps == 5 + 5  # 203 rows in batches of 50: 4 full and 1 of 3
    assert np.isfinite(outcome.loss) and 0.0 <= outcome.accuracy <= 1.0

    huge = theta * 1e200  # z ~ (1e200)^2 overflows, so (z - y)^2 is inf or NaN
    before = huge.copy()
    outcome = run(huge, 5)
    assert outcome.status is Status.LOSS_NOT_FINITE
    assert not np.isfinite(outcome.bad_loss)
    assert outcome.adam_steps == 5 and outcome.loss == 0.0  # no batch completed
    np.testing.assert_array_equal(huge, before)


@pytest.mark.parametrize(
    ("hidden", "rows", "expected"),
    [
        ((8,), 2**14, 1),  # narrow, large batch: one BLAS thread
        ((8,), 2**14 - 1, 2),  # small batch: the BLAS setting is left alone
        ((64,), 2**14, 2),  # W2 is 64 x 64 > BLAS_SERIAL_MAX_WEIGHTS entries: threads kept
    ],
)
def test_reference_epochs_of_narrow_networks_run_blas_on_one_thread(
    monkeypatch, hidden, rows, expected
):
    """The reference engine's products run on one BLAS thread exactly when the network is
    narrow and the batch large, and the BLAS setting is restored after the epoch."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    def blas_threads() -> int:
        return max(
            c.num_threads for c in ThreadpoolController().select(user_api="blas").lib_controllers
        )

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 7))
    y = (X[:, 0] > 0).astype(float)
    model = mlp(7, hidden=hidden + ((64,) if hidden == (64,) else ()))
    seen = []
    original = model.loss_and_gradients

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "loss_and_gradients", spy)
    with threadpool_limits(2, user_api="blas"):  # a baseline the engine would have to change
        train(model, X, y, epochs=2, engine="reference")
        assert blas_threads() == 2
    assert seen == [expected, expected]
