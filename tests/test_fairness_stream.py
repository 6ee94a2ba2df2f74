"""The fairness audit chunk by chunk: the in-memory audit's numbers, in bounded memory."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.stats import poisson

from backprop_lab.responsible.fairness import age_adverse_check, audit
from backprop_lab.responsible.fairness_stream import (
    POISSON_TABLE,
    AgeCheckAccumulator,
    StreamingAudit,
    poisson_weights,
)

NAMES = ["a", "b", "c", "d"]


def applicants(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(default, p_default, group code): group 'd' never defaults (one class only)."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    p = rng.random(n)
    y = (rng.random(n) < p).astype(np.int64)
    y[codes == 3] = 0
    return y, p, codes


def streamed(y, p, codes, chunk_size, **settings) -> pd.DataFrame:
    acc = StreamingAudit(4, **settings)
    for i in range(0, y.size, chunk_size):
        acc.add(y[i : i + chunk_size], p[i : i + chunk_size], codes[i : i + chunk_size])
    return acc.table(NAMES)


def value(table: pd.DataFrame, metric: str, group: str | None = None) -> pd.Series:
    rows = table[
        (table["metric"] == metric)
        & (table["group"].isna() if group is None else table["group"] == group)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_point_estimates_are_the_in_memory_audits_and_fairlearns():
    y, p, codes = applicants(600, seed=0)
    groups = np.asarray(NAMES)[codes]
    table = streamed(y, p, codes, 50, n_bootstrap=0)
    expected = audit(y, p, groups, n_bootstrap=0)
    # Counts and rates of counts are exact; mean_predicted, brier_score and
    # calibration_gap sum p in another order: round-off below 1e-15 on values ~ 0.5.
    points = ["scope", "group", "metric", "value", "note"]
    pd.testing.assert_frame_equal(table[points], expected[points], rtol=1e-12)
    # and straight from fairlearn (approval the positive prediction, repaying the label)
    repaid, approved = 1 - y, (p < 0.5).astype(int)
    frame = MetricFrame(
        metrics={"s": selection_rate, "t": true_positive_rate, "f": false_positive_rate},
        y_true=repaid,
        y_pred=approved,
        sensitive_features=groups,
    ).by_group
    for g in ("a", "b", "c"):
        assert value(table, "selection_rate", g)["value"] == frame.loc[g, "s"]
        assert value(table, "true_positive_rate", g)["value"] == frame.loc[g, "t"]
        assert value(table, "false_positive_rate", g)["value"] == frame.loc[g, "f"]
    assert math.isnan(value(table, "false_positive_rate", "d")["value"])  # none defaulted
    assert value(table, "demographic_parity_difference")["value"] == pytest.approx(
        demographic_parity_difference(repaid, approved, sensitive_features=groups), abs=1e-15
    )
    assert value(table, "demographic_parity_ratio")["value"] == pytest.approx(
        demographic_parity_ratio(repaid, approved, sensitive_features=groups), abs=1e-15
    )
    # d has no defaulted applicant: no FPR, so equalized odds takes the FPR difference
    # among a, b, c and the TPR difference (equal opportunity) among all four
    both = codes != 3
    fpr = MetricFrame(
        metrics=false_positive_rate,
        y_true=repaid[both],
        y_pred=approved[both],
        sensitive_features=groups[both],
    ).difference()
    tpr = equal_opportunity_difference(repaid, approved, sensitive_features=groups)
    assert value(table, "equal_opportunity_difference")["value"] == pytest.approx(tpr, abs=1e-15)
    eo = value(table, "equalized_odds_difference")
    assert eo["value"] == pytest.approx(max(tpr, fpr), abs=1e-15)
    assert eo["note"] == "left out (one class only): d"
    assert table.attrs["roc_auc"] == "exact" and table.attrs["roc_auc_max_error"] == 0.0


def test_the_same_table_whatever_the_chunk_size():
    y, p, codes = applicants(400, seed=1)
    tables = [streamed(y, p, codes, size, n_bootstrap=300, seed=5) for size in (7, 100, 10_000)]
    # The weights depend on the row's position only and the sums run in row order, so
    # the tables agree bit for bit.
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other, check_exact=True)
    assert tables[0]["ci_low"].notna().sum() > 30  # intervals, not only points


def test_poisson_weights_depend_on_the_seed_and_row_only():
    whole = poisson_weights(3, 0, 100, 1000)
    np.testing.assert_array_equal(whole[37:60], poisson_weights(3, 37, 23, 1000))
    assert not np.array_equal(whole, poisson_weights(4, 0, 100, 1000))


def test_poisson_weights_follow_poisson_one():
    # The table: P(w = k) = (number of 16-bit u mapped to k) / 2^16, within 2^-16 of the
    # Poisson(1) probability by construction (inverse CDF at (u + 1/2) / 2^16).
    share = np.bincount(POISSON_TABLE, minlength=12) / 2**16
    assert np.max(np.abs(share - poisson.pmf(np.arange(12), 1.0))) <= 2**-16
    # 10^6 draws: mean and variance 1, each with standard error ~ 1/sqrt(10^6) = 1e-3
    # (the variance's: sqrt((mu4 - 1) / n) = sqrt(3 / 10^6) = 1.7e-3); 5 standard errors.
    w = poisson_weights(0, 0, 1000, 1000).astype(np.float64)
    assert abs(w.mean() - 1.0) < 5e-3 and abs(w.var() - 1.0) < 9e-3
    # independent across replicates and rows: correlations ~ N(0, 1/sqrt(1000))
    rows = np.corrcoef(w[:, 0], w[:, 1])[0, 1]
    cols = np.corrcoef(w[0], w[1])[0, 1]
    assert abs(rows) < 5 / math.sqrt(1000) and abs(cols) < 5 / math.sqrt(1000)


def test_intervals_as_wide_as_the_multinomial_bootstraps():
    """The Poisson and the multinomial bootstrap estimate the same sampling variance.

    A percentile interval's width from B replicates of a normal statistic (sd s) has
    standard error sqrt(2 * 0.025 * 0.975 / B) / phi(1.96) * s = 0.085 s for B = 2000,
    against a width of 3.92 s: 2.2 %. The ratio of two independent such widths has a
    standard error of 3.1 %; the two bootstraps differ systematically only by O(1/n_g)
    (n_g >= 4000 here: under 0.1 %). Each of the 21 rates' width ratios must be within
    5 standard errors (16 %; largest |ratio - 1| measured over three data seeds: 5.5 %),
    their mean within 4 % (its standard error is at most 3.1 % / sqrt(21) = 0.7 % if
    the rates were independent, about 1.2 % allowing for their correlation; measured
    0.9 % at most), and the midpoints within 10 % of a width (their difference has a
    standard error of 1.5 % of a width; measured 3.6 %).
    """
    y, p, codes = applicants(20_000, seed=2)
    codes = np.minimum(codes, 2)  # three groups, all with both classes
    names = NAMES[:3]
    acc = StreamingAudit(3, n_bootstrap=2000, seed=0)
    acc.add(y, p, codes)
    poisson_table = acc.table(names)
    multinomial = audit(y, p, np.asarray(names)[codes], n_bootstrap=2000, seed=0)
    rates = poisson_table["metric"].isin(
        ["default_rate", "mean_predicted", "selection_rate", "true_positive_rate",
         "false_positive_rate", "brier_score", "calibration_gap"]
    )  # fmt: skip
    width = lambda t: (t["ci_high"] - t["ci_low"])[rates]  # noqa: E731
    ratio = width(poisson_table) / width(multinomial)
    assert len(ratio) == 21
    assert np.max(np.abs(ratio - 1)) < 0.16
    assert abs(ratio.mean() - 1) < 0.04
    mid = lambda t: ((t["ci_high"] + t["ci_low"]) / 2)[rates]  # noqa: E731
    assert np.max(np.abs(mid(poisson_table) - mid(multinomial)) / width(multinomial)) < 0.1


def test_binned_auc_is_within_its_bound_of_the_exact_one():
    y, p, codes = applicants(3000, seed=3)
    p = np.round(p, 3)  # ties too
    exact = streamed(y, p, codes, 500, n_bootstrap=0)
    for bins in (16, 1000):
        acc = StreamingAudit(4, n_bootstrap=0, exact_auc_rows=1000, auc_bins=bins)
        for i in range(0, y.size, 500):
            acc.add(y[i : i + 500], p[i : i + 500], codes[i : i + 500])
        assert not acc.auc_is_exact
        auc, bound = acc.roc_auc()
        table = acc.table(NAMES)
        assert table.attrs["roc_auc"] == f"binned into {bins} equal-width bins of p_default"
        assert table.attrs["roc_auc_max_error"] == np.nanmax(bound)
        for k, g in enumerate(NAMES[:3]):
            want = value(exact, "roc_auc", g)["value"]
            # the bound is exact arithmetic on counts; 1e-15 covers the divisions
            assert abs(auc[k] - want) <= bound[k] + 1e-15
            assert value(table, "roc_auc", g)["value"] == auc[k]
        assert math.isnan(auc[3])  # one class only
    assert bound[:3].max() < 1e-3  # 1000 bins: within 0.001 of the exact AUC


@pytest.mark.parametrize("in_memory", [False, True])
@pytest.mark.parametrize("outcome", [0, 1])
def test_one_class_file_gives_reasons_not_warnings(outcome, in_memory):
    y, p, codes = applicants(500, seed=4)
    y[:] = outcome
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "All-NaN slice encountered"
        if in_memory:
            table = audit(y, p, np.asarray(NAMES)[codes], n_bootstrap=200)
        else:
            table = streamed(y, p, codes, 64, n_bootstrap=200)
    missing = "true_positive_rate" if outcome else "false_positive_rate"
    assert table.loc[table["metric"] == missing, "value"].isna().all()
    eo = value(table, "equalized_odds_difference")
    assert math.isnan(eo["value"]) and math.isnan(eo["ci_low"])
    assert eo["note"] == "fewer than two groups have both repaid and defaulted applicants"


@pytest.mark.parametrize("chunk_size", [13, 5000])
@pytest.mark.parametrize(("bins", "tolerance"), [((25, 40), 0.0), ((), 0.05), ((30,), 0.0)])
def test_age_check_by_chunks_is_the_in_memory_check(chunk_size, bins, tolerance):
    rng = np.random.default_rng(6)
    ages = rng.integers(18, 90, 2001).astype(float)
    attribution = np.round(rng.normal(0.02 * (ages - 50) / 10, 0.3), 4)  # ties too
    acc = AgeCheckAccumulator(bins=bins, tolerance=tolerance)
    for i in range(0, ages.size, chunk_size):
        acc.add(attribution[i : i + chunk_size], ages[i : i + chunk_size])
    got = acc.result()
    want = age_adverse_check(attribution, ages, bins=bins, tolerance=tolerance)
    pd.testing.assert_frame_equal(got.classes, want.classes)
    assert got.to_dict() == want.to_dict()
    assert 0 < got.n_adverse < got.n_elderly


def test_age_check_needs_younger_applicants():
    acc = AgeCheckAccumulator()
    acc.add([0.1, 0.2], [70.0, 80.0])
    with pytest.raises(ValueError, match="no applicant is under 62: nothing to compare with"):
        acc.result()
