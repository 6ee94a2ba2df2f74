"""Section for experiment 3: the gradient check."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...engine.gradcheck import RESOLUTION
from .. import figures
from .base import Claim, FigureSpec, ReportContext, Section, Table, decide_claims, json_safe, sci


def _all_kinks_rechecked(m: dict[str, Any]) -> bool:
    return m["kinks_excluded_at_init"] + m["kinks_excluded_trained"] == 0


def _entry_agrees(m: dict[str, Any]) -> bool | None:
    entry = m["tutorial_entry"]
    return None if entry is None else entry["relative_error"] < m["threshold"]


def _kink_explains_it(m: dict[str, Any]) -> bool | None:
    e = m["tutorial_entry"]
    if e is None or not e["crosses_kink"] or e["relative_error"] < m["threshold"]:
        return None
    return e["package_checked"] and e["package_error"] < m["threshold"]


GRADIENT_CHECK_CLAIMS = {
    "passed": Claim(
        "the largest error over every checked entry, at both weights, is below the threshold",
        lambda m: m["max_rel_error"] < m["threshold"],
        {
            True: "backprop's gradients are right",
            False: "look for a bug in the backward pass",
        },
    ),
    "all_kinks_rechecked": Claim(
        "no entry was left out: every entry whose nudge crossed a kink was re-checked with a "
        "smaller step",
        _all_kinks_rechecked,
        {
            True: "every one of them could be checked that way",
            False: "sit so close to the kink that no step could, and are left out",
        },
    ),
    "tutorial_entry_crosses_kink": Claim(
        "the tutorial's nudge of W1[0, 0] by +-h moves some training row's first hidden "
        "input across 0",
        lambda m: None if m["tutorial_entry"] is None else m["tutorial_entry"]["crosses_kink"],
        {
            True: "this nudge moves some borrower's first hidden input across 0",
            False: "no borrower's first hidden input crosses 0 under this nudge",
        },
    ),
    "tutorial_entry_agrees": Claim(
        "the tutorial's relative error |a - n| / (|a| + |n|) for W1[0, 0] is below the threshold",
        _entry_agrees,
        {True: "the two agree to within", False: "the two differ by more than"},
    ),
    "kink_explains_it": Claim(
        "when the tutorial's W1[0, 0] nudge crosses a kink and its error is above the "
        "threshold: the package's re-check of that entry, with a smaller step, is below it "
        "(None otherwise)",
        _kink_explains_it,
        {
            True: "the kink, not backprop, is why the two differ",
            False: "even a smaller step does not settle it",
        },
    ),
}


def _entry_text(m: dict[str, Any], say: Any) -> str:
    e = m["tutorial_entry"]
    claims = m["claims"]
    text = (
        "The tutorial checks one entry by hand, W1[0, 0] at the initial weights; so do we, "
        f"with its own functions: backprop gives ∂J/∂W1[0, 0] = {e['analytic']:.10f}, the "
        f"central difference (J(w + h) − J(w − h)) / 2h gives {e['numeric']:.10f}, a relative "
        f"error |a − n| / (|a| + |n|) of {sci(e['relative_error'])}: "
        f"{say('tutorial_entry_agrees')} the {m['threshold']:g} threshold"
    )
    if claims["tutorial_entry_crosses_kink"]:
        text += (
            f". Here {say('tutorial_entry_crosses_kink')}, which the tutorial's check does "
            "not look for; the package's check takes the slope with a step of "
            f"{e['package_step']:g} there instead ({e['package_numeric']:.10f}, error "
            f"{sci(e['package_error'])} on its scale)"
        )
        text += f": {say('kink_explains_it')}." if claims["kink_explains_it"] is not None else "."
    else:
        text += (
            f", and {say('tutorial_entry_crosses_kink')}. The package's check, with its "
            f"five-point slope, gives {e['package_numeric']:.10f} (error "
            f"{sci(e['package_error'])} on its scale)."
        )
    return text


def gradient_check_section(ctx: ReportContext) -> Section:
    g = ctx.results.gradient_check
    n_params = sum(r.checked + r.kinks_excluded for r in g.at_init)
    m = {
        "threshold": g.threshold,
        "eps": g.eps,
        "n_rows": g.n_rows,
        "n_parameters": n_params,
        "max_rel_error": g.max_rel_error,
        "passed": g.passed,
        "at_init": [asdict(r) for r in g.at_init],
        "trained": [asdict(r) for r in g.trained],
        "kinks_at_init": sum(r.kinks for r in g.at_init),
        "kinks_trained": sum(r.kinks for r in g.trained),
        "kinks_excluded_at_init": sum(r.kinks_excluded for r in g.at_init),
        "kinks_excluded_trained": sum(r.kinks_excluded for r in g.trained),
        "checked_at_init": sum(r.checked for r in g.at_init),
        "checked_trained": sum(r.checked for r in g.trained),
        "tutorial_entry": None if g.tutorial_entry is None else asdict(g.tutorial_entry),
    }
    m = json_safe(m)
    claims = m["claims"] = decide_claims(GRADIENT_CHECK_CLAIMS, m)

    def say(name: str) -> str:
        return GRADIENT_CHECK_CLAIMS[name].say(claims[name])

    verdict = (
        f"below the {g.threshold:g} threshold: {say('passed')}"
        if claims["passed"]
        else f"above the {g.threshold:g} threshold: {say('passed')}"
    )
    floors = [r.floor for r in (*g.at_init, *g.trained)]
    excluded = m["kinks_excluded_at_init"] + m["kinks_excluded_trained"]
    left_out = (
        say("all_kinks_rechecked")
        if claims["all_kinks_rechecked"]
        else f"{excluded} {say('all_kinks_rechecked')}"
    )
    rows = [
        [
            a.param,
            a.shape,
            sci(a.max_rel_error),
            f"{a.kinks} ({a.kinks_rechecked})",
            sci(t.max_rel_error),
            f"{t.kinks} ({t.kinks_rechecked})",
        ]
        for a, t in zip(g.at_init, g.trained, strict=True)
    ]
    return Section(
        id="gradient_check",
        title="3. Checking backprop against finite differences",
        paragraphs=[
            f"Backprop is easy to get subtly wrong, so we check it. For each of the {n_params} "
            f"weights and biases θ in turn, we nudge it by ±h and ±2h (h = {g.eps:g}), "
            f"recompute the loss on all {g.n_rows:,} training rows, and compare the slope "
            "[8 (J(θ + h) − J(θ − h)) − (J(θ + 2h) − J(θ − 2h))] / 12h (the central difference "
            "with its h² error cancelled) with the gradient a from the backward pass. The error "
            "is |a − n| divided by the array's scale, its largest |a| plus its largest |n|, or "
            f"by the floor F (here {sci(min(floors))} to {sci(max(floors))}) if that is larger. "
            "F is the most that rounding the loss to 16 digits can move the slope, divided by "
            f"{RESOLUTION:g}, so a correct gradient stays below {RESOLUTION:g}, a tenth of the "
            "threshold, however small the entry, while a bug is off by a fair share of the "
            "array's scale.",
            f"Largest error, at the initial and at the trained weights: "
            f"{sci(g.max_rel_error)}, {verdict}. A nudge that pushes some hidden unit's input "
            "across 0 measures the ReLU's kink rather than its slope; those entries "
            f"({m['kinks_at_init']} at initialisation, {m['kinks_trained']} after training) "
            "are checked again with a step 10, 100 or 1000 times smaller that keeps every "
            f"unit on its side of 0; {left_out}. In all, {m['checked_at_init']} of the "
            f"{n_params} entries were checked at the initial weights and "
            f"{m['checked_trained']} at the trained weights.",
            *([_entry_text(m, say)] if m["tutorial_entry"] is not None else []),
        ],
        figures=[
            FigureSpec(
                "gradient_check",
                "Largest error per parameter array over its checked entries (kinked entries "
                "re-checked with a smaller step, as the table counts), |a − n| over the "
                f"array's scale. Below {g.threshold:g} (dashed line) the gradient is right.",
                figures.gradient_check(g),
            )
        ],
        tables=[
            Table(
                caption=f"Gradient check (h = {g.eps:g}, pass below {g.threshold:g}); kinks: "
                "entries whose nudge crossed a ReLU kink (in brackets, re-checked with a "
                "smaller step).",
                columns=[
                    "parameter",
                    "shape",
                    "max error (initial)",
                    "kinks (initial)",
                    "max error (trained)",
                    "kinks (trained)",
                ],
                rows=rows,
            ),
            *([_entry_table(m)] if m["tutorial_entry"] is not None else []),
        ],
        metrics=m,
    )


def _entry_table(m: dict[str, Any]) -> Table:
    e = m["tutorial_entry"]
    return Table(
        caption="W1[0, 0] at the initial weights, checked by hand as in the tutorial "
        f"(h = {e['eps']:g}) and by the package's check.",
        columns=["", "∂J/∂W1[0, 0]", "slope from the loss", "error"],
        rows=[
            [
                "tutorial: (J(w + h) − J(w − h)) / 2h, error |a − n| / (|a| + |n|)",
                f"{e['analytic']:.10f}",
                f"{e['numeric']:.10f}",
                sci(e["relative_error"]),
            ],
            [
                f"package: five-point slope, step {e['package_step']:g}, error |a − n| / "
                "max(scale, floor)",
                f"{e['analytic']:.10f}",
                f"{e['package_numeric']:.10f}",
                sci(e["package_error"]),
            ],
        ],
    )
