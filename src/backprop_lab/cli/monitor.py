"""``monitor``: has a new population drifted from the one a model was trained on?

    backprop-lab monitor model.blab new_loans.csv -o drift.json --plot drift.png --fail-above 0.25

The population stability index of the score and the characteristic stability index of
every source column, from the bin counts stored in the model file at training time (or
computed from ``--reference TRAIN.csv``), the new file read in chunks.
"""

from __future__ import annotations

import argparse
import sys

from .._util.errors import InputError
from .._util.outputs import check_figure_formats, check_outputs
from .common import ROWS_NOTE, one_line_warnings
from .options import add_force_option, number, positive_count

#: Exit status when an index is above ``--fail-above``, as ``gradcheck`` and ``audit``
#: exit 1 when their check fails (2 stays for bad input).
EXIT_DRIFT = 1


def _monitor(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write_text
    from ..classifier.drift import DEFAULT_BINS
    from ..classifier.monitor import check_thresholds, monitor_csv, reference_distributions
    from ..classifier.tabular_model import load_model
    from ..data.tabular import read_csv

    check_outputs(
        {"model": args.model, "data": args.csv, "reference": args.reference},
        {"-o": args.output, "--plot": args.plot},
        force=args.force,
    )
    check_figure_formats({"--plot": args.plot})
    check_thresholds(args.watch, args.act)
    if args.fail_above is not None and args.fail_above < 0:
        raise InputError(f"--fail-above must be 0 or more; got {args.fail_above:g}")
    with one_line_warnings():
        model = load_model(args.model)
        reference, source = None, "stored in the model file"
        if args.reference is not None:
            reference = reference_distributions(
                model,
                read_csv(args.reference),
                n_bins=DEFAULT_BINS,
                file=args.reference,
                rows_used=f"every row of {args.reference}",
            )
            source = f"computed from {args.reference}"
        report = monitor_csv(
            model,
            args.csv,
            reference=reference,
            reference_source=source,
            chunk_size=args.chunk_size,
            watch=args.watch,
            act=args.act,
            model_file=args.model,
        )
        print(report.text())
        figure = None
        if args.plot:  # drawn before anything is written
            from ..classifier.figures import drift_figure

            figure = drift_figure(report, top=args.top)
        if args.output:
            atomic_write_text(args.output, report.to_json())
            print(f"wrote {args.output}", file=sys.stderr)
        if figure is not None:
            from .._util.figures import save_figure

            save_figure(figure, args.plot, dpi=110)
            print(f"wrote {args.plot}", file=sys.stderr)
    if args.fail_above is not None:
        above = report.exceeding(args.fail_above)
        if above:
            names = ", ".join(f"{d.name} ({d.index:.3f})" for d in above)
            print(
                f"backprop-lab: {len(above)} index(es) above --fail-above {args.fail_above:g}: "
                f"{names}; exit status {EXIT_DRIFT}",
                file=sys.stderr,
            )
            return EXIT_DRIFT
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``monitor`` to the command line."""
    p = sub.add_parser(
        "monitor",
        help="drift of a new population from the training one (PSI, CSI)",
        description="Compare a new file with the population the model was trained on: the "
        "population stability index (PSI) of the score, P(default), and the characteristic "
        "stability index (CSI) of every source column, each sum_i (a_i - e_i) ln(a_i / e_i) "
        "over bins fixed at training time (deciles of the training values with open ends and "
        "a missing bin; each training category, 'other/unseen' and missing), with a_i and e_i "
        "the new and the training shares, both floored at 1e-4 so an empty bin adds a "
        "finite amount. The training counts are stored in the model file by 'train'; for an "
        "older model file, give the training file as --reference. A table sorted by index "
        "is printed, each flagged stable, watch or act. Exit status: 0, or 1 when an index "
        "is above --fail-above; 2 for bad input. " + ROWS_NOTE,
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument(
        "csv",
        help="the new population (CSV with a header line, or Parquet: .parquet; no label needed)",
    )
    p.add_argument(
        "--reference",
        metavar="CSV",
        help="compute the training distributions from this file (e.g. the training file, "
        "read whole) instead of the ones stored in the model file",
    )
    p.add_argument("--watch", type=number, default=0.1, help="flag 'watch' from this index")
    p.add_argument("--act", type=number, default=0.25, help="flag 'act' from this index")
    p.add_argument(
        "--fail-above",
        type=number,
        metavar="X",
        help="exit with status 1 when any index is above X (default: exit 0 whatever the drift)",
    )
    p.add_argument(
        "-o",
        "--output",
        "--json",
        dest="output",
        metavar="JSON",
        help="also write the bins as JSON",
    )
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="also draw training vs new shares per bin: the score and the --top columns",
    )
    p.add_argument("--top", type=positive_count, default=3, help="columns drawn by --plot")
    p.add_argument(
        "--chunk-size",
        "--chunk-rows",
        dest="chunk_size",
        type=positive_count,
        default=100_000,
        help="rows per chunk",
    )
    add_force_option(p)
    p.set_defaults(func=_monitor)
