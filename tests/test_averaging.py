"""alpha='auto' averages fold networks into one network: its logits must be the mean of
theirs, and the folds must cover every row once."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab import BackpropClassifier
from backprop_lab.classifier.averaging import average_networks, folds
from backprop_lab.nn import mlp


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 5),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    n_outputs=st.sampled_from([1, 3]),
    activation=st.sampled_from(["relu", "tanh", "leaky_relu", "sigmoid"]),
    seed=st.integers(0, 1000),
)
def test_the_averaged_network_gives_the_mean_logit(k, hidden, n_outputs, activation, seed):
    nets = [mlp(4, hidden, n_outputs, activation=activation, seed=seed + i) for i in range(k)]
    X = np.random.default_rng(seed).normal(size=(30, 4))
    merged = average_networks(nets, activation)
    expected = np.mean([net.predict_logits(X) for net in nets], axis=0)
    assert merged.get_params()["W1"].shape == (4, k * hidden[0])
    # the same sums in another order: float64 round-off, ~1e-16 relative per term
    np.testing.assert_allclose(merged.predict_logits(X), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("counts", [(50, 50), (95, 5), (98, 2)])
def test_folds_cover_every_row_once(counts):
    y = np.repeat([0, 1], counts)
    parts = folds(y, 5, seed=0)
    assert len(parts) == 5
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))
    if min(counts) >= 5:  # stratified: each fold holds a fifth of each class
        assert all(
            np.bincount(y[p], minlength=2).tolist() == [c // 5 for c in counts] for p in parts
        )


def test_alpha_auto_is_reproducible_bit_for_bit_and_scores_as_its_average():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    y = (rng.random(400) < 1 / (1 + np.exp(2 - X[:, 0]))).astype(int)
    a = BackpropClassifier(random_state=5).fit(X, y)
    b = BackpropClassifier(random_state=5).fit(X, y)
    assert a.n_networks_ == 5 and a.alpha_ == 10.0 and set(a.cv_log_loss_) == {10.0}
    for name, value in a.network_.get_params().items():
        assert np.array_equal(value, b.network_.get_params()[name])
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
