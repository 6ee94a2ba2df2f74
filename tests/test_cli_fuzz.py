"""Fuzzing the command line in-process with drawn option values and CSV contents.

Whatever is drawn, the command must exit with 0, 1 (gradcheck's failed check) or 2 (a
clean error); report an error in exactly one line and never a traceback or an internal
error; leak no NumPy warning ('... encountered'); leave no temporary file; create no
missing folder; and leave every input file, and without --force every write-protected
file, byte for byte as it was.

The value pools hold small values and values far beyond any machine, never sizes that
are merely slow (a billion epochs would be valid, and run for days), so every example
is quick. Examples are derandomized: the same ones run every time.
"""

from __future__ import annotations

import os
import warnings

import pandas as pd
import pytest
from cli_support import digest, run, write_loans
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.data import make_credit_risk

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Option values as (good, bad): usual values, and values a person might type by mistake
#: (out of range, not numbers, or sizes far beyond any machine). Never sizes that are
#: valid but slow: a billion epochs would run for days.
THRESHOLD = (
    ["0.5", "0.3", "0.7", "1e-1"],
    ["0", "1", "-1", "1.5", "nan", "inf", "abc", "", "1e308"],
)
FRACTION = (["0.2", "0.3", "0.1"], ["0", "1", "-0.1", "0.99", "1.5", "nan", "abc"])
CONFIDENCE = (["0.9", "0.95"], ["0", "1", "1.5", "-1", "nan", "abc"])
SEED = (["0", "1", "42"], ["-1", "abc", "1e400", "1e12", "1.5"])
CHUNK = (["1", "7", "100", "1e5"], ["0", "-1", "1.5", "abc", "1e400", "1e12"])
TOP = (["1", "2", "4", "1e3"], ["0", "-1", "abc", "1e12", "1.5"])
STEPS = (["8", "32", "64"], ["0", "-1", "1e12", "5000", "abc"])
SHOW = (["0", "3", "100"], ["-1", "abc", "1e12"])
BOOTSTRAP = (["0", "10", "20"], ["-1", "1e12", "1e15", "abc", "1.5"])
EPOCHS = (["1", "2", "3"], ["0", "-1", "abc", "1.5"])
HIDDEN = (["2", "3", "5"], ["0", "-1", "1e12", "1e6", "abc"])
#: gradcheck takes two passes over the data per weight: a million-unit layer is valid
#: and would run for days.
GRAD_HIDDEN = (["2", "3"], ["0", "-1", "1e12", "abc"])
RATE = (["0.01", "0.1", "1e-3"], ["0", "-1", "1e308", "nan", "inf", "abc", "1e-300"])
ALPHA = (["0", "1", "10"], ["-1", "nan", "1e308", "abc"])
BATCH = (["8", "32", "1e3"], ["0", "-1", "1e12", "abc"])
ROWS = (["1", "5", "100"], ["0", "-3", "1e12", "1.5", "abc"])
GRAD_ROWS = (["5", "20"], ["0", "-1", "abc", "1e12"])
EPS = (["1e-5", "1e-4"], ["0", "-1", "nan", "1e308", "1e-300", "abc"])
L2 = (["0", "0.1"], ["-1", "nan", "1e308", "abc"])
TOLERANCE = (["1e-7", "1e-3"], ["-1", "0", "nan", "abc"])
BURN_IN = (["0", "2"], ["-1", "abc", "1.5"])
BINS = (["25", "40", "62"], ["nan", "inf", "abc", "-1e308", "1e308", ""])
#: Cell contents that a hand-edited CSV file may hold.
CELLS = ["", "abc", "inf", "-inf", "nan", "NA", "1e308", "-1", "0", "2", "0.5", " 3 ", '"1,5"']


def value(data, pool: tuple[list[str], list[str]]) -> str:
    """A good value, or (one time in four) a bad one: Hypothesis favours the first of a
    list (it counts as the simplest), so the good values come first."""
    good, bad = pool
    mistake = data.draw(st.sampled_from([False, False, False, True]))
    return data.draw(st.sampled_from(bad if mistake else good))


def option(data, name: str, pool: tuple[list[str], list[str]]) -> list[str]:
    """``[name, value]``, or nothing (the default) half of the time."""
    return [name, value(data, pool)] if data.draw(st.booleans()) else []


