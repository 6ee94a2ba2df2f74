"""Auditing a saved model on a CSV file chunk by chunk: same answer, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from backprop_lab import fit_tabular
from backprop_lab._util.validation import InputError
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import read_csv
from backprop_lab.responsible import fairness_stream
from backprop_lab.responsible.audit import MAX_GROUPS, GroupCoder, audit_csv, audit_model


def borrowers(n: int, seed: int) -> pd.DataFrame:
    frame = make_credit_risk(n, seed=seed, planted_bias=1.0).frame()
    frame["region"] = np.random.default_rng(seed).choice(["north", "south", "west"], n)
    return frame


@pytest.fixture(scope="module")
def model():
    return fit_tabular(borrowers(2000, 1), "default", drop=["group", "region"], seed=0)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "applicants.csv"
    borrowers(300, 2).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("group", ["age", "region"])
def test_chunk_size_does_not_change_the_audit(model, small_csv, group):
    results = [
        audit_csv(model, small_csv, group, n_bootstrap=200, chunk_size=size)
        for size in (7, 100, 10_000)
    ]
    # Weights keyed by row position, sums in row order, exact medians: the same audit.
    first = json.loads(results[0].to_json())
    for other in results[1:]:
        same(json.loads(other.to_json()), first)
    assert results[0].age_check is not None and results[0].age_check.n_elderly > 0
    # a frame in memory gives the same audit as its file
    frame = audit_model(model, read_csv(small_csv), group, n_bootstrap=200, chunk_size=64)
    same(json.loads(frame.to_json()), first)


def same(got: object, want: object) -> None:
    """Equal JSON, numbers up to round-off: the network's matrix products may round a row
    differently in a batch of 7 than of 300 rows (1e-16 relative); 1e-12 is far above."""
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            same(g, w)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    else:
        assert got == want


def test_the_age_check_is_the_in_memory_one(model, small_csv):
    from backprop_lab.responsible.explain import model_attributions
    from backprop_lab.responsible.fairness import age_adverse_check

    frame = read_csv(small_csv)
    result = audit_csv(model, small_csv, "age", n_bootstrap=0, chunk_size=50)
    att = model_attributions(model, frame)
    expected = age_adverse_check(att.attributions["age"].to_numpy(), frame["age"].astype(float))
    # chunks of 50 against all 300 rows at once: equal up to the round-off `same` allows
    same(result.age_check.to_dict(), expected.to_dict())
    same(result.age_max_gap, att.max_gap)


@pytest.mark.parametrize("outcome", ["0", "1"])
def test_a_one_class_file_gives_reasons_not_warnings(model, small_csv, tmp_path, capsys, outcome):
    one_class = tmp_path / "one_class.csv"
    read_csv(small_csv).assign(default=outcome).to_csv(one_class, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = audit_csv(model, one_class, "region", n_bootstrap=100)
    eo = result.value("equalized_odds_difference")
    assert eo["note"] == "fewer than two groups have both repaid and defaulted applicants"
    assert main(["audit", str(model_path(model, tmp_path)), str(one_class), "--group", "age"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err.lower() and "nan slice" not in err.lower()


def model_path(model, folder):
    path = folder / "model.blab"
    if not path.exists():
        model.save(path)
    return path


def test_groups_found_across_chunks(tmp_path):
    frame = pd.DataFrame({"g": ["2", "10", "2.0", "7"] * 5})
    coder = GroupCoder("g").scan(frame["g"].iloc[i : i + 3] for i in range(0, 20, 3))
    assert coder.names == ["2", "7", "10"]  # numbers, in numeric order
    np.testing.assert_array_equal(coder.codes(frame["g"]), [0, 2, 0, 1] * 5)
    texts = pd.Series(["2", "10", "x"])  # text in a later chunk: every group is text
    coder = GroupCoder("g").scan([texts.iloc[:2], texts.iloc[2:]])
    assert coder.names == ["10", "2", "x"]
    many = pd.Series(np.arange(100.0))
    with pytest.raises(InputError, match=r"21 distinct numbers in the first 21 rows make too"):
        GroupCoder("g").scan(many.iloc[i : i + 7] for i in range(0, 100, 7))
    with pytest.raises(InputError, match=r"100 distinct numbers make too many groups"):
        GroupCoder("g").scan([many])
    words = pd.Series([f"w{i}" for i in range(MAX_GROUPS + 5)])
    with pytest.raises(InputError, match=r"at least 21 distinct values in the first 21 rows"):
        GroupCoder("g").scan(words.iloc[i : i + 21] for i in range(0, 25, 21))
    holes = pd.Series(["a", "b", None], index=[10, 11, 12])
    with pytest.raises(InputError, match="column 'g', row 13: missing group value"):
        GroupCoder("g").scan([holes.iloc[:2], holes.iloc[2:]])


def _peak_bytes(model, path) -> int:
    tracemalloc.start()
    try:
        audit_csv(model, path, "age", n_bootstrap=200, chunk_size=10_000)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(model, tmp_path, monkeypatch):
    """Peak traced memory for 200,000 rows is that for 50,000 rows, give or take.

    Both files are read 10,000 rows at a time and both keep their ROC AUC scores binned
    (the exact AUC's kept scores, at most EXACT_AUC_ROWS rows, would otherwise differ).
    Anything kept per row, even 4 bytes, would add 150,000 x 4 = 0.6 MB to the larger
    file's peak; the bound allows 0.5 MB (measured: 21.39 and 21.43 MB, 36 kB apart).
    Reading the 200,000 rows whole would take over 100 MB for their text cells alone
    (10 cells of ~55 bytes each per row); the peak must stay under half that.
    """
    monkeypatch.setattr(fairness_stream, "EXACT_AUC_ROWS", 20_000)
    paths = {}
    for n in (50_000, 200_000):
        paths[n] = tmp_path / f"rows{n}.csv"
        borrowers(n, 3).to_csv(paths[n], index=False)
    small, large = _peak_bytes(model, paths[50_000]), _peak_bytes(model, paths[200_000])
    assert large < small + 500_000, (small, large)
    assert large < 50e6, large


def test_the_command_line_streams_the_file(model, small_csv, tmp_path, capsys):
    out_json = tmp_path / "audit.json"
    argv = ["audit", str(model_path(model, tmp_path)), str(small_csv), "--group", "region"]
    assert main([*argv, "--n-bootstrap", "150", "-o", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "Poisson bootstrap, 150 replicates" in out
    expected = audit_csv(model, small_csv, "region", n_bootstrap=150)
    assert json.loads(out_json.read_text())["metrics"] == json.loads(expected.to_json())["metrics"]
