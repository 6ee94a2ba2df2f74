"""Section for experiment 3: the gradient check."""

from __future__ import annotations

from dataclasses import asdict

from ...engine.gradcheck import RESOLUTION
from .. import figures
from .base import FigureSpec, ReportContext, Section, Table, sci


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
    }
    verdict = (
        f"below the {g.threshold:g} threshold: backprop's gradients are right"
        if g.passed
        else f"above the {g.threshold:g} threshold: look for a bug in the backward pass"
    )
    floors = [r.floor for r in (*g.at_init, *g.trained)]
    excluded = m["kinks_excluded_at_init"] + m["kinks_excluded_trained"]
    left_out = (
        "every one of them could be checked that way"
        if not excluded
        else f"{excluded} sit so close to the kink that no step could, and are left out"
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
            f"unit on its side of 0; {left_out}.",
        ],
        figures=[
            FigureSpec(
                "gradient_check",
                "Largest error per parameter array, |a − n| over the array's scale. "
                f"Below {g.threshold:g} (dashed line) the gradient is right.",
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
            )
        ],
        metrics=m,
    )
