"""Scorecard points: the scale's identities, points from the model's reported logit,
reasons in points that add up to the score, and the command line's --points."""

from __future__ import annotations

import argparse
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from cli_support import run, write_loans
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.classifier.points import PointsScale, scorecard_points
from backprop_lab.responsible.explain import explain_model

EPS = np.finfo(np.float64).eps


# ---- the scale ----------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    pdo=st.floats(0.1, 200),
    base_score=st.floats(-1000, 1000),
    base_odds=st.floats(0.01, 1000),
    odds=st.floats(1e-6, 1e6),
)
def test_base_odds_give_the_base_score_and_doubling_adds_pdo(pdo, base_score, base_odds, odds):
    # good:bad odds o mean p = 1 / (1 + o). Round-off: p carries a relative error of eps,
    # the logit of p an absolute one of about 4 eps / min(p, 1 - p) <= 4e6 eps ~ 1e-9 at
    # odds 1e6, times Factor <= 200 / ln 2 ~ 290 points: < 3e-7; threshold 1e-5.
    at_base = scorecard_points(1 / (1 + base_odds), pdo, base_score, base_odds)
    assert at_base == pytest.approx(base_score, abs=1e-5)
    once = scorecard_points(1 / (1 + odds), pdo, base_score, base_odds)
    twice = scorecard_points(1 / (1 + 2 * odds), pdo, base_score, base_odds)
    assert twice - once == pytest.approx(pdo, abs=1e-5)


def test_the_industry_example_by_hand():
    # 600 points at 50:1, 20 to double: Factor = 20 / ln 2 = 28.8539, Offset = 600 -
    # 28.8539 ln 50 = 487.123; at 100:1, 620 points; at 25:1, 580.
    scale = PointsScale(20, 600, 50)
    assert scale.factor == pytest.approx(28.853900817779268, rel=1e-12)
    assert scale.offset == pytest.approx(600 - 28.853900817779268 * math.log(50), rel=1e-12)
    assert scorecard_points([1 / 101, 1 / 26]) == pytest.approx([620, 580], abs=1e-9)


def test_points_fall_as_the_probability_of_default_rises():
    p = np.concatenate([[1e-300, 1e-200], np.linspace(1e-6, 1 - 1e-6, 10_001), [1 - 1e-15]])
    points = scorecard_points(p)
    assert np.all(np.isfinite(points))
    assert np.all(np.diff(points) < 0)


def test_extreme_probabilities_and_logits_stay_finite():
    scale = PointsScale()
    # p = 1e-300 has log-odds -690.8: 487.1 + 28.85 * 690.8 ~ 20,419 points
    assert scorecard_points(1e-300) == pytest.approx(scale.offset + scale.factor * 690.7755, 1e-6)
    z = np.array([-745.0, -40.0, 0.0, 40.0, 745.0])  # expit(+-745) is 0 or 1 in float64
    points = scale.from_log_odds(z)
    assert np.all(np.isfinite(points))
    assert points[2] == pytest.approx(scale.offset)
    assert np.all(np.diff(points) < 0)
    assert scorecard_points([0.0, 1.0]).tolist() == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pdo": 0}, "pdo"),
        ({"pdo": -20}, "pdo"),
        ({"base_odds": 0}, "base odds"),
        ({"base_odds": -1}, "base odds"),
        ({"base_score": math.nan}, "base_score must be finite"),
        ({"pdo": math.inf}, "pdo must be finite"),
        ({"pdo": "20"}, "pdo must be a number"),
    ],
)
def test_a_bad_scale_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PointsScale(**kwargs)


def test_probabilities_outside_0_to_1_are_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        scorecard_points([0.2, 1.5])
    with pytest.raises(ValueError, match="between 0 and 1"):
        scorecard_points([math.nan])


