"""A TabularModel trained, applied and evaluated on a table of files, on a Dask cluster.

    model = fit_table("loans/*.parquet", "default", client=client)    # as fit_tabular
    predict_table(model, "new/*.parquet", "scores/")                  # one Parquet file per input file
    metrics = evaluate_table(model, "test/*.parquet")                 # credit_metrics' numbers

Differences from the in-memory ``fit_tabular``: the held-out test rows (``test_size``)
and the early-stopping validation rows are chosen by a seeded hash of each row's values
(partials.row_uniform), not a stratified shuffle, so they do not depend on how the rows
are split into files; column types not given are inferred from the first file. The
Preprocessor comes from distributed statistics (tables.fit_preprocessor) and is the same
type, saved the same way.

The model carries what ``fit_tabular``'s does: ``training_distributions`` (``drift_bins``;
np.quantile's edges by selection by counting, exact counts, see facts.py), the
``model_card`` block (rows, label counts and default rate per split, numeric ranges),
and with ``calibrate`` ('platt' or 'temperature') a calibrator fitted by Newton steps
on partition sums over a hashed ``calibration_size`` share of the training rows, set
aside before the preprocessing and the network are fitted (calibration.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._util.validation import InputError
from ..classifier.drift import DEFAULT_BINS, MAX_BINS
from ..classifier.estimator import BackpropClassifier
from ..classifier.fitting import CALIBRATION_CHOICES
from ..classifier.tabular_model import TabularModel
from ..data.tabular import Preprocessor, check_labels, infer_column_types, parse_target
from .calibration import fit_table_calibration
from .cluster import current_client
from .evaluation import add_pieces, boundary_bins, decile_rows, metrics_from_pieces, score_piece
from .facts import table_facts
from .partials import RowSpec, prepare, row_uniform, tree_sum
from .tables import Table, fit_preprocessor, head, read_table, test_rows, training_rows
from .training import Progress, fit_source, label_stats

#: Seed offset of the calibration share's hash (drawn from the training rows).
CALIBRATION_SEED_OFFSET = 104729
#: Seed offset of the held-out test share's hash (the validation share uses the
#: classifier's own seed), so the two shares are drawn independently.
TEST_SEED_OFFSET = 7919


def _table_stats(frame, target, test_size, test_seed, cal, fraction, seed, file) -> dict:
    train = training_rows(frame, test_size, test_seed, cal)
    y = parse_target(train[target], file=file)
    if fraction <= 0:  # no early stopping: no validation share to count
        return label_stats(y, None, np.zeros(len(y), dtype=bool))
    return label_stats(y, None, row_uniform(train, seed) < fraction)


def _table_part(frame, pre, target, test_size, test_seed, cal, spec: RowSpec, file: str):
    train = training_rows(frame, test_size, test_seed, cal)
    y = parse_target(train[target], file=file)
    X = pre.transform(train, file=file)
    u = None if spec.split == "all" else row_uniform(train, spec.seed)
    return prepare(X, y, None, spec, file, u)


class TableSource:
    """The training rows of a table's files, transformed by a fitted Preprocessor."""

    def __init__(
        self,
        table: Table,
        pre: Preprocessor,
        target: str,
        test_size: float,
        test_seed: int,
        calibration: tuple[float, int] | None = None,
    ) -> None:
        self.table, self.pre, self.target = table, pre, target
        self.test_size, self.test_seed, self.calibration = test_size, test_seed, calibration
        self.weighted = False
        self.n_features = pre.n_features_out
        self.names: list[str] = []  # the network sees arrays, as in fit_tabular

    def label_stats(self, fraction: float, seed: int) -> list:
        import dask

        return [
            dask.delayed(_table_stats)(
                part,
                self.target,
                self.test_size,
                self.test_seed,
                self.calibration,
                fraction,
                seed,
                file,
            )
            for part, file in zip(self.table.partitions(), self.table.files, strict=True)
        ]

    def parts(self, spec: RowSpec) -> list:
        import dask

        return [
            dask.delayed(_table_part)(
                part,
                self.pre,
                self.target,
                self.test_size,
                self.test_seed,
                self.calibration,
                spec,
                file,
            )
            for part, file in zip(self.table.partitions(), self.table.files, strict=True)
        ]


def _as_table(data: str | Sequence[str] | Table) -> Table:
    return data if isinstance(data, Table) else read_table(data)


