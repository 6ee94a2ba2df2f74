"""The pieces every section is made of (Section, FigureSpec, Table, ReportContext, Claim),
the tutorial's reported values, and how the text prints numbers.

A builder ``builder(context) -> Section`` first puts every number it will state into
``section.metrics`` (plain JSON values), then decides each qualitative claim from those
numbers (``section.metrics["claims"]``, one named rule per claim, see :class:`Claim`),
then writes its sentences from that dict: the words of a claim come from its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..experiments import (
    Config,
    Results,
)

#: What the tutorial reports (read off its text and Figures 1-3), for comparison.
TUTORIAL = {
    "forward_only_loss": 0.69,
    "forward_only_accuracy": 0.53,
    "backprop_accuracy": 0.68,
    "learning_rate_order": "0.001 slowest, 0.1 fastest",
}
#: Two numbers "agree" when they differ by at most this much.
AGREEMENT = 0.02
#: The report calls a model calibrated within groups when mean predicted and observed
#: default rates differ by at most this much in every group.
CALIBRATED_WITHIN = 0.05

FEATURE_MEANING = {
    "age": "age (years)",
    "annual_income": "annual income (currency units)",
    "debt_to_income": "debt payments / income (ratio)",
    "credit_history_years": "length of credit history (years)",
    "late_payments": "late payments on record (count)",
    "home_owner": "owns a home (1 = yes)",
    "employment_years": "years in current employment",
}


# ---------------------------------------------------------------------------------------
# The pieces of a report
# ---------------------------------------------------------------------------------------
@dataclass
class FigureSpec:
    """A figure: file stem ``name``, a caption, and the matplotlib figure."""

    name: str
    caption: str
    figure: Figure = field(repr=False)


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of the report. ``metrics`` must hold every number the text states."""

    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    equations: list[str] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportContext:
    """What every builder can read: the settings and every experiment's results."""

    config: Config
    results: Results


SectionBuilder = Callable[[ReportContext], Section]


# ---------------------------------------------------------------------------------------
# Claims: qualitative words chosen by the numbers
# ---------------------------------------------------------------------------------------
ClaimValue = bool | str | None


@dataclass(frozen=True)
class Claim:
    """One qualitative statement of the report, decided by a rule on the section's numbers.

    ``rule`` says in words which value the claim takes when (its thresholds are named
    constants of the section's module) and ``decide`` implements it on the section's
    metrics; ``phrases`` maps every value to the words the page shows for it (None: no
    words for that value). A section stores each claim's value in
    ``metrics["claims"][name]`` (None where the claim does not apply; then none of its
    phrases appears) and writes ``claim.say(value)`` into its text. So the words on the
    page follow the value, and a test can recompute the value from the numbers in
    metrics.json and look for the matching words on the page.
    """

    rule: str
    decide: Callable[[dict[str, Any]], ClaimValue]
    phrases: Mapping[bool | str, str | None]

    def say(self, value: ClaimValue) -> str:
        """The words for ``value`` ('' when that value has none)."""
        if value is None or value not in self.phrases:
            raise ValueError(f"no words for the value {value!r} (rule: {self.rule})")
        return self.phrases[value] or ""


def decide_claims(claims: Mapping[str, Claim], metrics: dict[str, Any]) -> dict[str, ClaimValue]:
    """Every claim's value from ``metrics`` by its rule; refuses a value that has no words."""
    values = {}
    for name, claim in claims.items():
        value = claim.decide(metrics)
        if isinstance(value, np.bool_):
            value = bool(value)
        if value is not None and value not in claim.phrases:
            raise ValueError(f"claim {name!r} took the value {value!r}, which has no words")
        values[name] = value
    return values


# ---------------------------------------------------------------------------------------
# Numbers: JSON-safe values and how the text prints them
# ---------------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinity become None, NumPy scalars become Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot put {type(value).__name__} into metrics.json")


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def f4(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def sci(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def pp(x: float) -> str:
    """A difference of two shares in percentage points, e.g. '1.3 pp'."""
    return f"{100 * x:.1f} pp"


def lr_key(lr: float) -> str:
    return f"{lr:g}"
