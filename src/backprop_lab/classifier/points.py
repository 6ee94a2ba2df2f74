"""Scorecard points: the probability of default on the scale lenders read.

Standard scorecard scaling puts a score on the log of the good:bad odds,

    Score  = Offset + Factor * ln(odds),      odds = (1 - p) / p   (good:bad)
    Factor = PDO / ln 2
    Offset = BaseScore - Factor * ln(BaseOdds)

so a score of ``base_score`` means good:bad odds of ``base_odds`` (50:1 at 600 points
by default), every ``pdo`` points (points to double the odds, 20 by default) double the
odds, and a higher score means a lower risk. With z = ln(p / (1 - p)) the log-odds of
default (the logit the model reports its probability through, p = sigma(z)),
ln(odds) = -z, so

    Score = Offset - Factor * z

which is how the points are computed: from the logit, never from p, so they stay finite
and exact however close p is to 0 or 1. A contribution c to the log-odds of default
(an explanation's reason) is -Factor * c points.

A model with a post-hoc calibrator reports p = sigma(u) with u = a z + b (Platt) or
u = z / T (temperature) of the network's logit z; the points come from u, so that they
are the same monotone function of the reported p as for any other model. A change c in
the network's logit then moves the score by -Factor * (du/dz) * c points
(:func:`log_odds_slope`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logit

#: The industry's usual scale: 600 points at good:bad odds of 50:1, 20 points to double.
DEFAULT_PDO = 20.0
DEFAULT_BASE_SCORE = 600.0
DEFAULT_BASE_ODDS = 50.0


@dataclass(frozen=True)
class PointsScale:
    """A scorecard scale: ``base_score`` points at good:bad odds ``base_odds``,
    ``pdo`` points to double the odds. ``pdo`` and ``base_odds`` must be positive."""

    pdo: float = DEFAULT_PDO
    base_score: float = DEFAULT_BASE_SCORE
    base_odds: float = DEFAULT_BASE_ODDS

    def __post_init__(self) -> None:
        for name in ("pdo", "base_score", "base_odds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"{name} must be a number; got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite; got {value!r}")
        if not self.pdo > 0:
            raise ValueError(f"pdo (points to double the odds) must be positive; got {self.pdo!r}")
        if not self.base_odds > 0:
            raise ValueError(f"base odds (good:bad) must be positive; got {self.base_odds!r}")

    @property
    def factor(self) -> float:
        """Factor = PDO / ln 2: points per unit of ln(good:bad odds)."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Offset = BaseScore - Factor * ln(BaseOdds): the score at odds 1:1 (p = 0.5)."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def from_log_odds(self, z: ArrayLike) -> np.ndarray:
        """Score = Offset - Factor * z, z the log-odds of default."""
        return self.offset - self.factor * np.asarray(z, dtype=np.float64)

    def contribution(self, c: ArrayLike) -> np.ndarray:
        """-Factor * c: the points of a contribution c to the log-odds of default."""
        return -self.factor * np.asarray(c, dtype=np.float64)

    def to_dict(self) -> dict:
        """The scale and its derived factor and offset, JSON-ready."""
        return {
            "pdo": float(self.pdo),
            "base_score": float(self.base_score),
            "base_odds": float(self.base_odds),
            "factor": self.factor,
            "offset": self.offset,
        }

    def describe(self) -> str:
        """'600 points at good:bad odds 50:1, 20 points to double the odds'."""
        return (
            f"{self.base_score:g} points at good:bad odds {self.base_odds:g}:1, "
            f"{self.pdo:g} points to double the odds"
        )


def scorecard_points(
    p_default: ArrayLike,
    pdo: float = DEFAULT_PDO,
    base_score: float = DEFAULT_BASE_SCORE,
    base_odds: float = DEFAULT_BASE_ODDS,
) -> np.ndarray:
    """Score = Offset + Factor * ln((1 - p) / p) for probabilities of default p.

    Computed as Offset - Factor * logit(p) (``scipy.special.logit``, accurate for p
    near 0); p = 0 gives +inf and p = 1 gives -inf. Where the logit is at hand, use
    :meth:`PointsScale.from_log_odds` instead: a p within ~1e-16 of 1 has lost the
    digits that set its score.
    """
    p = np.asarray(p_default, dtype=np.float64)
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails too
        raise ValueError("p_default must hold probabilities between 0 and 1")
    scale = PointsScale(pdo, base_score, base_odds)
    with np.errstate(divide="ignore"):
        return scale.from_log_odds(logit(p))


def log_odds_slope(calibrator: object | None) -> float:
    """du/dz of the reported log-odds u against the network's logit z: a for Platt
    scaling (u = a z + b), 1 / T for temperature scaling (u = z / T), 1 without."""
    return 1.0 if calibrator is None else float(calibrator.slope)
