"""The numbers and claims of the report's responsible-model section: the metrics it
states, taken from the checks, and each qualitative sentence's rule."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...data.synthetic import TRUE_WEIGHTS
from ...responsible.fairness import ELDERLY_AGE, audit_records
from ..experiments.responsible import ResponsibleChecks
from .base import (
    CALIBRATED_WITHIN,
    Claim,
    json_safe,
)


def _audit_row(table: Any, metric: str, group: str | None = None) -> dict[str, Any]:
    """One row of an audit table as JSON-safe {value, ci_low, ci_high, note}."""
    rows = table[table["metric"] == metric]
    rows = rows[rows["group"].isna()] if group is None else rows[rows["group"] == group]
    if len(rows) != 1:
        return {"value": None, "ci_low": None, "ci_high": None, "note": "not available"}
    r = rows.iloc[0]
    return json_safe(
        {"value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "note": r["note"]}
    )


def _pp(x: float) -> str:
    """Percentage points to one decimal, never '-0.0'."""
    return f"{round(100 * x, 1) + 0.0:.1f}"


def _pp_ci(row: dict[str, Any], sign: float = 1.0) -> str:
    """A difference of rates in percentage points with its interval: '30.2 pp (95% CI 23.9
    to 37.0 pp)'; ``sign`` -1 states a negative difference as a positive gap."""
    if row["value"] is None:
        return "n/a"
    text = f"{_pp(sign * row['value'])} pp"
    if row["ci_low"] is None or row["ci_high"] is None:
        return text
    lo, hi = sorted((sign * row["ci_low"], sign * row["ci_high"]))
    return f"{text} (95% CI {_pp(lo)} to {_pp(hi)} pp)"


def _pct_ci(row: dict[str, Any]) -> str:
    if row["value"] is None:
        return "n/a"
    text = f"{100 * row['value']:.1f}%"
    if row["ci_low"] is not None and row["ci_high"] is not None:
        text += f" ({100 * row['ci_low']:.1f}–{100 * row['ci_high']:.1f})"
    return text


def _responsible_metrics(r: ResponsibleChecks) -> dict[str, Any]:
    age = r.age_audit
    bands = list(dict.fromkeys(age.loc[age["scope"] == "group", "group"]))
    per_band = {
        band: {
            metric: _audit_row(age, metric, band)
            for metric in (
                "count",
                "default_rate",
                "mean_predicted",
                "selection_rate",
                "true_positive_rate",
                "false_positive_rate",
                "calibration_gap",
            )
        }
        for band in bands
    }
    gaps = [abs(v["calibration_gap"]["value"] or 0.0) for v in per_band.values()]
    planted = []
    for run in r.planted:
        planted.append(
            {
                "planted_bias": run.planted_bias,
                "planted_gap": run.planted_size,
                "planted_group_1_minus_group_0": -run.planted_size,
                "demographic_parity_difference": _audit_row(
                    run.table, "demographic_parity_difference"
                ),
                "approval_group_1_minus_group_0": _audit_row(run.table, "selection_rate_diff", "1"),
                "true_lender_group_1_minus_group_0": run.true_lender,
                "network_minus_true_lender": run.network_minus_true_lender,
                "group_logit_shift": run.group_logit_shift,
                "group_sizes": run.group_sizes,
                "approval_rate": {
                    g: _audit_row(run.table, "selection_rate", g) for g in ("0", "1")
                },
                "records": json_safe(audit_records(run.table)),
            }
        )
    return json_safe(
        {
            "threshold": r.threshold,
            "n_bootstrap": r.n_bootstrap,
            "confidence": age.attrs["confidence"],
            "ig_steps": r.ig_steps,
            "n_test": r.n_test,
            "age_bands": bands,
            "age_reference_band": age.attrs["reference"],
            "by_age_band": per_band,
            "age_demographic_parity_difference": _audit_row(age, "demographic_parity_difference"),
            "age_demographic_parity_ratio": _audit_row(age, "demographic_parity_ratio"),
            "age_equal_opportunity_difference": _audit_row(age, "equal_opportunity_difference"),
            "largest_abs_calibration_gap_by_band": max(gaps) if gaps else None,
            "age_audit_records": audit_records(age),
            "regulation_b": None if r.age_check is None else r.age_check.to_dict(),
            "elderly_age": ELDERLY_AGE,
            "true_age_weight": TRUE_WEIGHTS["age"],
            "planted": planted,
            "calibration": r.calibration,
            "reliability": r.reliability.to_dict(orient="records"),
            "importance": r.importance.to_dict(orient="records"),
            "max_completeness_gap": r.max_completeness_gap,
            "baseline_logit": r.baseline_logit,
            "examples": [asdict(e) for e in r.examples],
        }
    )


