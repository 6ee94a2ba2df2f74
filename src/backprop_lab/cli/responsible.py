"""Subcommands that check a saved model: ``audit`` (fairness by group), ``explain`` and
``card`` (a model card from the model file and those commands' JSON).

    backprop-lab audit model.blab loans.csv --group age -o audit.json --plot audit.png
    backprop-lab explain model.blab applicants.csv --id loan_id -o reasons.csv
    backprop-lab card model.blab --evaluation metrics.json --audit audit.json -o card.md

Both read the CSV file in chunks (memory bounded by the chunk size), match columns by
name and report bad input in one line naming the file, column and row.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .._util.errors import InputError
from .._util.outputs import check_figure_formats, check_outputs
from ..responsible.integrated_settings import DEFAULT_MAX_STEPS, DEFAULT_STEPS, DEFAULT_TOLERANCE
from .common import ROWS_NOTE, file_sha256, one_line_warnings
from .options import add_force_option, add_points_options, count, number, points_scale

LOGIT_NOTE = (
    "Contributions are on the network's own logit (log-odds of default), also for a "
    "model saved with --calibrate: calibration maps that logit monotonically, so it "
    "changes the probabilities, not which features raised the risk."
)

#: A lower bound on the memory of one bootstrap resample, whatever the number of rows:
#: the audit keeps 16 float64 numbers per group and resample (rates and their
#: differences from the reference group), and an audit compares at least two groups.
BOOTSTRAP_BYTES_PER_RESAMPLE = 8 * 16 * 2

#: Exit status of ``audit`` when the Regulation B age check runs and fails, as
#: ``gradcheck`` exits 1 when its check fails (2 stays for bad input).
EXIT_AGE_CHECK_FAILED = 1


def _check_steps(steps: int) -> None:
    """Integrated gradients double the steps where needed, up to DEFAULT_MAX_STEPS."""
    if not 1 <= steps <= DEFAULT_MAX_STEPS:
        raise InputError(f"--steps must be between 1 and {DEFAULT_MAX_STEPS}; got {steps}")


# ---- audit -------------------------------------------------------------------------------
def _audit(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write_text
    from .._util.memory import require_memory
    from ..classifier.tabular_model import load_model
    from ..responsible.audit import audit_csv

    check_outputs(
        {"model": args.model, "data": args.csv},
        {"-o": args.output, "--plot": args.plot},
        force=args.force,
    )
    check_figure_formats({"--plot": args.plot})
    _check_steps(args.steps)
    require_memory(
        f"--n-bootstrap {args.n_bootstrap}", args.n_bootstrap * BOOTSTRAP_BYTES_PER_RESAMPLE
    )
    with one_line_warnings():
        model = load_model(args.model)
        result = audit_csv(
            model,
            args.csv,
            args.group,
            target=args.target,
            bins=args.bins,
            threshold=args.threshold,
            n_bootstrap=args.n_bootstrap,
            confidence=args.confidence,
            seed=args.seed,
            steps=args.steps,
        )
        result.sources = {
            "model": str(args.model),
            "model_sha256": file_sha256(args.model),
            "data": str(args.csv),
        }
        print(f"audit of {args.model} on {args.csv}:")
        print(result.text())
        figure = None
        if args.plot:  # drawn before anything is written; matplotlib loads only for it
            from ..responsible.figures import model_audit_figure

            figure = model_audit_figure(result)
        if args.output:
            atomic_write_text(args.output, result.to_json())
            print(f"wrote {args.output}", file=sys.stderr)
        if figure is not None:
            from ..responsible.figures import save_figure

            save_figure(figure, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
    if result.age_check is not None and not result.age_check.passed:
        print(
            "backprop-lab: the Regulation B age check failed (see above); exit status 1",
            file=sys.stderr,
        )
        return EXIT_AGE_CHECK_FAILED
    return 0


# ---- explain -----------------------------------------------------------------------------
def _explain(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write
    from ..classifier.tabular_model import load_model
    from ..responsible.explain import BASELINE_NAMES, METHOD_NAMES
    from ..responsible.explain_file import explain_csv

    check_outputs(
        {"model": args.model, "data": args.csv, "reference": args.reference},
        {"-o": args.output, "--importance": args.importance, "--summary": args.summary},
        force=args.force,
        stdout={"-o"},
    )
    check_figure_formats({"--importance": args.importance})
    _check_steps(args.steps)
    with one_line_warnings():
        model = load_model(args.model)
        settings = dict(
            top=args.top,
            method=args.method,
            steps=args.steps,
            baseline=args.baseline,
            reference=args.reference,
            id_column=args.id,
            threshold=args.threshold,
            show=args.show,
            points=points_scale(args),
        )
        if args.output == "-":
            result = explain_csv(model, args.csv, sys.stdout, **settings)
        else:
            with atomic_write(args.output, "w", encoding="utf-8", newline="") as handle:
                result = explain_csv(model, args.csv, handle, **settings)
        info = sys.stderr if args.output == "-" else sys.stdout
        print(result.text(max_applicants=args.show), file=info)
        print(result.completeness_text(), file=info)
        if model.monotone:
            from .tabular import monotone_text

            print(
                f"monotone by construction: {monotone_text(model.monotone)}; so each of these "
                "contributions has the sign of (value - baseline) times the constraint's",
                file=info,
            )
        if result.n_incomplete:
            hint = (
                "gradient x input is a first-order approximation; --method ig adds up"
                if result.method == "gradxinput"
                else "raise --steps"
            )
            warnings.warn(
                f"contributions miss f(applicant) - f(baseline) by more than "
                f"{DEFAULT_TOLERANCE:g} for {result.n_incomplete} of {result.n_rows} row(s) "
                f"(largest {result.max_gap:.2g}); {hint}",
                stacklevel=1,
            )
        if args.output != "-":
            print(f"wrote {result.n_rows} applicants' reasons to {args.output}", file=sys.stderr)
        if args.summary:
            _write_explain_summary(result, args)
            print(f"wrote {args.summary}", file=sys.stderr)
        if args.importance:  # matplotlib loads only for the figure
            from ..responsible.figures import importance_figure, save_figure

            fig = importance_figure(
                result.importance,
                subtitle=f"mean |{METHOD_NAMES[result.method]}| over {result.n_rows} applicants, "
                f"against {BASELINE_NAMES[result.baseline]}",
            )
            save_figure(fig, args.importance)
            print(f"wrote {args.importance}", file=sys.stderr)
    return 0


# ---- card --------------------------------------------------------------------------------
def _card(args: argparse.Namespace) -> int:
    from ..responsible.card import build_card, check_card_format, write_card

    inputs = {
        "model": args.model,
        "--evaluation": args.evaluation,
        "--explanation": args.explanation,
    }
    inputs.update({f"--audit {i + 1}": a for i, a in enumerate(args.audit)})
    check_outputs(inputs, {"-o": args.output}, force=args.force)
    check_card_format(args.output)
    with one_line_warnings():
        card = build_card(
            args.model,
            evaluation=args.evaluation,
            audits=args.audit,
            explanation=args.explanation,
        )
        write_card(card, args.output)
    limits = card["sections"][-1].bullets
    print(f"wrote {args.output} ({len(limits)} limitation(s) listed)", file=sys.stderr)
    return 0


def _write_explain_summary(result, args: argparse.Namespace) -> None:
    """``explain --summary``: the run's settings, completeness and the mean |contribution|
    of every input over all applicants, as JSON (what ``card --explanation`` reads)."""
    import json

    from .._util.atomic import atomic_write_text
    from ..responsible.explain import BASELINE_NAMES, METHOD_NAMES

    summary = {
        "model": str(args.model),
        "model_sha256": file_sha256(args.model),
        "data": str(args.csv),
        "rows": result.n_rows,
        "method": METHOD_NAMES[result.method],
        "baseline": BASELINE_NAMES[result.baseline],
        "calibrated": result.calibrated,
        "max_completeness_gap": result.max_gap,
        "rows_over_tolerance": result.n_incomplete,
        "importance": [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in result.importance.to_dict(orient="records")
        ],
    }
    atomic_write_text(args.summary, json.dumps(summary, indent=2, allow_nan=False) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``audit`` and ``explain`` to the command line."""
    p = sub.add_parser(
        "audit",
        help="fairness audit of a saved model by a group column",
        description="Approval rates, approval among repaid and among defaulted applicants, "
        "default rate, mean prediction, ROC AUC, Brier score and calibration gap per group, "
        "and demographic-parity, equal-opportunity and equalized-odds differences across "
        "groups, each with a bootstrap interval. Approved means P(default) < --threshold "
        "(calibrated when the model is). The group column is read from the file even if "
        "the model does not use it. When the model has an 'age' input, the Regulation B "
        "check tests whether age ever counts against an applicant aged 62 or over "
        "(integrated gradients of the network's logit). Exit status: 0 when the audit ran "
        "(and the age check passed or did not apply), 1 when the age check failed, 2 for "
        "bad input. " + ROWS_NOTE,
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument("csv", help="labelled rows (CSV with a header line)")
    p.add_argument("--group", required=True, metavar="COL", help="column defining the groups")
    p.add_argument("--target", help="label column (default: the training target's name)")
    p.add_argument(
        "--bins",
        type=number,
        nargs="+",
        metavar="EDGE",
        help="cut a numeric group column at these edges, e.g. --bins 25 40 62 gives under 25, "
        "25-39, 40-61, 62 and over (the default for a column named age)",
    )
    p.add_argument("--threshold", type=number, default=0.5, help="approve when P(default) < this")
    p.add_argument("--n-bootstrap", type=count, default=1000, help="bootstrap resamples")
    p.add_argument("--confidence", type=number, default=0.95, help="interval level")
    p.add_argument("--seed", type=count, default=0, help="bootstrap seed")
    p.add_argument(
        "--steps",
        type=count,
        default=DEFAULT_STEPS,
        help="integrated-gradient steps of the age check",
    )
    p.add_argument("-o", "--output", metavar="JSON", help="also write the audit as JSON")
    p.add_argument("--plot", metavar="PNG", help="also draw approval rates by group")
    add_force_option(p)
    p.set_defaults(func=_audit)

    p = sub.add_parser(
        "explain",
        help="top reasons behind each applicant's predicted risk",
        description="For each applicant: the probability of default and the features that "
        "raised it most, in plain words (feature, value, contribution to the log-odds of "
        "default against a baseline applicant), written one applicant per row. One-hot "
        "columns are summed back to their categorical column. The completeness gap (sum "
        "of contributions minus the logit's change from the baseline) is reported, with "
        f"a warning above {DEFAULT_TOLERANCE:g}. " + LOGIT_NOTE + " " + ROWS_NOTE,
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument("csv", help="applicants to explain (CSV with a header line)")
    p.add_argument("-o", "--output", required=True, help="reasons CSV to write ('-' for stdout)")
    p.add_argument("--top", type=count, default=4, help="most reasons per applicant")
    p.add_argument("--id", metavar="COL", help="column naming applicants (default: row number)")
    p.add_argument(
        "--method",
        default="ig",
        metavar="{ig,gradxinput}",
        help="integrated gradients (ig, default: contributions add up to the logit's change) "
        "or gradient x input (gradxinput, a first-order approximation)",
    )
    p.add_argument(
        "--steps",
        type=count,
        default=DEFAULT_STEPS,
        help=f"integrated-gradient steps, doubled where the gap exceeds {DEFAULT_TOLERANCE:g}",
    )
    p.add_argument(
        "--baseline",
        default="zeros",
        metavar="{zeros,reference}",
        help="zeros: the training-mean applicant (default); reference: the mean applicant "
        "approved just inside the cut-off, from --reference or this file",
    )
    p.add_argument("--reference", metavar="CSV", help="applicants forming the reference baseline")
    p.add_argument(
        "--threshold",
        type=number,
        default=0.5,
        help="approval cut-off for the reference baseline",
    )
    p.add_argument(
        "--show", type=count, default=20, help="applicants to print (all are in the file)"
    )
    p.add_argument("--importance", metavar="PNG", help="also draw mean |contribution| per feature")
    p.add_argument(
        "--summary",
        metavar="JSON",
        help="also write the mean |contribution| of every input over all applicants, with "
        "the method, baseline and completeness, as JSON (read by card --explanation)",
    )
    add_points_options(
        p,
        "also give each applicant's scorecard points, the baseline applicant's points and "
        "each reason in points (-Factor times its log-odds, times the calibration's slope), "
        "adding up to the applicant's score",
    )
    add_force_option(p)
    p.set_defaults(func=_explain)

    p = sub.add_parser(
        "card",
        help="a model card from a model file and the JSON of evaluate, audit and explain",
        description="Write a model card (Markdown for -o card.md, a standalone HTML page "
        "for -o card.html): what the model is for, its training data (rows, columns, "
        "default rate per split), network and training settings, held-out metrics, "
        "calibration, the fairness audits and the Regulation B age check, monotone "
        "constraints, the most important inputs, and the limitations that follow from "
        "the numbers. Every number comes from the model file or from the JSON files "
        "given, which must have been made with this model file (their model_sha256); "
        "what is not given reads 'not run'.",
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument("-o", "--output", required=True, help="card to write (.md or .html)")
    p.add_argument("--evaluation", metavar="JSON", help="what evaluate -o wrote")
    p.add_argument(
        "--audit",
        metavar="JSON",
        nargs="+",
        action="extend",
        default=[],
        help="what audit -o wrote (one or more: one per group column)",
    )
    p.add_argument("--explanation", metavar="JSON", help="what explain --summary wrote")
    add_force_option(p)
    p.set_defaults(func=_card)
