"""The first commands: generate and gradcheck."""

import subprocess
import sys

import pandas as pd

from backprop_lab.cli import main
from backprop_lab.data import FEATURES, make_credit_risk


def test_generate_writes_features_and_default(tmp_path, capsys):
    out = tmp_path / "borrowers.csv"
    assert main(["generate", "--n", "50", "--seed", "3", "-o", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == [*FEATURES, "default"]
    expected = make_credit_risk(50, seed=3).frame()
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False, rtol=1e-12)
    assert "wrote 50 borrowers" in capsys.readouterr().err


def test_generate_p_default_only_when_asked(tmp_path):
    out = tmp_path / "b.csv"
    main(["generate", "--n", "5", "--with-p-default", "-o", str(out)])
    assert pd.read_csv(out).columns[-1] == "p_default"


def test_generate_rejects_bad_n(capsys):
    assert main(["generate", "--n", "0"]) == 2
    assert capsys.readouterr().err.strip() == "backprop-lab: error: --n must be at least 1; got 0"


def test_gradcheck_passes_and_prints_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "7-8-1 network" in out and "PASS" in out
    worst = float(out.split("overall max relative error ")[1].split()[0])
    assert worst < 1e-7


def test_gradcheck_exit_code_is_one_over_tolerance(capsys):
    """An impossible tolerance makes the same check fail with exit status 1."""
    assert main(["gradcheck", "--n", "50", "--tolerance", "1e-30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "backprop_lab", "gradcheck", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "finite difference" in result.stdout
