"""``train``, ``predict`` and ``evaluate`` on a Dask cluster (``--scheduler``).

    backprop-lab train 'loans/*.parquet' --target default -o model.blab --scheduler local
    backprop-lab predict model.blab 'new/*.parquet' -o scores/ --scheduler tcp://HOST:8786
    backprop-lab evaluate model.blab 'test/*.parquet' --target default --scheduler local

The data argument is then a glob of Parquet (or CSV) files, read by the workers one
partition per file; ``local`` starts a LocalCluster on this machine, any other value
is a scheduler's address (an unreachable one is one error line after a short timeout).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from contextlib import contextmanager
from typing import Any

from .._util.errors import InputError
from .._util.outputs import check_outputs
from .options import positive_count

SCHEDULER_HELP = (
    "run on a Dask cluster: 'local' starts one on this machine (--workers processes), "
    "or the address of a running scheduler (tcp://HOST:8786); the data argument may then "
    "be a glob of Parquet or CSV files (quote it), one partition per file"
)


def add_scheduler_options(p: argparse.ArgumentParser) -> None:
    """--scheduler and --workers for a subcommand that can run on a cluster."""
    p.add_argument("--scheduler", metavar="ADDRESS", default=None, help=SCHEDULER_HELP)
    p.add_argument(
        "--workers", type=positive_count, default=2, help="worker processes of --scheduler local"
    )


@contextmanager
def _client(args: argparse.Namespace):
    from ..distributed.cluster import connect, require_dask

    try:
        require_dask()
    except ImportError as error:
        raise InputError(str(error)) from None
    client = connect(args.scheduler, n_workers=args.workers)
    try:
        where = "a local cluster" if args.scheduler == "local" else args.scheduler
        workers = len(client.scheduler_info().get("workers", {}))
        print(
            f"Dask: {where}, {workers} worker(s); dashboard {client.dashboard_link}",
            file=sys.stderr,
        )
        yield client
    finally:
        client.close()


def _files(pattern: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise InputError(f"no file matches {pattern}")
    return files


class _Progress:
    """One stderr line per iteration (at most one a second after the first five):
    iteration, objective J, seconds per iteration."""

    def __init__(self) -> None:
        self.last_print = 0.0

    def __call__(self, iteration: int, loss: float, seconds: float) -> None:
        now = time.monotonic()
        if iteration <= 5 or now - self.last_print >= 1.0:
            print(f"iteration {iteration:>5d}  loss {loss:.6f}  {seconds:.3f} s", file=sys.stderr)
            self.last_print = now


def train(args: argparse.Namespace) -> int:
    from ..distributed import fit_table

    for flag, bad in (
        ("--batch-size", args.batch_size is not None),
        ("--multiclass", args.multiclass),
        ("--monotone", bool(getattr(args, "monotone", None))),
    ):
        if bad:
            raise InputError(f"{flag} is not available with --scheduler")
    files = _files(args.csv)
    check_outputs({f"training data {i}": f for i, f in enumerate(files)}, {"-o": args.output},
                  force=args.force)  # fmt: skip
    with _client(args) as client:
        start = time.perf_counter()
        model = fit_table(
            files,
            args.target,
            numeric=args.numeric,
            categorical=args.categorical,
            drop=args.drop,
            id_column=args.id,
            impute=args.impute,
            test_size=args.test_size,
            seed=args.seed,
            positive=args.positive,
            threshold=args.threshold,
            calibrate=args.calibrate,
            calibration_size=args.calibration_size,
            drift_bins=args.drift_bins,
            client=client,
            progress=_Progress(),
            hidden_layer_sizes=tuple(args.hidden),
            optimizer=args.optimizer,
            learning_rate=args.lr,
            max_epochs=args.epochs,
            alpha=args.alpha,
            early_stopping={"auto": "auto", "on": True, "off": False}[args.early_stopping],
        )
        seconds = time.perf_counter() - start
    model.training["file"] = args.csv
    model.save(args.output)
    clf = model.classifier
    sizes = [clf.n_features_in_, *clf.hidden_layer_sizes, clf.network_.n_outputs]
    stopping = "early stopping on validation log loss" if clf.early_stopping_ else "training loss"
    print(
        f"trained a {'-'.join(map(str, sizes))} network on {len(files)} file(s) matching "
        f"{args.csv} in {seconds:.1f} s: {len(model.training['numeric'])} numeric and "
        f"{len(model.training['categorical'])} categorical column(s)"
    )
    print(f"iterations run {clf.n_iter_}, weights kept from {clf.best_epoch_} ({stopping})")
    if model.calibrator is not None:
        cal = model.training["calibration"]
        print(
            f"calibrated ({cal['method']}) on {cal['rows']} training rows set aside for it "
            f"(a seeded hash share): their log loss {cal['log_loss_before']:.4f} -> "
            f"{cal['log_loss_after']:.4f}"
        )
    if model.metrics is not None:
        _print(model.metrics, f"held-out rows ({model.metrics['n']}, a seeded hash share):")
    print(f"wrote {args.output}")
    return 0


def _print(metrics: dict, title: str) -> None:
    from ..classifier.metrics import format_credit_metrics

    print(title)
    print(format_credit_metrics(metrics))
    print(
        f"(ROC AUC and KS from {metrics['score_bins']} score bins: within "
        f"{metrics['roc_auc_bin_error']:.1e} and {metrics['ks_bin_error']:.1e} of the exact values)"
    )


def predict(args: argparse.Namespace) -> int:
    from ..classifier.tabular_model import load_model
    from ..distributed import predict_table

    files = _files(args.csv)
    if args.output == "-":
        raise InputError("-o - (standard output) is not available with --scheduler; give a folder")
    from .._util.outputs import check_output_folder

    names = [f"part-{i:05d}.parquet" for i in range(len(files))]
    check_output_folder("-o", args.output, names, force=args.force)
    model = load_model(args.model)
    with _client(args) as client:
        n, written = predict_table(model, files, args.output, id_column=args.id, client=client)
    print(
        f"wrote {n} predictions to {len(written)} Parquet file(s) in {args.output}", file=sys.stderr
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from .._util.atomic import atomic_write_text
    from ..classifier.tabular_model import load_model
    from ..distributed import evaluate_table

    if args.plot or args.reliability:
        raise InputError("--plot and --reliability are not available with --scheduler")
    files = _files(args.csv)
    check_outputs({"model": args.model, **{f"data {i}": f for i, f in enumerate(files)}},
                  {"-o": args.output}, force=args.force)  # fmt: skip
    model = load_model(args.model)
    with _client(args) as client:
        metrics = evaluate_table(
            model, files, target_column=args.target, threshold=args.threshold, client=client
        )
    _print(metrics, f"{args.model} on {len(files)} file(s) matching {args.csv}:")
    if args.output:
        report: dict[str, Any] = {"model": str(args.model), "data": args.csv, "metrics": metrics}
        atomic_write_text(args.output, json.dumps(report, indent=2, allow_nan=False) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
