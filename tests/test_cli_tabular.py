"""train / predict / evaluate from CSV files, in-process through cli.main."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from backprop_lab import fit_tabular, load_model
from backprop_lab.classifier.metrics import credit_metrics
from backprop_lab.classifier.tabular_model import TabularModel
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import DataWarning, read_csv

PURPOSES = ["car", "home", "study", "business"]


def loans(n, seed):
    """Synthetic borrowers plus an id column and a categorical column."""
    frame = make_credit_risk(n, seed=seed).frame()
    rng = np.random.default_rng(seed)
    frame.insert(0, "loan_id", [f"L{seed}-{i:05d}" for i in range(n)])
    frame["purpose"] = rng.choice(PURPOSES, n)
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train_csv, new_csv = root / "loans.csv", root / "new.csv"
    loans(1500, seed=1).to_csv(train_csv, index=False)
    loans(400, seed=2).to_csv(new_csv, index=False)
    model = root / "model.blab"
    argv = ["train", str(train_csv), "--target", "default", "--id", "loan_id", "-o", str(model)]
    assert main(argv) == 0
    return root, train_csv, new_csv, model


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(capsys, *argv):
    """Run a command expected to fail: exit 2, one line on stderr, no traceback."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("backprop-lab: error: "), err
    assert "Traceback" not in err
    return err.strip().removeprefix("backprop-lab: error: ")


def test_round_trip_matches_the_python_api(files, capsys, tmp_path):
    _, train_csv, new_csv, model_path = files
    scores = tmp_path / "scores.csv"
    code, _, err = run(capsys, "predict", model_path, new_csv, "-o", scores, "--id", "loan_id")
    assert code == 0 and "wrote 400 predictions" in err
    out = pd.read_csv(scores)
    assert list(out.columns) == ["loan_id", "p_default"]
    assert out["loan_id"].tolist() == pd.read_csv(new_csv)["loan_id"].tolist()
    # the saved model through Python gives the very same numbers
    model = load_model(model_path)
    assert np.array_equal(out["p_default"].to_numpy(), model.p_default(pd.read_csv(new_csv)))
    # and so does training through Python with the same settings
    same = fit_tabular(read_csv(train_csv), "default", id_column="loan_id", seed=0)
    assert np.array_equal(same.p_default(read_csv(new_csv)), out["p_default"].to_numpy())
    assert same.metrics == model.metrics


def test_train_prints_held_out_metrics(files, capsys, tmp_path):
    _, train_csv, _, _ = files
    code, out, _ = run(
        capsys, "train", train_csv, "--target", "default", "--drop", "loan_id",
        "--categorical", "purpose", "--hidden", "6", "--optimizer", "momentum",
        "--lr", "0.05", "--epochs", "300", "--batch-size", "128", "--alpha", "1",
        "--test-size", "0.25", "--seed", "3", "-o", tmp_path / "m.blab",
    )  # fmt: skip
    assert code == 0
    assert "trained a 11-6-1 network on 1125 rows" in out
    assert "held-out rows (375):" in out and "ROC AUC" in out and "decile" in out
    model = load_model(tmp_path / "m.blab")
    auc = float(out.split("ROC AUC")[1].split()[0])
    assert auc == pytest.approx(model.metrics["roc_auc"], abs=5e-5)
    assert model.classifier.get_params()["batch_size"] == 128
    assert model.training["test_rows"] == 375 and model.training["categorical"] == ["purpose"]