def fit_table(
    data: str | Sequence[str] | Table,
    target: str,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    drop: Sequence[str] = (),
    id_column: str | None = None,
    impute: str = "none",
    test_size: float = 0.2,
    seed: int = 0,
    positive: object = None,
    threshold: float = 0.5,
    calibrate: str = "none",
    calibration_size: float = 0.2,
    drift_bins: int = DEFAULT_BINS,
    persist: bool = True,
    client: Any = None,
    progress: Progress | None = None,
    **classifier_params: object,
) -> TabularModel:
    """Fit preprocessing and a BackpropClassifier on a table's files; score the held-out rows.

    The arguments mean what they mean for ``fit_tabular`` (binary targets); see the
    module docstring for what differs.
    """
    if calibrate not in CALIBRATION_CHOICES:
        raise InputError(
            f"unknown calibration {calibrate!r}; choose one of {', '.join(CALIBRATION_CHOICES)}"
        )
    if calibrate != "none" and not 0.0 < calibration_size < 1.0:
        raise InputError(f"calibration size must be above 0 and below 1; got {calibration_size}")
    if drift_bins != 0 and not 2 <= drift_bins <= MAX_BINS:
        raise InputError(f"drift bins must be 0 (none) or 2 to {MAX_BINS}; got {drift_bins}")
    client = client or current_client()
    table = _as_table(data)
    columns = table.columns
    first = table.files[0]
    if target not in columns:
        raise InputError("target column not found in the file", file=first, column=target)
    for name in [*([id_column] if id_column else []), *drop]:
        if name not in columns:
            raise InputError("no such column in the file", file=first, column=name)
    if not 0.0 <= test_size < 1.0:
        raise InputError(f"test size must be at least 0 and below 1; got {test_size}")
    ignored = [target, *([id_column] if id_column else []), *drop]
    num, cat = infer_column_types(
        head(table), exclude=ignored, numeric=numeric, categorical=categorical, file=first
    )
    test_seed = int(seed) + TEST_SEED_OFFSET
    cal = None if calibrate == "none" else (calibration_size, int(seed) + CALIBRATION_SEED_OFFSET)
    pre = fit_preprocessor(
        table,
        num,
        cat,
        impute=impute,
        test_size=test_size,
        seed=test_seed,
        calibration=cal,
        client=client,
    )
    classifier_params.setdefault("random_state", seed)
    clf = BackpropClassifier(**classifier_params)
    source = TableSource(table, pre, target, test_size, test_seed, cal)
    fit_source(clf, source, persist=persist, client=client, progress=progress)
    classes = check_labels(clf.classes_, multiclass=False, file=first, column=target)
    positive_class = classes[1]
    if positive is not None:
        match = [c for c in classes if str(c) == str(positive)]
        if not match:
            raise InputError(
                f"positive class {positive!r} is not one of the target's values "
                f"({', '.join(map(str, classes))})",
                file=first,
                column=target,
            )
        positive_class = match[0]
    model = TabularModel(
        preprocessor=pre,
        classifier=clf,
        target=target,
        positive_class=positive_class.item()
        if isinstance(positive_class, np.generic)
        else positive_class,
        id_column=id_column,
        ignored_columns=ignored,
        training={
            "file": str(data) if isinstance(data, str) else f"{len(table.files)} files",
            "files": len(table.files),
            "train_rows": None,
            "test_size": test_size,
            "split": "seeded row hash",
            "seed": seed,
            "impute": impute,
            "numeric": num,
            "categorical": cat,
            "threshold": threshold,
            "distributed_passes": clf.distributed_passes_,
            # what 'auto' settings resolved to (as fit_tabular records)
            "alpha_used": float(clf.alpha_),
            "networks_averaged": int(clf.n_networks_),
        },
    )
    if cal is not None:
        model.training["calibration"] = fit_table_calibration(
            model,
            table,
            calibrate,
            test_size=test_size,
            test_seed=test_seed,
            calibration=cal,
            client=client,
        )
        model.training["calibration_rows"] = model.training["calibration"]["rows"]
    distributions, model.model_card, rows = table_facts(
        model,
        table,
        test_size=test_size,
        test_seed=test_seed,
        n_bins=drift_bins,
        calibration=cal,
        client=client,
    )
    model.training_distributions = distributions
    model.training["rows"] = rows
    model.training["train_rows"] = model.model_card["splits"]["train"]["rows"]
    if test_size > 0:
        model.metrics = evaluate_table(
            model, table, threshold=threshold, share=(test_size, test_seed), client=client
        )
        model.training["test_rows"] = model.metrics["n"]
    return model


