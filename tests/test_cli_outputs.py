"""Nothing lost: every output path of every command is checked before anything is written.

An output that is one of the command's inputs (same path, hard link or symbolic link),
a write-protected file (without --force), a file in a missing folder, or a path in a
place that cannot be written is refused in one line, and no file is touched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from cli_support import digest, error_lines, run, train_tiny_model, write_loans


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    data = write_loans(folder / "loans.csv")
    model = train_tiny_model(data, folder / "model.blab")
    return data, model


@pytest.fixture
def work(files, tmp_path):
    """Fresh copies of the data and the model in an empty folder of their own."""
    data, model = files
    (tmp_path / "loans.csv").write_bytes(data.read_bytes())
    (tmp_path / "model.blab").write_bytes(model.read_bytes())
    return tmp_path


def commands(d):
    """Every (command line, output option) where the output is set to an input."""
    data, model = d / "loans.csv", d / "model.blab"
    return {
        "predict -o data": ["predict", model, data, "-o", data],
        "predict -o model": ["predict", model, data, "-o", model],
        "evaluate -o data": ["evaluate", model, data, "-o", data],
        "evaluate --plot model": ["evaluate", model, data, "--plot", model],
        "evaluate --reliability data": ["evaluate", model, data, "--reliability", data],
        "explain -o data": ["explain", model, data, "-o", data],
        "explain --importance model": ["explain", model, data, "-o", d / "r.csv",
                                       "--importance", model],
        "explain -o reference": ["explain", model, data, "--reference", d / "ref.csv",
                                 "-o", d / "ref.csv"],
        "audit -o data": ["audit", model, data, "--group", "age", "-o", data],
        "audit --plot model": ["audit", model, data, "--group", "age", "--plot", model],
        "train -o data": ["train", data, "--target", "default", "-o", data],
    }  # fmt: skip


@pytest.mark.parametrize("name", list(commands(Path("."))))
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(name, work, capsys):
    (work / "ref.csv").write_bytes((work / "loans.csv").read_bytes())
    before = {p.name: digest(p) for p in work.iterdir()}
    status, _, err = run(commands(work)[name], capsys)
    assert status == 2
    (line,) = error_lines(err)
    assert "that this command reads" in line and "Traceback" not in err
    assert {p.name: digest(p) for p in work.iterdir()} == before  # nothing written at all


@pytest.mark.parametrize("link", [os.link, os.symlink], ids=["hard link", "symbolic link"])
def test_a_link_to_the_input_is_the_input(link, work, capsys):
    data = work / "loans.csv"
    link(data, work / "alias.csv")
    before = digest(data)
    status, _, err = run(["predict", work / "model.blab", data, "-o", work / "alias.csv"], capsys)
    assert status == 2 and "is the data file" in err
    status, _, err = run(["predict", work / "model.blab", work / "alias.csv", "-o", data], capsys)
    assert status == 2 and "is the data file" in err
    assert digest(data) == before


def test_two_outputs_on_one_path_are_refused(work, capsys):
    argv = ["evaluate", work / "model.blab", work / "loans.csv", "--plot", work / "c.png"]
    status, _, err = run([*argv, "--reliability", f"{work}/./c.png"], capsys)
    assert status == 2 and "both name" in err
    assert not (work / "c.png").exists()


def test_a_write_protected_output_needs_force(work, capsys):
    out = work / "scores.csv"
    out.write_text("keep me\n")
    os.chmod(out, 0o444)
    argv = ["predict", work / "model.blab", work / "loans.csv", "-o", out]
    status, _, err = run(argv, capsys)
    assert status == 2
    assert error_lines(err) == [
        f"backprop-lab: error: -o {out}: the file is write-protected; pass --force to replace it"
    ]
    assert out.read_text() == "keep me\n"
    status, _, err = run([*argv, "--force"], capsys)
    assert status == 0
    assert out.read_text().startswith("p_default\n")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o444  # replaced, still protected


def test_force_never_allows_overwriting_an_input(work, capsys):
    data = work / "loans.csv"
    os.chmod(data, 0o444)
    before = digest(data)
    status, _, _ = run(["predict", work / "model.blab", data, "-o", data, "--force"], capsys)
    assert status == 2 and digest(data) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "{model}", "{data}", "-o", "{out}"],
        ["train", "{data}", "--target", "default", "--epochs", "2", "-o", "{out}"],
        ["generate", "--n", "10", "-o", "{out}"],
        ["evaluate", "{model}", "{data}", "--plot", "{out}"],
    ],
    ids=["predict", "train", "generate", "evaluate --plot"],
)
def test_a_missing_folder_is_refused_not_created(argv, work, capsys):
    out = work / "deep" / "missing" / "x.out"
    names = {"model": work / "model.blab", "data": work / "loans.csv", "out": out}
    status, _, err = run([a.format(**names) for a in argv], capsys)
    assert status == 2
    (line,) = error_lines(err)
    assert f"the folder {work / 'deep' / 'missing'} does not exist" in line
    assert not (work / "deep").exists()


def test_every_output_is_checked_before_the_first_is_written(work, capsys):
    """--importance in a place that is not a folder: the reasons CSV is not written either."""
    (work / "file").write_text("a file, not a folder\n")
    argv = ["explain", work / "model.blab", work / "loans.csv", "-o", work / "reasons.csv"]
    status, _, err = run([*argv, "--importance", work / "file" / "i.png"], capsys)
    assert status == 2 and "is not a folder" in err
    status, _, err = run([*argv, "--importance", work / "i.unknown"], capsys)
    assert status == 2 and "cannot draw a '.unknown' file" in err
    assert not (work / "reasons.csv").exists()


def test_an_unwritable_folder_is_named_not_the_temporary_file(work, capsys, monkeypatch):
    """Creating a file fails as in a read-only folder (simulated: root may write anywhere)."""

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = work / "scores.csv"
    status, _, err = run(["predict", work / "model.blab", work / "loans.csv", "-o", out], capsys)
    assert status == 2
    assert error_lines(err) == [
        f"backprop-lab: error: -o {out}: cannot write in the folder {work}: Permission denied"
    ]


def test_reproduce_refuses_a_write_protected_report_without_force(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("an earlier report\n")
    os.chmod(out / "report.html", 0o444)
    status, _, err = run(["reproduce", "--n", "200", "--out", out, "--quiet"], capsys)
    assert status == 2 and "write-protected; pass --force" in err
    assert (out / "report.html").read_text() == "an earlier report\n"