# ---- a model's points ---------------------------------------------------------------------
def _fit(frame: pd.DataFrame, calibrate: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_tabular(
            frame,
            "default",
            hidden_layer_sizes=(6,),
            max_epochs=60,
            early_stopping=False,
            verbose=False,
            calibrate=calibrate,
        )


@pytest.fixture(scope="module")
def loans():
    from backprop_lab.data import make_credit_risk

    return make_credit_risk(600, seed=3).frame()


@pytest.fixture(scope="module", params=["none", "platt", "temperature"])
def model(request, loans):
    return _fit(loans, request.param)


def test_model_points_are_the_scale_applied_to_the_reported_probability(model, loans):
    """Points come from the calibrated logit u, so they equal Offset + Factor ln((1-p)/p)
    of the probability the model reports (with a calibrator too)."""
    scale = PointsScale(25, 500, 20)
    points = model.points(loans, scale)
    p = model.p_default(loans)
    by_hand = scale.offset + scale.factor * np.log((1 - p) / p)
    # u -> p = expit(u) -> log((1-p)/p) loses about 4 eps / min(p, 1-p) in the log-odds;
    # here min(p, 1-p) > 1e-4, so < 1e-11 log-odds, times Factor 36: < 4e-10 points.
    assert min(p.min(), 1 - p.max()) > 1e-4
    np.testing.assert_allclose(points, by_hand, rtol=0, atol=1e-8)


def test_the_calibrator_slope_is_what_the_points_use(model, loans):
    X = model.transform(loans)
    z = model.default_logits(X)
    u = model.default_log_odds(X)
    slope = model.log_odds_slope()
    # u is affine in z: u - u[0] = slope (z - z[0]), to round-off (|u| < 20: 1e-12)
    np.testing.assert_allclose(u - u[0], slope * (z - z[0]), rtol=0, atol=1e-10)
    if model.calibrator is None:
        assert slope == 1.0


def test_reasons_in_points_add_up_to_the_applicant_score(model, loans):
    """score = base points + sum of every column's points + Factor * s * gap, and the
    completeness gap of integrated gradients is at most 1e-3 log-odds."""
    scale = PointsScale()
    frame = loans.head(40)
    why = explain_model(model, frame, points=scale, top=3)
    pts = why.points
    # the score is the model's own points for these rows (predict --points writes them);
    # the two logits come from different (blocked) matrix products: round-off 1e-12
    np.testing.assert_allclose(pts.score, model.points(frame, scale), rtol=0, atol=1e-9)
    total = pts.base_points + pts.contributions.sum(axis=1).to_numpy()
    factor_s = scale.factor * abs(model.log_odds_slope())
    gaps = why.attributions.gaps
    assert np.max(np.abs(gaps)) <= 1e-3
    # the identity with the gap: exact up to round-off of sums of ~10 terms of ~50 points
    np.testing.assert_allclose(
        pts.score - total, factor_s * gaps * np.sign(model.log_odds_slope()), rtol=0, atol=1e-9
    )
    # without it: within Factor * s * 1e-3 (0.03 points at the default scale)
    assert np.max(np.abs(pts.score - total)) <= factor_s * 1e-3
    # each reason's points: -Factor * s * its log-odds contribution
    r = why.reasons
    np.testing.assert_allclose(
        r["points"], -scale.factor * model.log_odds_slope() * r["contribution"], rtol=1e-12
    )
    assert r["reason"].str.fullmatch(r".+ = .+: [+-]\d+ points").all()


def test_a_risk_raising_reason_costs_points(model, loans):
    why = explain_model(model, loans.head(20), points=PointsScale())
    assert model.log_odds_slope() > 0
    assert (why.reasons["points"] < 0).all() and len(why.reasons) > 0


# ---- the command line ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("points")
    data = write_loans(folder / "loans.csv", n=500, seed=1)
    test = write_loans(folder / "test.csv", n=400, seed=2)
    model = _fit(pd.read_csv(data), "platt")
    model.save(folder / "model.blab")
    return folder, data, test, folder / "model.blab"


def test_predict_points_column(files, capsys):
    from backprop_lab.classifier.tabular_model import load_model

    folder, _, test, model_path = files
    out = folder / "scores.csv"
    status, _, err = run(
        ["predict", model_path, test, "-o", out, "--pdo", "40", "--base-odds", "10"], capsys
    )
    assert status == 0, err
    written = pd.read_csv(out)
    assert list(written.columns) == ["p_default", "points"]
    model = load_model(model_path)
    expected = model.points(pd.read_csv(test), PointsScale(40, 600, 10))
    # CSV text keeps 17 significant digits: exact to round-off (1e-12 of ~600 points)
    np.testing.assert_allclose(written["points"], expected, rtol=1e-12)
    p = written["p_default"].to_numpy()
    by_hand = 600 + 40 / math.log(2) * (np.log((1 - p) / p) - math.log(10))
    np.testing.assert_allclose(written["points"], by_hand, rtol=0, atol=1e-8)


def test_predict_without_points_has_no_points_column(files, capsys):
    folder, _, test, model_path = files
    out = folder / "plain.csv"
    status, _, _ = run(["predict", model_path, test, "-o", out], capsys)
    assert status == 0 and list(pd.read_csv(out).columns) == ["p_default"]


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--pdo", "0", "argument --pdo: must be positive"),
        ("--pdo", "-20", "argument --pdo: must be positive"),
        ("--base-odds", "0", "argument --base-odds: must be positive"),
        ("--base-odds", "nan", "argument --base-odds: must be a finite number"),
        ("--base-score", "abc", "argument --base-score: not a number"),
    ],
)
@pytest.mark.parametrize("command", ["predict", "evaluate", "explain"])
def test_bad_scale_values_are_refused(files, capsys, command, option, value, message):
    folder, _, test, model_path = files
    argv = [command, model_path, test, option, value]
    if command != "evaluate":
        argv += ["-o", folder / "never.csv"]
    status, _, err = run(argv, capsys)
    assert status == 2 and message in err
    assert not (folder / "never.csv").exists()


