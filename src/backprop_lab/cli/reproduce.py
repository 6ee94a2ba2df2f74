"""``backprop-lab reproduce``: run every experiment and write the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._util.memory import require_memory
from .._util.outputs import check_output_folder
from ..tutorial.config import Config  # the settings only: the experiments load later
from .options import add_force_option, count

DEFAULT_OUT = "backprop-lab-report"
#: Peak memory per borrower of a run, rounded up from measurement: the peak resident
#: size grew by 1.4 kB per borrower between 1,000 and 50,000 borrowers.
REPRODUCE_BYTES_PER_ROW = 1500


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = Config()
    p = subparsers.add_parser(
        "reproduce",
        help="run the tutorial's experiments and write an HTML report",
        description="Generate the credit-risk data, run every experiment with fixed seeds, "
        "and write report.html, metrics.json and the figures (PNG and SVG) into --out.",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    p.add_argument("--seed", type=count, default=defaults.seed, help="base random seed")
    p.add_argument("--n", type=count, default=defaults.n, help="number of borrowers")
    p.add_argument(
        "--epochs",
        type=count,
        default=defaults.epochs,
        help="training epochs per run",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress (a bar on a terminal, otherwise one line per stage) and no summary",
    )
    add_force_option(p)
    p.set_defaults(func=_reproduce)


def _reproduce(args: argparse.Namespace) -> int:
    from ..tutorial.report import reproduce  # matplotlib and jinja2: only when reporting

    config = Config(n=args.n, seed=args.seed, epochs=args.epochs)
    require_memory(f"--n {args.n}", args.n * REPRODUCE_BYTES_PER_ROW)
    out = Path(args.out)
    # the folder is created when missing; the files it receives have fixed names, so
    # other files in it (data, say) are never touched
    replaced = ["report.html", "metrics.json"]
    if (out / "figures").is_dir():
        replaced += [
            f"figures/{f.name}"
            for f in sorted((out / "figures").iterdir())
            if f.suffix in (".png", ".svg")
        ]
    check_output_folder("--out", out, replaced, force=args.force)
    terminal = sys.stderr.isatty()  # a bar on a terminal, one line per stage elsewhere
    outcome = reproduce(
        config,
        out,
        progress=not args.quiet and terminal,
        log=None if args.quiet or terminal else sys.stderr,
    )
    if not args.quiet:
        print(summary(outcome.report.metrics, outcome.paths["report.html"], outcome.seconds))
    return 0


def summary(m: dict[str, Any], report_path: Path, seconds: float) -> str:
    """The one-screen summary printed at the end."""
    c, fb, lr = m["config"], m["forward_vs_backprop"], m["learning_rates"]
    gen, gc, hl, ib = (
        m["generalisation"],
        m["gradient_check"],
        m["hidden_layer"],
        m["inside_backprop"],
    )

    def rate(entry: dict[str, Any]) -> str:
        if entry["verdict"] == "diverged":
            return f"{entry['lr']:g}: diverged (epoch {min(entry['diverged_at'])}+)"
        word = " (unstable)" if entry["verdict"] == "unstable" else ""
        return f"{entry['lr']:g}: {entry['final_loss_mean']:.4f}{word}"

    nl = hl["nonlinear"]
    lines = [
        f"backprop-lab reproduce: {c['n']} borrowers (seed {c['seed']}), "
        f"{m['network']['architecture']} network, {c['epochs']} epochs",
        f"  forward only     loss {fb['forward_only']['loss_first']:.4f} at every epoch: "
        f"{'flat' if fb['forward_only']['all_losses_identical'] else 'NOT flat'}, "
        f"accuracy {fb['forward_only']['accuracy_first']:.3f}",
        f"  backprop         loss {fb['backprop']['loss_first']:.4f} -> "
        f"{fb['backprop']['loss_last']:.4f}, accuracy {fb['backprop']['accuracy_last']:.3f} "
        f"(lr {fb['lr']:g})",
        "  learning rates   final loss " + ", ".join(rate(e) for e in lr["rates"]),
        f"  gradient check   max relative error {gc['max_rel_error']:.1e} "
        f"(threshold {gc['threshold']:g}): {'PASS' if gc['passed'] else 'FAIL'}",
        f"  test set         network {gen['final_test_accuracy']:.3f}, logistic regression "
        f"{gen['logistic_test_accuracy']:.3f}, Bayes-optimal {gen['bayes_test_accuracy']:.3f}",
        f"  nonlinear risk   network {nl['network']['test_accuracy']:.3f}, logistic regression "
        f"{nl['logistic']['test_accuracy']:.3f}, Bayes-optimal {nl['bayes']['test_accuracy']:.3f}",
        f"  dead ReLU units  {100 * ib['final_dead_share']:.0f}% at the end",
        *_responsible_lines(m["responsible"]),
        f"report: {report_path}  (with metrics.json and figures/, {seconds:.1f} s)",
    ]
    return "\n".join(lines)


def _responsible_lines(r: dict[str, Any]) -> list[str]:
    """Summary lines of the fairness, calibration and reasons section."""
    biased = r["planted"][0]
    diff = biased["approval_group_1_minus_group_0"]
    dp = r["age_demographic_parity_difference"]
    rb = r["regulation_b"]
    check = (
        "not run"
        if rb is None
        else f"{'PASS' if rb['passed'] else 'FAIL'} ({rb['n_adverse']} of {rb['n_elderly']} "
        "adverse)"
    )

    def pp(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} pp"

    found = diff["ci_high"] is not None and diff["ci_high"] < 0
    return [
        f"  fairness         age bands: approval gap {pp(dp['value'])}; Regulation B age "
        f"check {check}",
        f"  planted bias     group approved {pp(-diff['value'] if diff['value'] is not None else None)}"
        f" less (planted {pp(biased['planted_gap'])}): {'found' if found else 'not found'}",
        f"  calibration      Brier {r['calibration']['brier_score']:.4f}, "
        f"ECE {r['calibration']['expected_calibration_error']:.4f} (test set)",
    ]
