"""Explorer sessions: one data set, one network and its training record per browser tab.

A :class:`Session` owns synthetic borrowers split into train and test, a network built by
``nn.mlp`` and the per-epoch curves, and trains with ``training.train``. A
:class:`SessionStore` keeps a bounded number of sessions, evicting the least recently
used, and gives each its own lock so two tabs never share or disturb a network.

The curves follow ``History``: entry e is measured by the forward pass at the start of
epoch e, that is with the weights after e updates. Training is stepped a few epochs per
request, and a step of k epochs followed by one of m gives exactly the numbers of one
run of k + m epochs (the mini-batch shuffling draws from one generator per session).

Divergence uses the engine's rule, measured from the session's first epoch: a loss or
gradient that is NaN or infinite, or a loss above 10 times epoch 0's. The network then
keeps the weights it had at the start of the epoch that diverged, and further steps are
refused until a reset.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..data.synthetic import (
    FEATURES,
    Standardizer,
    bayes_optimal_accuracy,
    bayes_optimal_log_loss,
    make_credit_risk,
    stratified_split,
)
from ..engine.gradcheck import GOOD, WRONG, gradient_check
from ..engine.training import History, train
from ..nn import BinaryCrossEntropy, Sequential, mlp
from ..nn.optim import Optimizer, get_optimizer
from . import health
from . import params as P
from .bugs import plant
from .checks import objective, one_weight
from .deep import dead_by_layer, deep_network, layer_values
from .trace import for_display, forward_values, trace_borrower

#: Divergence: a loss above this many times the first epoch's (the engine's default).
DIVERGENCE_FACTOR = 10.0
#: Sessions kept at once. The largest session (n = 5000, 16 hidden units) holds about
#: 6 MB, so 32 stay within about 200 MB, and 32 tabs (20 learners with a spare tab or
#: two each) can train at once without evicting one another.
DEFAULT_MAX_SESSIONS = 32


class SessionExpired(P.ApiError):
    """A call to a session that is not (or no longer) in the store: 404, code ``session_expired``."""

    code = "session_expired"

    def __init__(self) -> None:
        super().__init__(
            "unknown session: it may have expired to make room for newer ones "
            "(too many tabs open at once); start a new one with the same settings",
            status=404,
        )


class SessionTokenRefused(P.ApiError):
    """A call without the session's own token: 403, code ``bad_token``."""

    code = "bad_token"

    def __init__(self, header_missing: bool) -> None:
        what = "no session token" if header_missing else "a token that is not this session's"
        super().__init__(f"refused a call with {what} (X-Explorer-Token)", status=403)