def _covers(row: dict[str, Any], x: float) -> bool | None:
    """Whether the interval of ``row`` contains ``x`` (None without an interval)."""
    if row["ci_low"] is None or row["ci_high"] is None:
        return None
    return row["ci_low"] <= x <= row["ci_high"]


def _bias_found(m: dict[str, Any]) -> bool | None:
    diff = m["planted"][0]["approval_group_1_minus_group_0"]
    return None if diff["ci_high"] is None else diff["ci_high"] < 0


def _vs_true_lender(m: dict[str, Any]) -> str | None:
    diff = m["planted"][0]["network_minus_true_lender"]
    if diff["ci_low"] is None or diff["ci_high"] is None:
        return None
    if diff["ci_low"] <= 0 <= diff["ci_high"]:
        return "consistent"
    # group 1 minus group 0 approval, network minus lender: below 0, the network puts
    # group 1 further behind than the lender who knows the true probabilities
    return "larger" if diff["ci_high"] < 0 else "smaller"


def _reproduced(m: dict[str, Any]) -> str | None:
    found, versus = _bias_found(m), _vs_true_lender(m)
    if found is None or versus != "consistent":
        return None
    return "reproduced" if found else "undecided"


def _regulation_b_passed(m: dict[str, Any]) -> bool | None:
    rb = m["regulation_b"]
    return None if rb is None or rb["n_elderly"] == 0 else rb["passed"]


def _age_approval_differs(m: dict[str, Any]) -> bool | None:
    dp = m["age_demographic_parity_difference"]["value"]
    return None if dp is None else dp > 0


def _calibrated_within_bands(m: dict[str, Any]) -> bool:
    worst = m["largest_abs_calibration_gap_by_band"]
    return worst is not None and worst <= CALIBRATED_WITHIN


RESPONSIBLE_CLAIMS = {
    "age_approval_differs": Claim(
        "the largest and smallest approval rates across age bands differ",
        _age_approval_differs,
        {
            True: "a demographic-parity difference (largest minus smallest approval rate) of",
            False: "approval is the same in every band",
        },
    ),
    "calibrated_within_bands": Claim(
        f"in every age band mean predicted and observed default rates differ by at most "
        f"CALIBRATED_WITHIN = {CALIBRATED_WITHIN:g}",
        _calibrated_within_bands,
        {
            True: "it is calibrated within each band, not only overall",
            False: "it is not calibrated within bands",
        },
    ),
    "regulation_b_passed": Claim(
        "no test borrower aged 62 or over gets a less favourable age contribution than the "
        "most favoured younger class (None when there is nobody to compare)",
        _regulation_b_passed,
        {True: "so the check passes", False: "so the check fails"},
    ),
    "bias_found": Claim(
        "the biased network's group 1 minus group 0 approval interval lies below 0",
        _bias_found,
        {
            True: "Backprop found the bias in the data",
            False: "the audit cannot tell this network's gap from none",
        },
    ),
    "planted_gap_in_interval": Claim(
        "the biased network's group 1 minus group 0 approval interval contains minus the "
        "planted gap (the population figure)",
        lambda m: _covers(
            m["planted"][0]["approval_group_1_minus_group_0"],
            m["planted"][0]["planted_group_1_minus_group_0"],
        ),
        {True: "The interval contains the planted", False: "The interval misses the planted"},
    ),
    "network_vs_true_lender": Claim(
        "the interval of (network minus true-probability lender) in group 1 minus group 0 "
        "approval, on the same test borrowers: covers 0 'consistent', below 0 'larger', "
        "above 0 'smaller'",
        _vs_true_lender,
        {
            "consistent": "consistent with no difference",
            "larger": "the network puts group 1 further behind than the planted bias does",
            "smaller": "the network has learnt less of the bias than was planted",
        },
    ),
    "reproduced": Claim(
        "'reproduced' when bias_found and network_vs_true_lender is 'consistent'; "
        "'undecided' when the network's gap is not found but is consistent with the "
        "lender's; None otherwise",
        _reproduced,
        {
            "reproduced": "backprop reproduced the planted bias",
            "undecided": "too few test borrowers to tell the network's gap from either",
        },
    ),
    "control_covers_zero": Claim(
        "the unbiased network's group 1 minus group 0 approval interval contains 0",
        lambda m: _covers(m["planted"][1]["approval_group_1_minus_group_0"], 0.0),
        {True: "an interval that covers zero", False: "an interval that excludes zero"},
    ),
}
