"""Calibration, explanations and audits of saved models (TabularModel), from Python."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from backprop_lab import fit_tabular, load_model
from backprop_lab._util.validation import InputError
from backprop_lab.classifier.calibration import (
    PlattScaling,
    TemperatureScaling,
    log_loss_from_logits,
)
from backprop_lab.data import make_credit_risk
from backprop_lab.responsible.attributions import gradient_times_input
from backprop_lab.responsible.audit import MAX_GROUPS, audit_model, group_labels
from backprop_lab.responsible.explain import explain_model, model_attributions
from backprop_lab.responsible.fairness import audit

PURPOSES = ["business", "car", "home", "study"]


def loans(n: int, seed: int, *, planted_bias: float | None = None) -> pd.DataFrame:
    """Synthetic borrowers with an id, a purpose (business loans default more often) and,
    with ``planted_bias``, the group column."""
    frame = make_credit_risk(n, seed=seed, planted_bias=planted_bias).frame()
    rng = np.random.default_rng(seed)
    frame.insert(0, "loan_id", [f"L{seed}-{i:05d}" for i in range(n)])
    purpose = rng.choice(PURPOSES, n)
    frame["purpose"] = purpose
    business = purpose == "business"
    frame.loc[business, "default"] = (rng.random(business.sum()) < 0.85).astype(int)
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return loans(3000, seed=1, planted_bias=1.0)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return loans(1500, seed=2, planted_bias=1.0)


@pytest.fixture(scope="module")
def plain(frame):
    return fit_tabular(frame, "default", id_column="loan_id", drop=["group"], seed=0)


@pytest.fixture(scope="module", params=["platt", "temperature"])
def calibrated(request, frame):
    return fit_tabular(
        frame, "default", id_column="loan_id", drop=["group"], seed=0, calibrate=request.param
    )


# ---- calibration -------------------------------------------------------------------------


def test_calibrated_probability_is_sigmoid_of_the_network_logit(calibrated, fresh):
    X = calibrated.transform(fresh)
    z = calibrated.network.forward(X)[:, 0]  # positive class 1 is the network's output
    # Scoring may run the fused engine (for many rows), which adds the same products in
    # another order: each logit sums a few dozen terms of size <= 1, so they differ by at
    # most ~1e-14.
    np.testing.assert_allclose(calibrated.default_logits(X), z, rtol=0, atol=1e-13)
    cal = calibrated.calibrator
    if isinstance(cal, PlattScaling):
        expected = expit(cal.a * z + cal.b)
    else:
        assert isinstance(cal, TemperatureScaling)
        expected = expit(z / cal.temperature)
    np.testing.assert_allclose(calibrated.p_default(fresh), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(calibrated.p_default(fresh, calibrated=False), expit(z), rtol=1e-12)
    proba = calibrated.predict_proba(fresh)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_calibration_is_fitted_on_set_aside_training_rows(calibrated, frame):
    info = calibrated.training
    assert info["test_rows"] == 600  # 20% held out for the printed metrics
    assert info["calibration_rows"] == 480  # 20% of the remaining 2400
    assert info["train_rows"] == 1920  # the network never saw the calibration rows
    cal = info["calibration"]
    assert cal["method"] == calibrated.calibrator.method and cal["rows"] == 480
    # the identity (a = 1, b = 0 or T = 1) is a candidate, so the fit cannot do worse
    assert cal["log_loss_after"] <= cal["log_loss_before"] + 1e-12


def test_calibration_does_not_worsen_validation_log_loss_and_repairs_overconfidence(fresh):
    # A wide network without L2 or early stopping on 800 rows is over-confident.
    small = loans(800, seed=3)
    settings = dict(
        hidden_layer_sizes=(32,), alpha=0.0, early_stopping=False, max_epochs=1500, seed=0
    )
    with pytest.warns(ConvergenceWarning):  # still improving on the training rows: overfitting
        model = fit_tabular(
            small, "default", id_column="loan_id", calibrate="temperature", **settings
        )
    cal = model.training["calibration"]
    assert cal["log_loss_after"] < cal["log_loss_before"] - 0.05
    assert model.calibrator.temperature > 1.3  # softens the over-confident logits
    # On new borrowers too: calibrated log loss below the network's own.
    y = fresh["default"].to_numpy()
    z = model.default_logits(model.transform(fresh))
    before = log_loss_from_logits(y, z)
    after = log_loss_from_logits(y, model.calibrator.calibrated_logits(z))
    assert after < before - 0.05
    # Temperature scaling keeps every decision: z / T has the sign of z.
    np.testing.assert_array_equal(model.p_default(fresh) < 0.5, z < 0)


def test_calibrated_model_round_trip(calibrated, fresh, tmp_path):
    path = tmp_path / "cal.blab"
    calibrated.save(path)
    again = load_model(path)
    assert again.calibrator == calibrated.calibrator
    assert type(again.calibrator) is type(calibrated.calibrator)
    np.testing.assert_array_equal(again.p_default(fresh), calibrated.p_default(fresh))
    assert again.training["calibration"] == calibrated.training["calibration"]
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["schema_version"] == 2  # older readers refuse it instead of ignoring it
    assert meta["calibration"] == calibrated.calibrator.to_dict()


def test_uncalibrated_models_keep_schema_1(plain, fresh, tmp_path):
    path = tmp_path / "plain.blab"
    plain.save(path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["schema_version"] == 1 and "calibration" not in meta
    again = load_model(path)
    assert again.calibrator is None
    np.testing.assert_array_equal(again.p_default(fresh), plain.p_default(fresh))
    np.testing.assert_array_equal(
        again.p_default(fresh), expit(plain.default_logits(plain.transform(fresh)))
    )


def test_calibration_settings_are_checked(frame):
    frame = frame.drop(columns=["loan_id"])
    with pytest.raises(
        InputError, match="unknown calibration 'isotonic'; choose one of none, platt"
    ):
        fit_tabular(frame, "default", calibrate="isotonic")
    with pytest.raises(InputError, match=r"calibration size must be above 0 and below 1; got 1\.5"):
        fit_tabular(frame, "default", calibrate="platt", calibration_size=1.5)
    multi = frame.assign(default=np.arange(len(frame)) % 3)
    with pytest.raises(InputError, match="binary targets only"):
        fit_tabular(multi, "default", calibrate="platt", multiclass=True)
    with pytest.raises(InputError, match="too few training rows"):
        fit_tabular(frame.head(6), "default", calibrate="platt", test_size=0.5)


# ---- explanations ------------------------------------------------------------------------


def test_explanations_sum_back_to_raw_columns_and_are_complete(plain, fresh):
    rows = fresh.head(40)
    result = explain_model(plain, rows, top=3)
    att = result.attributions
    assert list(att.attributions.columns) == plain.input_columns  # one 'purpose' column
    assert att.attributions.index.tolist() == rows["loan_id"].tolist()  # the model's id column
    # completeness: contributions add up to f(x) - f(baseline) within 1e-3 on every row
    change = att.logits - att.baseline_logits
    np.testing.assert_allclose(att.attributions.sum(axis=1), change, atol=1e-3)
    assert att.max_gap <= 1e-3 and att.n_incomplete == 0
    # the zeros baseline is the training-mean applicant: every network input at 0
    zero = plain.default_logits(np.zeros((1, plain.preprocessor.n_features_out)))
    np.testing.assert_allclose(att.baseline_logits, zero[0], rtol=1e-12)
    np.testing.assert_allclose(att.logits, plain.default_logits(plain.transform(rows)), rtol=1e-12)
    np.testing.assert_allclose(result.p_default, plain.p_default(rows), rtol=1e-12)
    # at most three reasons each, strongest first, each raising the risk
    counts = result.reasons.groupby("position").size()
    assert counts.max() <= 3
    for _, group in result.reasons.groupby("position"):
        c = group["contribution"].to_numpy()
        assert np.all(c > 0.01) and np.all(np.diff(c) <= 0)
        assert group["rank"].tolist() == list(range(1, len(group) + 1))


def test_one_hot_reasons_name_the_column_and_the_category(plain, fresh):
    business = fresh[fresh["purpose"] == "business"].head(20)
    result = explain_model(plain, business)
    named = result.reasons[result.reasons["feature"] == "purpose"]
    # business loans default far more often, so purpose is a reason for most of them
    assert len(named) >= 15
    assert set(named["value"]) == {"business"}
    assert all(text.startswith("purpose = business (raised risk by +") for text in named["reason"])
    table = result.table()
    assert list(table.columns[:3]) == ["loan_id", "p_default", "completeness_gap"]
    assert list(table.columns[3:7]) == ["reason_1", "feature_1", "value_1", "contribution_1"]
    assert len(table) == 20 and table.columns[-1] == "contribution_4"
    first = result.reasons[result.reasons["position"] == 0].iloc[0]
    assert table.loc[0, "reason_1"] == first["reason"]
    assert table.loc[0, "contribution_1"] == first["contribution"]


def test_gradient_times_input_and_the_reference_baseline(plain, fresh):
    rows = fresh.head(30)
    X = plain.transform(rows)
    gxi = model_attributions(plain, rows, method="gradxinput")
    by_hand = gradient_times_input(plain.network, X)  # baseline 0, output = default logit
    sources = np.asarray(plain.source_columns)
    for column in plain.input_columns:
        np.testing.assert_allclose(
            gxi.attributions[column], by_hand[:, sources == column].sum(axis=1), rtol=1e-12
        )
    ref = model_attributions(plain, rows, baseline="reference", reference=fresh)
    # applicants approved just inside the 0.5 cut-off: log-odds near 0
    assert abs(ref.baseline_logits[0]) < 0.5
    assert ref.max_gap <= 1e-3
    with pytest.raises(ValueError, match=r"no applicant is approved.*reference set"):
        model_attributions(plain, rows, baseline="reference", threshold=1e-9)


def test_attributions_follow_the_positive_class(frame, fresh):
    """With default labelled 0 (positive class 0), the network's output is the logit of
    the other class; attributions are still those of the logit of *default*."""
    one = fit_tabular(frame, "default", id_column="loan_id", drop=["group"], seed=0)
    zero = fit_tabular(frame, "default", id_column="loan_id", drop=["group"], seed=0, positive=0)
    rows = fresh.head(10)
    a1 = model_attributions(one, rows).attributions
    a0 = model_attributions(zero, rows).attributions
    np.testing.assert_allclose(a0.to_numpy(), -a1.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(zero.p_default(rows), 1 - one.p_default(rows), rtol=1e-12)


def test_explain_refuses_bad_settings(plain, fresh):
    rows = fresh.head(5)
    with pytest.raises(ValueError, match="top must be a positive number of reasons; got 0"):
        explain_model(plain, rows, top=0)
    with pytest.raises(ValueError, match="unknown method 'shap'; choose one of ig, gradxinput"):
        explain_model(plain, rows, method="shap")
    with pytest.raises(ValueError, match="unknown baseline 'median'; choose one of zeros"):
        explain_model(plain, rows, baseline="median")
    with pytest.raises(InputError, match="column 'nope': no such id column"):
        explain_model(plain, rows, id_column="nope")


# ---- audits ------------------------------------------------------------------------------


def test_group_labels():
    frame = pd.DataFrame(
        {"age": ["23", "30", "45", "70"], "g": [1, 0, 1, 1], "city": ["b", "a", "b", "a"]}
    )
    assert group_labels(frame, "age").tolist() == ["under 25", "25-39", "40-61", "62 and over"]
    assert group_labels(frame, "age", bins=[40]).tolist() == ["under 40"] * 2 + ["40 and over"] * 2
    assert group_labels(frame, "g").tolist() == ["1", "0", "1", "1"]
    assert list(group_labels(frame, "city").cat.categories) == ["a", "b"]
    with pytest.raises(InputError, match="column 'region': no such group column"):
        group_labels(frame, "region")
    with pytest.raises(InputError, match=r"column 'g': every row is in the same group \('1'\)"):
        group_labels(frame.iloc[[0, 2]], "g")
    many = pd.DataFrame({"income": np.arange(MAX_GROUPS + 1) * 1000.0})
    with pytest.raises(InputError, match=r"21 distinct numbers make too many groups.*--bins"):
        group_labels(many, "income")
    holes = frame.assign(city=["b", None, "a", "a"])
    with pytest.raises(InputError, match="column 'city', row 2: missing group value"):
        group_labels(holes, "city")
    with pytest.raises(InputError, match="column 'city', row 1: text 'b' in a numeric column"):
        group_labels(frame, "city", bins=[1])


def test_audit_model_matches_the_fairness_audit(plain, fresh):
    # the group column was dropped at training; the audit reads it from the frame anyway
    assert "group" not in plain.input_columns
    result = audit_model(plain, fresh, "group", n_bootstrap=200, seed=3)
    expected = audit(
        fresh["default"], plain.p_default(fresh), fresh["group"], n_bootstrap=200, seed=3
    )
    # The same point estimates (up to round-off in the sums of p); the intervals come from
    # the Poisson bootstrap here (compared in test_fairness_stream.py).
    points = ["scope", "group", "metric", "value", "note"]
    pd.testing.assert_frame_equal(result.table[points], expected[points], rtol=1e-12)
    # The network never saw the group, yet group 1 defaults more often: it under-predicts
    # their risk, and the audit's calibration gap shows it.
    gap = result.value("calibration_gap", "1")
    assert gap["ci_high"] < 0
    payload = json.loads(result.to_json())
    assert payload["group_column"] == "group" and payload["bins"] is None
    assert "NaN" not in result.to_json()
    text = result.text()
    assert "demographic parity difference" in text and "approval rate minus the reference" in text


def test_audit_model_by_age_band_with_the_regulation_b_check(plain, fresh):
    result = audit_model(plain, fresh, "age", n_bootstrap=100)
    assert result.groups == ["under 25", "25-39", "40-61", "62 and over"]
    assert result.bins == [25.0, 40.0, 62.0]
    check = result.age_check
    assert check is not None
    assert check.n_elderly == int((fresh["age"] >= 62).sum())
    assert result.age_max_gap <= 1e-3
    d = json.loads(result.to_json())["regulation_b_age_check"]
    assert d["n_elderly"] == check.n_elderly and d["passed"] == check.passed
    assert "Regulation B, age of applicants 62 and over:" in result.text()
    custom = audit_model(plain, fresh, "age", bins=[30, 50], n_bootstrap=0)
    assert custom.groups == ["under 30", "30-49", "50 and over"] and custom.bins == [30.0, 50.0]
    assert math.isnan(custom.value("selection_rate", "30-49")["ci_low"])  # no bootstrap


def test_audit_without_an_age_input_says_why_no_age_check(frame, fresh):
    no_age = fit_tabular(frame, "default", id_column="loan_id", drop=["group", "age"], seed=0)
    result = audit_model(no_age, fresh, "age", n_bootstrap=0)
    assert result.age_check is None
    assert result.age_note == "not checked: the model has no numeric 'age' input"
    assert json.loads(result.to_json())["regulation_b_age_check"] is None