def test_evaluate_bands_match_a_groupby_of_the_raw_columns(files, capsys):
    """Observed default rates by band of 20 points, recomputed from the file with pandas."""
    from backprop_lab.classifier.tabular_model import load_model

    folder, _, test, model_path = files
    out = folder / "metrics.json"
    status, stdout, err = run(["evaluate", model_path, test, "--points", "-o", out], capsys)
    assert status == 0, err
    assert "score bands: 600 points at good:bad odds 50:1" in stdout
    report = json.loads(out.read_text())
    bands = pd.DataFrame(report["metrics"]["score_bands"])

    raw = pd.read_csv(test)
    p = load_model(model_path).p_default(raw)
    points = 600 + 20 / math.log(2) * np.log((1 - p) / p / 50)
    raw["band"] = np.floor((points - 600) / 20) * 20 + 600
    raw["p"] = p
    by_band = raw.groupby("band").agg(
        rows=("default", "size"), observed=("default", "mean"), predicted=("p", "mean")
    )
    assert bands["low"].tolist() == by_band.index.tolist()
    assert bands["rows"].tolist() == by_band["rows"].tolist()
    assert bands["rows"].sum() == len(raw)
    np.testing.assert_allclose(bands["observed_rate"], by_band["observed"], rtol=1e-12)
    np.testing.assert_allclose(bands["predicted_rate"], by_band["predicted"], rtol=1e-12)
    assert (bands["high"] - bands["low"] == 20).all()
    assert report["metrics"]["points_scale"]["pdo"] == 20


