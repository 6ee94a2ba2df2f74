"""audit, explain, train --calibrate and evaluate's calibration output, through cli.main."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from backprop_lab import load_model
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import read_csv
from backprop_lab.responsible.audit import audit_model


def _strict_json(text: str) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"JSON contains {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A training file with a group column (dropped at training), new applicants, and a
    plain and a Platt-calibrated model trained on the file by the command line."""
    root = tmp_path_factory.mktemp("responsible")
    train_csv, test_csv = root / "loans.csv", root / "test.csv"
    for path, n, seed in ((train_csv, 3000, 1), (test_csv, 1200, 2)):
        frame = make_credit_risk(n, seed=seed, planted_bias=1.0).frame()
        frame.insert(0, "loan_id", [f"L{seed}-{i:05d}" for i in range(n)])
        frame["purpose"] = np.random.default_rng(seed).choice(["car", "home", "study"], n)
        frame.to_csv(path, index=False)
    plain, platt = root / "plain.blab", root / "platt.blab"
    common = ["--target", "default", "--id", "loan_id", "--drop", "group"]
    assert main(["train", str(train_csv), *common, "-o", str(plain)]) == 0
    assert main(["train", str(train_csv), *common, "--calibrate", "platt", "-o", str(platt)]) == 0
    return root, train_csv, test_csv, plain, platt


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(capsys, *argv) -> str:
    """Run a command expected to fail: exit 2, one line on stderr, no traceback."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("backprop-lab: error: "), err
    return err.strip().removeprefix("backprop-lab: error: ")


# ---- train --calibrate and evaluate -------------------------------------------------------


def test_train_calibrate_saves_the_calibrator_and_predict_uses_it(files, capsys, tmp_path):
    _, train_csv, test_csv, _, platt = files
    code, out, _ = run(
        capsys, "train", train_csv, "--target", "default", "--id", "loan_id", "--drop",
        "group", "--calibrate", "temperature", "-o", tmp_path / "t.blab",
    )  # fmt: skip
    assert code == 0
    assert "calibrated by temperature scaling, p = sigmoid(z / " in out
    assert "fitted on 480 training rows set aside for it" in out
    assert "trained a 10-8-1 network on 1920 rows" in out
    model = load_model(platt)
    assert model.calibrator.method == "platt"
    scores = tmp_path / "scores.csv"
    assert run(capsys, "predict", platt, test_csv, "-o", scores)[0] == 0
    frame = read_csv(test_csv)
    p = pd.read_csv(scores)["p_default"].to_numpy()
    z = model.default_logits(model.transform(frame))
    np.testing.assert_allclose(p, expit(model.calibrator.a * z + model.calibrator.b), rtol=1e-12)


def test_train_calibrate_errors(files, capsys):
    _, train_csv, _, _, _ = files
    base = ["train", train_csv, "--target", "default", "--id", "loan_id", "-o", "x.blab"]
    assert error_line(capsys, *base, "--calibrate", "isotonic") == (
        "unknown calibration 'isotonic'; choose one of none, platt, temperature"
    )
    assert "calibration size must be above 0 and below 1" in error_line(
        capsys, *base, "--calibrate", "platt", "--calibration-size", "0"
    )


def test_evaluate_reports_calibration_and_draws_a_reliability_diagram(files, capsys, tmp_path):
    _, _, test_csv, plain, platt = files
    out_json, png = tmp_path / "m.json", tmp_path / "rel.png"
    code, out, err = run(capsys, "evaluate", plain, test_csv, "-o", out_json, "--reliability", png)
    assert code == 0 and f"wrote {png}" in err
    report = _strict_json(out_json.read_text())
    cal = report["calibration"]
    assert cal["calibrator"] is None and "network_alone" not in cal
    bins = cal["reliability"]
    assert sum(b["count"] for b in bins) == 1200 and all(0 <= b["bin"] < 10 for b in bins)
    ece = sum(b["count"] / 1200 * abs(b["mean_predicted"] - b["observed_rate"]) for b in bins)
    assert cal["expected_calibration_error"] == pytest.approx(ece, rel=1e-12)
    assert report["metrics"]["expected_calibration_error"] == cal["expected_calibration_error"]
    assert cal["brier_score"] == pytest.approx(report["metrics"]["brier"], rel=1e-12)
    assert f"ECE {cal['expected_calibration_error']:.4f} (10 equal-width bins)" in out
    assert "(not calibrated after training; see train --calibrate)" in out
    assert png.read_bytes().startswith(b"\x89PNG")

    code, out, _ = run(capsys, "evaluate", platt, test_csv, "-o", out_json)
    assert code == 0
    cal = _strict_json(out_json.read_text())["calibration"]
    assert cal["calibrator"]["method"] == "platt"
    net = cal["network_alone"]
    assert f"Brier {net['brier_score']:.4f} -> {cal['brier_score']:.4f}" in out
    assert "(network alone -> calibrated)" in out
    # the network alone is exactly what the uncalibrated probabilities score
    model = load_model(platt)
    y = read_csv(test_csv)["default"].astype(int).to_numpy()
    p_net = model.p_default(read_csv(test_csv), calibrated=False)
    assert net["brier_score"] == pytest.approx(np.mean((p_net - y) ** 2), rel=1e-12)


# ---- audit --------------------------------------------------------------------------------


def test_audit_by_a_column_the_model_never_saw(files, capsys, tmp_path):
    _, _, test_csv, plain, _ = files
    out_json, png = tmp_path / "audit.json", tmp_path / "audit.png"
    code, out, err = run(
        capsys, "audit", plain, test_csv, "--target", "default", "--group", "group",
        "--n-bootstrap", "200", "--seed", "1", "-o", out_json, "--plot", png,
    )  # fmt: skip
    assert code == 0, err
    payload = _strict_json(out_json.read_text())
    assert payload["group_column"] == "group" and payload["settings"]["n_bootstrap"] == 200
    assert payload["model"] == str(plain) and payload["data"] == str(test_csv)
    # the same numbers from Python
    expected = audit_model(load_model(plain), read_csv(test_csv), "group", n_bootstrap=200, seed=1)
    assert payload["metrics"] == json.loads(expected.to_json())["metrics"]
    dp = expected.value("demographic_parity_difference")
    assert f"demographic parity difference   {dp['value']:.3f}" in out
    assert out.splitlines()[0] == f"audit of {plain} on {test_csv}:"
    assert "Regulation B, age of applicants 62 and over:" in out
    assert png.read_bytes().startswith(b"\x89PNG")


def test_audit_by_age_band_with_custom_bins_and_calibrated_model(files, capsys, tmp_path):
    _, _, test_csv, _, platt = files
    code, out, _ = run(capsys, "audit", platt, test_csv, "--group", "age", "--n-bootstrap", "50")
    assert code == 0
    for band in ("under 25", "25-39", "40-61", "62 and over"):
        assert f"\n{band:<14}" in out
    assert "(calibrated probabilities)" in out
    code, out, _ = run(
        capsys, "audit", platt, test_csv, "--group", "age", "--bins", "35", "55",
        "--n-bootstrap", "0", "-o", tmp_path / "a.json",
    )  # fmt: skip
    assert code == 0 and "\nunder 35 " in out and "\n55 and over " in out
    payload = _strict_json((tmp_path / "a.json").read_text())
    assert payload["bins"] == [35.0, 55.0]
    assert all(r["ci_low"] is None for r in payload["metrics"])  # no bootstrap: null
    assert payload["regulation_b_age_check"]["n_elderly"] == int(
        (read_csv(test_csv)["age"].astype(float) >= 62).sum()
    )


def test_audit_bad_input(files, capsys, tmp_path):
    _, _, test_csv, plain, _ = files
    assert error_line(capsys, "audit", plain, test_csv, "--group", "region") == (
        f"{test_csv}, column 'region': no such group column in the file"
    )
    single = tmp_path / "single.csv"
    read_csv(test_csv).assign(group="1").to_csv(single, index=False)
    message = error_line(capsys, "audit", plain, single, "--group", "group")
    assert message == (
        f"{single}, column 'group': every row is in the same group ('1'): an audit compares "
        "two or more groups"
    )
    message = error_line(capsys, "audit", plain, test_csv, "--group", "annual_income")
    assert "column 'annual_income': 1200 distinct numbers make too many groups" in message
    assert (
        error_line(capsys, "audit", plain, test_csv, "--group", "age", "--target", "paid")
        == f"{test_csv}, column 'paid': target column not found in the file"
    )
    assert "bins must be finite and strictly increasing" in error_line(
        capsys, "audit", plain, test_csv, "--group", "age", "--bins", "60", "30"
    )


# ---- explain ------------------------------------------------------------------------------


def test_explain_writes_reasons_and_prints_them(files, capsys, tmp_path):
    _, _, test_csv, plain, _ = files
    three = tmp_path / "three.csv"
    read_csv(test_csv).head(3).to_csv(three, index=False)
    reasons, png = tmp_path / "reasons.csv", tmp_path / "importance.png"
    code, out, err = run(capsys, "explain", plain, three, "-o", reasons, "--importance", png)
    assert code == 0, err
    table = pd.read_csv(reasons)
    assert table["loan_id"].tolist() == ["L2-00000", "L2-00001", "L2-00002"]
    model = load_model(plain)
    np.testing.assert_allclose(table["p_default"], model.p_default(read_csv(three)), rtol=1e-12)
    assert (table["completeness_gap"].abs() <= 1e-3).all()
    explained = 0
    for _, row in table.iterrows():
        assert f"loan_id {row['loan_id']}: P(default) {row['p_default']:.3f}" in out
        if pd.isna(row["reason_1"]):  # a low-risk applicant: nothing raised the risk
            assert pd.isna(row["feature_1"]) and pd.isna(row["contribution_1"])
            continue
        explained += 1
        assert f"  1. {row['reason_1']}" in out
        assert row["reason_1"].startswith(f"{row['feature_1']} = ")
        assert f"(raised risk by +{row['contribution_1']:.2f} on" in row["reason_1"]
    assert explained >= 2
    assert "completeness: largest |sum of contributions" in out
    assert "warning" not in err
    assert f"wrote 3 applicants' reasons to {reasons}" in err
    assert png.read_bytes().startswith(b"\x89PNG")


def test_explain_options(files, capsys, tmp_path):
    _, _, test_csv, _, platt = files
    five = tmp_path / "five.csv"
    read_csv(test_csv).head(5).to_csv(five, index=False)
    out_csv = tmp_path / "r.csv"
    code, out, err = run(
        capsys, "explain", platt, five, "-o", out_csv, "--top", "2", "--id", "purpose",
        "--baseline", "reference", "--reference", test_csv, "--steps", "16",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(out_csv)
    assert table.columns[0] == "purpose" and table.columns[-1] == "contribution_2"
    assert "applicants approved just inside the cut-off" in out
    assert "probabilities after calibration" in out
    # gradient x input does not add up; the command says so in one warning line. With the
    # CSV on stdout, the readable text goes to stderr.
    code, out, err = run(capsys, "explain", platt, five, "-o", "-", "--method", "gradxinput")
    assert code == 0
    warned = [line for line in err.splitlines() if line.startswith("backprop-lab: warning:")]
    assert len(warned) == 1 and warned[0].startswith("backprop-lab: warning: contributions miss")
    assert "first-order approximation" in warned[0]
    assert "5 applicant(s). Reasons:" in err and "(gradient x input on the network's logit" in err
    assert out.splitlines()[0].startswith("loan_id,p_default,completeness_gap,reason_1")
    assert len(pd.read_csv(io.StringIO(out))) == 5


def test_explain_bad_input(files, capsys, tmp_path):
    _, _, test_csv, plain, _ = files
    out = tmp_path / "r.csv"
    assert error_line(capsys, "explain", plain, test_csv, "-o", out, "--top", "0") == (
        "top must be a positive number of reasons; got 0"
    )
    assert error_line(capsys, "explain", plain, test_csv, "-o", out, "--method", "shap") == (
        "unknown method 'shap'; choose one of ig, gradxinput"
    )
    assert error_line(capsys, "explain", plain, test_csv, "-o", out, "--baseline", "median") == (
        "unknown baseline 'median'; choose one of zeros, reference"
    )
    assert error_line(capsys, "explain", plain, test_csv, "-o", out, "--id", "nope") == (
        f"{test_csv}, column 'nope': no such id column in the file"
    )
    missing = tmp_path / "missing.csv"
    read_csv(test_csv).drop(columns=["late_payments"]).to_csv(missing, index=False)
    assert error_line(capsys, "explain", plain, missing, "-o", out) == (
        f"{missing}, column 'late_payments': missing column that the model needs"
    )
    assert not out.exists()  # nothing half-written
