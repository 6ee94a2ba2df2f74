"""The tutorial notebook (a jupytext percent-format script) runs as a plain script, saving
its figures to files, and as a notebook, showing them as images; either way it prints
what its text says it shows, and its exercise checkers give the verdicts it promises."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbclient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "tutorial.py"
FIGURES = ("1-forward-only-vs-backprop", "2-learning-rates", "3-train-and-test", "4-overfitting")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The verdicts the exercises section prints, in order: the correct backward pass, the two
# broken ones, the learner's unwritten tanh backward, the slip, the solution.
VERDICTS = [
    ("backward", "right"),
    ("backward_without_relu_mask", "wrong"),
    ("backward_without_1_over_N", "wrong"),
    ("my_tanh_backward", "wrong"),
    ("tanh_backward_with_a_slip", "wrong"),
    ("tanh_backward_solution", "right"),
]


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not printed"
    return float(match[1])


def check_printed(text: str) -> None:
    """What the tutorial prints backs what its text says."""
    assert "the package's initial weights are the same: True" in text
    assert "same as the package's textbook.backward: True" in text

    # Why 0.693: y_hat = sigmoid(z2) with |z2| below 1e-3 (the weights are 0.01 x N(0, 1)),
    # so the loss is ln 2 to first order in z2: |L - ln 2| <= max |z2| / 2 < 5e-4.
    start = number(r"loss (\d\.\d+) nats; ln 2", text)
    assert abs(start - math.log(2)) < 1e-3

    # The hand-made finite difference of dW1[0, 0]: round-off u L / h = 1.5e-11 and
    # truncation h^2 |J'''| / 6 below 1e-11, against |dW1[0, 0]| ~ 4e-4, bound the
    # relative error by about 1e-7; a bug would be off by 1e-1 or more.
    assert number(r"relative error\s+(\S+)", text) < 1e-6

    # The package's check passes on the correct network and fails on the broken one.
    assert re.findall(r"gradient check passed: (\w+)", text) == ["True", "False"]

    # Section 6: forward passes alone keep one loss; with backprop, a plateau of over a
    # hundred epochs (the text says so), and the package's loop gives the same losses
    # (one float64 rounding per operation over 500 epochs: far below 1e-12).
    assert "at every epoch? True" in text
    plateau = number(r"first epoch with loss below 0.65: (\d+)", text)
    assert 100 < plateau < 500
    assert number(r"largest difference from our loop over 500 epochs: (\S+)", text) < 1e-12

    # Section 7: lr 0.001 is still on the plateau after 2000 epochs; lr 0.01's plateau
    # lasts about ten times lr 0.1's (gradient descent with a tenth of the step).
    assert re.search(r"lr 0.001: final loss \S+, still on the plateau", text)
    slow = number(r"lr  0.01: final loss \S+, below 0.65 from epoch (\d+)", text)
    assert 7 < slow / plateau < 13

    # Section 8: on 1600 borrowers the test loss rises by a few thousandths after its
    # lowest point; on 100 it turns up within a few hundred epochs and ends above 0.693.
    rise = number(r"then up by (\S+)", text)
    assert 0.001 < rise < 0.01
    assert number(r"100 borrowers: lowest test loss \S+ at epoch (\d+)", text) < 500
    assert number(r"after 3000 epochs training loss \S+, test loss (\S+)", text) > math.log(2)

    verdicts = re.findall(r"^(\w+): (right|wrong)\b", text, flags=re.MULTILINE)
    assert verdicts == VERDICTS


def test_tutorial_runs_as_a_script_and_saves_its_figures(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    check_printed(result.stdout)
    assert [p.name for p in tmp_path.iterdir()] == ["tutorial-figures"]
    saved = sorted((tmp_path / "tutorial-figures").iterdir())
    assert [p.name for p in saved] == [f"{name}.png" for name in FIGURES]
    for path in saved:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert f"figure saved to tutorial-figures/{path.name}" in result.stdout


def test_tutorial_runs_as_a_notebook_and_shows_its_figures(tmp_path):
    nb = jupytext.read(NOTEBOOK)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text, images = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
            if output["output_type"] == "stream" and output["name"] == "stdout":
                text.append(output["text"])
            if "image/png" in output.get("data", {}):
                images.append(output["data"]["image/png"])
    printed = "".join(text)
    check_printed(printed)
    assert "figure saved" not in printed
    assert len(images) == len(FIGURES)  # each figure shown once, as an image
    assert not list(tmp_path.iterdir())  # as a notebook it writes no files

    # The solution's code is folded away in Jupyter.
    solution = [c for c in nb.cells if "def tanh_backward_solution" in c.source]
    assert len(solution) == 1
    assert solution[0].metadata["jupyter"]["source_hidden"] is True
