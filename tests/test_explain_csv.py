"""Explaining a CSV file chunk by chunk: the in-memory explanation, in bounded memory."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backprop_lab import fit_tabular
from backprop_lab._util.validation import InputError
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.data.tabular import read_csv
from backprop_lab.responsible import explain_file as explain_module
from backprop_lab.responsible.attributions import (
    ImportanceAccumulator,
    ReferenceBaselineAccumulator,
    global_importance,
    reason_text,
    reason_texts,
    reference_baseline,
)
from backprop_lab.responsible.explain import explain_model
from backprop_lab.responsible.explain_file import explain_csv

SRC = Path(__file__).resolve().parents[1] / "src"


def borrowers(n: int, seed: int) -> pd.DataFrame:
    frame = make_credit_risk(n, seed=seed).frame()
    frame.insert(0, "loan_id", [f"L{seed}-{i:06d}" for i in range(n)])
    frame["purpose"] = np.random.default_rng(seed).choice(["car", "home", "study"], n)
    return frame


@pytest.fixture(scope="module")
def model():
    return fit_tabular(borrowers(2000, 1), "default", id_column="loan_id", seed=0)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "applicants.csv"
    borrowers(300, 2).drop(columns="loan_id").to_csv(path, index=False)
    return path


def written(model, path, **settings) -> tuple[str, object]:
    out = io.StringIO()
    summary = explain_csv(model, path, out, **settings)
    return out.getvalue(), summary


def same_table(text: str, table: pd.DataFrame) -> None:
    """The CSV ``text`` holds ``table``: the same words, numbers equal up to round-off.

    The network's matrix products may round a row differently in a batch of 7 rows than
    in one of 300 (measured: 1e-16 on contributions of ~1); 1e-12 is far above that.
    """
    got = pd.read_csv(io.StringIO(text))
    want = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for column in got.columns:
        if got[column].dtype.kind == "f":
            np.testing.assert_allclose(got[column], want[column], rtol=1e-12, atol=1e-12)
        else:
            assert (got[column].fillna("") == want[column].fillna("")).all(), column


def test_the_file_is_the_in_memory_table_whatever_the_chunk_size(model, small_csv):
    texts = [written(model, small_csv, chunk_size=size, show=5) for size in (7, 100, 10_000)]
    whole = explain_model(model, read_csv(small_csv))
    for text, _ in texts:  # rows numbered from the file's first row, chunk after chunk
        same_table(text, whole.table())
    summary = texts[0][1]
    assert summary.n_rows == 300
    assert summary.text(max_applicants=5) == whole.text(max_applicants=5)
    assert summary.completeness_text() == whole.completeness_text()
    assert summary.n_incomplete == whole.attributions.n_incomplete
    # mean |attribution| and direction over all applicants: sums in another order, so
    # equal up to round-off (terms ~1, 300 of them: far below 1e-12)
    pd.testing.assert_frame_equal(summary.importance, whole.importance(), rtol=1e-12)


def test_reference_baseline_from_the_file_read_twice(model, small_csv):
    text, summary = written(model, small_csv, baseline="reference", chunk_size=64, top=2)
    whole = explain_model(model, read_csv(small_csv), baseline="reference", top=2)
    # the baseline is a mean over chunks (round-off ~1e-16 on inputs ~1), which moves
    # contributions and gaps by about as much
    same_table(text, whole.table())
    assert summary.baseline == "reference"


def test_accumulators_match_their_one_shot_functions():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 4))
    p = rng.random(500)
    acc = ReferenceBaselineAccumulator(0.5, min_rows=20)
    for i in range(0, 500, 33):
        acc.add(X[i : i + 33], p[i : i + 33])
    np.testing.assert_allclose(acc.baseline(), reference_baseline(X, p), rtol=1e-14)
    # too few near the cut-off: the 30 approved rows closest to it, ties by position
    p_far = np.round(np.where(p < 0.5, p * 0.5, p), 2)
    acc = ReferenceBaselineAccumulator(0.5, min_rows=30)
    for i in range(0, 500, 33):
        acc.add(X[i : i + 33], p_far[i : i + 33])
    assert acc.n_near < 30
    np.testing.assert_array_equal(acc.baseline(), reference_baseline(X, p_far, min_rows=30))

    A = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
    values = pd.DataFrame(
        {"a": 3 * A["a"] + rng.normal(size=500) + 1e4, "b": -A["b"], "c": ["x"] * 500}
    )
    values["b"] = values["b"].astype(object)
    values.loc[7, "b"] = "missing"  # one chunk is text: no direction for b
    imp = ImportanceAccumulator()
    for i in range(0, 500, 33):
        imp.add(A.iloc[i : i + 33], values.iloc[i : i + 33])
    table = imp.table()
    assert table.set_index("feature")["direction"].to_dict() == {"a": 1, "b": 0, "c": 0}
    pd.testing.assert_frame_equal(table, global_importance(A, values), rtol=1e-12)


def test_many_reasons_asked_for_are_fast_and_quiet(model, small_csv, tmp_path, capsys):
    path = tmp_path / "model.blab"
    model.save(path)
    out = tmp_path / "reasons.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["explain", str(path), str(small_csv), "-o", str(out), "--top", "1000"])
    assert code == 0
    assert "warning" not in capsys.readouterr().err
    table = pd.read_csv(out)
    # a reason is a feature: ranks stop at the number of input columns (8 here)
    n_features = len(model.input_columns)
    assert list(table.columns[-4:]) == [
        f"{k}_{n_features}" for k in ("reason", "feature", "value", "contribution")
    ]
    assert table.shape == (300, 3 + 4 * n_features)


def test_a_failure_half_way_leaves_no_half_written_file(
    model, small_csv, tmp_path, capsys, monkeypatch
):
    path = tmp_path / "model.blab"
    model.save(path)
    broken = tmp_path / "broken.csv"
    frame = read_csv(small_csv)
    frame.loc[250, "age"] = "old"
    frame.to_csv(broken, index=False)
    out = tmp_path / "reasons.csv"
    out.write_text("previous\n")
    monkeypatch.setattr(explain_module, "EXPLAIN_CHUNK_ROWS", 100)  # 2 chunks written first
    assert main(["explain", str(path), str(broken), "-o", str(out)]) == 2
    assert "row 251: text 'old' in a numeric column" in capsys.readouterr().err
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".reasons")] == []
    with pytest.raises(InputError, match="row 251"):
        explain_csv(model, broken, io.StringIO(), chunk_size=100)


class _Discard(io.StringIO):
    def write(self, text: str) -> int:  # keep nothing: only the explainer's memory counts
        return len(text)


MEMORY_SCRIPT = """
import gc, io, json, sys, tracemalloc
from backprop_lab.classifier.tabular_model import TabularModel
from backprop_lab.responsible import explain_file as explain_module


