"""What a tabular model's ``metadata.json`` must say, checked before any weight is read.

:func:`tabular_array_shapes` is given to :func:`backprop_lab.classifier.modelio.read_model_file`:
it checks every block that :meth:`TabularModel.load <backprop_lab.classifier.tabular_model.TabularModel.load>`
uses (types, ranges, agreement between blocks) and returns the shape of every weight
array that the described network has,

    W_l: (n_{l-1}, n_l),   b_l: (n_l,)   for l = 1..L,   n_0 = inputs, n_L = outputs,

so that arrays of any other shape are refused unread, and a network of more than
:data:`~backprop_lab.classifier.modelio.MAX_PARAMETERS` numbers, sum_l (n_{l-1} + 1) n_l, is refused
before anything is allocated. Each failure is a ValueError naming the field, e.g.
``fit.epochs must be a non-negative integer; got 'ten'``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from ..data.tabular import IMPUTE_CHOICES
from ..nn import ACTIVATIONS
from ..nn.optim import OPTIMIZERS
from . import modelio
from .modelio import short_repr as _show

#: The most hidden layers read (a tabular network has a handful).
MAX_HIDDEN_LAYERS = 64


def tabular_array_shapes(metadata: dict) -> dict[str, tuple[int, ...]]:
    """Check a tabular model's metadata; the shape of each weight array it describes."""
    _check_keys(
        metadata, "the metadata", required=("task", "preprocessing", "network", "classifier")
    )
    task = _check_task(metadata["task"])
    n_features = _check_preprocessing(metadata["preprocessing"])
    shapes, network = _check_network(metadata["network"], len(task["classes"]), n_features)
    _check_classifier(metadata["classifier"], network)
    _check_fit(metadata.get("fit", {}))
    for block in ("training", "metrics", "calibration", "training_distributions", "model_card"):
        if not isinstance(metadata.get(block), dict | None):
            raise ValueError(f"{block} must be an object or null; got {_show(metadata[block])}")
    if not isinstance(metadata.get("package_version", ""), str):
        raise ValueError(
            f"package_version must be a string; got {_show(metadata['package_version'])}"
        )
    return shapes


# ---- the blocks -------------------------------------------------------------------------
def _check_task(task: object) -> dict:
    _check_keys(
        task,
        "task",
        required=("target", "classes", "positive_class", "id_column", "ignored_columns"),
    )
    _expect(task["target"], "task.target", _is_str, "a string")
    classes = task["classes"]
    if not (isinstance(classes, list) and len(classes) >= 2):
        raise ValueError(f"task.classes must be a list of two or more labels; got {_show(classes)}")
    if not (all(_is_str(c) for c in classes) or all(_is_number(c) for c in classes)):
        raise ValueError("task.classes must be all strings or all numbers")
    if len(set(classes)) != len(classes) or classes != sorted(classes):
        raise ValueError("task.classes must be distinct and sorted")
    positive = task["positive_class"]
    if len(classes) == 2 and positive not in classes:
        raise ValueError(f"task.positive_class {_show(positive)} is not one of task.classes")
    if len(classes) > 2 and positive is not None:
        raise ValueError("task.positive_class must be null for a multiclass model")
    _expect(task["id_column"], "task.id_column", _is_str_or_none, "a string or null")
    _expect(task["ignored_columns"], "task.ignored_columns", _is_str_list, "a list of strings")
    return task


def _check_preprocessing(pre: object) -> int:
    """The number of network inputs the preprocessing makes."""
    _check_keys(pre, "preprocessing", required=("impute", "numeric", "categorical"))
    if not (_is_str(pre["impute"]) and pre["impute"] in IMPUTE_CHOICES):
        raise ValueError(
            f"preprocessing.impute must be one of {', '.join(IMPUTE_CHOICES)}; "
            f"got {_show(pre['impute'])}"
        )
    names: list[str] = []
    numeric, categorical = pre["numeric"], pre["categorical"]
    _expect(numeric, "preprocessing.numeric", _is_list, "a list")
    _expect(categorical, "preprocessing.categorical", _is_list, "a list")
    for i, column in enumerate(numeric):
        where = f"preprocessing.numeric[{i}]"
        _check_keys(column, where, required=("name", "mean", "scale"), allowed=("fill",))
        _expect(column["name"], f"{where}.name", _is_str, "a string")
        _expect(column["mean"], f"{where}.mean", _is_number, "a finite number")
        _expect(column["scale"], f"{where}.scale", _is_positive, "a positive finite number")
        fill = column.get("fill")
        _expect(fill, f"{where}.fill", lambda v: v is None or _is_number(v), "a number or null")
        names.append(column["name"])
    n_features = len(numeric)
    for i, column in enumerate(categorical):
        where = f"preprocessing.categorical[{i}]"
        _check_keys(column, where, required=("name", "categories"), allowed=("fill",))
        _expect(column["name"], f"{where}.name", _is_str, "a string")
        categories = column["categories"]
        _expect(categories, f"{where}.categories", _is_str_list, "a list of strings")
        _check_distinct(categories, f"column '{column['name']}' lists category")
        fill = column.get("fill")
        if fill is not None and fill not in categories:
            raise ValueError(f"{where}.fill {_show(fill)} is not one of its categories")
        names.append(column["name"])
        n_features += len(categories)
    _check_distinct(names, "preprocessing names column")
    return n_features


