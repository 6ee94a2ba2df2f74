"""The fused engine gives the reference engine's numbers.

Tolerances: float64 to 1e-12 and float32 to 1e-5, relative. Loss curves are compared
entry by entry; a gradient or parameter array is compared relative to its largest entry
(max |a - b| <= tol * max |b|), since single entries of a gradient can be near zero.
The compiled kernels are specialised only by dtype, so the many cases below share two
compilations (cached on disk after the first run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backprop_lab import textbook
from backprop_lab._util.validation import check_features
from backprop_lab.engine.fused import (
    AUTO_MAX_PARAMETERS,
    compile_network,
    fused_loss_and_gradients,
    fused_support,
    get_threads,
    predict_logits,
    set_threads,
    trainer,
)
from backprop_lab.engine.fused.maths import exp_nonpositive, log1p_unit
from backprop_lab.engine.training import (
    TrainingDiverged,
    prepare_targets,
    select_engine,
    train,
)
from backprop_lab.nn import Dense, ReLU, Sequential, Sigmoid, Tanh, get_loss, mlp
from backprop_lab.nn.layers import Layer
from backprop_lab.nn.losses import BinaryCrossEntropy
from backprop_lab.nn.optim import Adam, GradientDescent, Momentum

TOL = {np.float64: 1e-12, np.float32: 1e-5}
SRC = Path(__file__).resolve().parents[1] / "src"


def assert_array_close(actual: np.ndarray, expected: np.ndarray, tol: float) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    assert float(np.max(np.abs(actual - expected))) <= tol * scale


def assert_curve_close(actual: list[float], expected: list[float], tol: float) -> None:
    assert len(actual) == len(expected)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=0.0)


def make_data(
    loss: str, n: int, n_inputs: int, n_outputs: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets with some structure to learn."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_inputs))
    score = X[:, :1] + 0.5 * X[:, 1:2] * X[:, -1:] + 0.3 * rng.standard_normal((n, 1))
    if loss == "softmax":
        return X, np.digitize(score[:, 0], np.quantile(score, [1 / 3, 2 / 3])).clip(
            0, n_outputs - 1
        )
    if loss == "bce" and n_outputs == 1:
        return X, (score[:, 0] > 0).astype(float)
    return X, (score + np.arange(n_outputs) * 0.2 > 0).astype(float).reshape(n, n_outputs)


def n_outputs_for(loss: str) -> int:
    return {"bce": 1, "softmax": 3, "mse": 2}[loss]


# ---------------------------------------------------------------------------------------
# Gradients of one batch
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", [(), (6,), (5, 4)])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss_name", ["bce", "softmax", "mse"])
def test_gradients_equal_reference(dtype, hidden, activation, loss_name):
    K = n_outputs_for(loss_name)
    X, y = make_data(loss_name, 700, 5, K, seed=len(hidden))
    loss = get_loss(loss_name)
    y = prepare_targets(loss, y, X.shape[0], K)
    weights = np.random.default_rng(1).random(X.shape[0])
    for l2, sample_weight in [(0.0, None), (0.05, weights)]:
        model = mlp(5, hidden=hidden, n_outputs=K, activation=activation, seed=2, dtype=dtype)
        train(model, X, y, loss=loss, epochs=3, optimizer=GradientDescent(0.3), engine="reference")
        expected_value, expected = model.loss_and_gradients(
            X.astype(dtype), y, loss, l2=l2, sample_weight=sample_weight
        )
        expected = {name: g.copy() for name, g in expected.items()}
        value, grads = fused_loss_and_gradients(
            model, X, y, loss, l2=l2, sample_weight=sample_weight
        )
        assert value == pytest.approx(expected_value, rel=TOL[dtype], abs=0)
        assert list(grads) == list(expected)
        for name in expected:
            assert grads[name].dtype == dtype
            assert_array_close(grads[name], expected[name], TOL[dtype])


def test_gradient_of_a_sequential_with_a_final_activation():
    rng = np.random.default_rng(3)
    model = Sequential(
        [Dense(4, 3, rng=rng), Tanh(), Dense(3, 3, rng=rng), Dense(3, 2, rng=rng), Sigmoid()]
    )
    X, y = rng.standard_normal((300, 4)), rng.random((300, 2))
    loss = get_loss("mse")
    expected_value, expected = model.loss_and_gradients(X, y, loss, l2=0.1)
    expected = {name: g.copy() for name, g in expected.items()}
    value, grads = fused_loss_and_gradients(model, X, y, "mse", l2=0.1)
    assert value == pytest.approx(expected_value, rel=1e-12, abs=0)
    for name in expected:
        assert_array_close(grads[name], expected[name], 1e-12)


# ---------------------------------------------------------------------------------------
# Whole training runs
# ---------------------------------------------------------------------------------------
def run_both(
    *,
    dtype=np.float64,
    hidden=(8,),
    activation="relu",
    loss="bce",
    optimizer=lambda: GradientDescent(0.1),
    n=203,
    epochs=50,
    batch_size=None,
    l2=0.0,
    weighted=False,
    **options,
):
    K = n_outputs_for(loss)
    X, y = make_data(loss, n, 7, K, seed=4)
    X_val, y_val = make_data(loss, 50, 7, K, seed=5)
    weights = np.random.default_rng(6).random(n) + 0.1 if weighted else None
    runs = {}
    for engine in ("reference", "fused"):
        model = mlp(7, hidden=hidden, n_outputs=K, activation=activation, seed=7, dtype=dtype)
        opt = optimizer()
        history = train(
            model,
            X,
            y,
            loss=loss,
            optimizer=opt,
            epochs=epochs,
            batch_size=batch_size,
            l2=l2,
            sample_weight=weights,
            seed=8,
            validation_data=(X_val, y_val),
            engine=engine,
            **options,
        )
        runs[engine] = (history, model, opt)
    return runs


def assert_runs_equal(runs, tol, params_tol=None):
    """Same status, loss and accuracy curves (to ``tol``), parameters and optimiser state
    (to ``params_tol``, default ``tol``)."""
    params_tol = params_tol or tol
    (h0, m0, o0), (h1, m1, o1) = runs["reference"], runs["fused"]
    assert h0.engine == "reference" and h1.engine == "fused"
    assert (h1.status, h1.diverged_at, h1.divergence_reason) == (
        h0.status,
        h0.diverged_at,
        h0.divergence_reason,
    )
    assert_curve_close(h1.loss, h0.loss, tol)
    assert_curve_close(h1.val_loss, h0.val_loss, tol)
    assert h1.accuracy == pytest.approx(h0.accuracy, rel=tol, abs=tol)
    assert h1.val_accuracy == pytest.approx(h0.val_accuracy, rel=tol, abs=tol)
    p0, p1 = m0.get_params(), m1.get_params()
    for name in p0:
        assert p1[name].dtype == p0[name].dtype
        assert_array_close(p1[name], p0[name], params_tol)
    for attr in ("velocity", "m", "v"):
        for name, state in getattr(o0, attr, {}).items():
            assert_array_close(getattr(o1, attr)[name], state, params_tol)
    assert getattr(o1, "t", None) == getattr(o0, "t", None)


CASES = [
    # (hidden, activation, loss, optimizer, batch_size, l2, weighted)
    ((), "relu", "bce", lambda: GradientDescent(0.5), None, 0.0, False),
    ((8,), "relu", "bce", lambda: GradientDescent(0.1), None, 0.01, True),
    ((8,), "leaky_relu", "softmax", lambda: Momentum(0.05), 32, 0.0, False),
    ((6, 5), "tanh", "mse", lambda: Momentum(0.05, nesterov=True), 32, 0.01, True),
    ((8,), "sigmoid", "bce", lambda: Adam(0.01), 32, 0.0, True),
    ((6, 5), "relu", "softmax", lambda: Adam(0.01), None, 0.01, False),
    ((5,), "tanh", "bce", lambda: GradientDescent(0.02), 1, 0.01, False),
    ((5,), "relu", "mse", lambda: Adam(0.003), 1, 0.0, True),
    ((4, 4, 4), "leaky_relu", "bce", lambda: Momentum(0.01, nesterov=True), 1, 0.0, False),
    ((8,), "sigmoid", "softmax", lambda: GradientDescent(0.2), 50, 0.0, True),  # ragged
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_training_float64_equals_reference(case):
    hidden, activation, loss, optimizer, batch_size, l2, weighted = CASES[case]
    n = 40 if batch_size == 1 else 203  # 203 = 6 x 32 + 11 and 4 x 50 + 3: ragged last batches
    runs = run_both(
        hidden=hidden,
        activation=activation,
        loss=loss,
        optimizer=optimizer,
        batch_size=batch_size,
        l2=l2,
        weighted=weighted,
        n=n,
        track_gradients=True,
    )
    assert_runs_equal(runs, 1e-12)
    norms0, norms1 = runs["reference"][0].grad_norms, runs["fused"][0].grad_norms
    assert list(norms1) == list(norms0)
    for name in norms0:
        assert_curve_close(norms1[name], norms0[name], 1e-10)  # norms of sums of gradients


@pytest.mark.parametrize("case", [1, 3, 4, 5, 7])
def test_training_float32_equals_reference(case):
    hidden, activation, loss, optimizer, batch_size, l2, weighted = CASES[case]
    runs = run_both(
        dtype=np.float32,
        hidden=hidden,
        activation=activation,
        loss=loss,
        optimizer=optimizer,
        batch_size=batch_size,
        l2=l2,
        weighted=weighted,
        n=40 if batch_size == 1 else 203,
    )
    # Loss curves to 1e-5. The parameters after up to 2000 float32 steps drift further
    # apart (rounding differences of 1e-7 per step; the reference rounds its float32
    # optimiser arithmetic after every operation), so they are held to 1e-4.
    assert_runs_equal(runs, 1e-5, params_tol=1e-4)


def test_training_without_backprop_and_batches_larger_than_the_data():
    for batch_size in (None, 500):
        runs = run_both(backprop=False, epochs=3, batch_size=batch_size, l2=0.1)
        assert_runs_equal(runs, 1e-12)
        assert len(set(runs["fused"][0].loss)) == 1  # no learning: the same loss every epoch


def test_engine_matches_textbook_over_50_epochs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 7))
    y = (X[:, 0] - X[:, 3] + 0.5 * rng.standard_normal(500) > 0).astype(float).reshape(-1, 1)
    params = textbook.init_params(seed=1, scale=0.5)
    expected_params, losses, accuracies = textbook.train_model(X, y, params, lr=0.5, epochs=50)
    for engine in ("reference", "fused"):
        model = mlp(7, hidden=(8,))
        model.set_params(params)
        history = train(model, X, y, optimizer=GradientDescent(0.5), epochs=50, engine=engine)
        assert history.engine == engine
        assert_curve_close(history.loss, losses, 1e-12)
        assert history.accuracy == pytest.approx(accuracies, abs=1e-12)
        for name, value in model.get_params().items():
            assert_array_close(value, expected_params[name].reshape(value.shape), 1e-12)


# ---------------------------------------------------------------------------------------
# Engine choice, callbacks, divergence
# ---------------------------------------------------------------------------------------
class Doubling(Layer):
    """A layer the fused engine does not know."""

    def forward(self, x):
        return 2.0 * x

    def backward(self, g):
        return 2.0 * g


class LoggingGD(GradientDescent):
    """A subclass may change ``step``, so the fused engine must not assume it does not."""


class ScaledBCE(BinaryCrossEntropy):
    pass


def test_engine_selection():
    X, y = make_data("bce", 64, 7, 1)
    # auto, the default: mini-batches when the run is long enough (test_startup.py)
    assert train(mlp(7), X, y, epochs=2, batch_size=16).engine == "reference"
    many = select_engine(
        "auto", mlp(7), X, y, get_loss("bce"), GradientDescent(0.1), batch_size=16, epochs=2**14
    )  # 4 batches of 16 each epoch
    assert many.name == "fused"
    assert train(mlp(7), X, y, epochs=2).engine == "reference"  # 64 rows x 73: too small
    assert train(mlp(7), X, y, epochs=2, engine="reference").engine == "reference"
    rng = np.random.default_rng(0)
    unsupported = [
        (Sequential([Dense(7, 4, rng=rng), Doubling(), Dense(4, 1, rng=rng)]), "bce", None),
        (Sequential([Dense(7, 4, rng=rng), ReLU(), ReLU(), Dense(4, 1, rng=rng)]), "bce", None),
        (mlp(7), ScaledBCE(), None),
        (mlp(7), "bce", LoggingGD(0.1)),
        (mlp(7, dtype=np.float16), "bce", None),
    ]
    for model, loss, optimizer in unsupported:
        assert fused_support(model, loss, optimizer) is not None
        history = train(model, X, y, loss=loss, optimizer=optimizer, epochs=2, batch_size=16)
        assert history.engine == "reference"
        with pytest.raises(ValueError, match="engine='fused' does not apply"):
            train(model, X, y, loss=loss, optimizer=optimizer, epochs=2, engine="fused")
    assert isinstance(compile_network(unsupported[0][0]), str)
    wide = mlp(7, hidden=(64, 64))  # supported, but faster with the reference engine
    assert wide.n_parameters() > AUTO_MAX_PARAMETERS
    assert train(wide, X, y, epochs=1, batch_size=16).engine == "reference"
    assert train(wide, X, y, epochs=1, engine="fused").engine == "fused"
    with pytest.raises(ValueError, match="engine must be one of"):
        train(mlp(7), X, y, engine="fast")


def test_callbacks_see_the_model_after_every_epoch_and_can_stop_it():
    X, y = make_data("bce", 203, 7, 1)
    seen = {}
    for engine in ("reference", "fused"):
        snapshots = []

        def callback(epoch, model, history, snapshots=snapshots):
            snapshots.append((epoch, model.get_params()["W1"].copy(), history.loss[-1]))
            return epoch == 4

        history = train(
            mlp(7),
            X,
            y,
            optimizer=Adam(0.01),
            epochs=20,
            batch_size=16,
            callback=callback,
            engine=engine,
        )
        assert history.epochs == 5
        seen[engine] = snapshots
    for (e0, w0, l0), (e1, w1, l1) in zip(seen["reference"], seen["fused"], strict=True):
        assert e0 == e1
        assert_array_close(w1, w0, 1e-12)
        assert l1 == pytest.approx(l0, rel=1e-12, abs=0)


def test_a_callback_may_change_the_learning_rate():
    X, y = make_data("bce", 203, 7, 1)

    def halve(epoch, model, history):
        history_owner["opt"].lr *= 0.5

    results = []
    for engine in ("reference", "fused"):
        history_owner = {"opt": Momentum(0.2)}
        history = train(
            mlp(7), X, y, optimizer=history_owner["opt"], epochs=10, callback=halve, engine=engine
        )
        results.append(history.loss)
    assert_curve_close(results[1], results[0], 1e-12)


@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to divergence
def test_divergence_is_detected_identically(batch_size):
    runs = run_both(
        loss="mse", optimizer=lambda: GradientDescent(8.0), epochs=30, batch_size=batch_size
    )
    assert runs["reference"][0].status == "diverged"
    assert_runs_equal(runs, 1e-12)
    X, y = make_data("mse", 203, 7, 2)
    for engine in ("reference", "fused"):
        with pytest.raises(TrainingDiverged) as raised:
            train(
                mlp(7, n_outputs=2),
                X,
                y,
                loss="mse",
                optimizer=GradientDescent(8.0),
                epochs=30,
                batch_size=batch_size,
                on_divergence="raise",
                engine=engine,
            )
        assert raised.value.epoch == runs["reference"][0].diverged_at


def test_divergence_factor_uses_the_same_first_epoch():
    runs = run_both(optimizer=lambda: GradientDescent(40.0), epochs=30, divergence_factor=1.5)
    assert runs["reference"][0].status == "diverged"
    assert_runs_equal(runs, 1e-12)


# ---------------------------------------------------------------------------------------
# Reproducibility, prediction, input checks, memory
# ---------------------------------------------------------------------------------------
def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    X, y = make_data("bce", 30_011, 7, 1)  # 118 blocks of 256 rows, 29 chunks
    monkeypatch.setattr(trainer, "SERIAL_ROWS", 0)  # the chunks go to the pool's threads
    model = mlp(7, hidden=(8, 8))
    y = prepare_targets(get_loss("bce"), y, X.shape[0], 1)
    results = []
    try:
        for threads in (1, 2, 3, 1):
            set_threads(threads)
            assert get_threads() == threads
            value, grads = fused_loss_and_gradients(model, X, y, "bce", l2=0.01)
            results.append((value, np.concatenate([g.ravel() for g in grads.values()])))
    finally:
        set_threads(None)
    with pytest.raises(ValueError, match="at least 1"):
        set_threads(0)
    for value, flat in results[1:]:
        assert value == results[0][0]
        assert np.array_equal(flat, results[0][1])  # bit for bit


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_small_full_batches_on_the_calling_thread_give_the_same_bits(monkeypatch, dtype, weighted):
    """Below trainer.SERIAL_ROWS rows a full-batch epoch is one compiled call on the
    calling thread; at or above it, the chunks go to the thread pool. The chunks, the
    total weight and so every bit of the results are the same on both paths."""
    X, y = make_data("bce", 3_001, 7, 1)  # 12 blocks of 256 rows, 3 chunks
    weights = np.random.default_rng(1).random(X.shape[0]) if weighted else None
    runs = []
    try:
        set_threads(2)
        for serial_rows in (10**9, 0):  # every full batch on the calling thread; none
            monkeypatch.setattr(trainer, "SERIAL_ROWS", serial_rows)
            model = mlp(7, hidden=(8,), seed=0, dtype=dtype)
            history = train(
                model,
                X,
                y,
                optimizer=Adam(0.01),
                epochs=5,
                sample_weight=weights,
                validation_data=(X[:500], y[:500]),
                track_gradients=True,
                engine="fused",
            )
            runs.append((history, model.get_params()))
    finally:
        set_threads(None)
    (first, params), (second, params_pool) = runs
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert getattr(first, name) == getattr(second, name)
    assert first.grad_norms == second.grad_norms
    for name in params:
        assert np.array_equal(params[name], params_pool[name])  # bit for bit


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_logits_equals_forward(dtype):
    X = np.random.default_rng(0).standard_normal((10_001, 7))
    for model in (
        mlp(7, hidden=(8, 6), n_outputs=3, activation="tanh", dtype=dtype),
        mlp(7, hidden=(), dtype=dtype),
    ):
        expected = model.forward(X.astype(dtype))
        for block_rows in (1, 100, 4096):
            z = predict_logits(model, X, block_rows=block_rows)
            assert z.dtype == dtype
            assert_array_close(z, expected, TOL[dtype])
    rng = np.random.default_rng(1)
    other = Sequential([Dense(7, 4, rng=rng), Doubling(), Dense(4, 2, rng=rng)])
    assert_array_close(predict_logits(other, X, block_rows=999), other.forward(X), 1e-15)
    with pytest.raises(ValueError, match="block_rows"):
        predict_logits(other, X, block_rows=0)


def test_vectorisable_exp_and_log1p_match_numpy():
    x = np.concatenate([-np.geomspace(1e-12, 740.0, 400), [0.0, -750.0, -np.inf]])
    exp = np.array([exp_nonpositive(v) for v in x])
    expected = np.exp(x)
    normal = expected > 1e-300
    np.testing.assert_allclose(exp[normal], expected[normal], rtol=1e-14, atol=0)
    assert exp[-2] == 0.0 and exp[-1] == 0.0
    assert np.isnan(exp_nonpositive(np.nan))
    e = np.concatenate([np.geomspace(1e-300, 1.0, 400), [0.0]])
    log1p = np.array([log1p_unit(v) for v in e])
    np.testing.assert_allclose(log1p, np.log1p(e), rtol=1e-14, atol=0)


def test_check_features_reports_the_first_bad_entry_in_any_block():
    X = np.zeros((200_000, 3))
    X[150_001, 2] = np.inf
    X[170_000, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains infinity at row 150001, column 2"):
        check_features(X)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN at row 3, column 1"):
        check_features(X)


MEMORY_SCRIPT = """
import json, resource, sys
import numpy as np
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent
from backprop_lab.engine.training import train

n = int(sys.argv[1])
warm = mlp(7, dtype=np.float32)  # load the compiled kernels before the baseline
train(warm, np.zeros((64, 7), np.float32), np.zeros(64), epochs=1, engine="fused")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rng = np.random.default_rng(0)
X = np.empty((n, 7), dtype=np.float32)
for start in range(0, n, 100_000):
    X[start : start + 100_000] = rng.standard_normal((min(100_000, n - start), 7))
y = (X[:, 0] > 0).astype(np.float64)
data = X.nbytes + y.nbytes
history = train(mlp(7, dtype=np.float32), X, y, optimizer=GradientDescent(0.1), epochs=2)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"engine": history.engine, "data": data, "peak_minus_baseline": (peak - baseline) * 1024}))
"""


def test_training_ten_million_rows_needs_little_more_than_the_data():
    """Peak resident memory (minus the interpreter's) stays under 1.5 x (X + labels)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEMORY_SCRIPT), "10000000"],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        },
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["engine"] == "fused"
    assert report["peak_minus_baseline"] < 1.5 * report["data"]