def as_json(a: Any) -> Any:
    """Nested lists of floats for JSON, with NaN and infinity as None (null)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        value = float(arr)
        return value if np.isfinite(value) else None
    if np.all(np.isfinite(arr)):
        return arr.tolist()
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


class Session:
    """One tab's data, network and training record."""

    def __init__(self, session_id: str, config: P.Config) -> None:
        self.id = session_id
        #: The secret of the tab that created the session (256 random bits).
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.Lock()
        self.build(config)

    def owned_by(self, token: str) -> bool:
        """Whether ``token`` is this session's, compared in constant time."""
        return hmac.compare_digest(token.encode(), self.token.encode())

    # ---- building -----------------------------------------------------------------------
    def build(self, config: P.Config) -> None:
        """Draw the data, split 80/20 (stratified), standardise, and build a fresh network."""
        self.config = config
        data = make_credit_risk(
            config.n, seed=config.seed, noise=config.noise, nonlinear=config.nonlinear
        )
        X_train, X_test, y_train, y_test = stratified_split(data.X, data.y, seed=config.seed)
        self.raw_train = X_train.reset_index(drop=True)
        # the borrowers' raw features as one array: no pandas lookup per request
        self._raw_rows = self.raw_train[list(FEATURES)].to_numpy(dtype=np.float64)
        self.p_train = data.p_default.loc[X_train.index].to_numpy()
        p_test = data.p_default.loc[X_test.index].to_numpy()
        self.scaler = Standardizer().fit(X_train)
        self.X_train = self.scaler.transform(X_train)
        self.X_test = self.scaler.transform(X_test)
        self.y_train = y_train.to_numpy().astype(np.float64)
        self.y_test = y_test.to_numpy().astype(np.float64)
        self.bayes = {
            "log_loss": bayes_optimal_log_loss(y_test, p_test),
            "accuracy": bayes_optimal_accuracy(y_test, p_test),
            # the line is a sample of n test rows: its standard error, and the train rows'
            "log_loss_se": health.bayes_band(self.y_test, p_test)["se"],
            "train_log_loss": health.bayes_band(self.y_train, self.p_train)["mean"],
        }
        self.model = plant(
            mlp(
                len(FEATURES),
                hidden=(config.hidden,) * config.depth,
                activation=config.activation,
                init=config.init,
                seed=config.seed,
            ),
            config.bug,
        )
        self.optimizer: Optimizer = get_optimizer(config.optimizer, config.lr)
        #: Settings changed mid-run: {epoch, field, old, new}, the epoch being the first
        #: one trained with the new value.
        self.changes: list[dict[str, Any]] = []
        self.rng = np.random.default_rng(config.seed)
        self.curves: dict[str, list[float]] = {
            "loss": [],
            "accuracy": [],
            "val_loss": [],
            "val_accuracy": [],
        }
        self.diverged_at: int | None = None
        self.divergence_reason: str | None = None

    @property
    def n_train(self) -> int:
        return self.X_train.shape[0]

    @property
    def epochs(self) -> int:
        return len(self.curves["loss"])

    def max_epochs_per_step(self) -> int:
        return P.max_epochs_per_step(self.config.batch_size, self.n_train)

    # ---- training -----------------------------------------------------------------------
    def step(self, epochs: int) -> dict[str, list]:
        """Train ``epochs`` more epochs; returns the new entries of the curves."""
        if self.diverged_at is not None:
            raise P.ApiError(
                f"training diverged at epoch {self.diverged_at}; reset to train again "
                "(a smaller learning rate helps)",
                status=409,
            )
        limit = self.max_epochs_per_step()
        if epochs > limit:
            raise P.ApiError(
                f"epochs must be at most {limit} per step with this batch size "
                f"({P.MAX_UPDATES_PER_STEP} weight updates per step at most); got {epochs}"
            )
        if self.epochs + epochs > P.MAX_EPOCHS_PER_SESSION:
            raise P.ApiError(
                f"this session has {self.epochs} of its {P.MAX_EPOCHS_PER_SESSION} epochs; "
                "reset to start again",
                status=409,
            )
        start = self.epochs
        first = self.curves["loss"][0] if self.curves["loss"] else None
        good = self.model.get_params()  # weights at the start of the current epoch
        flagged: dict[str, Any] = {}

        def watch(epoch: int, model: Sequential, history: History) -> bool:
            """After each epoch: stop on divergence, else remember the weights as good."""
            nonlocal good, first
            loss = history.loss[-1]
            first = loss if first is None else first
            if loss > DIVERGENCE_FACTOR * max(first, 1e-12):
                flagged["epoch"] = epoch
                flagged["reason"] = (
                    f"loss {loss:.4g} exceeds {DIVERGENCE_FACTOR:g} x the first epoch's {first:.4g}"
                )
                return True
            good = model.get_params()
            return False

        history = train(
            self.model,
            self.X_train,
            self.y_train,
            optimizer=self.optimizer,
            epochs=epochs,
            batch_size=self.config.batch_size,
            backprop=self.config.backprop,
            l2=self.config.l2,
            **({"engine": "reference"} if self.config.bug != "none" else {}),  # see bugs.py
            seed=self.rng,
            validation_data=(self.X_test, self.y_test),
            divergence_factor=None,
            callback=watch,
        )
        keep = len(history.loss)
        if flagged:
            keep = flagged["epoch"]  # the diverging epoch's loss is not recorded
            self._diverge(start + flagged["epoch"], flagged["reason"], good)
        elif history.diverged:
            self._diverge(start + history.diverged_at, history.divergence_reason, good)
        new = {
            "loss": history.loss[:keep],
            "accuracy": history.accuracy[:keep],
            "val_loss": history.val_loss[:keep],
            "val_accuracy": history.val_accuracy[:keep],
        }
        for key, values in new.items():
            self.curves[key].extend(values)
        return {"epoch": list(range(start, start + keep)), **new}

    def _diverge(self, epoch: int, reason: str | None, weights: dict[str, np.ndarray]) -> None:
        self.diverged_at, self.divergence_reason = epoch, reason
        self.model.set_params(weights)

    # ---- borrowers ----------------------------------------------------------------------
    def borrower(self, index: int) -> dict[str, Any]:
        """A borrower of the training split: raw features, label and true p_default."""
        row = self._raw_rows[index]
        return {
            "index": index,
            "features": {name: float(row[k]) for k, name in enumerate(FEATURES)},
            "label": int(self.y_train[index]),
            "p_default": float(self.p_train[index]),
        }

    def resolve(self, spec: P.BorrowerSpec) -> tuple[np.ndarray, int, dict[str, Any]]:
        """(standardised row, label, description) of a borrower spec."""
        if spec.index is not None:
            info = self.borrower(spec.index)
            return self.X_train[spec.index], info["label"], info
        raw = np.array([[spec.features[name] for name in FEATURES]])
        info = {
            "index": None,
            "features": dict(spec.features),
            "label": spec.label,
            "p_default": None,  # a typed-in borrower has no true probability
        }
        return self.scaler.transform(raw)[0], int(spec.label), info

    # ---- what the page draws ------------------------------------------------------------
    @np.errstate(over="ignore", invalid="ignore")
    def network(self, spec: P.BorrowerSpec | None = None) -> dict[str, Any]:
        """Weights, and the selected borrower's value at every neuron."""
        spec = spec or P.BorrowerSpec(index=0)
        x, label, info = self.resolve(spec)
        if self.config.depth > 1:
            return self._deep_network(x, label, info)
        params = self.model.params
        out = forward_values(self.model, x.reshape(1, -1))
        loss = BinaryCrossEntropy().per_row(out["z2"], np.array([[float(label)]]))[0]
        dead = self.dead_units()
        return {
            "layers": None,  # one hidden layer: W1, b1, W2, b2 below
            "W1": as_json(params["W1"]),
            "b1": as_json(params["b1"]),
            "W2": as_json(params["W2"][:, 0]),
            "b2": as_json(params["b2"][0]),
            "dead": dead,
            "borrower": {
                **info,
                "label": label,
                "x": as_json(x),
                "z1": as_json(out["z1"][0]),
                "h": as_json(out["h"][0]),
                "z2": as_json(out["z2"][0, 0]),
                "y_hat": as_json(out["y_hat"][0, 0]),
                "loss": as_json(loss),
            },
        }

    def _deep_network(self, x: np.ndarray, label: int, info: dict[str, Any]) -> dict[str, Any]:
        """``network`` for more than one hidden layer: every layer's weights and values."""
        return deep_network(self.model, x, label, info, self.dead_by_layer(), as_json)

    @np.errstate(over="ignore", invalid="ignore")
    def trace(self, spec: P.BorrowerSpec) -> dict[str, Any]:
        """Every number of one forward and backward pass for the borrower."""
        if self.config.depth > 1:
            raise P.ApiError(
                f"the trace follows a network with one hidden layer; this one has "
                f"{self.config.depth} (set depth to 1 to trace a borrower)"
            )
        x, label, info = self.resolve(spec)
        values = for_display(trace_borrower(self.model, x, label, self.config.lr))
        out = {key: as_json(value) for key, value in values.items()}
        return {
            "borrower": {**info, "label": label},
            "activation": self.config.activation,
            "lr": self.config.lr,
            "features": list(FEATURES),
            "values": out,
        }

    @np.errstate(over="ignore", invalid="ignore")
    def gradcheck(self, weight: tuple[int, int] | None = None) -> dict[str, Any]:
        """``gradient_check`` of the current weights on the first training rows, and the
        one-weight check of W1[weight] (default: the entry with the largest gradient)."""
        rows = min(P.GRADCHECK_ROWS, self.n_train)
        X, y = self.X_train[:rows], self.y_train[:rows]
        result = gradient_check(self.model, X, y, l2=self.config.l2)
        numbers = ("max_rel_error", "scale", "floor")  # NaN after divergence: null in JSON
        table = [{**row, **{k: as_json(row[k]) for k in numbers}} for row in result.rows()]
        return {
            "rows": rows,
            "table": table,
            "max_rel_error": as_json(result.max_rel_error),
            "passed": bool(result.passed),
            "tolerance": result.tolerance,
            "eps": result.eps,
            "good": GOOD,
            "wrong": WRONG,
            "n_kinks": result.n_kinks,
            "n_kinks_rechecked": result.n_kinks_rechecked,
            "n_unchecked": result.n_unchecked,
            "text": result.table(),
            "epoch": self.epochs,
            "one_weight": {
                k: as_json(v) if isinstance(v, float) else v
                for k, v in one_weight(self.model, X, y, self.config.l2, index=weight).items()
            },
        }

    def status(self) -> dict[str, Any]:
        if self.diverged_at is not None:
            state = "diverged"
        else:
            state = "training" if self.config.backprop else "forward-only"
        return {
            "state": state,
            "warnings": health.warnings(self.curves["loss"], self.dead_units()),
            "now": self.current_metrics(),
            "changes": list(self.changes),
            "epochs": self.epochs,
            "diverged_at": self.diverged_at,
            "reason": self.divergence_reason,
            "max_epochs_per_step": self.max_epochs_per_step(),
            "max_epochs": P.MAX_EPOCHS_PER_SESSION,
        }

    # ---- additions: settings changes, warnings, hidden units ------------------------------
    def change_settings(self, config: P.Config) -> None:
        """Take new live settings, recording each changed one at the current epoch."""
        for name in P.LIVE_FIELDS:
            old, new = getattr(self.config, name), getattr(config, name)
            if old != new and self.epochs > 0:
                self.changes.append({"epoch": self.epochs, "field": name, "old": old, "new": new})
        self.config = config
        self.optimizer.lr = config.lr  # the optimiser keeps its state (velocity, moments)

    @np.errstate(over="ignore", invalid="ignore")
    def dead_units(self) -> list[bool]:
        """For each hidden unit of every layer: dead (ReLU, z <= 0 for every training borrower)."""
        return [dead for layer in self.dead_by_layer() for dead in layer]

    @np.errstate(over="ignore", invalid="ignore")
    def dead_by_layer(self) -> list[list[bool]]:
        """``dead_units`` layer by layer."""
        if self.config.activation != "relu":
            return [[False] * self.config.hidden] * self.config.depth
        return dead_by_layer(layer_values(self.model, self.X_train)[0], "relu")

    @np.errstate(over="ignore", invalid="ignore")
    def current_metrics(self) -> dict[str, Any]:
        """Loss and accuracy with the weights the network holds now (after every update).

        The curves' last entry was measured at the start of the last epoch, one update
        earlier; these are what the next entry will be (for full batch; a mini-batch
        epoch's entry averages its batches). ``loss`` includes the L2 penalty, as the curves.
        """
        out: dict[str, Any] = {"epoch": self.epochs}
        for key, X, y, l2 in (
            ("", self.X_train, self.y_train, self.config.l2),
            ("val_", self.X_test, self.y_test, 0.0),  # data loss alone, as val_loss
        ):
            out[key + "loss"] = as_json(objective(self.model, X, y, l2))
            out[key + "accuracy"] = float(np.mean((self.model.predict_logits(X)[:, 0] > 0) == y))
        return out

    @np.errstate(over="ignore", invalid="ignore")
    def units(self, feature: str) -> dict[str, Any]:
        """Each hidden unit's activation h over (at most UNITS_ROWS) training borrowers,
        against one raw input feature: what the unit responds to."""
        rows = min(P.UNITS_ROWS, self.n_train)
        h = layer_values(self.model, self.X_train[:rows])[0][0]["h"]  # the first hidden layer
        return {
            "feature": feature,
            "x": as_json(self.raw_train[feature].to_numpy()[:rows]),
            "label": as_json(self.y_train[:rows]),
            "h": as_json(h.T),
            "dead": self.dead_by_layer()[0],
            "epoch": self.epochs,
        }

    def snapshot(self, spec: P.BorrowerSpec | None = None) -> dict[str, Any]:
        """Everything the page needs to draw this session from scratch."""
        return {
            "session": self.id,
            "config": self.config.to_dict(),
            "limits": P.limits(),
            "data": {
                "features": list(FEATURES),
                "n_train": self.n_train,
                "n_test": int(self.X_test.shape[0]),
                "default_rate_train": float(self.y_train.mean()),
                "bayes": self.bayes,
            },
            "history": {
                "epoch": list(range(self.epochs)),
                **{key: as_json(values) for key, values in self.curves.items()},
            },
            "status": self.status(),
            "network": self.network(spec),
        }


