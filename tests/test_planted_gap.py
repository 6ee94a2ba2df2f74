"""group_gap_bootstrap: approval gaps of two decision rules on the same borrowers."""

import math

import numpy as np
import pytest

from backprop_lab.tutorial.experiments.responsible import group_gap_bootstrap


def test_point_values_are_the_gaps_and_a_rule_against_itself_differs_by_nothing():
    rng = np.random.default_rng(0)
    group = (rng.random(500) < 0.3).astype(int)
    approved = rng.random(500) < np.where(group == 1, 0.3, 0.6)
    out = group_gap_bootstrap(approved, approved, group, n_bootstrap=200, seed=1)
    gap = approved[group == 1].mean() - approved[group == 0].mean()
    assert out["gap"]["value"] == out["reference_gap"]["value"] == pytest.approx(gap, abs=1e-15)
    # the same rows are resampled for both rules, so every replicate's difference is 0
    assert out["difference"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert out["gap"]["ci_low"] < gap < out["gap"]["ci_high"]


def test_interval_width_matches_the_binomial_standard_error():
    # Two independent groups of n1 = 3000 and n0 = 7000 approved with probability 1/2:
    # the gap's standard error is sqrt(p(1-p)/n1 + p(1-p)/n0) = 0.0109, so a 95% interval
    # is about 2 * 1.96 * 0.0109 = 0.0428 wide. The bootstrap estimates that width from one
    # sample: with 2000 resamples its percentiles move by about 3% of the width and the
    # sample's own p by less than 1%, so 15% is five times the expected error.
    rng = np.random.default_rng(2)
    group = np.r_[np.ones(3000, int), np.zeros(7000, int)]
    approved = rng.random(group.size) < 0.5
    other = approved ^ (rng.random(group.size) < 0.05)  # a rule that disagrees on 5% of rows
    out = group_gap_bootstrap(approved, other, group, n_bootstrap=2000, seed=3)
    expected = 2 * 1.96 * math.sqrt(0.25 / 3000 + 0.25 / 7000)
    width = out["gap"]["ci_high"] - out["gap"]["ci_low"]
    assert width == pytest.approx(expected, rel=0.15)
    # pairing: the rules share all but 5% of their decisions, so the difference varies only
    # through those rows (a - b = +-1 there, 0 elsewhere: variance 0.05 per row), an
    # interval 2 * 1.96 * sqrt(0.05 / 3000 + 0.05 / 7000) wide, 0.45 of the gap's, where
    # unpaired rules would give sqrt(2) = 1.41 of it. Same 15% as above: the disagreement
    # rate adds about 2% of Monte Carlo error.
    diff = out["difference"]["ci_high"] - out["difference"]["ci_low"]
    paired = 2 * 1.96 * math.sqrt(0.05 / 3000 + 0.05 / 7000)
    assert diff == pytest.approx(paired, rel=0.15)


def test_both_groups_needed():
    with pytest.raises(ValueError, match="both groups"):
        group_gap_bootstrap(np.ones(4), np.ones(4), np.zeros(4), n_bootstrap=10)
