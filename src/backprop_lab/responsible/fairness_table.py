"""The fairness audit's tidy table as records and strict JSON.

Columns: scope ('group' or 'across_groups'), group, metric, value, ci_low, ci_high and
note; every metric's plain-words description travels with the JSON, and NaN becomes null.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

METRIC_DESCRIPTIONS: dict[str, str] = {
    "count": "number of applicants in the group",
    "default_rate": "observed default rate",
    "mean_predicted": "mean predicted probability of default",
    "selection_rate": "approval rate: share with p_default < threshold",
    "true_positive_rate": "approval rate among applicants who repaid",
    "false_positive_rate": "approval rate among applicants who defaulted",
    "roc_auc": "ROC AUC of p_default for default within the group",
    "brier_score": "mean (p_default - default)^2",
    "calibration_gap": "mean predicted minus observed default rate (> 0: risk overstated)",
    "selection_rate_diff": "approval rate minus the reference group's",
    "true_positive_rate_diff": "approval rate among repaid minus the reference group's",
    "false_positive_rate_diff": "approval rate among defaulted minus the reference group's",
    "demographic_parity_difference": "largest minus smallest approval rate across groups",
    "demographic_parity_ratio": "smallest over largest approval rate across groups",
    "equal_opportunity_difference": "largest minus smallest approval rate among repaid",
    "equalized_odds_difference": "larger of the TPR and FPR differences across groups",
}

#: Per-group rates with bootstrap intervals, in table order.

COLUMNS = ["scope", "group", "metric", "value", "ci_low", "ci_high", "note"]


def _row(
    scope: str, group: str | None, metric: str, value: float, lo: float, hi: float, note: str
) -> dict:
    return {
        "scope": scope,
        "group": group,
        "metric": metric,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "note": note,
    }


def _clean(value: object) -> object:
    """NaN and infinities become None (JSON null); numpy scalars become Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def audit_records(table: pd.DataFrame) -> list[dict]:
    """The audit table as a list of plain dicts, NaN replaced by None."""
    return [{k: _clean(v) for k, v in rec.items()} for rec in table.to_dict(orient="records")]


def audit_payload(table: pd.DataFrame) -> dict:
    """{"settings": df.attrs, "metrics": records, "descriptions": ...}, NaN as None."""
    used = list(dict.fromkeys(table["metric"]))
    return {
        "settings": {k: _clean(v) for k, v in table.attrs.items()},
        "metrics": audit_records(table),
        "descriptions": {m: METRIC_DESCRIPTIONS[m] for m in used if m in METRIC_DESCRIPTIONS},
    }


def audit_to_json(table: pd.DataFrame, *, indent: int | None = 2) -> str:
    """JSON text of :func:`audit_payload`.

    Missing values are ``null``, never ``NaN`` (strict JSON).
    """
    return json.dumps(audit_payload(table), indent=indent, allow_nan=False)
