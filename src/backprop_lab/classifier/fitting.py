"""``fit_tabular``: a TabularModel fitted from a frame of raw columns and a target column.

    model = fit_tabular(frame, target="default", categorical=["purpose"], calibrate="platt")

Column types are inferred (or given), rows split into training and held-out test rows
(stratified by label), a :class:`~backprop_lab.data.tabular.Preprocessor` fitted on the
training rows only, then a :class:`~backprop_lab.classifier.estimator.BackpropClassifier`;
optionally a post-hoc calibrator on calibration rows set aside from the training rows,
and the held-out metrics.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .._util.validation import InputError
from ..data.tabular import (
    DataWarning,
    Preprocessor,
    check_complete,
    check_labels,
    infer_column_types,
    parse_target,
    with_numbers,
)
from .calibration import fit_calibrator, log_loss_from_logits
from .card_facts import training_facts
from .drift import DEFAULT_BINS, MAX_BINS
from .estimator import BackpropClassifier
from .metrics import credit_metrics, multiclass_metrics
from .monitor import TRAINING_ROWS, reference_distributions
from .tabular_model import TabularModel, _plain

#: Post-hoc calibration methods of ``fit_tabular(calibrate=...)``.
CALIBRATION_CHOICES = ("none", "platt", "temperature")


def fit_tabular(
    frame: pd.DataFrame,
    target: str,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    drop: Sequence[str] = (),
    id_column: str | None = None,
    impute: str = "none",
    test_size: float = 0.2,
    seed: int = 0,
    multiclass: bool = False,
    positive: object = None,
    threshold: float = 0.5,
    calibrate: str = "none",
    calibration_size: float = 0.2,
    drift_bins: int = DEFAULT_BINS,
    file: str | Path | None = None,
    monotone: Mapping[str, int] | None = None,
    **classifier_params: object,
) -> TabularModel:
    """Fit preprocessing and a BackpropClassifier on ``frame``; score the held-out rows.

    Columns other than ``target``, ``id_column`` and ``drop`` are features: those named
    in ``numeric``/``categorical`` are taken as given, the rest inferred (see
    :func:`~backprop_lab.data.columns.infer_column_types`). A stratified ``test_size`` share
    of rows is held out (0: none); the preprocessing is fitted on the training rows
    only. The positive class ("default") is ``positive``, else the larger of two labels
    (1 of 0/1, 'yes' of no/yes). ``classifier_params`` go to BackpropClassifier, whose
    ``random_state`` defaults to ``seed``.

    ``calibrate`` ('none', 'platt' or 'temperature'; binary targets only): a further
    stratified ``calibration_size`` share of the *training* rows is set aside; the
    preprocessing and the network are fitted on the rest, and the calibrator on the
    network's logits of the set-aside rows, by minimising their log loss. The held-out
    test rows are scored with the calibrated probabilities and play no part in fitting.
    ``model.training['calibration']`` records the calibration rows' log loss before and
    after (after <= before: the identity map is one of the candidates).

    ``drift_bins`` (2 to 100; 0: none): ``model.training_distributions`` holds the
    counts of the training rows the network was fitted on (after the test split, without
    the calibration rows) in quantile bins of the score and of each numeric column (and
    by category), for ``monitor`` to measure drift against; see
    :mod:`~backprop_lab.classifier.drift`.

    ``model.model_card`` records the rows, label counts and default rate of each split
    and the training range of each numeric input
    (:func:`~backprop_lab.classifier.card_facts.training_facts`).
    ``monotone`` maps numeric source columns to +1 (the probability of default may only
    rise with the column), -1 (may only fall) or 0; binary targets only. It becomes the
    classifier's ``monotonic_cst`` on the column's network input (its standardisation
    (x - mean) / scale has scale > 0, so the direction carries over), flipped when the
    positive class sorts first. A categorical column (one-hot inputs have no order) or a
    name that is not a feature column is refused. ``model.training['monotone']`` and
    :attr:`TabularModel.monotone` record it.
    """
    if drift_bins != 0 and not 2 <= drift_bins <= MAX_BINS:
        raise InputError(f"drift bins must be 0 (none) or 2 to {MAX_BINS}; got {drift_bins}")
    if calibrate not in CALIBRATION_CHOICES:
        raise InputError(
            f"unknown calibration {calibrate!r}; choose one of {', '.join(CALIBRATION_CHOICES)}"
        )
    if calibrate != "none" and not 0.0 < calibration_size < 1.0:
        raise InputError(f"calibration size must be above 0 and below 1; got {calibration_size}")
    if target not in frame.columns:
        raise InputError("target column not found in the file", file=file, column=target)
    for name in [*([id_column] if id_column else []), *drop]:
        if name not in frame.columns:
            raise InputError("no such column in the file", file=file, column=name)
    if not 0.0 <= test_size < 1.0:
        raise InputError(f"test size must be at least 0 and below 1; got {test_size}")
    labels = parse_target(frame[target], file=file)
    classes = check_labels(labels, multiclass=multiclass, file=file, column=target)
    positive_class = None
    if len(classes) == 2:
        if positive is None:
            positive_class = classes[1]
        else:
            match = [c for c in classes if str(c) == str(positive)]
            if not match:
                raise InputError(
                    f"positive class {positive!r} is not one of the target's values "
                    f"({', '.join(map(str, classes))})",
                    file=file,
                    column=target,
                )
            positive_class = match[0]
    ignored = [target, *([id_column] if id_column else []), *drop]
    parsed: dict[str, np.ndarray] = {}
    num, cat = infer_column_types(
        frame, exclude=ignored, numeric=numeric, categorical=categorical, file=file, parsed=parsed
    )
    monotone = _check_monotone(monotone, num, cat, ignored, classes, file)
    frame = with_numbers(frame, num, file=file, parsed=parsed)  # text cells parsed once
    if impute == "none":  # report the first missing cell of the file, not of a split
        check_complete(frame, [*num, *cat], file=file)
    for name in cat:
        levels = frame[name].nunique()
        if levels > 50 and levels > 0.5 * len(frame):
            where = f"{file}: " if file is not None else ""
            warnings.warn(
                f"{where}column '{name}' has {levels} distinct values in {len(frame)} rows; "
                "if it identifies rows rather than describing them, pass it as the id column "
                "or drop it",
                DataWarning,
                stacklevel=2,
            )

    rows = np.arange(len(frame))
    if test_size > 0:
        counts = np.unique(labels, return_counts=True)[1]
        n_test = int(np.ceil(test_size * len(frame)))
        stratify = labels if counts.min() >= 2 and n_test >= len(classes) else None
        if n_test >= len(frame):
            raise InputError(f"test size {test_size} leaves no rows to train on")
        train_rows, test_rows = train_test_split(
            rows, test_size=n_test, stratify=stratify, random_state=seed
        )
        train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    else:
        train_rows, test_rows = rows, rows[:0]
    if len(np.unique(labels[train_rows])) < len(classes):
        raise InputError("the training rows do not hold every class; lower the test size")
    calibration_rows = train_rows[:0]
    if calibrate != "none":
        if len(classes) != 2:
            raise InputError("calibration (--calibrate) is for binary targets only")
        train_rows, calibration_rows = _calibration_split(
            train_rows, labels, calibration_size, seed
        )

    train_frame = frame.iloc[train_rows]
    pre = Preprocessor.fit(train_frame, num, cat, impute=impute, file=file)
    classifier_params.setdefault("random_state", seed)
    if monotone:
        orientation = 1 if positive_class == classes[1] else -1  # z is the logit of classes[1]
        classifier_params["monotonic_cst"] = [
            orientation * monotone.get(name, 0) for name in pre.source_columns
        ]
    clf = BackpropClassifier(**classifier_params)
    clf.fit(pre.transform(train_frame, file=file), labels[train_rows])
    model = TabularModel(
        preprocessor=pre,
        classifier=clf,
        target=target,
        positive_class=_plain(positive_class),
        id_column=id_column,
        ignored_columns=ignored,
        training={
            "file": None if file is None else Path(file).name,
            "rows": len(frame),
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "test_size": test_size,
            "seed": seed,
            "impute": impute,
            "numeric": num,
            "categorical": cat,
            "threshold": threshold,
            **({"monotone": monotone} if monotone else {}),
            # what 'auto' settings resolved to
            "alpha_used": float(clf.alpha_),
            "networks_averaged": int(clf.n_networks_),
        },
    )
    model.model_card = training_facts(
        frame,
        labels,
        positive_class,
        train_rows=train_rows,
        test_rows=test_rows,
        calibration_rows=calibration_rows,
        numeric=num,
    )
    if len(calibration_rows):
        model.training["calibration_rows"] = len(calibration_rows)
        model.training["calibration"] = _fit_calibration(
            model, frame.iloc[calibration_rows], labels[calibration_rows], calibrate, file
        )
    if drift_bins:
        model.training_distributions = reference_distributions(
            model, train_frame, n_bins=drift_bins, file=file, rows_used=TRAINING_ROWS
        )
    if len(test_rows):
        test_frame = frame.iloc[test_rows]
        proba = model.predict_proba(test_frame, file=file)
        y_test = labels[test_rows]
        if model.is_binary:
            y01 = (y_test == positive_class).astype(np.int64)
            model.metrics = credit_metrics(y01, proba[:, model.positive_index], threshold)
        else:
            model.metrics = multiclass_metrics(y_test, proba, model.classes_)
    return model


def _check_monotone(
    monotone: Mapping[str, int] | None,
    numeric: list[str],
    categorical: list[str],
    ignored: list[str],
    classes: np.ndarray,
    file: str | Path | None,
) -> dict[str, int]:
    """The constrained numeric columns and their signs (zeros dropped), checked."""
    if not monotone:
        return {}
    checked: dict[str, int] = {}
    for name, sign in monotone.items():
        if name in categorical:
            raise InputError(
                "a monotone constraint needs a numeric column; this one is categorical "
                "(one-hot encoded, its categories have no order)",
                file=file,
                column=name,
            )
        if name not in numeric:
            what = "is not a feature" if name in ignored else "no such column in the file"
            raise InputError(
                f"{what}; monotone constraints apply to the numeric feature columns: "
                f"{', '.join(numeric) if numeric else '(none)'}",
                file=file,
                column=name,
            )
        if isinstance(sign, bool) or sign not in (-1, 0, 1):
            raise InputError(
                f"a monotone constraint is +1, -1 or 0; got {sign!r}", file=file, column=name
            )
        if sign:
            checked[name] = int(sign)
    if checked and len(classes) != 2:
        raise InputError("monotone constraints are for binary targets only")
    return checked


def _calibration_split(
    train_rows: np.ndarray, labels: np.ndarray, size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training rows split (stratified by label) into network rows and calibration rows."""
    n_cal = int(np.ceil(size * len(train_rows)))
    counts = np.unique(labels[train_rows], return_counts=True)[1]
    if n_cal < 2 or len(train_rows) - n_cal < 2 or counts.min() < 2:
        raise InputError(
            f"too few training rows ({len(train_rows)}) to set {size:g} of them aside for "
            "calibration with both classes on each side"
        )
    fit_rows, cal_rows = train_test_split(
        train_rows, test_size=n_cal, stratify=labels[train_rows], random_state=seed
    )
    return np.sort(fit_rows), np.sort(cal_rows)


def _fit_calibration(
    model: TabularModel,
    frame: pd.DataFrame,
    labels: np.ndarray,
    method: str,
    file: str | Path | None,
) -> dict:
    """Fit ``model.calibrator`` on the calibration rows; their log loss before and after."""
    z = model.default_logits(model.transform(frame, file=file))
    y = (labels == model.positive_class).astype(np.int64)
    model.calibrator = fit_calibrator(method, z, y)
    low, high = model.calibrator.calibrated_logits(np.array([0.0, 1.0]))
    if model.monotone and high < low:
        raise InputError(
            f"{method} calibration fitted a decreasing map of the network's logit, which would "
            "reverse the monotone constraints; train without --calibrate"
        )
    return {
        **model.calibrator.to_dict(),
        "rows": len(frame),
        "log_loss_before": log_loss_from_logits(y, z),
        "log_loss_after": log_loss_from_logits(y, model.calibrator.calibrated_logits(z)),
    }