class Discard(io.StringIO):
    def write(self, text):  # keep nothing: only the explainer's memory counts
        return len(text)


model = TabularModel.load(sys.argv[1])
explain_chunk = explain_module.explain_model


def collected_first(*args, **kwargs):
    gc.collect()
    return explain_chunk(*args, **kwargs)


explain_module.explain_model = collected_first
explain_module.explain_csv(model, sys.argv[2], Discard(), chunk_size=2_500)  # first use
peaks = []
for path in sys.argv[2:]:
    tracemalloc.start()
    explain_module.explain_csv(model, path, Discard(), chunk_size=2_500)
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
print(json.dumps(peaks))
"""


def test_memory_does_not_grow_with_the_file(model, tmp_path):
    """Peak traced memory for 40,000 rows is that for 10,000 rows, give or take.

    The larger file is the smaller one four times over, so every chunk (2,500 rows)
    holds the same applicants and any difference is memory kept from chunk to chunk;
    the cyclic garbage pandas leaves behind (about 4 kB a chunk, which Python's
    collector frees in its own time) is collected at each chunk's start, and the model's
    first use happens before either traced run. Measured in a fresh interpreter: inside
    the test suite, what earlier tests leave in the process (warning registries, caches,
    the collector's generations) moved the larger file's peak by about 270 kB in some
    runs and not in others. Keeping a float64 per applicant would add 30,000 x 8 =
    240 kB to the larger file's peak; the bound allows 200 kB (measured in a fresh
    interpreter: 9.98 and 10.00 MB, 13 kB apart).
    """
    small = borrowers(10_000, 4)
    paths = [tmp_path / "small.csv", tmp_path / "large.csv"]
    small.to_csv(paths[0], index=False)
    pd.concat([small] * 4).to_csv(paths[1], index=False)
    model.save(tmp_path / "model.blab")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "model.blab"), *map(str, paths)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    peak_small, peak_large = json.loads(done.stdout.strip().splitlines()[-1])
    assert peak_large < peak_small + 200_000, (peak_small, peak_large)


def test_reasons_in_bulk_read_as_one_at_a_time():
    values = [6.0, -0.0, 9999.0, 10000.0, 51580.4, -1234.5, 999.5, 0.35712, 13.849, 1e-7,
              float("nan"), float("inf"), -float("inf"), 12345678.0, 3, 12000, True,
              np.float64(2.5), np.int64(7), "home", "missing", None]  # fmt: skip
    contributions = np.linspace(-1.005, 2.0, len(values))  # [4]: -1.005 + 4 * 3.005 / 21
    features = [f"x{i}" for i in range(len(values))]
    bulk = reason_texts(features, np.asarray(values, dtype=object), contributions)
    assert bulk == [
        reason_text(f, v, c) for f, v, c in zip(features, values, contributions, strict=True)
    ]
    assert bulk[4] == "x4 = 51,580 (lowered risk by -0.43 on the log-odds scale)"
