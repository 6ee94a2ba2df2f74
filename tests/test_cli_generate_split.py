"""``generate``: an id column, a group column with a planted bias, and ``--out-dir``'s
loans/test/new_loans/applicants files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from cli_support import run

from backprop_lab.data import make_credit_risk


def test_out_dir_writes_four_files_that_partition_the_borrowers(tmp_path, capsys):
    argv = ["generate", "--n", "200", "--seed", "3", "--id-column", "loan_id"]
    code, _, err = run([*argv, "--planted-bias", "1", "--out-dir", tmp_path], capsys)
    assert code == 0, err
    files = {name: pd.read_csv(tmp_path / name) for name in
             ("loans.csv", "test.csv", "new_loans.csv", "applicants.csv")}  # fmt: skip
    assert [len(f) for f in files.values()] == [120, 40, 40, 20]
    ids = np.concatenate([files[n]["loan_id"] for n in ("loans.csv", "test.csv", "new_loans.csv")])
    assert sorted(ids) == list(range(1, 201))  # every borrower once, numbered 1..n
    assert "default" in files["test.csv"] and "default" not in files["new_loans.csv"]
    assert files["applicants.csv"].equals(files["new_loans.csv"].head(20))
    # the rows are the generator's own, in order, with the planted-bias group column
    whole = make_credit_risk(200, seed=3, planted_bias=1.0).frame()
    together = pd.concat([files["loans.csv"], files["test.csv"]], ignore_index=True)
    expected = whole.iloc[:160].reset_index(drop=True)
    pd.testing.assert_frame_equal(together.drop(columns="loan_id"), expected, check_exact=False,
                                  rtol=1e-15)  # fmt: skip
    assert set(whole["group"]) == {0, 1}


def test_one_file_with_id_and_group(tmp_path, capsys):
    out = tmp_path / "b.csv"
    argv = ["generate", "--n", "50", "--id-column", "id", "--planted-bias", "0", "-o", out]
    assert run(argv, capsys)[0] == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:1]) == ["id"] and "group" in frame and "default" in frame
    assert list(frame["id"]) == list(range(1, 51))
    # without the options: the columns as before
    assert run(["generate", "--n", "50", "-o", out], capsys)[0] == 0
    assert list(pd.read_csv(out).columns) == list(make_credit_risk(5).frame().columns)


def test_bad_generate_options_are_one_line(tmp_path, capsys):
    code, _, err = run(["generate", "--id-column", "age", "--n", "10"], capsys)
    assert code == 2 and "--id-column 'age' is already a column" in err
    code, _, err = run(["generate", "--n", "10", "-o", tmp_path / "x.csv", "--out-dir", tmp_path],
                       capsys)  # fmt: skip
    assert code == 2 and "not allowed with argument" in err
    code, _, err = run(["generate", "--out-dir", tmp_path / "missing"], capsys)
    assert code == 2 and "missing" in err and not (tmp_path / "missing").exists()
    (tmp_path / "test.csv").write_text("keep")
    (tmp_path / "test.csv").chmod(0o444)
    code, _, err = run(["generate", "--n", "10", "--out-dir", tmp_path], capsys)
    assert code == 2 and "test.csv" in err
    assert not (tmp_path / "loans.csv").exists()  # checked before anything was written
