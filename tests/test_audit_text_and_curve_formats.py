"""The audit's text table keeps its columns apart whatever the cells hold, and the credit
curves are written in the format their file name asks for."""

from __future__ import annotations

import re
import warnings

import numpy as np

from backprop_lab import fit_tabular
from backprop_lab.classifier.figures import plot_credit_curves
from backprop_lab.data import make_credit_risk
from backprop_lab.responsible.audit import audit_model


def test_audit_table_columns_stay_apart_with_the_widest_cells():
    data = make_credit_risk(600, seed=3)
    frame = data.X.assign(default=data.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(frame, "default", random_state=0)
    # threshold 1: every applicant is approved, so every rate cell reads
    # "100.0% (100.0-100.0)", the widest a cell gets
    text = audit_model(model, frame, "age", threshold=1.0, n_bootstrap=20).text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("group"))
    table = lines[start : start + 5]
    assert any("100.0% (100.0-100.0)" in line for line in table[1:])
    for line in table:
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == 8, line  # group, rows, defaults, mean P, 3 rates, AUC
    # the columns start at the same place on every line
    header = table[0]
    for name in ("approval rate", "approval | repaid", "approval | defaulted"):
        column = header.index(name)
        for line in table[1:]:
            assert line[column - 2 : column] == "  ", (name, line)


def test_credit_curves_follow_the_file_suffix(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    plot_credit_curves(y, p, tmp_path / "c.svg")
    plot_credit_curves(y, p, tmp_path / "c.png")
    assert (tmp_path / "c.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