def choice(data, good: list[str], bad: list[str]) -> str:
    return value(data, (good, bad))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A 60-row file with an id column and a categorical column, and a model trained on it."""
    folder = tmp_path_factory.mktemp("fuzz")
    frame = make_credit_risk(60, seed=5).frame()
    frame.insert(0, "loan_id", [f"L{i:03d}" for i in range(len(frame))])
    frame.insert(3, "purpose", ["car", "home", "study"] * 20)
    frame.to_csv(folder / "loans.csv", index=False)
    text = pd.read_csv(folder / "loans.csv", dtype=str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopped while still improving: on purpose
        model = fit_tabular(
            text,
            "default",
            id_column="loan_id",
            hidden_layer_sizes=(3,),
            max_epochs=5,
            early_stopping=False,
            verbose=False,
        )
    model.save(folder / "model.blab")
    return text, folder / "model.blab"


def draw_csv(data, frame: pd.DataFrame, path) -> None:
    """A CSV file made from ``frame``: some rows, some cells changed, maybe a broken header."""
    kind = choice(data, ["rows"], ["empty", "garbage", "ragged"])
    if kind == "empty":
        path.write_bytes(b"")
        return
    if kind == "garbage":
        path.write_bytes(data.draw(st.binary(min_size=1, max_size=40)))
        return
    n = int(choice(data, ["40", "60"], ["0", "1", "2", "5"]))
    sub = frame.head(n).copy()
    for _ in range(int(choice(data, ["0"], ["1", "2", "3"]))):
        if n:
            row = data.draw(st.integers(0, n - 1))
            column = data.draw(st.sampled_from(list(sub.columns)))
            sub.loc[sub.index[row], column] = data.draw(st.sampled_from(CELLS))
    change = choice(data, ["none"], ["drop", "duplicate", "rename"])
    columns = list(sub.columns)
    if change == "drop":
        sub = sub.drop(columns=data.draw(st.sampled_from(columns)))
    elif change in ("duplicate", "rename"):
        i = data.draw(st.integers(0, len(columns) - 1))
        columns[i] = columns[(i + 1) % len(columns)] if change == "duplicate" else ""
        sub.columns = columns
    text = sub.to_csv(index=False)
    if kind == "ragged":
        text += "1,2\n"
    path.write_text(text)


def draw_output(data, work, *, inputs, suffix: str) -> str:
    """An output path: new, an input, in a missing folder, write-protected, or stdout."""
    kind = choice(data, ["new"], ["input", "input", "missing", "protected", "stdout"])
    if kind == "input":
        return str(data.draw(st.sampled_from(inputs)))
    if kind == "missing":
        return str(work / "no" / f"out{suffix}")
    if kind == "protected":
        path = work / f"protected{suffix}"
        if not path.exists():
            path.write_text("keep\n")
            os.chmod(path, 0o444)
        return str(path)
    if kind == "stdout":
        return "-"
    return str(work / f"out{len(os.listdir(work))}{suffix}")


def check(argv, capsys, work, inputs) -> None:
    protected = sorted(work.glob("protected.*"))
    before = {p: digest(p) for p in [*inputs, *protected]}
    status, _, err = run(argv, capsys)
    event(f"{argv[0]} exit {status}")  # --hypothesis-show-statistics: how many get through
    context = f"backprop-lab {' '.join(map(str, argv))}\n{err}"
    assert status in (0, 1, 2), context
    assert "Traceback" not in err and "internal error" not in err, context
    assert "encountered" not in err and "empty slice" not in err, context  # NumPy warnings
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == (1 if status == 2 else 0) and "usage:" not in err, context
    forced = "--force" in argv and status == 0
    assert {p: digest(p) for p in [*inputs, *([] if forced else protected)]} == before, context
    assert not (work / "no").exists(), context  # a missing folder is refused, not created
    assert not [n for n in os.listdir(work) if n.endswith(".tmp")], context


@pytest.fixture
def workspace(tmp_path_factory):
    return lambda: tmp_path_factory.mktemp("example")


def outputs(data, argv, work, inputs, options) -> list[str]:
    """Each of ``options`` (name, suffix) with a drawn path, or left out half of the time."""
    for name, suffix in options:
        if data.draw(st.booleans()):
            argv = [*argv, name, draw_output(data, work, inputs=inputs, suffix=suffix)]
    return argv


def column(data, good: list[str]) -> str:
    return choice(data, good, ["missing", "purpose", "age"])


@FUZZ
@given(data=st.data())
def test_predict_and_evaluate(data, base, workspace, capsys):
    frame, model = base
    work = workspace()
    csv = work / "in.csv"
    draw_csv(data, frame, csv)
    inputs = [model, csv]
    if data.draw(st.booleans()):
        argv = ["predict", model, csv, "-o", draw_output(data, work, inputs=inputs, suffix=".csv")]
        argv += ["--id", column(data, ["loan_id"])] if data.draw(st.booleans()) else []
    else:
        argv = ["evaluate", model, csv]
        argv += ["--target", column(data, ["default"])] if data.draw(st.booleans()) else []
        argv += option(data, "--threshold", THRESHOLD)
        argv = outputs(
            data,
            argv,
            work,
            inputs,
            [("-o", ".json"), ("--plot", ".png"), ("--reliability", ".svg")],
        )
    argv += option(data, "--chunk-size", CHUNK)
    argv += ["--force"] if data.draw(st.booleans()) else []
    check(argv, capsys, work, inputs)


@FUZZ
@given(data=st.data())
def test_explain_and_audit(data, base, workspace, capsys):
    frame, model = base
    work = workspace()
    csv = work / "in.csv"
    draw_csv(data, frame, csv)
    inputs = [model, csv]
    if data.draw(st.booleans()):
        argv = ["explain", model, csv, "-o", draw_output(data, work, inputs=inputs, suffix=".csv")]
        argv += option(data, "--top", TOP)
        argv += option(data, "--method", (["ig", "gradxinput"], ["shap", ""]))
        argv += option(data, "--baseline", (["zeros", "reference"], ["median"]))
        argv += option(data, "--threshold", THRESHOLD)
        argv += option(data, "--show", SHOW)
        argv += ["--id", column(data, ["loan_id"])] if data.draw(st.booleans()) else []
        argv = outputs(data, argv, work, inputs, [("--importance", ".png")])
    else:
        group = choice(data, ["age", "purpose", "late_payments"], ["missing", "default", "loan_id"])
        argv = ["audit", model, csv, "--group", group, "--n-bootstrap", value(data, BOOTSTRAP)]
        argv += ["--target", column(data, ["default"])] if data.draw(st.booleans()) else []
        if data.draw(st.booleans()):
            argv += ["--bins", *(value(data, BINS) for _ in range(data.draw(st.integers(1, 3))))]
        argv += option(data, "--threshold", THRESHOLD)
        argv += option(data, "--confidence", CONFIDENCE)
        argv += option(data, "--seed", SEED)
        argv = outputs(data, argv, work, inputs, [("-o", ".json"), ("--plot", ".png")])
    argv += option(data, "--steps", STEPS)
    check(argv, capsys, work, inputs)


@FUZZ
@given(data=st.data())
def test_train(data, base, workspace, capsys):
    frame, _ = base
    work = workspace()
    csv = work / "in.csv"
    draw_csv(data, frame, csv)
    argv = ["train", csv, "--target", column(data, ["default"]), "--epochs", value(data, EPOCHS)]
    argv += ["-o", draw_output(data, work, inputs=[csv], suffix=".blab")]
    if data.draw(st.booleans()):
        argv += ["--hidden", *(value(data, HIDDEN) for _ in range(data.draw(st.integers(1, 2))))]
    argv += option(data, "--lr", RATE)
    argv += option(data, "--alpha", ALPHA)
    argv += option(data, "--test-size", FRACTION)
    argv += option(data, "--threshold", THRESHOLD)
    argv += option(data, "--batch-size", BATCH)
    argv += option(data, "--seed", SEED)
    argv += ["--id", column(data, ["loan_id"])] if data.draw(st.booleans()) else []
    if data.draw(st.booleans()):
        argv += ["--calibrate", choice(data, ["platt", "temperature"], ["isotonic", ""])]
        argv += option(data, "--calibration-size", FRACTION)
    argv += option(data, "--impute", (["none", "median", "most_frequent"], ["mode"]))
    argv += option(data, "--early-stopping", (["auto", "on", "off"], ["yes"]))
    argv += ["--multiclass"] if data.draw(st.booleans()) else []
    check(argv, capsys, work, [csv])


@FUZZ
@given(data=st.data())
def test_generate_and_gradcheck(data, workspace, capsys):
    work = workspace()
    if data.draw(st.booleans()):
        argv = ["generate", "--n", value(data, ROWS)]
        argv += option(data, "--seed", SEED)
        argv += ["-o", draw_output(data, work, inputs=[work / "none"], suffix=".csv")]
    else:
        argv = ["gradcheck", "--n", value(data, GRAD_ROWS)]
        if data.draw(st.booleans()):
            argv += [
                "--hidden",
                *(value(data, GRAD_HIDDEN) for _ in range(data.draw(st.integers(1, 2)))),
            ]
        argv += option(data, "--eps", EPS)
        argv += option(data, "--l2", L2)
        argv += option(data, "--tolerance", TOLERANCE)
        argv += option(data, "--burn-in", BURN_IN)
        argv += option(data, "--seed", SEED)
    check(argv, capsys, work, [])


def test_the_fuzz_data_is_a_valid_starting_point(base, tmp_path, capsys):
    """The unchanged file goes through every command: the fuzz starts from working input."""
    frame, model = base
    csv = write_loans(tmp_path / "loans.csv", n=60, seed=5)
    frame.to_csv(csv, index=False)
    for argv in (
        ["predict", model, csv, "-o", tmp_path / "p.csv"],
        ["evaluate", model, csv],
        ["explain", model, csv, "-o", tmp_path / "r.csv"],
        ["audit", model, csv, "--group", "age", "--n-bootstrap", "10"],
        ["train", csv, "--target", "default", "--epochs", "2", "-o", tmp_path / "m.blab"],
    ):
        status, out, err = run(argv, capsys)
        if argv[0] == "audit" and "  FAIL: age counts" in out:
            status -= 1  # the audit ran; a tiny model may fail the Regulation B age check
        assert status == 0, err
