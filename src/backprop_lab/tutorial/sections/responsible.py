"""The report's section on responsible credit models: fairness by age band, the planted
bias, calibration, global importance and example applicants' reasons."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...data.synthetic import TRUE_WEIGHTS
from ...responsible import figures as responsible_figures
from ...responsible.fairness import ELDERLY_AGE, audit_records
from ..experiments.responsible import ResponsibleChecks, responsible_checks
from .base import (
    CALIBRATED_WITHIN,
    FigureSpec,
    ReportContext,
    Section,
    Table,
    f4,
    json_safe,
    pp,
    sci,
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
                "demographic_parity_difference": _audit_row(
                    run.table, "demographic_parity_difference"
                ),
                "approval_group_1_minus_group_0": _audit_row(run.table, "selection_rate_diff", "1"),
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


def _regulation_b_text(m: dict[str, Any]) -> str:
    rb = m["regulation_b"]
    intro = (
        "US Regulation B lets a scoring system use age only if an applicant aged "
        f"{m['elderly_age']} or over never gets a less favourable value for age than the "
        "most favoured younger age class. Integrated gradients measure what age adds to each "
        "test borrower's log-odds of default, against the training-mean borrower "
        f"({m['ig_steps']} steps, more where needed: for every borrower the contributions "
        f"add up to the change in log-odds within {sci(m['max_completeness_gap'])}). "
    )
    if rb is None:
        return intro + "The test set has no borrower under 62 to compare with, so no check."
    if rb["n_elderly"] == 0:
        return intro + f"No test borrower is {m['elderly_age']} or over: nothing to check."
    classes = ", ".join(
        f"{c['class']} {round(c['median_attribution'], 3) + 0.0:+.3f}" for c in rb["classes"]
    )
    text = intro + (
        f"The median contribution of age by younger class is {classes}; the most favoured "
        f"class is {rb['most_favoured_class']}. Age counts less favourably than that for "
        f"{rb['n_adverse']} of the {rb['n_elderly']} test borrowers aged {m['elderly_age']} "
        f"or over, and raises the risk of {rb['n_raises_risk']} of them at all, "
    )
    direction = "lowers" if m["true_age_weight"] < 0 else "raises"
    if rb["passed"]:
        return text + (
            f"so the check passes. In this data age {direction} the risk (its true weight is "
            f"{m['true_age_weight']:+g} per standard deviation)."
        )
    return text + (
        f"so the check fails for them. In this data age {direction} the risk (its true weight "
        f"is {m['true_age_weight']:+g} per standard deviation), but a network can bend that "
        "for a few borrowers through its interactions between features, which is why the "
        "check looks at every elderly applicant and not at an average."
    )


def responsible_section(ctx: ReportContext) -> Section:
    r = responsible_checks(ctx.config, ctx.results.split, ctx.results.run)
    m = _responsible_metrics(r)
    bands = m["by_age_band"]
    dp_age = m["age_demographic_parity_difference"]
    first_band, last_band = m["age_bands"][0], m["age_bands"][-1]
    biased, control = m["planted"]
    cal = m["calibration"]
    imp = m["importance"]
    level = f"{m['confidence']:.0%}"

    def approval(band: str) -> str:
        return _pct_ci(bands[band]["selection_rate"])

    bias_diff = biased["approval_group_1_minus_group_0"]
    control_diff = control["approval_group_1_minus_group_0"]
    control_covers = (
        control_diff["ci_low"] is not None
        and control_diff["ci_low"] <= 0 <= control_diff["ci_high"]
    )
    found = (
        bias_diff["ci_high"] is not None and bias_diff["ci_high"] < 0
    )  # group 1 approved less, beyond resampling noise
    worst = m["largest_abs_calibration_gap_by_band"]
    band_calibration = (
        f"The network's mean prediction is within {pp(worst)} of the observed default rate "
        "in every band: it is calibrated within each band, not only overall."
        if worst is not None and worst <= CALIBRATED_WITHIN
        else f"The network's mean prediction misses the observed default rate by up to "
        f"{pp(worst or 0.0)} in a band: it is not calibrated within bands."
    )
    top3 = ", ".join(f"{row['feature']} ({row['mean_abs_attribution']:.2f})" for row in imp[:3])
    paragraphs = [
        "The tutorial ends with a warning: backpropagation learns whatever the data holds, "
        "bias included, so a lender must check how a model treats groups of applicants and "
        "be able to explain each decision. These are those checks, on the default network "
        f"and its {m['n_test']:,} test borrowers. A borrower is approved when the predicted "
        f"probability of default is below {m['threshold']:g}; intervals are {level} "
        f"bootstrap intervals from {m['n_bootstrap']} resamples within each group.",
        f"By age band, approval ranges from {approval(first_band)} for {first_band} to "
        f"{approval(last_band)} for {last_band}: a demographic-parity difference (largest "
        f"minus smallest approval rate) of {_pp_ci(dp_age)}. Such a gap is not by itself "
        "evidence of unfair treatment: in this data older borrowers have longer credit "
        "histories, more years in employment and higher incomes, and age itself lowers the "
        "risk, so the observed default rates differ by band too (table below). "
        + band_calibration
        + " What the gap does show is how differently the bands are treated, which a lender "
        "must be able to justify.",
        _regulation_b_text(m),
        "Planted bias. The same borrowers are drawn again with a group label (30% of them, "
        "independent of every feature) and the group members' log-odds of default raised "
        f"by {biased['planted_bias']:g}, which costs them {pp(biased['planted_gap'])} of "
        "approval for a lender who knew the true probabilities. The same network, trained "
        "on the seven features and the group label, "
        + (
            f"approves group 1 {_pp_ci(bias_diff, sign=-1.0)} less often than group 0. "
            if bias_diff["value"] is not None and bias_diff["value"] < 0
            else "gives group 1 an approval rate that differs from group 0's by "
            f"{_pp_ci(bias_diff)}. "
        )
        + (
            "Backprop found the bias in the data and reproduced it. "
            if found
            else "At this data size the audit cannot tell that gap from noise. "
        )
        + "Trained on the same draw without the bias, the difference is "
        f"{_pp_ci(control_diff)}"
        + (
            ", an interval that covers zero."
            if control_covers
            else ", an interval that misses zero by chance here."
        ),
        f"Calibration on the test set: Brier score {f4(cal['brier_score'])}, expected "
        f"calibration error {f4(cal['expected_calibration_error'])} over ten equal-width "
        "bins of predicted probability (the distance between mean predicted and observed "
        "default rate, averaged over the bins with their borrowers as weights), log loss "
        f"{f4(cal['log_loss'])}.",
        "Global importance, the mean absolute integrated-gradient contribution over the "
        f"test borrowers, ranks {top3} highest. The last table gives three borrowers' own "
        "reasons: the features that raised their log-odds of default most, against the "
        f"training-mean borrower (whose log-odds are {m['baseline_logit']:+.2f}).",
    ]
    band_rows = [
        [
            band,
            f"{int(bands[band]['count']['value']):,}",
            f"{100 * bands[band]['default_rate']['value']:.1f}%",
            f"{100 * bands[band]['mean_predicted']['value']:.1f}%",
            _pct_ci(bands[band]["selection_rate"]),
            _pct_ci(bands[band]["true_positive_rate"]),
            _pct_ci(bands[band]["false_positive_rate"]),
        ]
        for band in m["age_bands"]
    ]
    planted_rows = [
        [
            f"planted bias {run['planted_bias']:g}",
            pp(run["planted_gap"]),
            _pp_ci(run["approval_group_1_minus_group_0"]),
            _pp_ci(run["demographic_parity_difference"]),
        ]
        for run in (biased, control)
    ]
    example_rows = [
        [
            f"test borrower {e['row'] + 1} ({e['label']})",
            f"{e['p_default']:.3f}",
            "; ".join(x["reason"] for x in e["reasons"]) or "no feature raised the risk",
        ]
        for e in m["examples"]
    ]
    groups = {
        f"planted bias {biased['planted_bias']:g}": r.planted[0].table,
        "no planted bias": r.planted[1].table,
    }
    return Section(
        id="responsible",
        title="8. Fairness, calibration and reasons",
        paragraphs=paragraphs,
        figures=[
            FigureSpec(
                "fairness_by_age",
                f"Approval rate by age band, overall, among borrowers who repaid and among "
                f"those who defaulted, with {level} bootstrap intervals.",
                responsible_figures.audit_figure(
                    r.age_audit, title="Approval by age band", xlabel="age band"
                ),
            ),
            FigureSpec(
                "planted_bias",
                "Left: approval rate of each group for the network trained with the planted "
                "bias and for the one trained without. Right: the demographic-parity "
                "difference of each, with its interval; the dashed line is the planted gap.",
                responsible_figures.planted_bias_figure(groups, biased["planted_gap"]),
            ),
            FigureSpec(
                "reliability",
                "Reliability diagram of the default network on the test set: observed "
                "default rate against mean predicted probability in ten equal-width bins "
                "(dashed: perfect calibration); below, the borrowers in each bin.",
                responsible_figures.reliability_figure(
                    {"default network": r.reliability},
                    title=f"Reliability: Brier {f4(cal['brier_score'])}, "
                    f"ECE {f4(cal['expected_calibration_error'])}",
                ),
            ),
            FigureSpec(
                "importance",
                "Mean absolute integrated-gradient contribution of each feature to the "
                "log-odds of default, over the test borrowers; hatched red: higher values "
                "raise the risk, blue: they lower it.",
                responsible_figures.importance_figure(
                    r.importance,
                    subtitle=f"mean |integrated gradient| over {m['n_test']:,} test borrowers",
                ),
            ),
        ],
        tables=[
            Table(
                caption=f"Test borrowers by age band; approval rates with {level} intervals.",
                columns=[
                    "age band",
                    "borrowers",
                    "default rate",
                    "mean P(default)",
                    "approval rate",
                    "approval among repaid",
                    "approval among defaulted",
                ],
                rows=band_rows,
            ),
            Table(
                caption="Planted bias: the audit of a network trained with it and of one "
                "trained without it.",
                columns=[
                    "training data",
                    "planted gap",
                    "group 1 minus group 0 approval",
                    "demographic-parity difference",
                ],
                rows=planted_rows,
            ),
            Table(
                caption="Three test borrowers: predicted probability of default and the "
                "features that raised it most (contributions to the log-odds of default).",
                columns=["borrower", "P(default)", "reasons"],
                rows=example_rows,
            ),
        ],
        metrics=m,
    )
