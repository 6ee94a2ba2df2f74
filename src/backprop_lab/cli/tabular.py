"""Subcommands for your own CSV files: ``train``, ``predict`` and ``evaluate``.

    backprop-lab train loans.csv --target default -o model.blab
    backprop-lab predict model.blab new_loans.csv -o scores.csv --id loan_id
    backprop-lab evaluate model.blab test.csv --target default -o metrics.json --plot curves.png
    backprop-lab train loans.csv --target default --calibrate temperature -o model.blab
    backprop-lab evaluate model.blab test.csv --reliability reliability.png

Rows in error messages are data rows counted from 1 (the first line below the header).
Warnings (extra columns, unseen categories, training stopped by max epochs) print as one
line each on stderr. ``evaluate`` runs in :mod:`backprop_lab.cli.evaluate`; its options
are registered here with the other two.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._util.outputs import check_outputs
from .cluster import add_scheduler_options
from .common import ROWS_NOTE, one_line_warnings
from .evaluate import _calibrator_text, _evaluate, _print_metrics
from .options import (
    add_force_option,
    add_points_options,
    count,
    monotone_constraints,
    number,
    points_scale,
    positive_count,
    positive_number,
)


def _architecture(model) -> str:
    net = model.network
    sizes = [net.n_inputs, *model.classifier.hidden_layer_sizes, net.n_outputs]
    return "-".join(map(str, sizes))


# ---- train -------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    if args.scheduler:
        from .cluster import train

        return train(args)
    from .._util.memory import network_bytes, require_memory
    from ..classifier.fitting import fit_tabular
    from ..data.tabular import read_csv

    if args.optimizer == "lbfgs" and args.batch_size is not None:  # 'auto' then takes Adam
        raise ValueError("--batch-size does not apply to --optimizer lbfgs (full batch)")
    check_outputs({"training data": args.csv}, {"-o": args.output}, force=args.force)
    with one_line_warnings():
        frame = read_csv(args.csv)
        # at least one input per feature column; one-hot columns only add to it
        n_inputs = max(len(frame.columns) - 1, 1)
        require_memory(
            f"--hidden {' '.join(map(str, args.hidden))} on {len(frame)} rows",
            network_bytes(n_inputs, args.hidden, 1, len(frame)),
        )
        params = {
            "hidden_layer_sizes": tuple(args.hidden),
            "optimizer": args.optimizer,
            "learning_rate": args.lr,
            "max_epochs": args.epochs,
            "batch_size": args.batch_size,
            "alpha": args.alpha,
            "early_stopping": {"auto": "auto", "on": True, "off": False}[args.early_stopping],
            "verbose": sys.stderr.isatty(),
        }
        model = fit_tabular(
            frame,
            args.target,
            numeric=args.numeric,
            categorical=args.categorical,
            drop=args.drop,
            id_column=args.id,
            impute=args.impute,
            test_size=args.test_size,
            seed=args.seed,
            multiclass=args.multiclass,
            positive=args.positive,
            threshold=args.threshold,
            calibrate=args.calibrate,
            calibration_size=args.calibration_size,
            drift_bins=args.drift_bins,
            file=args.csv,
            monotone=_monotone_option(args.monotone),
            **params,
        )
        model.save(args.output)
    clf = model.classifier
    info = model.training
    stopping = "early stopping on validation log loss" if clf.early_stopping_ else "training loss"
    print(
        f"trained a {_architecture(model)} network on {info['train_rows']} rows of {args.csv}: "
        f"{len(info['numeric'])} numeric and {len(info['categorical'])} categorical column(s), "
        f"{model.preprocessor.n_features_out} inputs"
    )
    unit = "L-BFGS iterations" if clf.optimizer_ == "lbfgs" else "epochs"
    print(f"{unit} run {clf.n_iter_}, weights kept from {unit[:-1]} {clf.best_epoch_} ({stopping})")
    if model.monotone:
        print(f"monotone by construction: {monotone_text(model.monotone)}")
    if model.calibrator is not None:
        cal = info["calibration"]
        print(
            f"calibrated by {_calibrator_text(model.calibrator)}, fitted on {cal['rows']} "
            f"training rows set aside for it: their log loss {cal['log_loss_before']:.4f} -> "
            f"{cal['log_loss_after']:.4f}"
        )
    if model.metrics is not None:
        print(f"held-out rows ({info['test_rows']}):")
        _print_metrics(model.metrics)
    print(f"wrote {args.output}")
    return 0


def _monotone_option(pairs: list[tuple[str, int]]) -> dict[str, int] | None:
    """The --monotone pairs as one dict; a column given twice with two signs is refused."""
    out: dict[str, int] = {}
    for name, sign in pairs:
        if out.get(name, sign) != sign:
            raise ValueError(f"--monotone gives column '{name}' two different signs")
        out[name] = sign
    return out or None


def monotone_text(monotone: dict[str, int]) -> str:
    """'late_payments +1 (risk only rises with it), annual_income -1 (only falls)'."""
    words = {1: "+1 (risk only rises with it)", -1: "-1 (risk only falls with it)"}
    return ", ".join(f"{name} {words[sign]}" for name, sign in monotone.items())


def _alpha(text: str) -> float | str:
    """'auto' or a finite number (BackpropClassifier's alpha)."""
    return "auto" if text == "auto" else number(text)


# ---- predict -----------------------------------------------------------------------------
def _predict(args: argparse.Namespace) -> int:
    if args.scheduler:
        from .cluster import predict

        return predict(args)
    from .._util.errors import InputError
    from ..classifier.tabular_model import load_model
    from ..data.table_files import CsvChunkWriter

    check_outputs(
        {"model": args.model, "data": args.csv},
        {"-o": args.output},
        force=args.force,
        stdout={"-o"},
    )
    with one_line_warnings():
        scale = points_scale(args)
        model = load_model(args.model)
        if scale is not None and not model.is_binary:
            raise InputError("--points: scorecard points are for binary models", file=args.model)
        if args.output == "-":
            sys.stdout.flush()
            writer = CsvChunkWriter(sys.stdout.buffer)
            try:
                for out, _ in model.iter_csv_predictions(
                    args.csv, id_column=args.id, chunk_size=args.chunk_size, points=scale
                ):
                    writer.write(out)
                    sys.stdout.buffer.flush()
            except BrokenPipeError:
                # The reader stopped reading (`predict ... -o - | head`): nothing is lost
                # and nothing more is wanted. Point stdout at /dev/null so that Python's
                # flush at exit does not fail on the closed pipe.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                return 0
            except ValueError as error:
                n = writer.rows
                if n == 0:
                    raise
                raise InputError(
                    f"{error} (the predictions of the {n} row(s) before it were already "
                    "written to standard output)"
                ) from None
        else:
            n = model.predict_csv(
                args.csv, args.output, id_column=args.id, chunk_size=args.chunk_size, points=scale
            )
            print(f"wrote {n} predictions to {args.output}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``predict`` and ``evaluate`` to the command line."""
    p = sub.add_parser(
        "train",
        help="train a network on your CSV file and save it",
        description="Train a classifier on a CSV file: numeric columns are standardised, "
        "text columns one-hot encoded (unseen categories at prediction time count as "
        "unknown), a stratified share of rows is held out and scored. " + ROWS_NOTE,
    )
    p.add_argument("csv", help="training data (CSV with a header line)")
    p.add_argument("--target", required=True, help="column holding the label (e.g. default)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.blab)")
    p.add_argument(
        "--numeric", nargs="+", action="extend", default=[], metavar="COL", help="numeric columns"
    )
    p.add_argument(
        "--categorical",
        nargs="+",
        action="extend",
        default=[],
        metavar="COL",
        help="categorical columns (others are inferred: numbers or text)",
    )
    p.add_argument(
        "--drop", nargs="+", action="extend", default=[], metavar="COL", help="columns to ignore"
    )
    p.add_argument("--id", metavar="COL", help="row identifier column (not a feature)")
    p.add_argument(
        "--impute",
        default="none",
        choices=["none", "median", "mean", "most_frequent"],
        help="fill missing numbers with the training median/mean/most frequent value and "
        "missing categories with the most frequent one (default: none, which refuses them)",
    )
    p.add_argument(
        "--hidden", type=positive_count, nargs="+", default=[8], help="hidden layer widths"
    )
    p.add_argument(
        "--optimizer",
        default="auto",
        choices=["auto", "adam", "momentum", "gd", "lbfgs"],
        help="update rule; lbfgs: full-batch L-BFGS (no --lr or --batch-size; --epochs is "
        "the most iterations), the fastest on large files; auto: lbfgs from 100,000 "
        "training rows on (without --batch-size), else adam",
    )
    p.add_argument("--lr", type=positive_number, default=0.01, help="learning rate")
    p.add_argument("--epochs", type=positive_count, default=1000, help="most epochs")
    p.add_argument(
        "--batch-size",
        type=positive_count,
        default=None,
        help="rows per step (default: full batch)",
    )
    p.add_argument(
        "--alpha",
        type=_alpha,
        default="auto",
        help="L2 strength, per row; auto: chosen by cross-validation, fold networks averaged",
    )
    p.add_argument(
        "--early-stopping",
        choices=["auto", "on", "off"],
        default="auto",
        help="stop on validation log loss (auto: when every class has 100+ rows)",
    )
    p.add_argument("--test-size", type=number, default=0.2, help="held-out share")
    p.add_argument("--seed", type=count, default=0, help="seed for split and weights")
    p.add_argument("--multiclass", action="store_true", help="allow more than two target values")
    p.add_argument(
        "--positive", metavar="LABEL", help="label meaning default (default: the larger one)"
    )
    p.add_argument("--threshold", type=number, default=0.5, help="threshold for held-out accuracy")
    p.add_argument(
        "--calibrate",
        default="none",
        metavar="{none,platt,temperature}",
        help="post-hoc calibration of the probability of default, saved with the model and "
        "used by predict, evaluate, audit and explain: Platt scaling sigmoid(a z + b) or "
        "temperature scaling sigmoid(z / T) of the network's logit z, fitted on "
        "--calibration-size of the training rows, set aside before the network is trained "
        "(never on the held-out test rows). Explanations stay on the network's logit.",
    )
    p.add_argument(
        "--monotone",
        type=monotone_constraints,
        action="extend",
        default=[],
        metavar="COL=+1,COL=-1",
        help="monotone constraints on numeric columns: with COL=+1 the probability of "
        "default can only rise as COL rises (all else equal), with COL=-1 only fall; they "
        "hold by construction for every applicant (sign-constrained weights), are saved "
        "with the model and shown by explain",
    )
    p.add_argument(
        "--calibration-size",
        type=number,
        default=0.2,
        help="share of the training rows set aside for --calibrate",
    )
    p.add_argument(
        "--drift-bins",
        type=count,
        default=10,
        help="quantile bins of the score and of each numeric column whose training counts "
        "are saved with the model, for 'monitor' to measure drift against (0: save none)",
    )
    add_force_option(p)
    add_scheduler_options(p)
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "predict",
        help="score a CSV file with a saved model",
        description="Write the probability of default (p_default; for multiclass models "
        "one p_<class> column per class) for every row, reading the input in chunks so "
        "files larger than memory work. Columns are matched by name; extra columns are "
        "ignored with a warning. CSV and Parquet files are read and written through Arrow. "
        + ROWS_NOTE,
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument("csv", help="rows to score (CSV with a header line, or Parquet: .parquet)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file, CSV or Parquet by its suffix (.parquet); '-' for CSV on stdout",
    )
    p.add_argument("--id", metavar="COL", help="copy this column to the output first")
    p.add_argument("--chunk-size", type=positive_count, default=100_000, help="rows per chunk")
    add_points_options(p, "also write each row's scorecard points (column points)")
    add_force_option(p)
    add_scheduler_options(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "evaluate",
        help="credit metrics of a saved model on a labelled CSV file",
        description="ROC AUC, Gini, KS, log loss, Brier score, expected calibration error "
        "(ECE, ten equal-width bins), accuracy and confusion matrix at a threshold, and "
        "observed versus predicted default rate by decile of score. For a model saved with "
        "--calibrate, also the network's own Brier score, ECE and log loss, before "
        "calibration. " + ROWS_NOTE,
    )
    p.add_argument("model", help="model file (.blab)")
    p.add_argument("csv", help="labelled rows (CSV with a header line, or Parquet: .parquet)")
    p.add_argument("--target", help="label column (default: the training target's name)")
    p.add_argument("--threshold", type=number, default=0.5, help="predict default when p >= this")
    p.add_argument("-o", "--output", help="also write the metrics as JSON")
    p.add_argument("--plot", metavar="PNG", help="also draw ROC and calibration curves")
    p.add_argument(
        "--reliability",
        metavar="PNG",
        help="also draw a reliability diagram (observed default rate against mean predicted "
        "probability in ten equal-width bins; before and after calibration for a "
        "calibrated model)",
    )
    p.add_argument("--chunk-size", type=positive_count, default=100_000, help="rows per chunk")
    add_points_options(
        p,
        "also give rows, defaults, observed and predicted default rate by band of scorecard "
        "points (bands --band-width wide from the base score)",
    )
    p.add_argument(
        "--band-width",
        type=positive_number,
        metavar="POINTS",
        help="width of the score bands (default: the PDO); implies --points",
    )
    add_force_option(p)
    add_scheduler_options(p)
    p.set_defaults(func=_evaluate)
