"""One line, never a traceback: bad option values, sizes beyond the machine, and bad files
are reported in one line that names the option, file, column or row at fault."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from cli_support import error_lines, run, train_tiny_model, write_loans

from backprop_lab import cli, load_model
from backprop_lab._util import memory
from backprop_lab._util.memory import format_bytes, network_bytes
from backprop_lab.classifier import early_stopping


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("errors")
    data = write_loans(folder / "loans.csv")
    return data, train_tiny_model(data, folder / "model.blab")


def one_error(err: str) -> str:
    assert "Traceback" not in err
    (line,) = error_lines(err)
    return line


# ---- option values -------------------------------------------------------------------------
def test_a_zero_finite_difference_step_is_refused(capsys):
    status, _, err = run(["gradcheck", "--eps", "0"], capsys)
    assert status == 2
    assert "--eps" in one_error(err) and "must be above 0" in err


@pytest.mark.parametrize("option", ["--eps", "--l2"])
def test_gradcheck_values_that_overflow_are_refused(option, capsys):
    status, _, err = run(["gradcheck", "--n", "5", option, "1e308"], capsys)
    assert status == 2
    assert one_error(err).startswith(f"backprop-lab: error: {option}")


@pytest.mark.parametrize(
    "argv, option",
    [
        (["generate", "--n", "many"], "--n"),
        (["generate", "--n", "1.5"], "--n"),
        (["gradcheck", "--eps", "nan"], "--eps"),
        (["train", "x.csv", "--target", "y", "-o", "m.blab", "--lr", "inf"], "--lr"),
        (["predict", "m.blab", "x.csv", "-o", "p.csv", "--chunk-size", "1e400"], "--chunk-size"),
    ],
)
def test_an_option_that_does_not_parse_is_one_line(argv, option, capsys):
    status, _, err = run(argv, capsys)
    assert status == 2
    assert err.count("\n") == 1 and f"argument {option}" in err and "usage:" not in err


def test_counts_may_be_written_in_e_notation(tmp_path, capsys):
    status, _, _ = run(["generate", "--n", "1e2", "-o", tmp_path / "b.csv"], capsys)
    assert status == 0
    assert len(pd.read_csv(tmp_path / "b.csv")) == 100


# ---- sizes the machine cannot hold ---------------------------------------------------------
def test_the_network_estimate_counts_weights_and_activations():
    """A 2-3-1 network on 10 rows: P = (2+1)*3 + (3+1)*1 = 13 parameters in 4 copies, and
    10 rows x (2+3+1) layer outputs in 2 copies: 8 * (52 + 120) = 1376 bytes."""
    assert network_bytes(2, [3], 1, 10) == 1376
    assert format_bytes(1376) == "1.3 KiB"


def test_the_available_memory_is_a_positive_number_of_bytes():
    assert memory.available_memory() > 0


@pytest.mark.parametrize(
    "argv, named",
    [
        (["generate", "--n", "1e12"], "--n 1000000000000"),
        (["reproduce", "--n", "1e12", "--out", "{tmp}/r"], "--n 1000000000000"),
        (["gradcheck", "--hidden", "100000", "100000"], "--hidden 100000 100000"),
        (
            [
                "train",
                "{data}",
                "--target",
                "default",
                "-o",
                "{tmp}/m.blab",
                "--hidden",
                "1e5",
                "1e5",
            ],
            "--hidden 100000 100000",
        ),
        (["audit", "{model}", "{data}", "--group", "age", "--n-bootstrap", "1e9"], "--n-bootstrap"),
    ],
    ids=["generate", "reproduce", "gradcheck", "train", "audit"],
)
def test_sizes_beyond_the_memory_are_refused_up_front(
    argv, named, files, tmp_path, capsys, monkeypatch
):
    """With 1 GiB available, each request (tens of GiB and more) is refused before any
    allocation, naming the option and the memory it would need."""
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    data, model = files
    names = {"data": data, "model": model, "tmp": tmp_path}
    status, _, err = run([a.format(**names) for a in argv], capsys)
    assert status == 2
    line = one_error(err)
    assert named in line and "of memory, more than the 1.0 GiB available" in line
    assert list(tmp_path.iterdir()) == []


def test_a_memory_error_that_gets_through_is_one_line(capsys, monkeypatch):
    def allocate(args):
        raise MemoryError("Unable to allocate 74.5 GiB for an array")

    monkeypatch.setattr(cli, "_generate", allocate)
    status, _, err = run(["generate", "--n", "10"], capsys)
    assert status == 2
    assert one_error(err) == (
        "backprop-lab: error: out of memory (Unable to allocate 74.5 GiB for an array); "
        "choose smaller sizes"
    )


def test_an_unexpected_error_is_one_line_with_its_own_status(capsys, monkeypatch):
    def bug(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(cli, "_gradcheck", bug)
    status, _, err = run(["gradcheck"], capsys)
    assert status == cli.EXIT_INTERNAL
    assert err.strip() == (
        "backprop-lab: internal error: ZeroDivisionError: float division by zero "
        "(run with --debug for the traceback, and please report it)"
    )


# ---- files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_header_only_file_names_the_file(command, files, tmp_path, capsys):
    data, model = files
    empty = tmp_path / "header.csv"
    empty.write_text(data.read_text().splitlines()[0] + "\n")
    extra = ["-o", tmp_path / "p.csv"] if command == "predict" else []
    status, _, err = run([command, model, empty, *extra], capsys)
    assert status == 2
    assert one_error(err) == f"backprop-lab: error: {empty}: the file has a header but no data rows"


def test_fractional_labels_are_named_by_column_and_row(files, tmp_path, capsys):
    frame = pd.read_csv(files[0])
    frame["default"] = frame["default"].astype(float)
    frame.loc[3, "default"] = 0.5
    frame.to_csv(tmp_path / "f.csv", index=False)
    status, _, err = run(
        ["train", tmp_path / "f.csv", "--target", "default", "-o", tmp_path / "m.blab"], capsys
    )
    assert status == 2
    assert one_error(err) == (
        f"backprop-lab: error: {tmp_path / 'f.csv'}, column 'default', row 4: label '0.5' is not "
        "a whole number; the target must hold classes (such as 0/1 or no/yes), not measurements"
    )


def test_a_learning_rate_that_overflows_is_reported_as_divergence(files, tmp_path, capsys):
    argv = ["train", files[0], "--target", "default", "-o", tmp_path / "m.blab", "--lr", "1e308"]
    status, _, err = run([*argv, "--epochs", "5"], capsys)
    assert status == 2
    assert "training stopped at epoch 1" in one_error(err) and "JSON" not in err
    assert not (tmp_path / "m.blab").exists()


def test_a_validation_loss_that_overflows_late_still_saves_the_best_epoch(
    files, tmp_path, capsys, monkeypatch
):
    """Divergence after some good epochs keeps the best weights (with a warning); the NaN
    must not reach the model file, whose metadata is strict JSON."""
    real, calls = early_stopping.TrainingMonitor._val_loss, []

    def val_loss(self, network):  # the starting weights and epochs 1-3 real, then NaN
        calls.append(None)
        return float("nan") if len(calls) > 4 else real(self, network)

    monkeypatch.setattr(early_stopping.TrainingMonitor, "_val_loss", val_loss)
    out = tmp_path / "m.blab"
    argv = ["train", files[0], "--target", "default", "-o", out, "--early-stopping", "on"]
    argv += ["--alpha", "10"]  # one network: the call count above is of one run
    status, _, err = run(argv, capsys)
    assert status == 0, err
    assert "validation log loss became nan" in err and "error" not in err
    scores = load_model(out).classifier.validation_scores_
    assert len(scores) == 3 and all(math.isfinite(v) for v in scores)  # epochs 1-3


@pytest.mark.parametrize("command", ["explain", "train"])
def test_a_number_beyond_float64_precision_is_refused_by_row(command, files, tmp_path, capsys):
    """1e308 standardised and fed through the network overflowed to NaN (with NumPy
    warnings), and explain failed after writing its CSV; 2^53 bounds a numeric cell."""
    data, model = files
    frame = pd.read_csv(data, dtype=str)
    frame.loc[5, "age"] = "1e308"
    frame.to_csv(tmp_path / "huge.csv", index=False)
    if command == "explain":
        argv = ["explain", model, tmp_path / "huge.csv", "-o", tmp_path / "r.csv"]
        argv += ["--importance", tmp_path / "i.png"]
    else:
        argv = ["train", tmp_path / "huge.csv", "--target", "default", "-o", tmp_path / "m.blab"]
    status, _, err = run(argv, capsys)
    assert status == 2 and "warning" not in err
    assert one_error(err) == (
        f"backprop-lab: error: {tmp_path / 'huge.csv'}, column 'age', row 6: number '1e308' is "
        "too large for a numeric column (beyond ±2^53, about 9.0e15)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.csv"]


def test_a_repeated_column_name_is_refused_naming_both_positions(files, tmp_path, capsys):
    data, model = files
    header, rest = data.read_text().split("\n", 1)
    names = header.split(",")
    names[2] = names[0]  # 'age' twice: pandas would read the second as 'age.1'
    (tmp_path / "dup.csv").write_text(",".join(names) + "\n" + rest)
    for argv in (
        ["predict", model, tmp_path / "dup.csv", "-o", tmp_path / "p.csv"],
        ["train", tmp_path / "dup.csv", "--target", "default", "-o", tmp_path / "m.blab"],
        ["explain", model, tmp_path / "dup.csv", "-o", tmp_path / "r.csv"],
    ):
        status, _, err = run(argv, capsys)
        assert status == 2
        assert one_error(err) == (
            f"backprop-lab: error: {tmp_path / 'dup.csv'}: column name 'age' appears twice in the "
            "header line (columns 1 and 3); rename one"
        )


def test_a_bad_row_after_rows_went_to_stdout_says_how_many(files, tmp_path, capsys):
    data, model = files
    frame = pd.read_csv(data, dtype=str).head(250)
    frame.loc[229, "age"] = "abc"  # data row 230, in the third chunk of 100
    frame.to_csv(tmp_path / "bad.csv", index=False)
    status, out, err = run(
        ["predict", model, tmp_path / "bad.csv", "-o", "-", "--chunk-size", "100"], capsys
    )
    assert status == 2
    assert len(out.splitlines()) == 1 + 200  # header and the first two chunks
    assert one_error(err) == (
        f"backprop-lab: error: {tmp_path / 'bad.csv'}, column 'age', row 230: text 'abc' in a "
        "numeric column (the predictions of the 200 row(s) before it were already written to "
        "standard output)"
    )


def test_explain_keeps_top_to_the_number_of_columns_without_warnings(files, tmp_path, capsys):
    data, model = files
    status, _, err = run(
        ["explain", model, data, "-o", tmp_path / "r.csv", "--top", "1000"], capsys
    )
    assert status == 0
    assert "warning" not in err
    table = pd.read_csv(tmp_path / "r.csv")
    n_columns = 7  # the model's input columns: no applicant has more reasons
    assert list(table.columns[-4:]) == [
        f"{k}_{n_columns}" for k in ("reason", "feature", "value", "contribution")
    ]
    assert table.shape[1] == 3 + 4 * n_columns


def test_audit_of_a_one_class_file_prints_no_numpy_warning(files, tmp_path, capsys):
    data, model = files
    frame = pd.read_csv(data)
    frame[frame["default"] == 0].to_csv(tmp_path / "repaid.csv", index=False)
    argv = ["audit", model, tmp_path / "repaid.csv", "--group", "age", "--n-bootstrap", "50"]
    status, _, err = run(argv, capsys)
    assert status == 0
    assert "warning" not in err