def test_evaluate_prints_and_writes_metrics_and_curves(files, capsys, tmp_path):
    _, _, new_csv, model_path = files
    metrics_json, png = tmp_path / "metrics.json", tmp_path / "curves.png"
    code, out, _ = run(
        capsys, "evaluate", model_path, new_csv, "--target", "default",
        "--threshold", "0.4", "-o", metrics_json, "--plot", png,
    )  # fmt: skip
    assert code == 0
    report = json.loads(metrics_json.read_text())
    frame = pd.read_csv(new_csv)
    expected = credit_metrics(frame["default"], load_model(model_path).p_default(frame), 0.4)
    assert report["metrics"] == expected
    for label in ("ROC AUC", "Gini", "KS", "log loss", "Brier", "confusion matrix"):
        assert label in out
    assert f"{expected['roc_auc']:.4f}" in out and f"{expected['ks']:.4f}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_predict_streams_in_chunks(files, capsys, tmp_path, monkeypatch):
    _, _, new_csv, model_path = files
    whole, chunked = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run(capsys, "predict", model_path, new_csv, "-o", whole)[0] == 0
    seen = []
    real = TabularModel.transform

    def spy(self, frame, **kwargs):
        seen.append(len(frame))
        return real(self, frame, **kwargs)

    monkeypatch.setattr(TabularModel, "transform", spy)
    assert run(capsys, "predict", model_path, new_csv, "-o", chunked, "--chunk-size", "7")[0] == 0
    assert seen == [7] * 57 + [1]  # 400 rows, never more than 7 in memory at once
    a, b = pd.read_csv(whole), pd.read_csv(chunked)
    assert a["loan_id"].tolist() == b["loan_id"].tolist()
    # BLAS may round a row's dot products differently inside a block of another size:
    # equal to the last few bits, not bit for bit
    np.testing.assert_allclose(a["p_default"], b["p_default"], rtol=1e-13, atol=0)
    # the training file's id column is used when present, without --id
    assert pd.read_csv(whole).columns.tolist() == ["loan_id", "p_default"]
    code, out, _ = run(capsys, "predict", model_path, new_csv, "-o", "-")
    assert code == 0 and out.replace("\r\n", "\n") == whole.read_text()


def test_reordered_and_extra_columns_are_matched_by_name(files, capsys, tmp_path):
    _, _, new_csv, model_path = files
    frame = pd.read_csv(new_csv)
    shuffled = frame[frame.columns[::-1]].assign(branch="north")
    path = tmp_path / "shuffled.csv"
    shuffled.to_csv(path, index=False)
    code, _, err = run(capsys, "predict", model_path, path, "-o", tmp_path / "s.csv")
    assert code == 0
    assert err.splitlines()[0] == (
        f"backprop-lab: warning: {path}: ignoring column(s) the model does not use: branch"
    )
    run(capsys, "predict", model_path, new_csv, "-o", tmp_path / "plain.csv")
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_unseen_category_is_unknown_with_a_warning_counting_rows(files, capsys, tmp_path):
    _, _, new_csv, model_path = files
    frame = pd.read_csv(new_csv)
    frame.loc[[3, 50, 399], "purpose"] = "boat"
    path = tmp_path / "unseen.csv"
    frame.to_csv(path, index=False)
    code, _, err = run(
        capsys, "predict", model_path, path, "-o", tmp_path / "s.csv", "--chunk-size", "100"
    )
    assert code == 0
    warning = [line for line in err.splitlines() if "warning" in line]
    assert warning == [
        f"backprop-lab: warning: {path}: categories not seen in training (encoded as unknown): "
        "column 'purpose' in 3 row(s)"
    ]
    scores = pd.read_csv(tmp_path / "s.csv")["p_default"].to_numpy()
    model = load_model(model_path)
    X = model.transform(frame.assign(purpose="car"))
    X[[3, 50, 399], -4:] = 0.0  # unknown: no purpose column set
    assert np.array_equal(scores[[3, 50, 399]], model.classifier.predict_proba(X)[[3, 50, 399], 1])


