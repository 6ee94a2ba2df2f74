"""The report's section on responsible credit models: fairness by age band, the planted
bias, calibration, global importance and example applicants' reasons."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...data.synthetic import DEFAULT_BIAS_GROUP_SHARE, TRUE_WEIGHTS
from ...responsible import figures as responsible_figures
from ...responsible.fairness import ELDERLY_AGE, audit_records
from ..experiments.responsible import ResponsibleChecks, responsible_checks
from .base import (
    CALIBRATED_WITHIN,
    Claim,
    FigureSpec,
    ReportContext,
    Section,
    Table,
    decide_claims,
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
    say = RESPONSIBLE_CLAIMS["regulation_b_passed"].say
    if m["claims"]["regulation_b_passed"]:
        return text + (
            f"{say(True)}. In this data age {direction} the risk (its true weight is "
            f"{m['true_age_weight']:+g} per standard deviation)."
        )
    return text + (
        f"{say(False)} for them. In this data age {direction} the risk (its true weight "
        f"is {m['true_age_weight']:+g} per standard deviation), but a network can bend that "
        "for a few borrowers through its interactions between features, which is why the "
        "check looks at every elderly applicant and not at an average."
    )


def _age_text(m: dict[str, Any], approval: Any, say: Any) -> str:
    first_band, last_band = m["age_bands"][0], m["age_bands"][-1]
    if not m["claims"]["age_approval_differs"]:
        return (
            f"By age band, {say('age_approval_differs')} ({approval(first_band)}): the "
            "network treats the bands alike here; the table below gives their default rates."
        )
    return (
        f"By age band, approval ranges from {approval(first_band)} for {first_band} to "
        f"{approval(last_band)} for {last_band}: {say('age_approval_differs')} "
        f"{_pp_ci(m['age_demographic_parity_difference'])}. Such a gap is not by itself "
        "evidence of unfair treatment: in this data older borrowers have longer credit "
        "histories, more years in employment and higher incomes, and age itself lowers the "
        "risk, so the observed default rates differ by band too (table below). What the gap "
        "does show is how differently the bands are treated, which a lender must be able to "
        "justify."
    )


def _planted_text(m: dict[str, Any], say: Any) -> str:
    """The planted-bias paragraph. A "gap" is group 0's approval rate minus group 1's."""
    biased, control = m["planted"]
    claims = m["claims"]
    net = biased["approval_group_1_minus_group_0"]
    lender = biased["true_lender_group_1_minus_group_0"]
    planted = f"{_pp(biased['planted_gap'])} pp"
    text = (
        "Planted bias. The same borrowers are drawn again with a group label "
        f"({DEFAULT_BIAS_GROUP_SHARE:.0%} of them, "
        "independent of every feature) and the group members' log-odds of default raised "
        f"by {biased['planted_bias']:g}. For a lender who knew the true probabilities that "
        f"costs group 1 {planted} of approval, averaged over all borrowers: the planted gap. "
        "The same network, trained on the seven features and the group label, "
    )
    if net["value"] is None:
        text += "has no approval gap to show"
    elif net["value"] < 0:
        text += f"approves group 1 {_pp_ci(net, sign=-1.0)} less often than group 0"
    elif net["value"] > 0:
        text += f"approves group 1 {_pp_ci(net)} more often than group 0"
    else:
        text += f"approves both groups at the same rate (gap {_pp_ci(net)})"
    if claims["bias_found"] is True:
        text += f". {say('bias_found')}. "
    elif claims["bias_found"] is False:
        text += f": {say('bias_found')}. "
    else:
        text += ". "
    if claims["planted_gap_in_interval"] is not None:
        text += f"{say('planted_gap_in_interval')} {planted}. "
    sizes = biased["group_sizes"]
    text += (
        "The planted gap averages over all borrowers; on these "
        f"{sizes['0'] + sizes['1']:,} test borrowers ({sizes['1']:,} in group 1) the lender "
        f"who knew the true probabilities approves group 1 {_pp_ci(lender, sign=-1.0)} less "
        "often, since which borrowers fell in each group is luck of the draw. "
    )
    if claims["network_vs_true_lender"] is not None:
        text += (
            "On the same borrowers, the network's gap minus that lender's is "
            f"{_pp_ci(biased['network_minus_true_lender'], sign=-1.0)}"
            + (", " if claims["network_vs_true_lender"] == "consistent" else ": ")
            + say("network_vs_true_lender")
            + (f": {say('reproduced')}. " if claims["reproduced"] is not None else ". ")
        )
    if biased["group_logit_shift"] is not None:
        text += (
            "The network decides through its own estimate of the risk: switching a test "
            "borrower's group from 0 to 1 changes its log-odds of default by "
            f"{biased['group_logit_shift']:+.2f} on average, against the planted "
            f"{biased['planted_bias']:+g}. "
        )
    diff = control["approval_group_1_minus_group_0"]
    text += (
        f"Trained on the same draw without the bias, the network's gap is {_pp_ci(diff, sign=-1.0)}"
    )
    if claims["control_covers_zero"] is True:
        return text + f", {say('control_covers_zero')}."
    if claims["control_covers_zero"] is False:
        chance = control["true_lender_group_1_minus_group_0"]
        return text + (
            f", {say('control_covers_zero')} although no bias was planted: the groups' "
            "test borrowers differ by chance (the lender who knew the true probabilities "
            f"shows a gap of {_pp_ci(chance, sign=-1.0)} on them)."
        )
    return text + "."


def responsible_section(ctx: ReportContext) -> Section:
    r = responsible_checks(ctx.config, ctx.results.split, ctx.results.run)
    m = _responsible_metrics(r)
    bands = m["by_age_band"]
    biased, control = m["planted"]
    cal = m["calibration"]
    imp = m["importance"]
    level = f"{m['confidence']:.0%}"

    def approval(band: str) -> str:
        return _pct_ci(bands[band]["selection_rate"])

    claims = m["claims"] = decide_claims(RESPONSIBLE_CLAIMS, m)

    def say(name: str) -> str:
        return RESPONSIBLE_CLAIMS[name].say(claims[name])

    worst = m["largest_abs_calibration_gap_by_band"]
    band_calibration = (
        f"The network's mean prediction is within {pp(worst)} of the observed default rate "
        f"in every band: {say('calibrated_within_bands')}."
        if claims["calibrated_within_bands"]
        else f"The network's mean prediction misses the observed default rate by up to "
        f"{pp(worst or 0.0)} in a band: {say('calibrated_within_bands')}."
    )
    top3 = ", ".join(f"{row['feature']} ({row['mean_abs_attribution']:.2f})" for row in imp[:3])
    paragraphs = [
        "The tutorial ends with a warning: backpropagation learns whatever the data holds, "
        "bias included, so a lender must check how a model treats groups of applicants and "
        "be able to explain each decision. These are those checks, on the default network "
        f"and its {m['n_test']:,} test borrowers. A borrower is approved when the predicted "
        f"probability of default is below {m['threshold']:g}; intervals are {level} "
        f"bootstrap intervals from {m['n_bootstrap']} resamples within each group.",
        _age_text(m, approval, say) + " " + band_calibration,
        _regulation_b_text(m),
        _planted_text(m, say),
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
            f"{_pp(run['planted_gap'])} pp",
            _pp_ci(run["true_lender_group_1_minus_group_0"], sign=-1.0),
            _pp_ci(run["approval_group_1_minus_group_0"], sign=-1.0),
            _pp_ci(run["network_minus_true_lender"], sign=-1.0),
            "n/a" if run["group_logit_shift"] is None else f"{run['group_logit_shift']:+.2f}",
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
    lender_gaps = {
        label: -run.true_lender["value"] for label, run in zip(groups, r.planted, strict=True)
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
                "bias and for the one trained without. Right: the approval gap of each (group "
                "0's approval rate minus group 1's), with its interval; crosses: the gap of a "
                "lender who knew the true probabilities, on the same test borrowers; dashed "
                "line: the planted gap over all borrowers.",
                responsible_figures.planted_bias_figure(
                    groups, biased["planted_gap"], lender_gaps=lender_gaps
                ),
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
                caption="Planted bias: a network trained with it and one trained without it. "
                "A gap is group 0's approval rate minus group 1's (positive: group 1 is "
                f"approved less), with {level} intervals; the planted gap is over all "
                "borrowers, the others on the same test borrowers. Last column: the mean "
                "change in the network's log-odds of default when a borrower's group is "
                "switched from 0 to 1.",
                columns=[
                    "training data",
                    "planted gap (all borrowers)",
                    "gap, lender knowing the true probabilities",
                    "gap, network",
                    "network minus lender",
                    "group effect on log-odds",
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
