"""The ``backprop-lab`` command line.

Every subcommand registers itself with ``register(subparsers)`` and runs through
``args.func(args) -> int``. Expected failures (bad input, missing files) print one line,
``backprop-lab: error: ...``, and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._util.validation import InputError
from . import explore, reproduce, responsible, tabular

#: Exit status for bad input or a failed check that the user can fix.
EXIT_USAGE = 2


def _generate(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write
    from ..data.synthetic import make_credit_risk

    if args.n < 1:
        raise InputError(f"--n must be at least 1; got {args.n}")
    data = make_credit_risk(args.n, seed=args.seed, nonlinear=args.nonlinear)
    frame = data.frame(include_p_default=args.with_p_default)
    if args.output == "-":
        frame.to_csv(sys.stdout, index=False)
    else:
        with atomic_write(args.output, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
        print(f"wrote {len(frame)} borrowers to {args.output}", file=sys.stderr)
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    from ..data.synthetic import Standardizer, make_credit_risk
    from ..engine.gradcheck import gradient_check
    from ..engine.training import train
    from ..nn import mlp
    from ..nn.optim import GradientDescent

    data = make_credit_risk(args.n, seed=args.seed)
    X = Standardizer().fit_transform(data.X)
    y = data.y.to_numpy()
    model = mlp(7, hidden=tuple(args.hidden), activation=args.activation, seed=args.seed)
    if args.burn_in:
        train(model, X, y, optimizer=GradientDescent(0.1), epochs=args.burn_in)
    result = gradient_check(model, X, y, l2=args.l2, eps=args.eps, tolerance=args.tolerance)
    arch = "-".join(map(str, [7, *args.hidden, 1]))
    print(
        f"gradient check: {arch} network ({args.activation}), N={args.n}, "
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


def _register_core(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="write a synthetic credit-risk CSV",
        description="Generate synthetic borrowers (seven features and the 0/1 'default' label).",
    )
    p.add_argument("--n", type=int, default=10_000, help="number of borrowers (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--nonlinear", action="store_true", help="risk with thresholds and an interaction"
    )
    p.add_argument(
        "--with-p-default",
        action="store_true",
        help="also write the true default probability (a real lender never sees it)",
    )
    p.add_argument("-o", "--output", default="-", help="output CSV path ('-' for stdout)")
    p.set_defaults(func=_generate)

    p = sub.add_parser(
        "gradcheck",
        help="check backprop's gradients against finite differences",
        description="Compare every gradient entry with a finite difference (five-point "
        "stencil, float64); exit status 1 if the largest error, |analytic - numeric| over its "
        "array's scale, is not below the tolerance.",
    )
    p.add_argument("--n", type=int, default=500, help="rows of synthetic data (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights (default 0)")
    p.add_argument("--hidden", type=int, nargs="+", default=[8], help="hidden layer widths")
    p.add_argument(
        "--activation", default="relu", choices=["relu", "leaky_relu", "tanh", "sigmoid"]
    )
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty strength (default 0)")
    p.add_argument("--burn-in", type=int, default=0, help="epochs of training before the check")
    p.add_argument("--eps", type=float, default=1e-5, help="finite-difference step h")
    p.add_argument(
        "--tolerance", type=float, default=1e-7, help="pass if max error is below (default 1e-7)"
    )
    p.set_defaults(func=_gradcheck)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-lab",
        description="Learn, check and use backpropagation on tabular credit-risk data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_core(sub)
    for commands in (tabular, responsible, reproduce, explore):
        commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:
        if args.debug:
            raise
        message = (
            str(error)
            if not isinstance(error, FileNotFoundError)
            else (f"{error.filename}: file not found")
        )
        print(f"backprop-lab: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("backprop-lab: interrupted", file=sys.stderr)
        return 130
