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

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__
from .._util.validation import InputError
from ..data.tabular import (
    Preprocessor,
    to_numbers,
    to_text,
)
from ..nn import Sequential, mlp
from ..nn.monotone import check_monotonic_cst
from .calibration import (
    Calibrator,
    calibrator_from_dict,
)
from .drift import TrainingDistributions
from .model_schema import tabular_array_shapes
from .modelio import read_model_file, write_model_file
from .network_scoring import check_loaded_network, checked_inputs, network_logits
from .points import PointsScale, log_odds_slope
from .table_scoring import TableScoring

if TYPE_CHECKING:
    from .estimator import BackpropClassifier

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
    "monotonic_cst",
)


@dataclass
class TabularModel(TableScoring):
    """A preprocessor and a fitted BackpropClassifier for one target column.

    ``positive_class`` is the label whose probability is "p_default" (binary models
    only); ``ignored_columns`` are columns of the training file that were not features
    (target, id, dropped), so finding them at prediction time is not worth a warning.
    ``calibrator`` (binary models only; None for none) maps the network's logit of
    default z to the probability of default: sigma(a z + b) (Platt) or sigma(z / T)
    (temperature); see :mod:`backprop_lab.classifier.calibration`.
    ``training_distributions`` (None for a model saved before they were stored) are the
    training rows' counts in fixed bins of the score and of each source column, against
    which ``monitor`` measures drift (see :mod:`backprop_lab.classifier.drift`).
    ``model_card``: what training recorded for a model card (rows, label counts and
    default rate per split, numeric ranges: see :mod:`backprop_lab.classifier.card_facts`);
    empty for models saved before it was recorded.
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
    training_distributions: TrainingDistributions | None = None
    model_card: dict = field(default_factory=dict)

    # ---- what the model is ----
    @property
    def _fitted(self) -> BackpropClassifier | _LoadedClassifier:
        """The classifier, or, for a loaded model whose classifier nobody asked for yet,
        what it will be made of: both have ``network_``, ``classes_``, ``monotonic_cst``."""
        return self.__dict__["_classifier"]

    @property
    def network(self) -> Sequential:
        """The trained network (:class:`backprop_lab.nn.Sequential`); outputs are logits."""
        return self._fitted.network_

    @property
    def classes_(self) -> np.ndarray:
        return self._fitted.classes_

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
    def monotone(self) -> dict[str, int]:
        """The monotone constraints by source column, in terms of the probability of
        default: +1 it may only rise with the column, -1 only fall ({} for none)."""
        cst = self._fitted.monotonic_cst
        if cst is None or not self.is_binary:
            return {}
        signs = check_monotonic_cst(cst, self.network.n_inputs, self.feature_names_out)
        return {
            name: int(self.default_sign * s)
            for name, s in zip(self.source_columns, signs, strict=True)
            if s
        }

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
        return self.default_sign * network_logits(self.network, checked_inputs(self.network, X))

    def default_log_odds(self, X: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """u = log(p / (1 - p)) of the probability of default the model reports.

        The network's logit z without a calibrator (or with ``calibrated=False``), else
        the calibrator's u = a z + b or z / T, so that P(default) = sigma(u) exactly.
        """
        z = self.default_logits(X)
        if self.calibrator is None or not calibrated:
            return z
        return self.calibrator.calibrated_logits(z)

    def log_odds_slope(self, *, calibrated: bool = True) -> float:
        """du/dz: how the reported log-odds u move with the network's logit z (1, a or 1/T)."""
        return log_odds_slope(self.calibrator if calibrated else None)

    def points_from_inputs(
        self, X: np.ndarray, scale: PointsScale | None = None, *, calibrated: bool = True
    ) -> np.ndarray:
        """Scorecard points Offset - Factor * u for network inputs X (see
        :mod:`backprop_lab.classifier.points`; default scale 600 at 50:1, 20 points to double)."""
        scale = PointsScale() if scale is None else scale
        return scale.from_log_odds(self.default_log_odds(X, calibrated=calibrated))

    def points(
        self,
        frame: pd.DataFrame,
        scale: PointsScale | None = None,
        *,
        file: str | Path | None = None,
        calibrated: bool = True,
    ) -> np.ndarray:
        """Scorecard points of each row of ``frame``, shape (N,): a higher score, a lower risk.

        A monotone function of ``p_default``: Offset + Factor * ln((1 - p) / p), computed
        from the logit so that it stays finite where p rounds to 0 or 1.
        """
        return self.points_from_inputs(
            self.transform(frame, file=file), scale, calibrated=calibrated
        )

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
        points: PointsScale | None = None,
    ) -> pd.DataFrame:
        """Probabilities as a frame with ``output_columns``, indexed like ``frame``; with a
        ``points`` scale (binary models), a ``points`` column after them."""
        self._check_points(points)
        X = self.transform(frame, file=file, unseen=unseen)
        out = self._proba_frame(self.proba_from_inputs(X, calibrated=calibrated), frame)
        if points is not None:
            out["points"] = self.points_from_inputs(X, points, calibrated=calibrated)
        return out

    def _check_points(self, points: PointsScale | None) -> None:
        if points is not None and not self.is_binary:
            raise ValueError("scorecard points are for binary models (one probability of default)")

    def _proba_frame(self, proba: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
        if self.is_binary:
            proba = proba[:, [self.positive_index]]
        return pd.DataFrame(proba, columns=self.output_columns, index=frame.index)

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
            "classifier": {
                name: _json_param(params[name])
                for name in _PARAMS
                if not (name == "monotonic_cst" and params[name] is None)  # older readers
            },
            "fit": {
                "epochs": int(clf.n_iter_),
                "best_epoch": int(getattr(clf, "best_epoch_", clf.n_iter_)),
                "best_loss": _plain(getattr(clf, "best_loss_", None)),
                "early_stopping": bool(getattr(clf, "early_stopping_", False)),
                "loss_curve": [float(v) for v in clf.loss_curve_],
                "validation_scores": [float(v) for v in clf.validation_scores_],
                **({"optimizer": clf.optimizer_} if hasattr(clf, "optimizer_") else {}),
            },
            "training": self.training,
            "metrics": self.metrics,
        }
        if self.training_distributions is not None:
            # optional and beside the rest: older readers ignore it, predictions unchanged
            metadata["training_distributions"] = self.training_distributions.to_dict()
        if self.model_card:  # facts for a model card; older readers ignore the key too
            metadata["model_card"] = self.model_card
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
            classes = np.array(task["classes"])
            check_loaded_network(network, classes, params.get("monotonic_cst"))
            # types checked by tabular_array_shapes
            clf = _LoadedClassifier(network, classes, params, metadata.get("fit", {}))
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
                model_card=metadata.get("model_card") or {},
            )
            if model.is_binary:
                model.positive_index  # noqa: B018 (raises if the positive class is unknown)
            if metadata.get("calibration") is not None:
                if not model.is_binary:
                    raise ValueError("calibration is stored for a multiclass model")
                model.calibrator = calibrator_from_dict(metadata["calibration"])
            if metadata.get("training_distributions") is not None:
                reference = TrainingDistributions.from_dict(metadata["training_distributions"])
                reference.check_fits(
                    [c.name for c in pre.numeric],
                    [c.name for c in pre.categorical],
                    model.is_binary,
                )
                model.training_distributions = reference
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise InputError(f"model file is inconsistent: {error}", file=path) from None
        return model