# ---- bad input: one line, exit status 2, nothing half-written ---------------------------
def test_missing_and_empty_files(files, capsys, tmp_path):
    _, train_csv, new_csv, _ = files
    msg = error_line(capsys, "train", tmp_path / "nope.csv", "--target", "default", "-o", "m")
    assert msg == f"{tmp_path / 'nope.csv'}: no such file"
    (tmp_path / "empty.csv").write_text("")
    msg = error_line(capsys, "train", tmp_path / "empty.csv", "--target", "d", "-o", "m")
    assert msg == f"{tmp_path / 'empty.csv'}: the file is empty"
    msg = error_line(capsys, "predict", tmp_path / "none.blab", new_csv, "-o", "s.csv")
    assert msg == f"{tmp_path / 'none.blab'}: no such model file"
    msg = error_line(capsys, "predict", train_csv, new_csv, "-o", tmp_path / "s.csv")
    assert msg.startswith(f"{train_csv}: not a usable backprop-lab model file")
    assert not (tmp_path / "s.csv").exists()


def test_target_problems(files, capsys, tmp_path):
    _, train_csv, _, _ = files
    out = tmp_path / "m.blab"
    msg = error_line(capsys, "train", train_csv, "--target", "defualt", "-o", out)
    assert msg == f"{train_csv}, column 'defualt': target column not found in the file"
    three = tmp_path / "three.csv"
    loans(60, 3).assign(default=lambda f: f.index % 3).to_csv(three, index=False)
    msg = error_line(capsys, "train", three, "--target", "default", "-o", out)
    assert msg == (
        f"{three}, column 'default': the target has 3 distinct values (0, 1, 2), not two; "
        "pass --multiclass to predict more than two classes"
    )
    one = tmp_path / "one.csv"
    loans(60, 3).assign(default=0).to_csv(one, index=False)
    msg = error_line(capsys, "train", one, "--target", "default", "-o", out)
    assert (
        msg == f"{one}, column 'default': the target has only one value (0); a classifier needs two"
    )
    assert not out.exists()


def test_multiclass_train_predict_evaluate(capsys, tmp_path):
    path = tmp_path / "grades.csv"
    frame = loans(600, 4).drop(columns="default")
    frame["grade"] = np.select(
        [frame["late_payments"] >= 2, frame["debt_to_income"] > 0.4], ["C", "B"], "A"
    )
    frame.to_csv(path, index=False)
    model = tmp_path / "g.blab"
    code, out, _ = run(
        capsys, "train", path, "--target", "grade", "--multiclass", "--id", "loan_id", "-o", model
    )
    assert code == 0 and "accuracy" in out
    assert run(capsys, "predict", model, path, "-o", tmp_path / "s.csv")[0] == 0
    scores = pd.read_csv(tmp_path / "s.csv")
    assert list(scores.columns) == ["loan_id", "p_A", "p_B", "p_C"]
    np.testing.assert_allclose(scores[["p_A", "p_B", "p_C"]].sum(axis=1), 1.0, rtol=1e-12)
    code, out, _ = run(capsys, "evaluate", model, path, "-o", tmp_path / "m.json")
    assert code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["classes"] == ["A", "B", "C"] and metrics["accuracy"] > 0.8


def test_text_labels_and_the_positive_class(capsys, tmp_path):
    path = tmp_path / "status.csv"
    frame = loans(500, 7)
    frame["status"] = np.where(frame.pop("default") == 1, "defaulted", "repaid")
    frame.to_csv(path, index=False)
    model_path = tmp_path / "s.blab"
    argv = ["train", path, "--target", "status", "--positive", "defaulted", "-o", model_path]
    code, _, err = run(capsys, *argv)
    assert code == 0
    # no --id: the id column looks like a category with a value per row
    assert "column 'loan_id' has 500 distinct values in 500 rows" in err
    model = load_model(model_path)
    assert model.positive_class == "defaulted" and model.positive_index == 0
    with pytest.warns(DataWarning, match=r"column 'loan_id' in 100 row\(s\)"):
        p = model.p_default(frame)  # the 100 held-out ids were never seen in training
    frame = frame.assign(loan_id=model.preprocessor.categorical[0].categories[0])
    np.testing.assert_array_equal(model.p_default(frame), model.predict_proba(frame)[:, 0])
    # P(defaulted) is higher, on average, for the rows that defaulted
    assert p[frame["status"] == "defaulted"].mean() > p[frame["status"] == "repaid"].mean() + 0.2
    msg = error_line(capsys, "train", path, "--target", "status", "--positive", "yes", "-o", "x")
    assert msg == (
        f"{path}, column 'status': positive class 'yes' is not one of the target's values "
        "(defaulted, repaid)"
    )


