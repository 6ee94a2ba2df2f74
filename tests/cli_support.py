"""Helpers for the command-line safety tests: a small data file, a tiny saved model, and
running the command line in-process."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pandas as pd

from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk


def write_loans(path: Path, n: int = 300, seed: int = 0) -> Path:
    """n synthetic borrowers: seven numeric features and the 0/1 'default' label."""
    make_credit_risk(n, seed=seed).frame().to_csv(path, index=False)
    return path


def train_tiny_model(data: Path, path: Path) -> Path:
    """A 7-4-1 network after 30 epochs: enough to score rows, quick to fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopped while still improving: on purpose
        model = fit_tabular(
            pd.read_csv(data, dtype=str),
            "default",
            hidden_layer_sizes=(4,),
            max_epochs=30,
            early_stopping=False,
            verbose=False,
            file=data,
        )
    model.save(path)
    return path


def digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None if it does not exist)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``backprop-lab argv``; argparse's exits included."""
    capsys.readouterr()
    try:
        status = main([str(a) for a in argv])
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


def error_lines(err: str) -> list[str]:
    """The lines of stderr that report an error."""
    return [line for line in err.splitlines() if "error:" in line]
