"""Tables of Parquet/CSV files on a LocalCluster: the Preprocessor, the fit, the
evaluation and the predictions equal the in-memory ones on the same rows.

Tolerances: sums in another order differ by a few ulps (~1e-16 relative); 1e-10 leaves
a margin of 10^5. AUC and KS come from a 2^16-bin histogram: they may differ from the
exact ones by at most the reported bin errors (checked as such).
"""

from __future__ import annotations

import numpy as np
import pytest
from table_support import parquet_parts

from backprop_lab import BackpropClassifier
from backprop_lab.classifier.metrics import credit_metrics
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import Preprocessor

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")

SIZES = (300, 50, 450)
# alpha=10: one network, as a table on a cluster gets (see test_distributed_fit.py)
PARAMS = dict(activation="sigmoid", optimizer="momentum", learning_rate=0.3, max_epochs=20,
              early_stopping=False, alpha=10.0)  # fmt: skip


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    """Three Parquet files of one synthetic loan table, with a text column and gaps."""
    d = make_credit_risk(sum(SIZES), seed=5)
    frame = d.frame()
    rng = np.random.default_rng(1)
    frame["purpose"] = rng.choice(["car", "home", "study"], size=len(frame))
    frame.loc[rng.random(len(frame)) < 0.05, "annual_income"] = np.nan
    pattern, files = parquet_parts(frame, SIZES, tmp_path_factory.mktemp("loans"))
    return frame, pattern, files


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _split(frame, files, fraction, seed):
    """The rows of each file in the hashed share, concatenated in file order."""
    from backprop_lab.distributed.tables import test_rows, training_rows

    parts = [pd.read_parquet(f) for f in files]
    train = pd.concat([training_rows(p, fraction, seed) for p in parts])
    test = pd.concat([test_rows(p, fraction, seed) for p in parts])
    return train, test


@pytest.mark.parametrize("impute", ["median", "mean", "most_frequent"])
def test_preprocessor_from_distributed_statistics(dask_client, loans, impute):
    from backprop_lab.distributed import fit_preprocessor, read_table

    frame, pattern, _ = loans
    numeric = [c for c in frame.columns if c not in ("default", "purpose")]
    pre = fit_preprocessor(read_table(pattern), numeric, ["purpose"], impute=impute)
    ref = Preprocessor.fit(frame, numeric, ["purpose"], impute=impute)
    assert type(pre) is Preprocessor
    for a, b in zip(pre.numeric, ref.numeric, strict=True):
        assert a.name == b.name and a.fill == pytest.approx(b.fill, rel=1e-12)
        assert a.mean == pytest.approx(b.mean, rel=1e-12, abs=1e-12)
        assert a.scale == pytest.approx(b.scale, rel=1e-12)
    assert [vars(c) for c in pre.categorical] == [vars(c) for c in ref.categorical]


def test_fit_evaluate_predict_on_a_table(dask_client, loans, tmp_path):
    from backprop_lab.classifier.tabular_model import load_model
    from backprop_lab.distributed import evaluate_table, fit_table, predict_table
    from backprop_lab.distributed.tabular import TEST_SEED_OFFSET

    frame, pattern, files = loans
    with pytest.warns(Warning):
        model = fit_table(pattern, "default", impute="median", seed=4, **PARAMS)
    train, test = _split(frame, files, 0.2, 4 + TEST_SEED_OFFSET)
    assert model.metrics["n"] == len(test) and 100 < len(test) < 220  # ~20% of 800
    numeric = model.training["numeric"]
    ref_pre = Preprocessor.fit(train, numeric, ["purpose"], impute="median")
    ref = BackpropClassifier(**PARAMS, random_state=4)
    with pytest.warns(Warning):
        ref.fit(ref_pre.transform(train), train["default"].to_numpy())
    assert _rel(model.classifier.loss_curve_, ref.loss_curve_) < 1e-10

    # the held-out metrics: the in-memory ones on the same rows
    p = model.predict_proba(test)[:, model.positive_index]
    expected = credit_metrics(test["default"].to_numpy(), p)
    got = model.metrics
    for key in ("n", "defaults", "confusion_matrix"):
        assert got[key] == expected[key]
    for key in ("default_rate", "mean_predicted", "log_loss", "brier",
                "expected_calibration_error", "accuracy"):  # fmt: skip
        assert got[key] == pytest.approx(expected[key], rel=1e-10)
    assert abs(got["roc_auc"] - expected["roc_auc"]) <= got["roc_auc_bin_error"] + 1e-12
    assert got["roc_auc_bin_error"] < 1e-3
    assert abs(got["ks"] - expected["ks"]) <= got["ks_bin_error"] + 1e-12
    for a, b in zip(got["deciles"], expected["deciles"], strict=True):
        assert a["rows"] == b["rows"] and a["defaults"] == b["defaults"]
        assert a["min_score"] == b["min_score"] and a["max_score"] == b["max_score"]
        assert a["predicted_rate"] == pytest.approx(b["predicted_rate"], rel=1e-10)

    # the model saves and loads as any TabularModel; evaluating every row of the table
    model.save(tmp_path / "m.blab")
    loaded = load_model(tmp_path / "m.blab")
    everything = evaluate_table(loaded, pattern)
    p_all = loaded.predict_proba(frame)[:, loaded.positive_index]
    assert everything["log_loss"] == pytest.approx(
        credit_metrics(frame["default"].to_numpy(), p_all)["log_loss"], rel=1e-10
    )
    n, written = predict_table(loaded, pattern, tmp_path / "scores")
    assert n == len(frame) and len(written) == 3
    scores = pd.concat([pd.read_parquet(f) for f in written])
    np.testing.assert_allclose(scores["p_default"].to_numpy(), p_all, rtol=1e-12)


def test_a_bad_cell_names_the_file_and_row(dask_client, loans, tmp_path):
    from backprop_lab.distributed import fit_table

    frame, _, _ = loans
    bad = frame.iloc[:100].copy().reset_index(drop=True)
    bad["annual_income"] = bad["annual_income"].astype(object)
    bad.loc[41, "annual_income"] = "12k"
    frame.iloc[100:200].to_csv(tmp_path / "a.csv", index=False)
    bad.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match=r"b\.csv.*row 42|row 42.*b\.csv"):
        fit_table(str(tmp_path / "*.csv"), "default", impute="median", **PARAMS)
