"""The ``evaluate`` subcommand and the reports it shares with ``train``.

    backprop-lab evaluate model.blab test.csv --target default -o metrics.json --plot curves.png
    backprop-lab evaluate model.blab test.csv --reliability reliability.png

``evaluate`` scores a labelled file with a saved model: the held-out metrics (with score
bands under ``--points``), the calibration report (Brier score, ECE and the reliability
curve in RELIABILITY_BINS equal-width bins, for a calibrated model beside the network's
own), the rows outside the training ranges, and optionally a JSON report and figures.
Its options are registered with ``train`` and ``predict`` in
:mod:`backprop_lab.cli.tabular`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._util.outputs import check_figure_formats, check_outputs
from .common import file_sha256, one_line_warnings
from .options import points_scale


def _print_metrics(metrics: dict) -> None:
    from ..classifier.metrics import (
        format_credit_metrics,
        format_multiclass_metrics,
        format_score_bands,
    )

    text = (
        format_credit_metrics(metrics)
        if "roc_auc" in metrics
        else format_multiclass_metrics(metrics)
    )
    print(text)
    if "score_bands" in metrics:
        print(format_score_bands(metrics["score_bands"], metrics["points_scale"]))


def _calibrator_text(calibrator) -> str:
    """'Platt scaling, p = sigmoid(1.06 z - 0.0023)' (z: the network's logit of default)."""
    d = calibrator.to_dict()
    if d["method"] == "platt":
        sign = "-" if d["b"] < 0 else "+"
        return f"Platt scaling, p = sigmoid({d['a']:.4g} z {sign} {abs(d['b']):.2g})"
    return f"temperature scaling, p = sigmoid(z / {d['temperature']:.4g})"


# ---- evaluate ----------------------------------------------------------------------------
def _evaluate(args: argparse.Namespace) -> int:
    if args.scheduler:
        from .cluster import evaluate

        return evaluate(args)
    from .._util.atomic import atomic_write_text
    from ..classifier.tabular_model import load_model

    outputs = {"-o": args.output, "--plot": args.plot, "--reliability": args.reliability}
    check_outputs({"model": args.model, "data": args.csv}, outputs, force=args.force)
    check_figure_formats({"--plot": args.plot, "--reliability": args.reliability})
    with one_line_warnings():
        scale = points_scale(args)
        model = load_model(args.model)
        if (args.plot or args.reliability) and not model.is_binary:
            raise ValueError(
                "--plot and --reliability draw ROC and calibration curves for binary models only"
            )
        if scale is not None and not model.is_binary:
            raise ValueError("--points: score bands are for binary models only")
        # With a calibrator, the network alone is scored too, for comparison (one read).
        network_too = model.is_binary and model.calibrator is not None
        counter = _range_counter(model)
        metrics, y, p, *own = model.evaluate_csv(
            args.csv,
            target_column=args.target,
            threshold=args.threshold,
            chunk_size=args.chunk_size,
            network_too=network_too,
            points=scale,
            band_width=args.band_width,
            ranges=counter,
        )
        print(f"{args.model} on {args.csv}:")
        _print_metrics(metrics)
        calibration = None
        if model.is_binary:
            p_network = own[0] if network_too else None
            calibration = _calibration_report(model, y, p, p_network)
            _print_calibration(calibration)
        outside = None if counter is None else counter.to_dict()
        if outside is not None:
            _print_outside(outside)
        if args.plot and not 0 < y.sum() < y.size:  # refused before any file is written
            raise ValueError(
                f"--plot: ROC and calibration curves need both defaults and non-defaults "
                f"among the rows of {args.csv}"
            )
        if args.output:
            report = {
                "model": str(args.model),
                "model_sha256": file_sha256(args.model),
                "data": str(args.csv),
                "metrics": metrics,
            }
            if calibration is not None:
                report["calibration"] = calibration
            if outside is not None:
                report["outside_training_range"] = outside
            atomic_write_text(args.output, json.dumps(report, indent=2, allow_nan=False) + "\n")
            print(f"wrote {args.output}", file=sys.stderr)
        if args.plot:
            from ..classifier.figures import plot_credit_curves  # matplotlib: only to draw

            plot_credit_curves(
                y, p, args.plot, title=f"{Path(args.model).name} on {Path(args.csv).name}"
            )
            print(f"wrote {args.plot}", file=sys.stderr)
        if args.reliability:
            _reliability_plot(model, y, p, calibration, args)
            print(f"wrote {args.reliability}", file=sys.stderr)
    return 0


def _range_counter(model):
    """Counts the rows outside the numeric inputs' training ranges (None for a model
    saved before the ranges were recorded)."""
    from ..classifier.card_facts import RangeCounter

    ranges = model.model_card.get("numeric_ranges")
    return RangeCounter(ranges) if ranges else None


def _print_outside(outside: dict) -> None:
    if outside["rows_outside"]:
        columns = ", ".join(f"{k} {v}" for k, v in outside["by_column"].items() if v)
        print(
            f"outside the training range: {outside['rows_outside']} of {outside['rows']} rows "
            f"have a numeric input beyond the range the model was trained on ({columns})"
        )


#: Reliability bins of ``evaluate``: ten of width 0.1, the ECE's bins.
RELIABILITY_BINS = 10


def _calibration_block(y, p) -> dict:
    from ..classifier.calibration import calibration_report

    summary, curve = calibration_report(y, p, n_bins=RELIABILITY_BINS)
    return {
        "brier_score": summary["brier_score"],
        "expected_calibration_error": summary["expected_calibration_error"],
        "log_loss": summary["log_loss"],
        "reliability": [
            {k: (int(v) if k in ("bin", "count") else float(v)) for k, v in row.items()}
            for row in curve.to_dict(orient="records")
        ],
    }


def _calibration_report(model, y, p, p_network) -> dict:
    """Brier score, ECE and the reliability curve (ten equal-width bins) of the model's
    probabilities and, for a calibrated model, of the network's own."""
    report = {
        "bins": f"{RELIABILITY_BINS} equal-width bins of predicted probability",
        "calibrator": None if model.calibrator is None else model.calibrator.to_dict(),
        **_calibration_block(y, p),
    }
    if p_network is not None:
        report["network_alone"] = _calibration_block(y, p_network)
    return report


def _print_calibration(c: dict) -> None:
    if c["calibrator"] is None:
        print(
            f"calibration: Brier {c['brier_score']:.4f}, ECE {c['expected_calibration_error']:.4f}"
            " (not calibrated after training; see train --calibrate)"
        )
        return
    from ..classifier.calibration import calibrator_from_dict

    net = c["network_alone"]
    print(
        f"calibration by {_calibrator_text(calibrator_from_dict(c['calibrator']))}: "
        f"Brier {net['brier_score']:.4f} -> {c['brier_score']:.4f}, "
        f"ECE {net['expected_calibration_error']:.4f} -> {c['expected_calibration_error']:.4f}, "
        f"log loss {net['log_loss']:.4f} -> {c['log_loss']:.4f} (network alone -> calibrated)"
    )


def _reliability_plot(model, y, p, calibration: dict, args: argparse.Namespace) -> None:
    import pandas as pd

    from ..responsible.figures import reliability_figure, save_figure

    def curve(block: dict) -> pd.DataFrame:
        return pd.DataFrame(block["reliability"])

    if model.calibrator is None:
        curves = {"model": curve(calibration)}
    else:
        method = calibration["calibrator"]["method"]
        name = "Platt scaling" if method == "platt" else "temperature scaling"
        curves = {
            "network alone": curve(calibration["network_alone"]),
            f"after {name}": curve(calibration),
        }
    c = calibration
    if model.calibrator is None:
        numbers = f"Brier {c['brier_score']:.4f}, ECE {c['expected_calibration_error']:.4f}"
    else:
        net = c["network_alone"]
        numbers = (
            f"Brier {net['brier_score']:.4f} -> {c['brier_score']:.4f}, ECE "
            f"{net['expected_calibration_error']:.4f} -> {c['expected_calibration_error']:.4f}"
        )
    title = (
        f"Reliability: {Path(args.model).name} on {Path(args.csv).name}\n"
        f"{numbers} ({RELIABILITY_BINS} equal-width bins)"
    )
    save_figure(reliability_figure(curves, title=title), args.reliability)
