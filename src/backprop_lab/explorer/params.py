"""Checks for every value a browser can send to the explorer.

Nothing from a request reaches the engine unchecked: each field has a type and a range,
unknown fields are refused, and sizes are capped so that no request can make the server
use unbounded memory or time. A failed check raises :class:`ApiError` (a ``ValueError``)
whose message names the field; the server turns it into a 4xx JSON reply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from numbers import Integral, Real
from typing import Any

from ..data.synthetic import FEATURES

# ---- limits ------------------------------------------------------------------------------
LR_MIN, LR_MAX = 1e-4, 10.0
HIDDEN_MIN, HIDDEN_MAX = 1, 16
#: Hidden layers (each of ``hidden`` units).
DEPTH_MIN, DEPTH_MAX = 1, 3
N_MIN, N_MAX = 100, 5000
NOISE_MAX = 3.0
SEED_MAX = 2**32 - 1
ACTIVATIONS = ("relu", "tanh", "sigmoid")
INITS = ("he", "xavier", "small")
#: Optimisers of ``nn.optim`` a session can train with.
OPTIMIZERS = ("gd", "momentum", "adam")
L2_MAX = 1.0
#: Bugs the explorer can plant in its own session's backward pass (``bugs.py``).
BUGS = ("none", "no_fprime", "no_mean")
#: Most epochs one step request may run.
MAX_EPOCHS_PER_STEP = 200
#: Most weight updates (epochs x batches per epoch) one step request may run.
MAX_UPDATES_PER_STEP = 20_000
#: Most epochs one session may record; reset to go on.
MAX_EPOCHS_PER_SESSION = 10_000
#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 16 * 1024
#: Rows of the training split used by the gradient check (it runs two forward passes per
#: parameter entry, so its cost grows with rows x parameters).
GRADCHECK_ROWS = 200
#: Training rows whose hidden activations one ``units`` request returns.
UNITS_ROWS = 400

#: Plausible range of each raw feature for a borrower typed in by hand.
FEATURE_BOUNDS: dict[str, tuple[float, float]] = {
    "age": (18.0, 100.0),
    "annual_income": (0.0, 10_000_000.0),
    "debt_to_income": (0.0, 10.0),
    "credit_history_years": (0.0, 82.0),
    "late_payments": (0.0, 100.0),
    "home_owner": (0.0, 1.0),
    "employment_years": (0.0, 84.0),
}
#: Features that must be whole numbers.
INTEGER_FEATURES = ("late_payments", "home_owner")


class ApiError(ValueError):
    """A request the server refuses, with the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Config:
    """Everything that defines a session's data, network and training."""

    seed: int = 0
    n: int = 1000
    noise: float = 1.0
    nonlinear: bool = False
    hidden: int = 8
    depth: int = 1
    activation: str = "relu"
    init: str = "he"
    lr: float = 0.5
    batch_size: int | None = None
    backprop: bool = True
    optimizer: str = "gd"
    l2: float = 0.0
    bug: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Fields that may change while training goes on; the others rebuild the session.
LIVE_FIELDS = ("lr", "batch_size", "backprop", "l2")


