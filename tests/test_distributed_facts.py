"""A model trained on a table of files carries the facts an in-memory one does: the
training distributions (for ``monitor``) and the model_card block, built from
per-partition pieces on the test session's LocalCluster.

Tolerances: none. The quantile edges are np.quantile's (selection by counting finds the
same order statistics and interpolates them with numpy's own formula), counts add up,
and a row's score does not depend on which other rows share its partition (checked
below with the gathered rows' scores), so every comparison is exact; PSI sums the
same terms in the same order.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from table_support import parquet_parts

from backprop_lab.classifier.card_facts import training_facts
from backprop_lab.classifier.drift import psi
from backprop_lab.classifier.monitor import reference_distributions
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import parse_target, with_numbers

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")

SIZES = (300, 50, 450)
PARAMS = dict(activation="sigmoid", optimizer="momentum", learning_rate=0.3, max_epochs=10,
              early_stopping=False, alpha=10.0)  # fmt: skip
TEST_SIZE, SEED = 0.2, 0


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    """Three Parquet files: a text column, gaps, and a column of many ties."""
    d = make_credit_risk(sum(SIZES), seed=11)
    frame = d.frame()
    rng = np.random.default_rng(2)
    frame["purpose"] = rng.choice(["car", "home", "study"], size=len(frame))
    frame["late_payments"] = rng.choice([0.0, 0.0, 0.0, 1.0, 2.0], size=len(frame))
    frame.loc[rng.random(len(frame)) < 0.05, "annual_income"] = np.nan
    pattern, files = parquet_parts(frame, SIZES, tmp_path_factory.mktemp("facts"))
    return frame, pattern, files


@pytest.fixture(scope="module")
def fitted(dask_client, loans):
    from backprop_lab.distributed import fit_table

    _, pattern, _ = loans
    return fit_table(pattern, "default", impute="median", test_size=TEST_SIZE, seed=SEED,
                     categorical=["purpose"], **PARAMS)  # fmt: skip


def _shares(files, seed=SEED + 7919):
    from backprop_lab.distributed.tables import test_rows, training_rows

    parts = [pd.read_parquet(f) for f in files]
    train = pd.concat([training_rows(p, TEST_SIZE, seed) for p in parts])
    test = pd.concat([test_rows(p, TEST_SIZE, seed) for p in parts])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _same_bins(a, b):
    assert a.to_dict() == b.to_dict()


def test_distributions_equal_a_recount_of_the_training_rows(fitted, loans):
    _, _, files = loans
    train, _ = _shares(files)
    ref = reference_distributions(fitted, train, n_bins=10)
    got = fitted.training_distributions
    assert got is not None and got.rows == len(train) == ref.rows
    assert list(got.columns) == list(ref.columns)
    for name in ref.columns:
        _same_bins(got.columns[name], ref.columns[name])
    _same_bins(got.score, ref.score)
    assert len(got.columns["late_payments"].edges) < 9  # ties merged, as in memory


@pytest.mark.parametrize(("refine_bins", "gather_limit"), [(4, 8), (2, 1), (1024, 10**6)])
def test_edges_are_numpys_quantiles_through_every_refinement_path(
    dask_client, fitted, loans, refine_bins, gather_limit
):
    # (2, 1): many passes, never more than one value gathered per interval;
    # (1024, 10**6): everything gathered in the first pass.
    from backprop_lab.distributed import read_table
    from backprop_lab.distributed.facts import table_facts

    _, pattern, files = loans
    train, _ = _shares(files)
    for n_bins in (2, 7, 100):
        got, _, _ = table_facts(fitted, read_table(pattern), test_size=TEST_SIZE,
                                test_seed=SEED + 7919, n_bins=n_bins, client=dask_client,
                                refine_bins=refine_bins, gather_limit=gather_limit)  # fmt: skip
        ref = reference_distributions(fitted, train, n_bins=n_bins)
        assert got.to_dict()["columns"] == ref.to_dict()["columns"]
        assert got.score.to_dict() == ref.score.to_dict()


def test_model_card_facts_equal_training_facts(fitted, loans):
    _, _, files = loans
    train, test = _shares(files)
    frame = pd.concat([train, test], ignore_index=True)
    num = fitted.training["numeric"]
    frame = with_numbers(frame, num)
    labels = parse_target(frame["default"])
    every = np.arange(len(frame))
    ref = training_facts(frame, labels, fitted.positive_class, train_rows=every[: len(train)],
                         test_rows=every[len(train):], calibration_rows=every[:0],
                         numeric=num)  # fmt: skip
    assert fitted.model_card == ref
    assert fitted.training["rows"] == sum(SIZES)
    assert fitted.training["train_rows"] == len(train)


def test_drift_bins_zero_stores_none(dask_client, loans):
    from backprop_lab.distributed import fit_table

    _, pattern, _ = loans
    model = fit_table(pattern, "default", impute="median", drift_bins=0, **PARAMS)
    assert model.training_distributions is None
    assert model.model_card["splits"]["all"]["rows"] == sum(SIZES)


def test_train_then_monitor_and_card_on_a_cluster_model(dask_client, loans, tmp_path, capsys):
    from backprop_lab.classifier.tabular_model import load_model

    frame, pattern, files = loans
    address = dask_client.scheduler.address
    model_path = str(tmp_path / "cl.blab")
    code = main(["train", pattern, "--target", "default", "-o", model_path, "--scheduler",
                 address, "--epochs", "5", "--early-stopping", "off", "--impute", "median",
                 "--categorical", "purpose", "--drift-bins", "5",
                 "--calibrate", "platt"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "calibrated (platt) on " in out
    model = load_model(model_path)
    stored = model.training_distributions
    assert stored.n_bins == 5

    new = frame.sample(frac=0.5, random_state=3).copy()
    new["annual_income"] = new["annual_income"] * 1.5  # a shift to measure
    new_csv = tmp_path / "new.csv"
    new.to_csv(new_csv, index=False)
    report_path = tmp_path / "drift.json"
    capsys.readouterr()
    code = main(["monitor", model_path, str(new_csv), "-o", str(report_path)])
    _, err = capsys.readouterr()
    assert code == 0, err
    report = {r["variable"]: r for r in json.loads(report_path.read_text())["indices"]}

    # the recount with pandas: the training rows' and the new rows' counts in the stored
    # bins; the training rows are those outside the test and the calibration shares
    from backprop_lab.distributed.tables import training_rows

    share = (0.2, SEED + 104729)  # --calibration-size 0.2 (the default)
    train = pd.concat([training_rows(pd.read_parquet(f), TEST_SIZE, SEED + 7919, share)
                       for f in files])  # fmt: skip
    assert stored.rows == len(train)
    for name, bins in stored.columns.items():
        if name == "purpose":
            continue
        x = new[name].to_numpy(dtype=float)
        actual = bins.count(x)
        expected = bins.count(train[name].to_numpy(dtype=float))
        assert expected.tolist() == bins.counts
        assert report[name]["index"] == psi(expected, actual)
    assert report["annual_income"]["index"] > 0.25

    card = tmp_path / "card.md"
    assert main(["card", model_path, "-o", str(card)]) == 0, capsys.readouterr().err
    text = card.read_text()
    assert "not recorded (model saved before they were)" not in text
    assert "| L2 strength (alpha) | auto (10.0) |" in text  # alpha as resolved
    assert f"{len(train):,}" in text


def _loss_grad_hess(theta, z, y):
    """Mean log loss of sigma(a z + b), its gradient and Hessian in (a, b)."""
    from scipy.special import expit, log_expit

    u = theta[0] * z + theta[1]
    p = expit(u)
    loss = -np.mean(y * log_expit(u) + (1 - y) * log_expit(-u))
    X = np.column_stack([z, np.ones_like(z)])
    return loss, X.T @ (p - y) / z.size, (X * (p * (1 - p))[:, None]).T @ X / z.size


@pytest.mark.parametrize("method", ["platt", "temperature"])
def test_calibration_equals_the_in_memory_fit_on_the_same_rows(dask_client, loans, method):
    from backprop_lab.classifier.calibration import fit_calibrator
    from backprop_lab.distributed import fit_table
    from backprop_lab.distributed.tables import calibration_rows

    _, pattern, files = loans
    model = fit_table(pattern, "default", impute="median", categorical=["purpose"],
                      calibrate=method, calibration_size=0.3, **PARAMS)  # fmt: skip
    share = (0.3, SEED + 104729)
    rows = pd.concat([calibration_rows(pd.read_parquet(f), TEST_SIZE, SEED + 7919, share)
                      for f in files])  # fmt: skip
    z = model.default_logits(model.transform(rows))
    y = (model.class_index(rows["default"]) == model.positive_index).astype(float)
    cal = model.training["calibration"]
    assert cal["rows"] == len(rows) == model.model_card["splits"]["calibration"]["rows"]
    assert model.model_card["splits"]["train"]["rows"] == model.training_distributions.rows

    slope_only = method == "temperature"
    got = model.calibrator.to_dict()
    theta = np.array([got["a"], got["b"]] if not slope_only else [1 / got["temperature"], 0.0])
    loss, grad, _ = _loss_grad_hess(theta, z, y)
    k = 1 if slope_only else 2
    # the cluster's Newton steps stop at the minimum: the gradient there is round-off,
    # N * eps * (mean |z| + 1) ~ 1e-16 * 500 * 5 < 1e-12 (a correct fit gives ~1e-15)
    assert np.max(np.abs(grad[:k])) < 1e-12
    assert cal["log_loss_after"] == pytest.approx(loss, rel=1e-12)
    # the in-memory fit (L-BFGS-B) on the same rows stops near that minimum; its distance
    # from it is, to second order, the Newton step H^{-1} g at its own point: the two
    # parameter vectors differ by that step, to within its square (quadratic convergence)
    # plus round-off (1e-12 above, times |H^{-1}| < 1e3 here: 1e-9)
    ref = fit_calibrator(method, z, y).to_dict()
    ref_theta = np.array([ref["a"], ref["b"]] if not slope_only else [1 / ref["temperature"], 0.0])
    _, g_ref, h_ref = _loss_grad_hess(ref_theta, z, y)
    newton = np.linalg.solve(h_ref[:k, :k], g_ref[:k])
    assert np.linalg.eigvalsh(h_ref[:k, :k]).min() > 1e-3
    bound = 10 * (float(np.max(np.abs(newton))) ** 2 + 1e-9)
    assert np.max(np.abs((ref_theta[:k] - newton) - theta[:k])) < bound
    # and both minimise: the cluster's loss is not above the in-memory one's
    ref_loss = _loss_grad_hess(ref_theta, z, y)[0]
    assert loss <= ref_loss + 1e-15


def test_platt_on_a_cluster_with_one_logit_for_every_row(dask_client, tmp_path):
    """Every row alike: every logit z is the same, so Platt's Hessian (the Gram matrix of
    [z, 1] weighted by p(1-p)) is singular. The fit still ends, at the best constant:
    sigmoid(a z + b) = the calibration rows' default rate. Newton steps converge
    quadratically to a step of 1e-12, so the rate is met to ~1e-12 (bound 1e-9)."""
    from backprop_lab.distributed import fit_table

    rows = 400
    frame = pd.DataFrame({"loan_id": np.arange(rows), "income": np.full(rows, 50_000.0),
                          "age": np.full(rows, 40.0), "default": np.arange(rows) % 4 == 0})  # fmt: skip
    for i in range(2):
        frame.iloc[i * 200 : (i + 1) * 200].to_parquet(tmp_path / f"part{i}.parquet")
    model = fit_table(str(tmp_path / "*.parquet"), "default", id_column="loan_id",
                      calibrate="platt", calibration_size=0.5, **PARAMS)  # fmt: skip
    cal = model.training["calibration"]
    p = model.predict_proba(frame.head(1))[0, model.positive_index]
    from backprop_lab.distributed.tables import calibration_rows

    share = (0.5, SEED + 104729)
    y = pd.concat([calibration_rows(pd.read_parquet(tmp_path / f"part{i}.parquet"), TEST_SIZE,
                                    SEED + 7919, share) for i in range(2)])["default"]  # fmt: skip
    assert cal["rows"] == len(y)
    assert abs(p - y.mean()) < 1e-9
