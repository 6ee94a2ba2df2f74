"""`backprop-lab reproduce` progress: a bar on a terminal, one line per stage elsewhere
(--quiet printing nothing is checked in test_reproduce.py)."""

import contextlib
import io
import re

from backprop_lab.cli import main
from backprop_lab.tutorial.experiments import EXPERIMENTS
from backprop_lab.tutorial.report import STAGES

SMALL = ["--n", "300", "--epochs", "20"]
LINE = re.compile(r"^\[(\d+)/(\d+)\] (.+): (\d+\.\d) s$")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(argv: list[str], err: io.StringIO) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue()


def test_off_a_terminal_one_line_per_finished_stage(tmp_path):
    err = io.StringIO()  # not a terminal, as when the output goes to a file or a pipe
    code, stdout = _run(["reproduce", "--out", str(tmp_path / "r"), *SMALL], err)
    assert code == 0
    lines = err.getvalue().splitlines()
    assert len(lines) == len(STAGES) == len(EXPERIMENTS) + 3
    for k, (line, stage) in enumerate(zip(lines, STAGES, strict=True), start=1):
        match = LINE.match(line)
        assert match, line
        assert (int(match[1]), int(match[2]), match[3]) == (k, len(STAGES), stage)
    assert "\r" not in err.getvalue()  # no bar redrawn in place
    assert stdout.splitlines()[-1].startswith("report: ")  # the summary still on stdout


def test_on_a_terminal_a_bar_and_no_stage_lines(tmp_path):
    err = _Terminal()
    code, _ = _run(["reproduce", "--out", str(tmp_path / "r"), *SMALL], err)
    assert code == 0
    text = err.getvalue()
    assert "\r" in text and "training" in text  # tqdm redraws its bar in place
    assert not any(LINE.match(line) for line in re.split(r"[\r\n]", text))
