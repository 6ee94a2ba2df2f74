"""The population stability index and its bins, against distributions known exactly.

Planted shifts: the new rows are drawn from a known distribution, so the PSI of the
population, given the bins stored from the training rows, follows from the CDF; the
estimate from a sample must agree within its sampling error, derived below from the
multinomial variance of the bin counts (the delta method).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from backprop_lab.classifier.drift import (
    EPSILON,
    CategoricalBins,
    NumericBins,
    TrainingDistributions,
    flag,
    psi,
    psi_terms,
    shares,
)


def population_psi(expected_counts: np.ndarray, a: np.ndarray) -> float:
    """PSI between the stored training shares and the exact new-population shares ``a``,
    both floored at EPSILON as the estimator floors them."""
    e = np.maximum(shares(expected_counts), EPSILON)
    a = np.maximum(a, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def sampling_error(expected_counts: np.ndarray, a: np.ndarray, n: int) -> tuple[float, float]:
    """(standard deviation, bias) of PSI estimated from n new rows with bin probabilities a,
    the training shares e fixed (they are stored).

    Each term is f(a_i) = (a_i - e_i) ln(a_i / e_i), with f'(a) = ln(a / e) + 1 - e / a and
    f''(a) = 1/a + e/a^2. The counts are multinomial(n, a): Cov(a^_i, a^_j) =
    (a_i [i = j] - a_i a_j) / n. To first order PSI^ - PSI = sum_i g_i (a^_i - a_i) with
    g_i = f'(a_i), of variance (sum_i g_i^2 a_i - (sum_i g_i a_i)^2) / n; to second order
    its mean is off by (1/2) sum_i f''(a_i) a_i (1 - a_i) / n = sum_i (1 + e_i/a_i)(1 - a_i)
    / (2n) (about (B - 1) / n without a shift: the (B - 1)/n_a of E[PSI]).
    """
    e = np.maximum(shares(expected_counts), EPSILON)
    af = np.maximum(a, EPSILON)
    g = np.log(af / e) + 1.0 - e / af
    variance = (np.sum(g * g * a) - np.sum(g * a) ** 2) / n
    bias = float(np.sum((1.0 + e / af) * (1.0 - a) * (a > 0))) / (2 * n)
    return math.sqrt(variance), bias


# ---- the sum itself ------------------------------------------------------------------------
def test_psi_by_hand():
    # e = (0.5, 0.5), a = (0.25, 0.75): (-0.25) ln(0.5) + 0.25 ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi([50, 50], [1, 3]) == pytest.approx(expected, rel=1e-15)


def test_an_empty_bin_is_floored_at_epsilon():
    # training never missing, 5% of the new rows missing: the term is (0.05 - 1e-4) ln(0.05/1e-4)
    terms = psi_terms([100, 0], [95, 5])
    assert terms[1] == pytest.approx((0.05 - EPSILON) * math.log(0.05 / EPSILON), rel=1e-15)
    assert psi([100, 0, 0], [95, 5, 0]) == pytest.approx(terms.sum(), rel=1e-15)  # 0 + 0 adds 0


@given(
    st.lists(st.integers(0, 1000), min_size=2, max_size=12).filter(lambda c: sum(c) > 0),
    st.randoms(use_true_random=False),
)
def test_psi_is_a_symmetric_divergence(counts, random):
    other = counts[:]
    random.shuffle(other)
    assert psi(counts, counts) == 0.0
    assert psi(counts, other) >= 0.0  # every term (a - e) ln(a / e) >= 0
    assert psi(counts, other) == pytest.approx(psi(other, counts), rel=1e-12, abs=1e-300)


def test_flags_at_the_thresholds():
    assert [flag(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        "stable",
        "stable",
        "watch",
        "watch",
        "act",
        "act",
    ]
    assert flag(0.15, watch=0.2, act=0.3) == "stable"


# ---- bins ----------------------------------------------------------------------------------
def test_numeric_bins_are_right_closed_deciles_with_a_missing_bin():
    x = np.random.default_rng(0).permutation(np.arange(1000, dtype=float))
    bins = NumericBins.fit(x)
    # quantile j/10 of 0..999 at position 99.9 j: between the 100 j-th and (100 j + 1)-th values
    np.testing.assert_allclose(bins.edges, [99.9 * j for j in range(1, 10)], rtol=1e-13)
    assert bins.counts == [100] * 10 + [0]
    edge = bins.edges[0]
    assert bins.index([edge, np.nextafter(edge, np.inf), np.nan, -1e300, 1e300]).tolist() == [
        0,
        1,
        10,
        0,
        9,
    ]


def test_a_few_distinct_values_give_fewer_bins():
    x = np.repeat([0.0, 1.0, 2.0, 5.0], [50, 30, 15, 5])  # deciles 0,0,0,0,0.5->0,1,1,1,2 ...
    bins = NumericBins.fit(np.r_[x, np.nan])
    assert bins.edges == sorted(set(bins.edges))  # repeated quantiles merged
    assert bins.counts[-1] == 1 and sum(bins.counts) == 101
    assert bins.labels()[0] == "<= 0" and bins.labels()[-1] == "missing"


def test_categorical_bins_count_unseen_and_missing():
    bins = CategoricalBins.fit(np.array(["a", "b", "a", None], dtype=object), ["a", "b"])
    assert bins.counts == [2, 1, 0, 1]
    new = np.array(["b", "c", None, "a", "zz"], dtype=object)
    assert bins.count(new).tolist() == [1, 1, 2, 1]
    assert bins.labels() == ["a", "b", "other/unseen", "missing"]


def test_stored_distributions_read_back_and_bad_ones_are_refused():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    text = rng.choice(np.array(["u", "v"], dtype=object), 200)
    ref = TrainingDistributions.fit({"x": x}, {"c": (text, ["u", "v"])}, rng.random(200))
    back = TrainingDistributions.from_dict(ref.to_dict())
    assert back.to_dict() == ref.to_dict()
    bad = ref.to_dict()
    bad["columns"]["x"]["edges"] = bad["columns"]["x"]["edges"][::-1]
    with pytest.raises(ValueError, match=r"columns\.x\.edges must be"):
        TrainingDistributions.from_dict(bad)
    bad = ref.to_dict()
    bad["columns"]["c"]["counts"][0] += 1
    with pytest.raises(ValueError, match=r"columns\.c\.counts add up to 201, not to the 200"):
        TrainingDistributions.from_dict(bad)


# ---- planted shifts ------------------------------------------------------------------------
#: Sampling tolerance of an estimate: 6 standard deviations (with the bias added). The
#: estimate is a smooth function of multinomial counts, close to normal for these n, so a
#: correct estimate lies outside with probability about 2e-9. The delta method's sd was
#: checked by repeating the categorical test with 300 seeds: errors of mean 0.03 sd and
#: spread 1.02 sd, the largest 3.2 sd. With seed 0 the errors are 0.39 and 0.30 sd (normal
#: shifts 0.25 and 0.5), 0.32 and 0.31 sd (their edges), 2.0 sd (categories), 1.4 sd
#: (the mean without a shift).
SDS = 6.0


@pytest.mark.parametrize("shift", [0.25, 0.5])
def test_a_normal_mean_shift_gives_the_psi_of_the_normal_cdf(shift):
    """Training x ~ N(0, 1), new x ~ N(shift, 1). Given the stored edges q_1 < ... < q_9,
    the new population's share of bin i is exactly Phi(q_i - shift) - Phi(q_{i-1} - shift)."""
    n = 100_000
    rng = np.random.default_rng(0)
    bins = NumericBins.fit(rng.normal(size=n))
    edges = np.r_[-np.inf, bins.edges, np.inf]
    a = np.r_[np.diff(norm.cdf(edges - shift)), 0.0]  # no missing values
    estimate = psi(bins.counts, bins.count(rng.normal(shift, 1.0, size=n)))
    exact = population_psi(np.array(bins.counts), a)
    sd, bias = sampling_error(np.array(bins.counts), a, n)
    assert abs(estimate - exact - bias) < SDS * sd
    # and the stored deciles are the true ones z_{j/10} up to their own sampling error
    assert bins.counts == [n // 10] * 10 + [0]
    true_deciles, sd_edges = decile_psi_and_edge_error(np.array(bins.edges), shift, n)
    assert abs(exact - true_deciles) < SDS * sd_edges


def decile_psi_and_edge_error(edges: np.ndarray, shift: float, n: int) -> tuple[float, float]:
    """PSI of N(shift, 1) against N(0, 1) in the true deciles z_j = Phi^-1(j/10), each bin
    e_i = 0.1: sum_i (p_i - 0.1) ln(10 p_i), p_i = Phi(z_i - shift) - Phi(z_{i-1} - shift);
    and the standard deviation of that PSI computed at sample deciles of n rows instead.

    Sample quantiles are asymptotically normal with Cov(q_i, q_j) = u_i (1 - u_j) /
    (n phi(z_i) phi(z_j)) for u_i = i/10 <= u_j, so by the delta method the sd is
    sqrt(g^T C g), with g the gradient of the PSI in the edges (central differences,
    step 1e-6: error O(h^2), far below the sd)."""
    u = np.arange(1, 10) / 10
    z = norm.ppf(u)
    cov = (
        np.minimum.outer(u, u)
        * (1 - np.maximum.outer(u, u))
        / (n * np.outer(norm.pdf(z), norm.pdf(z)))
    )

    def at(q: np.ndarray) -> float:
        p = np.diff(norm.cdf(np.r_[-np.inf, q, np.inf] - shift))
        return float(np.sum((p - 0.1) * np.log(p / 0.1)))

    h, eye = 1e-6, np.eye(len(z))
    g = np.array(
        [(at(edges + h * eye[i]) - at(edges - h * eye[i])) / (2 * h) for i in range(len(z))]
    )
    return at(z), math.sqrt(g @ cov @ g)


def test_a_reweighted_category_and_new_ones_give_the_psi_of_their_shares():
    """Training categories with shares (0.5, 0.3, 0.2); new rows (0.3, 0.25, 0.37), plus
    5% of a category never seen and 3% missing: both bins empty in training, floored."""
    n = 100_000
    rng = np.random.default_rng(0)
    names = np.array(["a", "b", "c", "new", None], dtype=object)
    bins = CategoricalBins.fit(rng.choice(names[:3], n, p=[0.5, 0.3, 0.2]), ["a", "b", "c"])
    a = np.array([0.3, 0.25, 0.37, 0.05, 0.03])  # bins: a, b, c, other/unseen, missing
    estimate = psi(bins.counts, bins.count(rng.choice(names, n, p=a)))
    exact = population_psi(np.array(bins.counts), a)
    sd, bias = sampling_error(np.array(bins.counts), a, n)
    assert exact > 0.25  # the unseen and missing bins alone add 0.31 + 0.17
    assert abs(estimate - exact - bias) < SDS * sd


def test_without_a_shift_the_mean_psi_is_bins_minus_one_times_the_inverse_sizes():
    """No change: E[PSI] ~ (B - 1)(1/n_e + 1/n_a) (PSI / (1/n_e + 1/n_a) is close to
    chi-squared with B - 1 degrees of freedom, of variance 2 (B - 1)). Over R samples the
    mean of PSI / (1/n_e + 1/n_a) is B - 1 = 9 within 6 sqrt(2 (B - 1) / R) = 1.27 for
    R = 400 (plus an O(B / n) bias, 0.01 here)."""
    rng = np.random.default_rng(0)
    n_e, n_a, replicates = 5000, 2000, 400
    scaled = []
    for _ in range(replicates):
        bins = NumericBins.fit(rng.lognormal(size=n_e))
        scaled.append(psi(bins.counts, bins.count(rng.lognormal(size=n_a))) / (1 / n_e + 1 / n_a))
    assert abs(np.mean(scaled) - 9.0) < SDS * math.sqrt(2 * 9 / replicates)
