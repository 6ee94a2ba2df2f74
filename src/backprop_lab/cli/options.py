"""Argument types and options shared by the subcommands.

Numbers are read as a person types them: ``--n 10000``, ``--n 10_000`` and ``--n 1e4``
are the same count; ``--lr 1e-3`` and ``--lr 0.001`` the same rate. NaN and infinity are
refused for every numeric option, and a count must be a whole number.
"""

from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """A whole number written as digits ('10000', '10_000') or in e-notation ('1e4')."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not math.isfinite(value) or value != math.floor(value):
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def positive_count(text: str) -> int:
    """A whole number of at least 1 (layer widths, epochs, rows per chunk)."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def number(text: str) -> float:
    """A finite real number ('0.01', '1e-3'); NaN and infinity are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive; got {text}")
    return value


#: The signs ``--monotone`` reads: increasing, decreasing, free.
_MONOTONE_SIGNS = {"+1": 1, "1": 1, "+": 1, "-1": -1, "-": -1, "0": 0}


def monotone_constraints(text: str) -> list[tuple[str, int]]:
    """'late_payments=+1,annual_income=-1' as [(column, sign), ...]; signs +1, -1 or 0."""
    pairs = []
    for part in text.split(","):
        name, sep, sign = part.strip().rpartition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(
                f"expected COLUMN=+1 or COLUMN=-1 (comma-separated); got {part.strip()!r}"
            )
        if sign.strip() not in _MONOTONE_SIGNS:
            raise argparse.ArgumentTypeError(
                f"the sign of column {name.strip()!r} must be +1, -1 or 0; got {sign.strip()!r}"
            )
        pairs.append((name.strip(), _MONOTONE_SIGNS[sign.strip()]))
    return pairs


def add_force_option(parser: argparse.ArgumentParser) -> None:
    """``--force``: replace write-protected output files (never an input file)."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace output files that are write-protected (an output that is one of "
        "the input files is refused even so)",
    )


def add_points_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--points`` and the scorecard scale: ``--pdo``, ``--base-score``, ``--base-odds``.

    Giving any scale option implies ``--points``.
    """
    parser.add_argument(
        "--points",
        action="store_true",
        help=f"{what}, on the scorecard scale Score = Offset + Factor ln(good:bad odds), "
        "Factor = PDO / ln 2, Offset = base score - Factor ln(base odds): a higher score "
        "is a lower risk (any of the scale options below implies --points)",
    )
    parser.add_argument(
        "--pdo",
        type=positive_number,
        metavar="POINTS",
        help="points to double the good:bad odds (default: 20)",
    )
    parser.add_argument(
        "--base-score",
        type=number,
        metavar="POINTS",
        help="score at the base odds (default: 600)",
    )
    parser.add_argument(
        "--base-odds",
        type=positive_number,
        metavar="ODDS",
        help="good:bad odds at the base score, e.g. 50 for 50:1 (default: 50)",
    )


def points_scale(args: argparse.Namespace) -> object | None:
    """The :class:`~backprop_lab.classifier.points.PointsScale` the options ask for, or
    None when neither ``--points`` nor a scale option (nor ``--band-width``) was given."""
    from ..classifier.points import PointsScale

    given = {
        name: getattr(args, name)
        for name in ("pdo", "base_score", "base_odds")
        if getattr(args, name) is not None
    }
    if not (args.points or given or getattr(args, "band_width", None) is not None):
        return None
    return PointsScale(**given)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with every option's default: ``(default: 0.01)`` after its help.

    Left as written: a flag (its default is "off"), an option whose help already says
    what its default is (``default: the training target's name``), and an option without
    a value by default (``-o``: not written), whose help says what happens without it.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.nargs == 0
            or "default:" in text
            or action.default in (None, argparse.SUPPRESS)
            or action.default == []
            or not action.option_strings
        ):
            return action.help
        return super()._get_help_string(action)
