"""Section for experiment 3: the gradient check."""

from __future__ import annotations

from dataclasses import asdict

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
        "kinks_at_init": sum(r.kinks_excluded for r in g.at_init),
        "kinks_trained": sum(r.kinks_excluded for r in g.trained),
    }
    verdict = (
        f"below the {g.threshold:g} threshold: backprop's gradients are right"
        if g.passed
        else f"above the {g.threshold:g} threshold: look for a bug in the backward pass"
    )
    rows = [
        [
            a.param,
            a.shape,
            sci(a.max_rel_error),
            str(a.kinks_excluded),
            sci(t.max_rel_error),
            str(t.kinks_excluded),
        ]
        for a, t in zip(g.at_init, g.trained, strict=True)
    ]
    return Section(
        id="gradient_check",
        title="3. Checking backprop against finite differences",
        paragraphs=[
            f"Backprop is easy to get subtly wrong, so we check it. For each of the {n_params} "
            f"weights and biases θ in turn, we nudge it by ±h (h = {g.eps:g}), recompute the "
            "loss on all "
            f"{g.n_rows:,} training rows, and compare the slope (J(θ + h) − J(θ − h)) / 2h with "
            "the gradient from the backward pass, as a relative error |a − n| / (|a| + |n|).",
            f"Largest relative error, at the initial and at the trained weights: "
            f"{sci(g.max_rel_error)}, {verdict}. A nudge that pushes some hidden unit's input "
            "across 0 measures the ReLU's kink rather than its slope; those entries "
            f"({m['kinks_at_init']} at initialisation, {m['kinks_trained']} after training) "
            "are left out and counted.",
        ],
        figures=[
            FigureSpec(
                "gradient_check",
                "Largest relative error per parameter array; every entry was checked. "
                f"Below {g.threshold:g} (dashed line) the gradient is right.",
                figures.gradient_check(g),
            )
        ],
        tables=[
            Table(
                caption=f"Gradient check (h = {g.eps:g}, pass below {g.threshold:g}).",
                columns=[
                    "parameter",
                    "shape",
                    "max rel. error (initial)",
                    "kinks left out",
                    "max rel. error (trained)",
                    "kinks left out",
                ],
                rows=rows,
            )
        ],
        metrics=m,
    )
