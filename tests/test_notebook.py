"""The tutorial notebook (kept as a jupytext percent-format script) runs top to bottom."""

import json
from pathlib import Path

import jupytext
import nbclient
import nbformat

from backprop_lab.engine.gradcheck import GOOD, RESOLUTION

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "tutorial.py"

# Appended to the notebook: the gradient check's numbers, unrounded, for the test to read.
REPORT_CHECK = """
import json
print("GRADCHECK-JSON " + json.dumps(
    {"max_rel_error": check.max_rel_error, "threshold": check.threshold, "passed": check.passed}
))
"""


def test_tutorial_notebook_runs_and_shows_its_results(tmp_path):
    nb = jupytext.read(NOTEBOOK)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_CHECK))
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text, images = [], 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
            if output["output_type"] == "stream" and output["name"] == "stdout":
                text.append(output["text"])
            images += "image/png" in output.get("data", {})
    printed = "".join(text)
    assert "every epoch's loss identical? True" in printed
    assert "lr     30: diverged" in printed
    assert "largest relative error " in printed  # the notebook shows the check's result
    check = json.loads(printed.split("GRADCHECK-JSON ")[1].splitlines()[0])
    # The number itself, not its rounded print: a correct gradient stays below
    # RESOLUTION = GOOD / 10 by construction (backprop_lab.engine.gradcheck's docstring),
    # ten times inside the threshold.
    assert check["threshold"] == GOOD and check["passed"]
    assert check["max_rel_error"] < RESOLUTION
    assert images == 7  # one per figure shown
    assert not list(tmp_path.iterdir())  # the notebook writes no files