# ---- scoring -------------------------------------------------------------------------------
def _scores(model: TabularModel, frame: pd.DataFrame, target: str, file: str):
    y = model.class_index(frame[target], file=file) == model.positive_index
    p = model.predict_proba(frame, file=file)[:, model.positive_index]
    return y.astype(np.int64), p


def _piece(model, frame, target, threshold, share, file, file_index):
    if share is not None:
        frame = test_rows(frame, *share)
    y, p = _scores(model, frame, target, file)
    return score_piece(y, p, threshold, file_index)


def _boundary_rows(model, frame, target, share, file, file_index, bins):
    if share is not None:
        frame = test_rows(frame, *share)
    y, p = _scores(model, frame, target, file)
    return decile_rows(y, p, bins, file_index)


def evaluate_table(
    model: TabularModel,
    data: str | Sequence[str] | Table,
    *,
    target_column: str | None = None,
    threshold: float = 0.5,
    share: tuple[float, int] | None = None,
    client: Any = None,
) -> dict:
    """``credit_metrics`` of a binary model on a labelled table, from per-partition pieces
    (evaluation.py): the same numbers as the in-memory evaluation, except ROC AUC, Gini
    and KS, computed from score histograms (their largest possible error is reported as
    ``roc_auc_bin_error`` and ``ks_bin_error``). ``share`` = (fraction, seed) keeps only
    the rows of that hashed share (the held-out test rows of ``fit_table``)."""
    import dask

    if not model.is_binary:
        raise ValueError("evaluation on a cluster is for binary models")
    client = client or current_client()
    table = _as_table(data)
    target = model.target if target_column is None else target_column
    if target not in table.columns:
        raise InputError("target column not found in the file", file=table.files[0], column=target)
    parts = table.partitions()
    leaves = [
        dask.delayed(_piece)(model, part, target, threshold, share, file, i)
        for i, (part, file) in enumerate(zip(parts, table.files, strict=True))
    ]
    total = client.compute(tree_sum(leaves, dask.delayed(add_pieces))).result()
    bins = boundary_bins(total)
    rows = client.compute(
        [
            dask.delayed(_boundary_rows)(model, part, target, share, file, i, bins)
            for i, (part, file) in enumerate(zip(parts, table.files, strict=True))
        ]
    )
    return metrics_from_pieces(total, [r.result() for r in rows], threshold)


def _write_part(model, frame, file, out_path, id_column) -> int:
    from .._util.atomic import atomic_write

    out = model.predict_frame(frame, file=file)
    if id_column is not None:
        out.insert(0, id_column, frame[id_column].to_numpy())
    with atomic_write(out_path, "wb") as handle:
        out.to_parquet(handle, index=False)
    return len(out)


def predict_table(
    model: TabularModel,
    data: str | Sequence[str] | Table,
    output: str | Path,
    *,
    id_column: str | None = None,
    client: Any = None,
) -> tuple[int, list[str]]:
    """Score every file of a table into the folder ``output``: one Parquet file per input
    file (part-00000.parquet, ...), each written atomically by the worker that scored it
    (the folder must be one the workers share). Returns (rows, files written)."""
    import dask

    client = client or current_client()
    table = _as_table(data)
    if id_column is None and model.id_column in table.columns:
        id_column = model.id_column
    if id_column is not None and id_column not in table.columns:
        raise InputError("no such id column in the file", file=table.files[0], column=id_column)
    model.preprocessor.check_columns(table.columns, file=table.files[0])
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {os.path.abspath(f) for f in table.files}
    paths = [str(folder / f"part-{i:05d}.parquet") for i in range(len(table.files))]
    clash = [p for p in paths if os.path.abspath(p) in inputs]
    if clash:
        raise InputError(f"refusing to overwrite an input file: {clash[0]}")
    tasks = [
        dask.delayed(_write_part)(model, part, file, path, id_column)
        for part, file, path in zip(table.partitions(), table.files, paths, strict=True)
    ]
    counts = client.compute(tasks)
    return sum(c.result() for c in counts), paths