def test_missing_values_need_an_imputation_option(capsys, tmp_path):
    path = tmp_path / "holes.csv"
    frame = loans(300, 5)
    frame.loc[[41, 120], "annual_income"] = np.nan
    frame.to_csv(path, index=False)
    out = tmp_path / "m.blab"
    msg = error_line(capsys, "train", path, "--target", "default", "--id", "loan_id", "-o", out)
    assert msg == (
        f"{path}, column 'annual_income', row 42: missing value (2 in this column); "
        "choose --impute median, mean or most_frequent to fill them"
    )
    assert not out.exists()
    code, _, _ = run(capsys, "train", path, "--target", "default", "--impute", "median", "-o", out)
    assert code == 0 and load_model(out).preprocessor.numeric[1].fill is not None


def test_text_in_a_numeric_column(files, capsys, tmp_path):
    _, _, _, model_path = files
    path = tmp_path / "typo.csv"
    frame = loans(300, 6)
    frame["age"] = frame["age"].astype(object)
    frame.loc[207, "age"] = "forty"
    frame.to_csv(path, index=False)
    msg = error_line(capsys, "train", path, "--target", "default", "-o", tmp_path / "m.blab")
    assert msg == f"{path}, column 'age', row 208: text 'forty' in a numeric column"
    # at prediction time too, and the half-done output is not left behind
    previous = tmp_path / "scores.csv"
    previous.write_text("old results\n")
    msg = error_line(capsys, "predict", model_path, path, "-o", previous, "--chunk-size", "100")
    assert msg == f"{path}, column 'age', row 208: text 'forty' in a numeric column"
    assert previous.read_text() == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "typo.csv"]


def test_missing_column_at_predict_time(files, capsys, tmp_path):
    _, _, new_csv, model_path = files
    path = tmp_path / "short.csv"
    pd.read_csv(new_csv).drop(columns="debt_to_income").to_csv(path, index=False)
    msg = error_line(capsys, "predict", model_path, path, "-o", tmp_path / "s.csv")
    assert msg == f"{path}, column 'debt_to_income': missing column that the model needs"
    msg = error_line(capsys, "predict", model_path, new_csv, "-o", tmp_path / "s.csv", "--id", "x")
    assert msg == f"{new_csv}, column 'x': no such id column in the file"
    assert not (tmp_path / "s.csv").exists()


def test_evaluate_label_problems(files, capsys, tmp_path):
    _, _, new_csv, model_path = files
    msg = error_line(capsys, "evaluate", model_path, new_csv, "--target", "outcome")
    assert msg == f"{new_csv}, column 'outcome': target column not found in the file"
    path = tmp_path / "labels.csv"
    pd.read_csv(new_csv).assign(default=lambda f: f["default"].where(f.index != 9, 7)).to_csv(
        path, index=False
    )
    msg = error_line(capsys, "evaluate", model_path, path)
    assert (
        msg
        == f"{path}, column 'default', row 10: label '7' is not one of the model's classes (0, 1)"
    )


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        main(["--debug", "train", str(tmp_path / "x.csv"), "--target", "d", "-o", "m"])


def test_subprocess_entry_point(files, tmp_path):
    _, _, new_csv, model_path = files
    result = subprocess.run(
        [sys.executable, "-m", "backprop_lab", "predict", str(model_path), str(new_csv),
         "-o", "-", "--chunk-size", "1000"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.splitlines()[0] == "loan_id,p_default"
    assert len(result.stdout.splitlines()) == 401
