"""The report's section on responsible credit models: fairness by age band, the planted
bias, calibration, global importance and example applicants' reasons."""

from __future__ import annotations

from typing import Any

from ...data.synthetic import DEFAULT_BIAS_GROUP_SHARE
from ...responsible import figures as responsible_figures
from ..experiments.responsible import responsible_checks
from .base import (
    FigureSpec,
    ReportContext,
    Section,
    Table,
    decide_claims,
    f4,
    pp,
    sci,
)
from .responsible_claims import RESPONSIBLE_CLAIMS, _pct_ci, _pp, _pp_ci, _responsible_metrics


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
