"""`train`, `predict` and `evaluate` with --scheduler: the commands against the test
session's LocalCluster (its address), and an unreachable scheduler as one error line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    frame = make_credit_risk(900, seed=9).frame()
    (root / "loans").mkdir()
    for i in range(3):
        part = frame.iloc[i * 300 : (i + 1) * 300].reset_index(drop=True)
        part.to_parquet(root / "loans" / f"p{i}.parquet")
    return root, frame


def test_train_predict_evaluate_on_a_cluster(dask_client, folder, capsys):
    root, frame = folder
    address = dask_client.scheduler.address
    pattern = str(root / "loans" / "*.parquet")
    model = str(root / "m.blab")
    code = main(["train", pattern, "--target", "default", "-o", model, "--scheduler", address,
                 "--epochs", "15", "--early-stopping", "off"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "dashboard http" in err
    assert "iteration     1  loss" in err and " s\n" in err
    assert "trained a 7-8-1 network on 3 file(s)" in out

    scores = root / "scores"
    assert main(["predict", model, pattern, "-o", str(scores), "--scheduler", address]) == 0
    written = sorted(scores.glob("part-*.parquet"))
    assert len(written) == 3
    p = pd.concat([pd.read_parquet(f) for f in written])["p_default"].to_numpy()

    from backprop_lab.classifier.tabular_model import load_model

    loaded = load_model(model)
    np.testing.assert_allclose(p, loaded.p_default(frame), rtol=1e-12)

    report = root / "metrics.json"
    capsys.readouterr()
    assert main(["evaluate", model, pattern, "--scheduler", address, "-o", str(report)]) == 0
    metrics = json.loads(report.read_text())["metrics"]
    assert metrics["n"] == 900
    assert "score bins" in capsys.readouterr().out


def test_unreachable_scheduler_is_one_line(folder, capsys):
    root, _ = folder
    code = main(["train", str(root / "loans" / "*.parquet"), "--target", "default",
                 "-o", str(root / "never.blab"), "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "backprop-lab: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1"
    )
    assert err.count("\n") == 1
    assert not (root / "never.blab").exists()