def _get_classifier(self: TabularModel) -> BackpropClassifier:
    clf = self.__dict__["_classifier"]
    if isinstance(clf, _LoadedClassifier):
        clf = self.__dict__["_classifier"] = clf.build()
    return clf


def _set_classifier(self: TabularModel, value: BackpropClassifier) -> None:
    self.__dict__["_classifier"] = value


TabularModel.classifier = property(  # type: ignore[assignment]
    _get_classifier,
    _set_classifier,
    doc="The fitted BackpropClassifier. A loaded model makes it on first use: scoring "
    "needs only the network (:mod:`backprop_lab.classifier.network_scoring`), and "
    "scikit-learn, which the estimator imports, loads only when it is asked for.",
)


@dataclass
class _LoadedClassifier:
    """A loaded model's network, classes, constructor parameters and fit record, checked
    (:func:`~backprop_lab.classifier.network_scoring.check_loaded_network`): the
    BackpropClassifier they make, made by :meth:`build` when first asked for."""

    network_: Sequential
    classes_: np.ndarray
    params: dict
    fit: dict

    @property
    def monotonic_cst(self) -> object:
        return self.params.get("monotonic_cst")

    def build(self) -> BackpropClassifier:
        from .estimator import BackpropClassifier

        clf = BackpropClassifier.from_network(self.network_, self.classes_, **self.params)
        fit = self.fit
        clf.n_iter_ = fit.get("epochs", 0)
        clf.best_epoch_ = fit.get("best_epoch", 0)
        clf.best_loss_ = fit.get("best_loss")
        clf.early_stopping_ = fit.get("early_stopping", False)
        clf.loss_curve_ = list(fit.get("loss_curve", []))
        clf.validation_scores_ = list(fit.get("validation_scores", []))
        if "optimizer" in fit:
            clf.optimizer_ = fit["optimizer"]
        return clf


def load_model(path: str | Path) -> TabularModel:
    """Load a model saved by :meth:`TabularModel.save`."""
    return TabularModel.load(path)


# ---- JSON helpers ----------------------------------------------------------------------
def _plain(value: object) -> object:
    """NumPy scalars as Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _json_param(value: object) -> object:
    if isinstance(value, np.ndarray | list):  # monotonic_cst
        return [_plain(v) for v in np.asarray(value).tolist()]
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
    if name == "monotonic_cst":
        return None if value is None else list(value)
    if isinstance(value, dict) and "pairs" in value:
        return {k: v for k, v in value["pairs"]}
    return value
