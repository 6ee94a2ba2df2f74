"""The ``backprop-lab`` command line.

Every subcommand registers itself with ``register(subparsers)`` and runs through
``args.func(args) -> int``. Expected failures (bad input, missing files, a bad option
value, sizes the machine cannot hold) print one line, ``backprop-lab: error: ...``, and
exit with status 2; ``--debug`` shows the traceback. Ctrl-C prints one line and exits
with 130, after any half-written output has been removed. An unexpected error (a bug)
prints one line too, ``backprop-lab: internal error: ...``, and exits with 70.

A command checks all its output paths before it writes anything
(:func:`backprop_lab.outputs.check_outputs`): an output that is one of its inputs, in a
missing folder, or (without ``--force``) write-protected is refused.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .. import __version__
from .._util.errors import InputError
from . import explore, monitor, reproduce, responsible, tabular

if TYPE_CHECKING:
    import pandas as pd

from .options import HelpFormatter, add_force_option, count, number, positive_count

#: Exit status for bad input or a failed check that the user can fix.
EXIT_USAGE = 2
#: Exit status for an unexpected error: a bug (EX_SOFTWARE of sysexits.h).
EXIT_INTERNAL = 70
#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 128 + signal.SIGINT

#: Peak memory per generated borrower, rounded up from measurement: the peak resident
#: size grew by 134 bytes per row between 1 and 3 million rows (eight float64 columns
#: and their CSV text).
GENERATE_BYTES_PER_ROW = 160


#: The files of ``generate --out-dir``, with the share of the borrowers each holds: a
#: training file, a labelled test file, and unlabelled files to score and to explain
#: (``applicants.csv`` is the first rows of ``new_loans.csv``, at most APPLICANTS_ROWS).
SPLIT_FILES = {"loans.csv": 0.6, "test.csv": 0.2, "new_loans.csv": 0.2}
APPLICANTS_FILE = "applicants.csv"
APPLICANTS_ROWS = 20


def _generate_frame(args: argparse.Namespace) -> pd.DataFrame:
    """The borrowers: an id column first when asked, features, group, default."""
    from ..data.synthetic import make_credit_risk

    data = make_credit_risk(
        args.n, seed=args.seed, nonlinear=args.nonlinear, planted_bias=args.planted_bias
    )
    frame = data.frame(include_p_default=args.with_p_default)
    if args.id_column:
        if args.id_column in frame.columns:
            raise InputError(f"--id-column {args.id_column!r} is already a column of the data")
        frame.insert(0, args.id_column, range(1, len(frame) + 1))
    return frame


def _split_frames(frame: pd.DataFrame, target: str) -> dict[str, pd.DataFrame]:
    """loans.csv, test.csv, new_loans.csv in consecutive blocks of the rows (the rows are
    independent draws, so consecutive blocks are random samples); the unlabelled files
    have no ``target`` (nor ``p_default``) column."""
    n = len(frame)
    n_train = round(n * SPLIT_FILES["loans.csv"])
    n_test = round(n * SPLIT_FILES["test.csv"])
    unlabelled = frame.iloc[n_train + n_test :].drop(columns=[target, "p_default"], errors="ignore")
    return {
        "loans.csv": frame.iloc[:n_train],
        "test.csv": frame.iloc[n_train : n_train + n_test],
        "new_loans.csv": unlabelled,
        APPLICANTS_FILE: unlabelled.iloc[:APPLICANTS_ROWS],
    }


def _generate(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write
    from .._util.memory import require_memory
    from .._util.outputs import check_outputs

    if args.n < 1:
        raise InputError(f"--n must be at least 1; got {args.n}")
    if args.out_dir is not None and args.n < 5:
        raise InputError(
            f"--out-dir splits the borrowers 60/20/20: --n must be at least 5; got {args.n}"
        )
    require_memory(f"--n {args.n}", args.n * GENERATE_BYTES_PER_ROW)
    if args.out_dir is not None:
        folder = Path(args.out_dir)
        paths = {name: folder / name for name in [*SPLIT_FILES, APPLICANTS_FILE]}
        check_outputs(
            {}, {f"--out-dir {name}": path for name, path in paths.items()}, force=args.force
        )
        frames = _split_frames(_generate_frame(args), "default")
    else:
        check_outputs({}, {"-o": args.output}, force=args.force, stdout={"-o"})
        frames = {args.output: _generate_frame(args)}
        paths = {args.output: args.output}
    for name, frame in frames.items():
        if paths[name] == "-":
            frame.to_csv(sys.stdout, index=False)
            continue
        with atomic_write(paths[name], "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
        print(f"wrote {len(frame)} borrowers to {paths[name]}", file=sys.stderr)
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    from .._util.memory import network_bytes, require_memory
    from ..data.synthetic import Standardizer, make_credit_risk
    from ..engine.gradcheck import gradient_check
    from ..engine.training import train
    from ..nn import mlp
    from ..nn.optim import GradientDescent

    _check_gradcheck_options(args)
    hidden = " ".join(map(str, args.hidden))
    # weights, backprop's gradient and the finite differences: three arrays of P numbers
    require_memory(
        f"--hidden {hidden} with --n {args.n}",
        network_bytes(7, args.hidden, 1, args.n, parameter_copies=3),
    )
    if args.tutorial:
        # the tutorial's experiments load scikit-learn: only for their data
        from ..tutorial.experiments.setup import Config, make_split

        # the tutorial's training split (Config.n borrowers, 80%), standardised
        split = make_split(Config().n, args.seed)
        X, y = split.X_train, split.y_train
        init = "tutorial"
    else:
        data = make_credit_risk(args.n, seed=args.seed)
        X = Standardizer().fit_transform(data.X)
        y = data.y.to_numpy()
        init = "he"
    model = mlp(7, hidden=tuple(args.hidden), activation=args.activation, init=init, seed=args.seed)
    if args.burn_in:
        train(model, X, y, optimizer=GradientDescent(0.1), epochs=args.burn_in)
    result = gradient_check(model, X, y, l2=args.l2, eps=args.eps, tolerance=args.tolerance)
    arch = "-".join(map(str, [7, *args.hidden, 1]))
    print(
        f"gradient check: {arch} network ({args.activation}, {init} weights), N={len(y)}, "
        f"burn-in {args.burn_in} epochs, l2={args.l2:g}, h={args.eps:g}"
    )
    print(result.table())
    if result.n_kinks:
        print(
            f"kinks: for {result.n_kinks} entries the step crossed a ReLU kink; "
            f"{result.n_kinks_rechecked} re-checked with a smaller step, "
            f"{result.n_unchecked} left out"
        )
    return 0 if result.passed else 1


#: The largest finite-difference step: central differences err by O(h^2) times the third
#: derivative, so h must be small against the standardised inputs and the weights (O(1)).
MAX_GRADCHECK_EPS = 0.1
#: The largest L2 strength: (l2 / 2) ||W||^2 must stay far from overflow; beyond this the
#: penalty swamps any data term anyway.
MAX_GRADCHECK_L2 = 1e6


def _check_gradcheck_options(args: argparse.Namespace) -> None:
    """Each size and step of gradcheck in range, named by its option."""
    if args.n < 1:
        raise InputError(f"--n must be at least 1; got {args.n}")
    if args.burn_in < 0:
        raise InputError(f"--burn-in must be 0 or more epochs; got {args.burn_in}")
    if not 0 <= args.l2 <= MAX_GRADCHECK_L2:
        raise InputError(f"--l2 must be between 0 and {MAX_GRADCHECK_L2:g}; got {args.l2:g}")
    if not 0 < args.eps <= MAX_GRADCHECK_EPS:
        raise InputError(
            f"--eps (the finite-difference step h) must be above 0 and at most "
            f"{MAX_GRADCHECK_EPS:g}; got {args.eps:g}"
        )
    if args.tolerance < 0:
        raise InputError(f"--tolerance must be 0 or more; got {args.tolerance:g}")
    if args.tutorial:
        fixed = {
            "--n": args.n == 500,
            "--hidden": args.hidden == [8],
            "--activation": args.activation == "relu",
        }
        given = [option for option, unchanged in fixed.items() if not unchanged]
        if given:
            raise InputError(f"--tutorial fixes the network and the data; drop {', '.join(given)}")


def _register_core(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="write a synthetic credit-risk CSV",
        description="Generate synthetic borrowers (seven features and the 0/1 'default' label).",
    )
    p.add_argument("--n", type=count, default=10_000, help="number of borrowers")
    p.add_argument("--seed", type=count, default=0, help="random seed")
    p.add_argument(
        "--nonlinear", action="store_true", help="risk with thresholds and an interaction"
    )
    p.add_argument(
        "--with-p-default",
        action="store_true",
        help="also write the true default probability (a real lender never sees it)",
    )
    p.add_argument(
        "--id-column",
        metavar="NAME",
        help="write a first column NAME numbering the borrowers 1..n (e.g. loan_id; "
        "default: no id column)",
    )
    p.add_argument(
        "--planted-bias",
        type=number,
        metavar="B",
        help="add a 'group' column (0/1, 30%% of borrowers, independent of the features) and "
        "raise group 1's log-odds of default by B; 0 adds the column without a bias "
        "(default: no group column)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", default="-", help="output CSV path ('-' for stdout)")
    where.add_argument(
        "--out-dir",
        metavar="DIR",
        help="instead of one file, write four into the existing folder DIR: loans.csv "
        "(60%% of the borrowers, to train on), test.csv (20%%, labelled, to evaluate and "
        "audit), new_loans.csv (20%%, without the default column, to score) and "
        f"applicants.csv (the first {APPLICANTS_ROWS} rows of new_loans.csv, to explain)",
    )
    add_force_option(p)
    p.set_defaults(func=_generate)

    p = sub.add_parser(
        "gradcheck",
        help="check backprop's gradients against finite differences",
        description="Compare every gradient entry with a finite difference (five-point "
        "stencil, float64); exit status 1 if the largest error, |analytic - numeric| over its "
        "array's scale, is not below the tolerance.",
    )
    p.add_argument("--n", type=count, default=500, help="rows of synthetic data")
    p.add_argument("--seed", type=count, default=0, help="seed for data and weights")
    p.add_argument(
        "--hidden", type=positive_count, nargs="+", default=[8], help="hidden layer widths"
    )
    p.add_argument(
        "--activation",
        default="relu",
        choices=["relu", "leaky_relu", "tanh", "sigmoid"],
        help="hidden activation",
    )
    p.add_argument(
        "--tutorial",
        action="store_true",
        help="the tutorial's network and data: 7-8-1 ReLU with weights 0.01 x N(0, 1) and zero "
        "biases, on the standardised training split of the report's 5000 borrowers (without "
        "it: He-initialised weights on --n fresh borrowers)",
    )
    p.add_argument("--l2", type=number, default=0.0, help="L2 penalty strength")
    p.add_argument("--burn-in", type=count, default=0, help="epochs of training before the check")
    p.add_argument("--eps", type=number, default=1e-5, help="finite-difference step h")
    p.add_argument(
        "--tolerance", type=number, default=1e-7, help="pass if the largest error is below this"
    )
    p.set_defaults(func=_gradcheck)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported in one line (no usage block) and exit status 2."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        # every subcommand's parser is made by this class too, so all show their defaults
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backprop-lab",
        description="Learn, check and use backpropagation on tabular credit-risk data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_core(sub)
    for commands in (tabular, responsible, monitor, reproduce, explore):
        commands.register(sub)
    return parser


def _one_line(text: str) -> str:
    """The message's lines joined into one."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand; report an error in one line on stderr and return its status."""
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:
        if args.debug:
            raise
        if isinstance(error, FileNotFoundError) and error.filename is not None:
            message = f"{error.filename}: file not found"
        else:
            message = str(error)
        print(f"backprop-lab: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as error:
        if args.debug:
            raise
        detail = f" ({_one_line(str(error))})" if str(error) else ""
        print(f"backprop-lab: error: out of memory{detail}; choose smaller sizes", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # a bug: still one line, the traceback with --debug
        if args.debug:
            raise
        print(
            f"backprop-lab: internal error: {type(error).__name__}: {_one_line(str(error))} "
            "(run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return _run(args)
    except KeyboardInterrupt:
        print("backprop-lab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
