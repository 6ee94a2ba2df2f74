"""Reasons in scorecard points: an applicant's score split into the baseline's score and
one contribution per raw column.

The model reports P(default) = sigma(u), u = g(z) the reported log-odds of the network's
logit z (g(z) = z, a z + b or z / T: see :mod:`backprop_lab.classifier.points`), and the
score is Offset - Factor * u. Attributions c_j of the network's logit against a baseline
applicant x' add up to f(x) - f(x') up to their completeness gap,
sum_j c_j = f(x) - f(x') + gap. Since g is affine with slope s = dg/dz,

    points_j   = -Factor * s * c_j                     (a column's points)
    base       = Offset - Factor * g(f(x'))            (the baseline applicant's score)
    score      = base + sum_j points_j + Factor * s * gap

so the points of the reasons and the baseline's score add up to the applicant's score
exactly where the attributions are complete (integrated gradients: |gap| <= 1e-3
log-odds, i.e. within Factor * s * 1e-3 points, 0.03 points on the default scale).
A reason that raised the risk (c_j > 0) costs points (points_j < 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..classifier.points import PointsScale
from ..classifier.tabular_model import TabularModel


@dataclass
class ReasonPoints:
    """An explanation in points: ``score`` (each applicant's points), ``base_points``
    (the baseline applicant's points, one per applicant), ``contributions`` (points per
    raw column, one row per applicant), ``per_log_odds`` (-Factor * s: the points of one
    unit of the network's logit) and the ``scale``."""

    scale: PointsScale
    score: np.ndarray
    base_points: np.ndarray
    contributions: pd.DataFrame
    per_log_odds: float

    @property
    def gaps(self) -> np.ndarray:
        """score - (base_points + sum of contributions) = Factor * s * completeness gap."""
        return self.score - self.base_points - self.contributions.to_numpy().sum(axis=1)


def reason_points(
    model: TabularModel,
    attributions: pd.DataFrame,
    logits: np.ndarray,
    baseline_logits: np.ndarray,
    scale: PointsScale,
) -> ReasonPoints:
    """Points of ``attributions`` (log-odds of default per raw column, against the
    baseline) and the scores of the applicants and of the baseline, whose network logits
    of default are ``logits`` and ``baseline_logits``."""

    def reported(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        return z if model.calibrator is None else model.calibrator.calibrated_logits(z)

    per_log_odds = -scale.factor * model.log_odds_slope()
    return ReasonPoints(
        scale=scale,
        score=scale.from_log_odds(reported(logits)),
        base_points=scale.from_log_odds(reported(baseline_logits)),
        contributions=attributions * per_log_odds,
        per_log_odds=per_log_odds,
    )
