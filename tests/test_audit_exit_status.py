"""``audit`` exits with status 1 when the Regulation B age check fails, 0 when it passes,
as ``gradcheck`` exits 1 when its check fails."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from cli_support import run

from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.data import make_credit_risk


def _model_where_age(direction: float, tmp_path, name: str):
    """A model trained on borrowers whose risk rises (direction +1) or falls (-1) with age,
    steeply: log-odds 4 * direction * (age - 45) / 15, so the network learns it for sure."""
    frame = make_credit_risk(600, seed=0).frame()
    rng = np.random.default_rng(0)
    logit = 4.0 * direction * (frame["age"].to_numpy() - 45.0) / 15.0
    frame["default"] = (rng.random(len(frame)) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    data = tmp_path / f"{name}.csv"
    frame.to_csv(data, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(
            pd.read_csv(data, dtype=str), "default", hidden_layer_sizes=(4,), verbose=False
        )
    path = tmp_path / f"{name}.blab"
    model.save(path)
    return path, data


@pytest.mark.parametrize(("direction", "status", "verdict"), [(1.0, 1, "FAIL"), (-1.0, 0, "PASS")])
def test_audit_status_follows_the_age_check(direction, status, verdict, tmp_path, capsys):
    model, data = _model_where_age(direction, tmp_path, "rises" if direction > 0 else "falls")
    code, out, err = run(
        ["audit", model, data, "--group", "age", "--n-bootstrap", "0", "-o", tmp_path / "a.json"],
        capsys,
    )
    assert f"  {verdict}: age counts less favourably" in out
    assert code == status, err
    assert (tmp_path / "a.json").exists()  # the audit is written whatever the verdict
    if status:
        assert "Regulation B age check failed" in err


def test_audit_without_age_input_exits_zero(tmp_path, capsys):
    frame = make_credit_risk(300, seed=1).frame().drop(columns=["age"])
    frame["band"] = np.where(np.arange(len(frame)) % 2, "a", "b")
    data = tmp_path / "no_age.csv"
    frame.to_csv(data, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(
            pd.read_csv(data, dtype=str), "default", hidden_layer_sizes=(4,), max_epochs=30,
            early_stopping=False, verbose=False,
        )  # fmt: skip
    model.save(tmp_path / "m.blab")
    code, out, err = run(
        ["audit", tmp_path / "m.blab", data, "--group", "band", "--n-bootstrap", "0"], capsys
    )
    assert code == 0, err
    assert "Regulation B" in out and "PASS" not in out and "FAIL" not in out
