"""``monitor``: training distributions stored by ``train``, new files read in chunks, the
table, JSON, figure and exit status; old model files and bad input."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import run
from crafted_model_files import members, write_model
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_lab.classifier.drift import NumericBins, psi
from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.classifier.monitor import DriftCounter, monitor_csv, monitor_frame
from backprop_lab.classifier.tabular_model import load_model
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import read_csv

PURPOSES = np.array(["car", "home", "study"], dtype=object)


def borrowers(n: int, seed: int, *, late_shift: int = 0, purpose_p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    """The generator's borrowers with a categorical 'purpose' column; ``late_shift`` more
    late payments each (a planted shift)."""
    frame = make_credit_risk(n, seed=seed).frame()
    frame["late_payments"] += late_shift
    frame["purpose"] = np.random.default_rng(seed + 100).choice(PURPOSES, n, p=purpose_p)
    return frame


def fit_quietly(frame: pd.DataFrame, **options) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopped while still improving: on purpose
        return fit_tabular(
            frame,
            "default",
            hidden_layer_sizes=(4,),
            max_epochs=30,
            early_stopping=False,
            verbose=False,
            **options,
        )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("monitor")
    paths = {name: folder / f"{name}.csv" for name in ("train", "same", "shifted")}
    borrowers(3000, seed=0).to_csv(paths["train"], index=False)
    borrowers(2000, seed=1).drop(columns="default").to_csv(paths["same"], index=False)
    shifted = borrowers(2000, seed=1, late_shift=2, purpose_p=(0.2, 0.3, 0.5))
    shifted.drop(columns="default").to_csv(paths["shifted"], index=False)
    model = fit_quietly(read_csv(paths["train"]), categorical=["purpose"], file=paths["train"])
    model.save(folder / "model.blab")
    paths["model"] = folder / "model.blab"
    return paths


# ---- what train stores ----------------------------------------------------------------------
def test_the_distributions_are_those_of_the_training_rows():
    """With no rows held out, the training rows are the whole file: the stored bins are
    the deciles of each column and the counts of each category."""
    frame = borrowers(1000, seed=2)
    model = fit_quietly(frame.astype(str), categorical=["purpose"], test_size=0)
    ref = model.training_distributions
    assert ref.rows == 1000
    age = frame["age"].to_numpy()
    np.testing.assert_array_equal(
        ref.columns["age"].edges, np.quantile(age, np.arange(1, 10) / 10)
    )  # float64 text round-trips exactly, and age has no repeated deciles
    purpose = ref.columns["purpose"]
    assert purpose.categories == ["car", "home", "study"]
    counts = frame["purpose"].value_counts()
    assert purpose.counts == [counts["car"], counts["home"], counts["study"], 0, 0]
    p = model.p_default(frame.astype(str))
    assert ref.score.counts == NumericBins.fit(p).counts


def test_with_held_out_and_calibration_rows_only_the_network_rows_are_counted():
    model = fit_quietly(borrowers(1000, seed=3).astype(str), calibrate="platt")
    info = model.training
    assert model.training_distributions.rows == info["train_rows"]
    assert info["train_rows"] + info["calibration_rows"] + info["test_rows"] == 1000
    assert "calibration rows" in model.training_distributions.rows_used


def test_drift_bins_zero_stores_none_and_other_counts_are_kept():
    frame = borrowers(400, seed=4).astype(str)
    assert fit_quietly(frame, drift_bins=0).training_distributions is None
    ref = fit_quietly(frame, drift_bins=4).training_distributions
    assert len(ref.columns["age"].edges) == 3 and ref.n_bins == 4


def test_the_distributions_survive_save_and_load(files, tmp_path):
    model = load_model(files["model"])
    again = tmp_path / "again.blab"
    model.save(again)
    assert load_model(again).training_distributions.to_dict() == (
        model.training_distributions.to_dict()
    )
    metadata = json.loads(members(files["model"])["metadata.json"])
    assert set(metadata["training_distributions"]["columns"]) == set(model.input_columns)


def _without_distributions(source: Path, target: Path, block: object = None) -> Path:
    """The model file as a version without stored distributions wrote it (or with ``block``)."""
    parts = members(source)
    metadata = json.loads(parts["metadata.json"])
    if block is None:
        del metadata["training_distributions"]
    else:
        metadata["training_distributions"] = block
    return write_model(target, metadata, parts["arrays.npz"])


def test_an_old_model_file_loads_and_monitor_says_how_to_fix_it(files, tmp_path, capsys):
    old = _without_distributions(files["model"], tmp_path / "old.blab")
    assert load_model(old).training_distributions is None
    status, out, err = run(["monitor", old, files["same"]], capsys)
    assert status == 2 and out == ""
    assert "old.blab: the model has no stored training distributions" in err
    assert "retrain" in err and "--reference TRAIN.csv" in err
    # the training file as the reference: the same bins as stored (no rows held out there,
    # so the counts differ), and the same table layout
    status, out, err = run(["monitor", old, files["same"], "--reference", files["train"]], capsys)
    assert status == 0, err
    assert f"3,000 rows, computed from {files['train']}" in out


def test_a_damaged_distributions_block_is_refused_naming_the_field(files, tmp_path):
    block = load_model(files["model"]).training_distributions.to_dict()
    block["columns"]["age"]["counts"][0] = -1
    bad = _without_distributions(files["model"], tmp_path / "bad.blab", block)
    with pytest.raises(ValueError, match=r"training_distributions\.columns\.age\.counts must be"):
        load_model(bad)
    block = load_model(files["model"]).training_distributions.to_dict()
    block["columns"]["income"] = block["columns"].pop("annual_income")
    bad = _without_distributions(files["model"], tmp_path / "renamed.blab", block)
    with pytest.raises(ValueError, match="model's source columns are"):
        load_model(bad)


# ---- counting new rows -------------------------------------------------------------------------
def test_chunks_give_the_same_counts_as_one_read(files):
    model = load_model(files["model"])
    whole = monitor_csv(model, files["shifted"], chunk_size=1_000_000).to_dict()
    assert monitor_csv(model, files["shifted"], chunk_size=37).to_dict() == whole
    in_memory = monitor_frame(model, read_csv(files["shifted"])).to_dict()
    assert in_memory["indices"] == whole["indices"]


def test_a_parquet_file_gives_the_counts_of_its_csv(files, tmp_path):
    model = load_model(files["model"])
    parquet = tmp_path / "shifted.parquet"
    read_csv(files["shifted"]).to_parquet(parquet, index=False)  # the columns as text
    from_csv = monitor_csv(model, files["shifted"], chunk_size=500).to_dict()
    from_parquet = monitor_csv(model, parquet, chunk_size=500).to_dict()
    assert from_parquet["indices"] == from_csv["indices"]
    typed = tmp_path / "typed.parquet"  # numbers stored as numbers
    pd.read_csv(files["shifted"]).to_parquet(typed, index=False)
    assert monitor_csv(model, typed, chunk_size=500).to_dict()["indices"] == from_csv["indices"]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 1999), max_size=6))
def test_counts_add_up_over_any_split_into_chunks(files, cuts):
    model = load_model(files["model"])
    frame = read_csv(files["shifted"])
    whole = DriftCounter(model, model.training_distributions)
    whole.add(frame)
    parts = DriftCounter(model, model.training_distributions)
    bounds = [0, *sorted(set(cuts)), len(frame)]
    for start, stop in itertools.pairwise(bounds):
        parts.add(frame.iloc[start:stop])
    assert parts.rows == whole.rows == len(frame)
    np.testing.assert_array_equal(parts.score, whole.score)
    for name, counts in whole.counts.items():
        np.testing.assert_array_equal(parts.counts[name], counts)


def test_a_planted_shift_is_found_and_recounted_independently(files):
    model = load_model(files["model"])
    ref = model.training_distributions
    report = monitor_csv(model, files["shifted"])
    top = report.indices[0]
    assert (top.name, report.indices[1].name) == ("late_payments", "purpose")
    # the same counts by pandas' binning of the new column at the stored edges
    late = pd.read_csv(files["shifted"])["late_payments"]
    cut = pd.cut(late, [-np.inf, *ref.columns["late_payments"].edges, np.inf], right=True)
    recount = [*cut.value_counts(sort=False).tolist(), 0]  # no missing values
    assert top.actual.tolist() == recount
    assert top.index == pytest.approx(psi(ref.columns["late_payments"].counts, recount), rel=1e-15)
    # purpose re-weighted from (0.5, 0.3, 0.2) to (0.2, 0.3, 0.5): about
    # 0.3 ln(2.5) * 2 = 0.55 in the population; the sample's own shares decide the rest
    assert report.indices[1].index > 0.25
    same = monitor_csv(model, files["same"])
    # no shift: E[PSI] ~ (B - 1)(1/n_e + 1/n_a) = 9 (1/2400 + 1/2000) = 0.008 for 10 bins,
    # standard deviation sqrt(2 * 9) (1/2400 + 1/2000) = 0.004: 0.1 is 20 sd above the mean
    assert max(d.index for d in same.indices) < 0.1
    assert report.score.index > 5 * same.score.index  # late payments raise the score


def test_rows_the_model_cannot_score_are_counted_not_refused(files, tmp_path):
    """A model trained without imputation cannot score a row with a missing value; such a
    row is counted in its columns' missing bins and in the score's 'unscored' bin."""
    frame = pd.read_csv(files["same"])
    frame.loc[:99, "age"] = np.nan  # 100 of 2000 rows: 5%, none in training
    frame.loc[50:149, "purpose"] = np.nan  # 100 more missing purposes, 50 rows overlapping
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    model = load_model(files["model"])
    assert model.preprocessor.impute == "none"
    report = {d.name: d for d in monitor_csv(model, tmp_path / "gaps.csv").indices}
    age, score = report["age"], report["P(default)"]
    assert age.labels[-1] == "missing" and age.actual[-1] == 100
    # the floored term of a bin empty in training: (0.05 - 1e-4) ln(0.05 / 1e-4)
    assert age.terms[-1] == pytest.approx((0.05 - 1e-4) * np.log(0.05 / 1e-4), rel=1e-12)
    assert report["purpose"].actual[-1] == 100
    assert score.labels[-1] == "unscored (missing value)" and score.actual[-1] == 150
    assert score.actual.sum() == 2000


# ---- the command -------------------------------------------------------------------------------
def test_the_table_json_and_exit_status(files, tmp_path, capsys):
    out_json = tmp_path / "drift.json"
    status, out, err = run(
        ["monitor", files["model"], files["shifted"], "-o", out_json, "--fail-above", "0.25"],
        capsys,
    )
    assert status == 1
    assert "index(es) above --fail-above 0.25: late_payments" in err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("variable"))
    first = lines[header + 1].split()
    assert first[:3] == ["late_payments", "numeric", "(CSI)"] and first[5] == "act"
    report = json.loads(out_json.read_text(), parse_constant=lambda c: pytest.fail(c))
    indices = [d["index"] for d in report["indices"]]
    assert indices == sorted(indices, reverse=True)
    assert report["indices"][0]["variable"] == "late_payments"
    assert f"{indices[0]:.4f}" == first[4]
    for d in report["indices"]:
        assert sum(b["actual_share"] for b in d["bins"]) == pytest.approx(1.0, abs=1e-12)
        assert sum(b["term"] for b in d["bins"]) == pytest.approx(d["index"], rel=1e-12)
    status, _, err = run(["monitor", files["model"], files["same"], "--fail-above", "0.25"], capsys)
    assert status == 0, err
    # "above" is strictly above: the largest index itself passes
    largest = repr(indices[0])
    status, _, _ = run(
        ["monitor", files["model"], files["shifted"], "--fail-above", largest], capsys
    )
    assert status == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--watch", "0.3", "--act", "0.2"], "0 <= watch <= act"),
        (["--fail-above", "-1"], "--fail-above must be 0 or more"),
        (["--fail-above", "nan"], "must be a finite number"),
        (["--chunk-size", "0"], "must be at least 1"),
        (["--plot", "drift.xyz"], "cannot draw a '.xyz' file"),
    ],
)
def test_bad_options_exit_2(files, options, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(["monitor", files["model"], files["same"], *options], capsys)
    assert status == 2 and message in err and out == ""


def test_bad_files_are_named_with_column_and_row(files, tmp_path, capsys):
    frame = pd.read_csv(files["same"])
    frame.drop(columns="purpose").to_csv(tmp_path / "no_purpose.csv", index=False)
    status, _, err = run(["monitor", files["model"], tmp_path / "no_purpose.csv"], capsys)
    assert status == 2 and "no_purpose.csv, column 'purpose': missing column" in err
    frame = frame.astype(object)
    frame.loc[1500, "age"] = "forty"
    frame.to_csv(tmp_path / "text.csv", index=False)
    status, _, err = run(
        ["monitor", files["model"], tmp_path / "text.csv", "--chunk-size", "1000"], capsys
    )
    assert status == 2 and "text.csv, column 'age', row 1501: text 'forty'" in err
    status, _, err = run(["monitor", files["model"], files["same"], "-o", files["same"]], capsys)
    assert status == 2 and "is the data file" in err


def test_the_figure_is_written_whole_or_not_at_all(files, tmp_path, capsys):
    plot = tmp_path / "drift.png"
    status, _, err = run(["monitor", files["model"], files["shifted"], "--plot", plot], capsys)
    assert status == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift.png"]  # no temporary left
    before = plot.read_bytes()
    bad = tmp_path / "bad.csv"
    pd.read_csv(files["same"]).drop(columns="age").to_csv(bad, index=False)
    status, _, _ = run(["monitor", files["model"], bad, "--plot", plot], capsys)
    assert status == 2 and plot.read_bytes() == before  # failed before anything was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "drift.png"]


def test_a_multiclass_model_has_column_indices_only(tmp_path):
    frame = borrowers(600, seed=5)
    frame["default"] = np.digitize(frame["debt_to_income"], [0.25, 0.45])  # three classes
    model = fit_quietly(frame.astype(str), multiclass=True)
    assert model.training_distributions.score is None
    report = monitor_frame(model, frame.astype(str))
    assert report.score is None and {d.kind for d in report.indices} == {"numeric", "categorical"}
