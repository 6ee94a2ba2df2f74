"""TabularModel: a preprocessor, a trained network and what is known about them, as one.

    model = fit_tabular(frame, target="default", categorical=["purpose"])
    model.save("loans.blab")
    model = load_model("loans.blab")
    p = model.p_default(new_frame)          # P(default | row), matched by column name

A model turns a frame of raw columns into network inputs (``transform``: impute,
standardise, one-hot; see :class:`~backprop_lab.data.tabular.Preprocessor`) and those into
class probabilities (``predict_proba``). A binary model may carry a post-hoc
``calibrator`` (Platt or temperature scaling, fitted on held-out calibration rows by
``fit_tabular(..., calibrate=...)``): its probabilities are then
p_default = calibrator(z), with z the network's logit of default. ``network`` is the trained
:class:`~backprop_lab.nn.Sequential`; ``feature_names_out`` and ``source_columns`` name
its inputs and the raw column each came from. ``save`` writes a ``.blab`` file (see
:mod:`backprop_lab.classifier.modelio`) holding the weights, the preprocessing, the architecture,
the training settings, the held-out metrics and the package version.
``fit_tabular`` lives in :mod:`backprop_lab.classifier.fitting`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .._util.atomic import atomic_write
from .._util.validation import InputError
from ..data.tabular import (
    DataWarning,
    Preprocessor,
    iter_csv,
    read_header,
    to_numbers,
    to_text,
    warn_unseen,
)
from ..nn import Sequential, mlp
from .calibration import (
    Calibrator,
    calibrator_from_dict,
)
from .estimator import BackpropClassifier
from .metrics import credit_metrics, multiclass_metrics
from .model_schema import tabular_array_shapes
from .modelio import read_model_file, write_model_file

#: Constructor parameters of BackpropClassifier stored in (and restored from) a model file.
_PARAMS = (
    "hidden_layer_sizes",
    "activation",
    "optimizer",
    "learning_rate",
    "max_epochs",
    "batch_size",
    "alpha",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "tol",
    "class_weight",
    "random_state",
)


@dataclass
class TabularModel:
    """A preprocessor and a fitted BackpropClassifier for one target column.

    ``positive_class`` is the label whose probability is "p_default" (binary models
    only); ``ignored_columns`` are columns of the training file that were not features
    (target, id, dropped), so finding them at prediction time is not worth a warning.
    ``calibrator`` (binary models only; None for none) maps the network's logit of
    default z to the probability of default: sigma(a z + b) (Platt) or sigma(z / T)
    (temperature); see :mod:`backprop_lab.classifier.calibration`.
    """

    preprocessor: Preprocessor
    classifier: BackpropClassifier
    target: str
    positive_class: object = None
    id_column: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    training: dict = field(default_factory=dict)
    metrics: dict | None = None
    version: str = __version__
    calibrator: Calibrator | None = None

    # ---- what the model is ----
    @property
    def network(self) -> Sequential:
        """The trained network (:class:`backprop_lab.nn.Sequential`); outputs are logits."""
        return self.classifier.network_

    @property
    def classes_(self) -> np.ndarray:
        return self.classifier.classes_

    @property
    def is_binary(self) -> bool:
        return len(self.classes_) == 2

    @property
    def feature_names_out(self) -> list[str]:
        """Name of each network input: numeric columns, then ``column=category``."""
        return self.preprocessor.feature_names_out

    @property
    def source_columns(self) -> list[str]:
        """For each network input, the raw column it came from (one-hot columns repeat it)."""
        return self.preprocessor.source_columns

    @property
    def input_columns(self) -> list[str]:
        """The raw columns a frame must have."""
        return self.preprocessor.input_columns

    @property
    def output_columns(self) -> list[str]:
        """Column names of predictions: ``p_default``, or ``p_<class>`` per class."""
        if self.is_binary:
            return ["p_default"]
        return [f"p_{c}" for c in self.classes_]

    @property
    def positive_index(self) -> int:
        """Column of ``predict_proba`` that holds P(positive_class)."""
        if not self.is_binary:
            raise ValueError("a multiclass model has no single positive class")
        return int(np.flatnonzero(self.classes_ == self.positive_class)[0])

    # ---- predicting ----
    def transform(
        self, frame: pd.DataFrame, *, file: str | Path | None = None, unseen: Counter | None = None
    ) -> np.ndarray:
        """Network inputs for ``frame`` (columns matched by name; see Preprocessor.transform)."""
        return self.preprocessor.transform(frame, file=file, unseen=unseen)

    @property
    def default_sign(self) -> float:
        """+1 when the network's output is the logit of default, -1 when it is the logit
        of the other class (the positive class sorts first): z_default = sign * z."""
        return 1.0 if self.positive_index == 1 else -1.0

    def default_logits(self, X: np.ndarray) -> np.ndarray:
        """z = log(P(default) / (1 - P(default))) by the network, for network inputs X.

        Binary models only. This is the network's own logit, before any calibration.
        """
        if not self.is_binary:
            raise ValueError("a multiclass model has no single logit of default")
        return self.default_sign * self.classifier.decision_function(X)

    def proba_from_inputs(self, X: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """P(class | row) for network inputs X, shape (N, K), columns in ``classes_`` order.

        With a calibrator (and ``calibrated``), binary models give
        P(default) = calibrator(z_default) and P(other) = 1 - P(default).
        """
        if self.calibrator is None or not calibrated:
            return self.classifier.predict_proba(X)
        p = self.calibrator.predict_proba(self.default_logits(X))
        columns = [1.0 - p, p] if self.positive_index == 1 else [p, 1.0 - p]
        return np.column_stack(columns)

    def predict_proba(
        self,
        frame: pd.DataFrame,
        *,
        file: str | Path | None = None,
        unseen: Counter | None = None,
        calibrated: bool = True,
    ) -> np.ndarray:
        """P(class | row), shape (N, K), columns in ``classes_`` order.

        ``calibrated=False`` gives the network's own probabilities, ignoring a calibrator.
        """
        X = self.transform(frame, file=file, unseen=unseen)
        return self.proba_from_inputs(X, calibrated=calibrated)

    def p_default(self, frame: pd.DataFrame, *, calibrated: bool = True) -> np.ndarray:
        """P(positive_class | row) for a binary model, shape (N,)."""
        return self.predict_proba(frame, calibrated=calibrated)[:, self.positive_index]

    def predict_frame(
        self,
        frame: pd.DataFrame,
        *,
        file: str | Path | None = None,
        unseen: Counter | None = None,
        calibrated: bool = True,
    ) -> pd.DataFrame:
        """Probabilities as a frame with ``output_columns``, indexed like ``frame``."""
        proba = self.predict_proba(frame, file=file, unseen=unseen, calibrated=calibrated)
        if self.is_binary:
            proba = proba[:, [self.positive_index]]
        return pd.DataFrame(proba, columns=self.output_columns, index=frame.index)

    # ---- CSV files ----
    def iter_csv_predictions(
        self,
        path: str | Path,
        *,
        id_column: str | None = None,
        target_column: str | None = None,
        chunk_size: int = 100_000,
        calibrated: bool = True,
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
        """Stream a CSV file: yield (predictions frame, class indices of ``target_column``'s
        labels, or None when no target column is asked for).

        The predictions frame has the id column first when one is used: ``id_column``,
        or the training file's id column when the file has it. Columns are matched by
        name; a missing one raises, extra ones are ignored with one warning, and rows
        with categories unseen in training are counted and reported in one warning at
        the end. Memory is bounded by ``chunk_size`` rows.
        """
        header = read_header(path)
        extra = self.preprocessor.check_columns(header, file=path)
        if id_column is not None and id_column not in header:
            raise InputError("no such id column in the file", file=path, column=id_column)
        if id_column is None and self.id_column in header:
            id_column = self.id_column
        if target_column is not None and target_column not in header:
            raise InputError("target column not found in the file", file=path, column=target_column)
        quiet = {self.target, target_column, id_column, *self.ignored_columns}
        noisy = [c for c in extra if c not in quiet]
        if noisy:
            warnings.warn(
                f"{path}: ignoring column(s) the model does not use: {', '.join(noisy)}",
                DataWarning,
                stacklevel=2,
            )
        unseen: Counter = Counter()
        for chunk in iter_csv(path, chunk_size):
            out = self.predict_frame(chunk, file=path, unseen=unseen, calibrated=calibrated)
            if id_column is not None:
                out.insert(0, id_column, chunk[id_column].to_numpy())
            labels = None
            if target_column is not None:
                labels = self.class_index(chunk[target_column], file=path)
            yield out, labels
        if unseen:
            warn_unseen(unseen, path)

    def predict_csv(
        self,
        path: str | Path,
        output: str | Path,
        *,
        id_column: str | None = None,
        chunk_size: int = 100_000,
    ) -> int:
        """Write predictions for every row of ``path`` to the CSV ``output``, atomically.

        Returns the number of rows written.
        """
        n = 0
        with atomic_write(output, "w", encoding="utf-8", newline="") as handle:
            for out, _ in self.iter_csv_predictions(
                path, id_column=id_column, chunk_size=chunk_size
            ):
                out.to_csv(handle, header=n == 0, index=False)
                n += len(out)
        return n

    def evaluate_csv(
        self,
        path: str | Path,
        *,
        target_column: str | None = None,
        threshold: float = 0.5,
        chunk_size: int = 100_000,
        calibrated: bool = True,
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        """Metrics on a labelled CSV file: (metrics, labels, probabilities).

        The labels are in ``target_column`` (default: the training target's name);
        ``calibrated=False`` scores the network's own probabilities, ignoring a calibrator.
        Binary models: :func:`credit_metrics` with y = 1 for the positive class and the
        labels returned as 0/1; multiclass: :func:`multiclass_metrics` with class indices.
        """
        parts, labels = [], []
        target_column = self.target if target_column is None else target_column
        for out, y in self.iter_csv_predictions(
            path, target_column=target_column, chunk_size=chunk_size, calibrated=calibrated
        ):
            parts.append(out[self.output_columns].to_numpy())
            labels.append(y)
        proba = np.concatenate(parts)
        index = np.concatenate(labels)
        if self.is_binary:
            y01 = (index == self.positive_index).astype(np.int64)
            return credit_metrics(y01, proba[:, 0], threshold), y01, proba[:, 0]
        return multiclass_metrics(self.classes_[index], proba, self.classes_), index, proba

    def class_index(self, series: pd.Series, *, file: str | Path | None = None) -> np.ndarray:
        """Index into ``classes_`` of each label in ``series``; unknown labels raise by row."""
        missing = series.isna().to_numpy()
        if missing.any():
            row = int(series.index[np.argmax(missing)]) + 1
            raise InputError("missing target value", file=file, column=str(series.name), row=row)
        if np.issubdtype(self.classes_.dtype, np.number):
            values = to_numbers(series, file=file)
        else:
            values = to_text(series).astype(str)
        index = np.clip(np.searchsorted(self.classes_, values), 0, len(self.classes_) - 1)
        bad = self.classes_[index] != values
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"label {series.iloc[i]!r} is not one of the model's classes "
                f"({', '.join(map(str, self.classes_))})",
                file=file,
                column=str(series.name),
                row=int(series.index[i]) + 1
                if isinstance(series.index[i], (int, np.integer))
                else i + 1,
            )
        return index

    # ---- saving ----
    def save(self, path: str | Path) -> None:
        """Write the model to a ``.blab`` file atomically (see :mod:`backprop_lab.classifier.modelio`)."""
        clf = self.classifier
        network = self.network
        params = clf.get_params()
        metadata = {
            "package_version": __version__,
            "task": {
                "target": self.target,
                "classes": [_plain(c) for c in self.classes_],
                "positive_class": _plain(self.positive_class),
                "id_column": self.id_column,
                "ignored_columns": list(self.ignored_columns),
            },
            "preprocessing": self.preprocessor.to_dict(),
            "network": {
                "n_inputs": int(network.n_inputs),
                "hidden": [int(network.params[f"b{i}"].size) for i in range(1, _n_dense(network))],
                "n_outputs": int(network.n_outputs),
                "activation": params["activation"],
                "output": "sigmoid" if self.is_binary else "softmax",
                "parameters": list(network.params),
            },
            "classifier": {name: _json_param(params[name]) for name in _PARAMS},
            "fit": {
                "epochs": int(clf.n_iter_),
                "best_epoch": int(getattr(clf, "best_epoch_", clf.n_iter_)),
                "best_loss": _plain(getattr(clf, "best_loss_", None)),
                "early_stopping": bool(getattr(clf, "early_stopping_", False)),
                "loss_curve": [float(v) for v in clf.loss_curve_],
                "validation_scores": [float(v) for v in clf.validation_scores_],
            },
            "training": self.training,
            "metrics": self.metrics,
        }
        schema = 1
        if self.calibrator is not None:
            metadata["calibration"] = self.calibrator.to_dict()
            schema = 2  # older readers must refuse the file, not ignore the calibration
        write_model_file(path, metadata, network.get_params(), schema_version=schema)

    @classmethod
    def load(cls, path: str | Path) -> TabularModel:
        """Read a ``.blab`` file (verified; no code from it runs).

        The metadata is checked (:func:`~backprop_lab.classifier.model_schema.tabular_array_shapes`)
        before any weight is read, and the weights must have the shapes it describes.
        """
        metadata, arrays = read_model_file(path, array_shapes=tabular_array_shapes)
        try:
            task, net = metadata["task"], metadata["network"]
            pre = Preprocessor.from_dict(metadata["preprocessing"])
            params = {k: _param_from_json(k, v) for k, v in metadata["classifier"].items()}
            network = mlp(
                net["n_inputs"],
                hidden=tuple(net["hidden"]),
                n_outputs=net["n_outputs"],
                activation=net["activation"],
            )
            if sorted(arrays) != sorted(network.params):
                raise ValueError(f"weights {sorted(arrays)} do not fit the described network")
            network.set_params(arrays)
            if pre.n_features_out != network.n_inputs:
                raise ValueError("the preprocessing and the network disagree on the inputs")
            clf = BackpropClassifier.from_network(network, np.array(task["classes"]), **params)
            fit = metadata.get("fit", {})  # types checked by tabular_array_shapes
            clf.n_iter_ = fit.get("epochs", 0)
            clf.best_epoch_ = fit.get("best_epoch", 0)
            clf.best_loss_ = fit.get("best_loss")
            clf.early_stopping_ = fit.get("early_stopping", False)
            clf.loss_curve_ = list(fit.get("loss_curve", []))
            clf.validation_scores_ = list(fit.get("validation_scores", []))
            model = cls(
                preprocessor=pre,
                classifier=clf,
                target=task["target"],
                positive_class=task["positive_class"],
                id_column=task["id_column"],
                ignored_columns=list(task["ignored_columns"]),
                training=metadata.get("training") or {},
                metrics=metadata.get("metrics"),
                version=metadata.get("package_version", "unknown"),
            )
            if model.is_binary:
                model.positive_index  # noqa: B018 (raises if the positive class is unknown)
            if metadata.get("calibration") is not None:
                if not model.is_binary:
                    raise ValueError("calibration is stored for a multiclass model")
                model.calibrator = calibrator_from_dict(metadata["calibration"])
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise InputError(f"model file is inconsistent: {error}", file=path) from None
        return model


def load_model(path: str | Path) -> TabularModel:
    """Load a model saved by :meth:`TabularModel.save`."""
    return TabularModel.load(path)


# ---- JSON helpers ----------------------------------------------------------------------
def _plain(value: object) -> object:
    """NumPy scalars as Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _json_param(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):  # class_weight: labels may be numbers, JSON keys may not
        return {"pairs": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, np.random.RandomState):
        return None
    return _plain(value)


def _n_dense(network: Sequential) -> int:
    """The number of Dense layers (each has a bias b1, b2, ...)."""
    return sum(1 for name in network.params if name.startswith("b"))


def _param_from_json(name: str, value: object) -> object:
    if name not in _PARAMS:
        raise ValueError(f"unknown classifier parameter {name!r}")
    if name == "hidden_layer_sizes":
        return value if isinstance(value, int) else tuple(value)
    if isinstance(value, dict) and "pairs" in value:
        return {k: v for k, v in value["pairs"]}
    return value