class SessionStore:
    """At most ``max_sessions`` sessions; the least recently used goes first."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1; got {max_sessions}")
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    def ids(self) -> list[str]:
        """The live session ids, least recently used first."""
        with self._lock:
            return list(self._sessions)

    def create(self, config: P.Config) -> Session:
        session = Session(secrets.token_urlsafe(12), config)  # built outside the store lock
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    @contextmanager
    def use(self, session_id: str) -> Iterator[Session]:
        """The session, marked most recently used and locked for the caller.

        For callers in this process; a request from a page goes through ``use_as_owner``.
        """
        with self._take(session_id, None) as session:
            yield session

    @contextmanager
    def use_as_owner(self, session_id: str, token: str | None) -> Iterator[Session]:
        """Like ``use``, for the holder of the session's token only (else 403)."""
        with self._take(session_id, token or "") as session:
            yield session

    @contextmanager
    def _take(self, session_id: str, token: str | None) -> Iterator[Session]:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise SessionExpired()
            if token is not None and not session.owned_by(token):
                raise SessionTokenRefused(header_missing=not token)
            self._sessions.move_to_end(session_id)  # only a valid call keeps it alive
        with session.lock:
            yield session


def check_spec(body: Mapping[str, Any] | None, session: Session) -> P.BorrowerSpec | None:
    """Parse an optional borrower spec against this session's training split."""
    return None if body is None else P.parse_borrower(body, session.n_train)