# ---- single values ---------------------------------------------------------------------
def integer(value: object, name: str, low: int, high: int) -> int:
    """An int (not a bool, not a float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ApiError(f"{name} must be an integer; got {_show(value)}")
    if not low <= value <= high:
        raise ApiError(f"{name} must be between {low} and {high}; got {value}")
    return int(value)


def number(value: object, name: str, low: float, high: float) -> float:
    """A finite real number (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ApiError(f"{name} must be a number; got {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ApiError(f"{name} must be finite; got {value}")
    if not low <= value <= high:
        raise ApiError(f"{name} must be between {low:g} and {high:g}; got {value:g}")
    return value


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ApiError(f"{name} must be true or false; got {_show(value)}")
    return value


def choice(value: object, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ApiError(f"{name} must be one of {', '.join(options)}; got {_show(value)}")
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(body: object, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError(f"{what} must be a JSON object; got {type(body).__name__}")
    return body


def _no_unknown(body: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(str(k) for k in body if k not in allowed)
    if unknown:
        raise ApiError(
            f"unknown field {_show(unknown[0])} in {what}; allowed: {', '.join(allowed)}"
        )


# ---- request bodies --------------------------------------------------------------------
def n_train_of(n: int) -> int:
    """Rows in the training split of ``n`` borrowers (the test split takes 20%)."""
    return n - math.ceil(0.2 * n)


def parse_config(body: object, base: Config | None = None) -> Config:
    """A Config from a request body; fields left out keep ``base``'s (or the defaults)."""
    body = _object(body if body is not None else {}, "the configuration")
    fields = tuple(Config.__dataclass_fields__)
    _no_unknown(body, fields, "the configuration")
    base = base or Config()
    checked: dict[str, Any] = {}
    if "seed" in body:
        checked["seed"] = integer(body["seed"], "seed", 0, SEED_MAX)
    if "n" in body:
        checked["n"] = integer(body["n"], "n", N_MIN, N_MAX)
    if "noise" in body:
        checked["noise"] = number(body["noise"], "noise", 0.0, NOISE_MAX)
    if "nonlinear" in body:
        checked["nonlinear"] = boolean(body["nonlinear"], "nonlinear")
    if "hidden" in body:
        checked["hidden"] = integer(body["hidden"], "hidden", HIDDEN_MIN, HIDDEN_MAX)
    if "depth" in body:
        checked["depth"] = integer(body["depth"], "depth", DEPTH_MIN, DEPTH_MAX)
    if "activation" in body:
        checked["activation"] = choice(body["activation"], "activation", ACTIVATIONS)
    if "init" in body:
        checked["init"] = choice(body["init"], "init", INITS)
    if "optimizer" in body:
        checked["optimizer"] = choice(body["optimizer"], "optimizer", OPTIMIZERS)
    if "bug" in body:
        checked["bug"] = choice(body["bug"], "bug", BUGS)
    checked.update(_live(body))
    config = replace(base, **checked)
    _check_batch(config.batch_size, config.n)
    return config


def parse_settings(body: object, base: Config) -> Config:
    """Change only the settings that can change mid-training: lr, batch_size, backprop, l2."""
    body = _object(body, "the settings")
    _no_unknown(body, LIVE_FIELDS, "the settings")
    if not body:
        raise ApiError(f"give at least one of {', '.join(LIVE_FIELDS)}")
    config = replace(base, **_live(body))
    _check_batch(config.batch_size, config.n)
    return config


def _live(body: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    if "lr" in body:
        checked["lr"] = number(body["lr"], "lr", LR_MIN, LR_MAX)
    if "batch_size" in body:
        value = body["batch_size"]
        checked["batch_size"] = (
            None if value is None else integer(value, "batch_size", 1, n_train_of(N_MAX))
        )
    if "backprop" in body:
        checked["backprop"] = boolean(body["backprop"], "backprop")
    if "l2" in body:
        checked["l2"] = number(body["l2"], "l2", 0.0, L2_MAX)
    return checked


def _check_batch(batch_size: int | None, n: int) -> None:
    n_train = n_train_of(n)
    if batch_size is not None and batch_size > n_train:
        raise ApiError(
            f"batch_size must be at most the {n_train} training rows (or null for full "
            f"batch); got {batch_size}"
        )


def max_epochs_per_step(batch_size: int | None, n_train: int) -> int:
    """Epochs one step may run so that epochs x batches per epoch <= MAX_UPDATES_PER_STEP."""
    batches = 1 if batch_size is None else math.ceil(n_train / batch_size)
    return max(1, min(MAX_EPOCHS_PER_STEP, MAX_UPDATES_PER_STEP // batches))


def parse_step(body: object) -> tuple[int, Mapping[str, Any] | None, bool]:
    """``{"epochs": k, "borrower": {...}?, "trace": bool?}`` -> (k, the borrower spec or
    None, whether to trace the borrower after the step: the page's open trace card, in
    the same round trip)."""
    body = _object(body, "the step request")
    _no_unknown(body, ("epochs", "borrower", "trace"), "the step request")
    if "epochs" not in body:
        raise ApiError("missing field 'epochs'")
    epochs = integer(body["epochs"], "epochs", 1, MAX_EPOCHS_PER_STEP)
    return epochs, body.get("borrower"), boolean(body.get("trace", False), "trace")


@dataclass(frozen=True)
class BorrowerSpec:
    """A borrower from the training split (``index``) or typed in (``features``, ``label``)."""

    index: int | None = None
    features: dict[str, float] | None = None
    label: int | None = None


def parse_borrower(body: object, n_train: int) -> BorrowerSpec:
    """``{"index": i}`` or ``{"features": {name: value, ...}, "label": 0 or 1}``."""
    body = _object(body, "the borrower")
    _no_unknown(body, ("index", "features", "label"), "the borrower")
    if ("index" in body) == ("features" in body):
        raise ApiError("give either 'index' (a borrower of the data) or 'features' and 'label'")
    if "index" in body:
        if "label" in body:
            raise ApiError("'label' goes with 'features'; a borrower of the data has its own")
        return BorrowerSpec(index=integer(body["index"], "index", 0, n_train - 1))
    if "label" not in body:
        raise ApiError("missing field 'label' (0 = repaid, 1 = defaulted)")
    label = integer(body["label"], "label", 0, 1)
    raw = _object(body["features"], "'features'")
    _no_unknown(raw, FEATURES, "'features'")
    features = {}
    for name in FEATURES:
        if name not in raw:
            raise ApiError(f"missing feature '{name}'")
        low, high = FEATURE_BOUNDS[name]
        value = number(raw[name], name, low, high)
        if name in INTEGER_FEATURES and value != int(value):
            raise ApiError(f"{name} must be a whole number; got {value:g}")
        features[name] = value
    return BorrowerSpec(features=features, label=label)


def parse_gradcheck(body: object, hidden: int) -> tuple[int, int] | None:
    """``{"weight": {"input": i, "unit": j}}`` -> (i, j), the W1 entry of the one-weight
    check; None (no body, or no "weight") for the entry with the largest gradient."""
    if body is None:
        return None
    body = _object(body, "the check request")
    _no_unknown(body, ("weight",), "the check request")
    if "weight" not in body:
        return None
    weight = _object(body["weight"], "'weight'")
    _no_unknown(weight, ("input", "unit"), "'weight'")
    for name in ("input", "unit"):
        if name not in weight:
            raise ApiError(f"missing field '{name}' in 'weight'")
    return (
        integer(weight["input"], "input", 0, len(FEATURES) - 1),
        integer(weight["unit"], "unit", 0, hidden - 1),
    )


def parse_feature_query(text: str | None) -> str:
    """The ``feature`` query parameter: one of the input features' names."""
    if text is None:
        raise ApiError("missing query parameter 'feature'")
    return choice(text, "feature", tuple(FEATURES))


def parse_index_query(text: str | None, n_train: int) -> int:
    """The ``index`` query parameter as a borrower index of the training split."""
    if text is None:
        raise ApiError("missing query parameter 'index'")
    if not re.fullmatch(r"-?[0-9]{1,12}", text):
        raise ApiError(f"index must be an integer; got {_show(text)}")
    return integer(int(text), "index", 0, n_train - 1)


def limits() -> dict[str, Any]:
    """The ranges the server accepts, so the page can draw its controls to match."""
    return {
        "lr": [LR_MIN, LR_MAX],
        "hidden": [HIDDEN_MIN, HIDDEN_MAX],
        "depth": [DEPTH_MIN, DEPTH_MAX],
        "n": [N_MIN, N_MAX],
        "noise": [0.0, NOISE_MAX],
        "seed": [0, SEED_MAX],
        "activation": list(ACTIVATIONS),
        "init": list(INITS),
        "features": {name: list(FEATURE_BOUNDS[name]) for name in FEATURES},
        "integer_features": list(INTEGER_FEATURES),
        "max_epochs_per_step": MAX_EPOCHS_PER_STEP,
        "gradcheck_rows": GRADCHECK_ROWS,
        "optimizer": list(OPTIMIZERS),
        "l2": [0.0, L2_MAX],
        "bug": list(BUGS),
        "bugs": _bug_descriptions(),
    }


def _bug_descriptions() -> dict[str, str]:
    """What each planted bug does, in words (bugs.py loads the layers, so on demand)."""
    from .bugs import DESCRIPTIONS

    return dict(DESCRIPTIONS)