def test_band_width_implies_points(files, capsys):
    folder, _, test, model_path = files
    out = folder / "metrics-50.json"
    status, _, err = run(["evaluate", model_path, test, "--band-width", "50", "-o", out], capsys)
    assert status == 0, err
    bands = json.loads(out.read_text())["metrics"]["score_bands"]
    assert all(b["high"] - b["low"] == 50 and (b["low"] - 600) % 50 == 0 for b in bands)


def test_evaluate_without_points_has_no_bands(files, capsys):
    folder, _, test, model_path = files
    out = folder / "metrics-plain.json"
    status, stdout, _ = run(["evaluate", model_path, test, "-o", out], capsys)
    assert status == 0 and "score bands" not in stdout
    assert "score_bands" not in json.loads(out.read_text())["metrics"]


def test_explain_points_in_the_file_and_the_text(files, capsys):
    from backprop_lab.classifier.tabular_model import load_model

    folder, _, test, model_path = files
    out = folder / "reasons.csv"
    status, stdout, err = run(
        ["explain", model_path, test, "-o", out, "--points", "--show", "2"], capsys
    )
    assert status == 0, err
    table = pd.read_csv(out)
    model = load_model(model_path)
    np.testing.assert_allclose(table["points"], model.points(pd.read_csv(test)), atol=1e-9)
    assert table["base_points"].nunique() == 1  # one baseline applicant for everyone
    reasons = table["reason_1"].dropna()
    assert len(reasons) and reasons.str.fullmatch(r".+ = .+: -\d+ points").all()
    np.testing.assert_allclose(
        table["points_1"].dropna(),
        -PointsScale().factor * model.log_odds_slope() * table["contribution_1"].dropna(),
        rtol=1e-12,
    )
    assert "points (baseline applicant" in stdout


@pytest.mark.parametrize("command", ["predict", "evaluate", "explain"])
def test_help_shows_the_scale_defaults_the_code_uses(command):
    from backprop_lab.classifier import points
    from backprop_lab.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    text = " ".join(sub.choices[command].format_help().split())
    assert f"points to double the good:bad odds (default: {points.DEFAULT_PDO:g})" in text
    assert f"score at the base odds (default: {points.DEFAULT_BASE_SCORE:g})" in text
    assert f"e.g. 50 for 50:1 (default: {points.DEFAULT_BASE_ODDS:g})" in text


def test_points_are_refused_for_a_multiclass_model(tmp_path, capsys):
    frame = pd.DataFrame(
        {"x": np.arange(90.0) % 7, "y": np.arange(90.0) % 5, "grade": ["a", "b", "c"] * 30}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(
            frame, "grade", multiclass=True, hidden_layer_sizes=(3,), max_epochs=5, verbose=False
        )
    model.save(tmp_path / "m.blab")
    frame.to_csv(tmp_path / "d.csv", index=False)
    status, _, err = run(
        ["predict", tmp_path / "m.blab", tmp_path / "d.csv", "-o", tmp_path / "o.csv", "--points"],
        capsys,
    )
    assert status == 2 and "binary models" in err and not (tmp_path / "o.csv").exists()
    with pytest.raises(ValueError, match="binary models"):
        model.predict_frame(frame, points=PointsScale())


def test_points_in_and_out_of_parquet(files, capsys):
    from backprop_lab.classifier.tabular_model import load_model

    folder, _, test, model_path = files
    source = folder / "test.parquet"
    pd.read_csv(test).to_parquet(source)
    out = folder / "scores.parquet"
    status, _, err = run(["predict", model_path, source, "-o", out, "--points"], capsys)
    assert status == 0, err
    written = pd.read_parquet(out)
    expected = load_model(model_path).points(pd.read_csv(test))
    np.testing.assert_allclose(written["points"], expected, rtol=1e-12)
    report = folder / "metrics-parquet.json"
    status, _, err = run(["evaluate", model_path, source, "--points", "-o", report], capsys)
    assert status == 0, err
    bands = json.loads(report.read_text())["metrics"]["score_bands"]
    assert sum(b["rows"] for b in bands) == len(written)
