"""Ctrl-C, kill and kill -9 on the real program (``python -m backprop_lab`` in a child
process): one line and exit status 130 (143 for SIGTERM), even during start-up; no
temporary file left behind, except after SIGKILL, and the next write removes that one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from cli_support import run, train_tiny_model, write_loans

import backprop_lab

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

#: Rows of the file being scored while the signal arrives, and rows per chunk: about
#: 250 chunks, so the write lasts long enough to be caught half-way.
ROWS, CHUNK = 50_000, 200


def start(args: list[str], *options: str) -> subprocess.Popen:
    """The program with Ctrl-C at its default (a shell may have set it to 'ignore')."""
    env = {**os.environ, "PYTHONPATH": str(Path(backprop_lab.__file__).parents[1])}  # this one
    return subprocess.Popen(
        [sys.executable, *options, "-m", "backprop_lab", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def temporaries(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A model and a file of ROWS borrowers to score."""
    folder = tmp_path_factory.mktemp("signals")
    small = write_loans(folder / "small.csv")
    model = train_tiny_model(small, folder / "model.blab")
    return model, write_loans(folder / "big.csv", n=ROWS, seed=1)


def test_the_entry_point_loads_no_library_before_its_ctrl_c_handler():
    """``backprop-lab`` (the console script) calls ``backprop_lab.__main__:run``; importing
    that module must not import the command line's libraries, whose loading takes the
    start-up time in which Ctrl-C has to be caught by ``run``."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["backprop-lab"] == "backprop_lab.__main__:run"
    code = (
        "import sys, backprop_lab.__main__; print(sorted({'pandas', 'sklearn'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(backprop_lab.__file__).parents[1])}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_ctrl_c_during_start_up_prints_one_line(tmp_path):
    """SIGINT arrives while the command line's libraries are still being imported:
    ``-X importtime`` reports each import as it completes, so the signal is sent as soon as
    pandas has loaded and before scikit-learn and matplotlib have."""
    child = start(["generate", "--n", "10", "-o", tmp_path / "x.csv"], "-X", "importtime")
    for line in child.stderr:
        if re.search(r"\|\s+pandas$", line.rstrip()):
            child.send_signal(signal.SIGINT)
            break
    rest = child.stderr.read()
    child.wait(timeout=60)
    messages = [s for s in rest.splitlines() if not s.startswith("import time:")]
    assert child.returncode == 130, rest[-2000:]
    assert messages == ["backprop-lab: interrupted"]
    assert os.listdir(tmp_path) == []


def wait_for_temporary(child: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 120
    while not temporaries(folder):
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(
    "sig, status, message",
    [
        (signal.SIGINT, 130, "backprop-lab: interrupted"),
        (signal.SIGTERM, 143, "backprop-lab: terminated"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_half_way_through_a_write_leaves_nothing(big, tmp_path, sig, status, message):
    model, data = big
    child = start(["predict", model, data, "-o", tmp_path / "p.csv", "--chunk-size", CHUNK])
    wait_for_temporary(child, tmp_path)
    child.send_signal(sig)
    err = child.stderr.read()
    child.wait(timeout=60)
    assert child.returncode == status
    assert err.splitlines() == [message]
    assert os.listdir(tmp_path) == []  # neither the output nor a temporary file


def test_after_kill_9_the_next_write_removes_the_temporary_file(big, tmp_path, capsys):
    model, data = big
    out = tmp_path / "p.csv"
    child = start(["predict", model, data, "-o", out, "--chunk-size", CHUNK])
    wait_for_temporary(child, tmp_path)
    child.kill()
    child.wait(timeout=60)
    child.stderr.close()
    (left,) = temporaries(tmp_path)  # SIGKILL cannot be caught: the file stays...
    assert left.startswith(".p.csv~") and f"~{child.pid}~" in left
    status, _, _ = run(["predict", model, data, "-o", out], capsys)
    assert status == 0
    assert os.listdir(tmp_path) == ["p.csv"]  # ...until the next write to p.csv
    scores = np.loadtxt(out, skiprows=1)
    assert scores.shape == (ROWS,)


def test_a_reader_that_stops_early_ends_predict_quietly(big):
    """`predict ... -o - | head -3`: the closed pipe is not an error."""
    model, data = big
    env = {**os.environ, "PYTHONPATH": str(Path(backprop_lab.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-m", "backprop_lab", "predict", str(model), str(data), "-o", "-",
         "--chunk-size", str(CHUNK)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    first = [child.stdout.readline() for _ in range(3)]
    child.stdout.close()  # the reader goes away with 50,000 rows still to come
    err = child.stderr.read().decode()
    child.wait(timeout=120)
    assert b"p_default" in first[0] and len(first) == 3
    assert err == "" and child.returncode == 0