def _check_network(
    net: object, n_classes: int, n_features: int
) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Shapes of W1, b1, W2, b2, ... for the network described, within the size limits."""
    _check_keys(net, "network", required=("n_inputs", "hidden", "n_outputs", "activation"))
    _expect(net["n_inputs"], "network.n_inputs", _is_positive_int, "a positive integer")
    _expect(net["n_outputs"], "network.n_outputs", _is_positive_int, "a positive integer")
    hidden = net["hidden"]
    if not (isinstance(hidden, list) and all(_is_positive_int(h) for h in hidden)):
        raise ValueError(f"network.hidden must be a list of positive integers; got {_show(hidden)}")
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"network.hidden lists {len(hidden):,} layers; at most {MAX_HIDDEN_LAYERS} are read"
        )
    sizes = [net["n_inputs"], *hidden, net["n_outputs"]]
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        shapes[f"W{layer}"] = (n_in, n_out)
        shapes[f"b{layer}"] = (n_out,)
    count = sum(math.prod(shape) for shape in shapes.values())
    if count > modelio.MAX_PARAMETERS:
        raise ValueError(
            f"the network described ({_show(net['n_inputs'])} inputs, hidden layers "
            f"{_show(hidden)}, {_show(net['n_outputs'])} output(s)) has {count:,} parameters; "
            f"a model file holds at most {modelio.MAX_PARAMETERS:,}"
        )
    if not (_is_str(net["activation"]) and net["activation"] in ACTIVATIONS):
        raise ValueError(
            f"network.activation must be one of {', '.join(sorted(ACTIVATIONS))}; "
            f"got {_show(net['activation'])}"
        )
    if net["n_inputs"] != n_features:
        raise ValueError(
            f"the preprocessing makes {n_features} inputs but the network takes {net['n_inputs']}"
        )
    binary = n_classes == 2
    if net["n_outputs"] != (1 if binary else n_classes):
        raise ValueError(
            f"a network for {n_classes} classes has {1 if binary else n_classes} output(s); "
            f"network.n_outputs is {net['n_outputs']}"
        )
    output = net.get("output", "sigmoid" if binary else "softmax")
    if output != ("sigmoid" if binary else "softmax"):
        raise ValueError(f"network.output {_show(output)} does not fit {n_classes} classes")
    if net.get("parameters", list(shapes)) != list(shapes):
        raise ValueError(
            f"network.parameters {_show(net['parameters'])} do not name the weights of "
            f"the network described ({', '.join(shapes)})"
        )
    return shapes, net


#: BackpropClassifier's ``optimizer`` values (its OPTIMIZER_CHOICES).
_OPTIMIZER_NAMES = ("auto", *OPTIMIZERS, "lbfgs")

#: Each classifier parameter stored in a model file: (check, what it must be).
_CLASSIFIER_PARAMETERS: dict[str, tuple[Callable[[object], bool], str]] = {
    "hidden_layer_sizes": (
        lambda v: _is_positive_int(v) or (isinstance(v, list) and all(map(_is_positive_int, v))),
        "a positive integer or a list of them",
    ),
    "activation": (
        lambda v: _is_str(v) and v in ACTIVATIONS,
        f"one of {', '.join(sorted(ACTIVATIONS))}",
    ),
    "optimizer": (
        lambda v: _is_str(v) and v in _OPTIMIZER_NAMES,
        f"one of {', '.join(sorted(_OPTIMIZER_NAMES))}",
    ),
    "learning_rate": (lambda v: _is_positive(v), "a positive number"),
    "max_epochs": (lambda v: _is_positive_int(v), "a positive integer"),
    "batch_size": (lambda v: v is None or _is_positive_int(v), "a positive integer or null"),
    "alpha": (
        lambda v: v == "auto" or (_is_number(v) and v >= 0),
        "'auto' or a non-negative number",
    ),
    "early_stopping": (lambda v: v == "auto" or isinstance(v, bool), "'auto', true or false"),
    "validation_fraction": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
    "n_iter_no_change": (lambda v: _is_positive_int(v), "a positive integer"),
    "tol": (lambda v: _is_number(v) and v >= 0, "a non-negative number"),
    "class_weight": (
        lambda v: v is None or v == "balanced" or _is_class_weight_pairs(v),
        "null, 'balanced' or {\"pairs\": [[label, weight], ...]}",
    ),
    "random_state": (lambda v: v is None or _is_int(v), "an integer or null"),
    "monotonic_cst": (
        lambda v: (
            v is None or (isinstance(v, list) and all(_is_int(s) and s in (-1, 0, 1) for s in v))
        ),
        "null or a list of -1, 0 and 1",
    ),
}


def _check_classifier(params: object, network: dict) -> None:
    _check_keys(params, "classifier", allowed=tuple(_CLASSIFIER_PARAMETERS))
    for name, value in params.items():
        check, must_be = _CLASSIFIER_PARAMETERS[name]
        _expect(value, f"classifier.{name}", check, must_be)
    sizes = params.get("hidden_layer_sizes", network["hidden"])
    sizes = list(sizes) if isinstance(sizes, list) else [sizes]
    # alpha='auto' may average K networks into one with K times the units of each layer
    k = network["hidden"][0] // sizes[0] if network["hidden"] and sizes and sizes[0] else 0
    if len(sizes) != len(network["hidden"]) or [k * s for s in sizes] != network["hidden"]:
        raise ValueError(
            f"classifier.hidden_layer_sizes {_show(sizes)} disagrees with network.hidden "
            f"{_show(network['hidden'])}"
        )
    if params.get("activation", network["activation"]) != network["activation"]:
        raise ValueError("classifier.activation disagrees with network.activation")
    cst = params.get("monotonic_cst")
    if cst is not None and len(cst) != network["n_inputs"]:
        raise ValueError(
            f"classifier.monotonic_cst has {len(cst)} entries for a network of "
            f"{network['n_inputs']} inputs"
        )
    if cst is not None and any(cst) and network["n_outputs"] != 1:
        raise ValueError("classifier.monotonic_cst is set for a multiclass model")


def _check_fit(fit: object) -> None:
    """What training did (loaded as n_iter_, best_epoch_, ... of the classifier)."""
    _expect(fit, "fit", lambda v: isinstance(v, dict), "an object")
    checks: dict[str, tuple[Callable[[object], bool], str]] = {
        "epochs": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        "best_epoch": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        "best_loss": (lambda v: v is None or _is_number(v), "a number or null"),
        "early_stopping": (lambda v: isinstance(v, bool), "true or false"),
        "loss_curve": (_is_number_list, "a list of numbers"),
        "validation_scores": (_is_number_list, "a list of numbers"),
        "optimizer": (
            lambda v: _is_str(v) and v in _OPTIMIZER_NAMES and v != "auto",
            "the optimizer that ran (not 'auto')",
        ),
    }
    for name, (check, must_be) in checks.items():
        if name in fit:
            _expect(fit[name], f"fit.{name}", check, must_be)


# ---- small checks ------------------------------------------------------------------------
def _check_keys(
    value: object,
    where: str,
    *,
    required: tuple[str, ...] = (),
    allowed: tuple[str, ...] | None = None,
) -> None:
    """``value`` is an object with every ``required`` key and, if ``allowed`` is given,
    no key outside ``required`` and ``allowed``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object; got {_show(value)}")
    for key in required:
        if key not in value:
            raise ValueError(f"{where} has no {key!r}")
    if allowed is not None:
        known = {*required, *allowed}
        for key in value:
            if key not in known:
                raise ValueError(f"{where} has an unknown entry {_show(key)}")


def _check_distinct(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {_show(value)} twice")
        seen.add(value)


def _expect(value: object, where: str, check: Callable[[object], bool], must_be: str) -> None:
    if not check(value):
        raise ValueError(f"{where} must be {must_be}; got {_show(value)}")


def _is_int(v: object) -> bool:
    return type(v) is int


def _is_positive_int(v: object) -> bool:
    return type(v) is int and v >= 1


def _is_number(v: object) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _is_positive(v: object) -> bool:
    return _is_number(v) and v > 0


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_str_or_none(v: object) -> bool:
    return v is None or isinstance(v, str)


def _is_list(v: object) -> bool:
    return isinstance(v, list)


def _is_str_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _is_number_list(v: object) -> bool:
    return isinstance(v, list) and all(_is_number(x) for x in v)


def _is_class_weight_pairs(v: object) -> bool:
    return (
        isinstance(v, dict)
        and list(v) == ["pairs"]
        and isinstance(v["pairs"], list)
        and all(
            isinstance(p, list)
            and len(p) == 2
            and (_is_str(p[0]) or _is_number(p[0]))
            and _is_number(p[1])
            and p[1] >= 0
            for p in v["pairs"]
        )
    )
