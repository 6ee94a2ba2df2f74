"""Exact order statistics of labelled values kept in a temporary file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backprop_lab._util.spill import SpilledValues, sortable_keys, value_of_key

AWKWARD = np.array([0.0, -0.0, 1e-310, -1e-310, 1e300, -1e300, 2.5, -2.5, 2.5, 1.0, -1.0])


def test_keys_sort_like_the_values():
    rng = np.random.default_rng(0)
    values = np.concatenate([AWKWARD, rng.normal(size=500), rng.integers(-3, 3, 50) * 1.0])
    keys = sortable_keys(values)
    # sorting by key sorts the values (stable, so -0.0 and 0.0 keep their key order)
    np.testing.assert_array_equal(np.sort(values), values[np.argsort(keys, kind="stable")])
    assert all(value_of_key(int(k)) == v for k, v in zip(keys, values, strict=True))
    assert sortable_keys(np.array([-0.0]))[0] < sortable_keys(np.array([0.0]))[0]


@pytest.mark.parametrize("block_rows", [97, 1 << 18])
def test_order_statistics_and_medians_are_exact(block_rows):
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(size=2001), AWKWARD, rng.integers(-2, 3, 300) * 0.5])
    labels = rng.integers(0, 3, values.size)
    labels[:4] = 7  # a label with an even count: the mean of the two middle values
    with SpilledValues(block_rows=block_rows) as spill:
        for start in range(0, values.size, 333):
            spill.append(labels[start : start + 333], values[start : start + 333])
        for label in (0, 1, 2, 7):
            x = np.sort(values[labels == label])
            assert spill.counts[label] == x.size
            for k in {0, 1, x.size // 3, x.size // 2, x.size - 1}:
                assert spill.order_statistic(label, k) == x[k]
            assert spill.median(label) == np.median(x)
            assert spill.count_above(label, 0.25) == int(np.sum(x > 0.25))
        # the definition pandas uses for the audit's per-class medians, too
        medians = pd.Series(values).groupby(labels).median()
        for label in (0, 1, 2, 7):
            assert spill.median(label) == medians[label]


def test_bad_use():
    with SpilledValues() as spill:
        spill.append([0, 0], [1.0, 2.0])
        with pytest.raises(ValueError, match="label 0 has 2 values; no order statistic 2"):
            spill.order_statistic(0, 2)
        with pytest.raises(ValueError, match="no value labelled 3"):
            spill.median(3)
        with pytest.raises(ValueError, match="labels must be integers from 0 to 255"):
            spill.append([256], [1.0])
        with pytest.raises(ValueError, match="2 labels for 1 values"):
            spill.append([1, 2], [1.0])
