"""A cluster-trained model's stored facts, from per-partition pieces: the training
distributions that ``monitor`` compares new rows with, and the ``model_card`` block.

:func:`table_facts` gives what ``fit_tabular`` stores from the gathered frame
(:func:`~backprop_lab.classifier.monitor.reference_distributions` and
:func:`~backprop_lab.classifier.card_facts.training_facts`), here without gathering the
rows to the client:

* quantile edges, exact. ``np.quantile``'s default ("linear") edge j is, with n present
  values sorted as s_0 <= ... <= s_{n-1}, q = j/k, v = (n - 1) q, i = floor(v),
  g = v - i: lerp(s_i, s_{min(i+1, n-1)}, g), numpy's lerp
  (a + (b - a) g, or b - (b - a)(1 - g) when g >= 0.5). Each order statistic s_r is
  found by selection by counting: start from [min, max] (one pass: n, min, max per
  partition); a pass counts, per partition, the values of an interval [lo, hi) in
  ``refine_bins`` equal-width bins (and their least and largest); the bin that holds
  rank r becomes the next interval (``below``, the values under lo, grows by the bins
  before it); when an interval holds at most ``gather_limit`` values, they are sent to
  the client and sorted, s_r = sorted[r - below]; when its least and largest value
  are equal, that is s_r. So the edges are np.quantile's to the last bit, and at most
  2 (k - 1) ``gather_limit`` values per column reach the client, however many rows
  there are. Passes: 1 + about log(n / gather_limit) / log(refine_bins) + 1 (for a
  million values in four partitions: 1 + 2 normal, 1 + 3 lognormal with sigma 0.6,
  1 + 5 with sigma 3: the bins are equal-width, so a long tail that crowds most values
  into one bin adds passes), over values held in worker memory (the numeric columns
  and the score of the training rows);
* counts per bin: one more pass, each partition counting its rows in the final bins
  (NumericBins.count, CategoricalBins.count); counts add up, so they are exact;
* the score: the model's P(default) of each training row, computed on the workers, binned
  as a numeric column;
* the card: rows, label counts and defaults per split (all, train, calibration, test),
  summed per partition, and each numeric column's least and
  largest training value, widened by ``outward_range``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..classifier.card_facts import outward_range
from ..classifier.drift import CategoricalBins, NumericBins, TrainingDistributions
from ..classifier.tabular_model import TabularModel
from ..data.tabular import parse_target, to_numbers, to_text
from .partials import tree_sum
from .tables import Table, calibration_rows, test_rows, training_rows

#: The key of the score among the numeric columns' values (no column name is a tuple).
SCORE_KEY = ("score",)
#: Equal-width bins per refinement pass, and the most values of an interval sent to
#: the client.
REFINE_BINS = 1024
GATHER_LIMIT = 4096

#: What a cluster-trained model's distributions were counted on.
TABLE_TRAINING_ROWS = (
    "the rows the preprocessing and the network were fitted on: the rows of every file "
    "outside the held-out test share (a seeded row hash), and outside the calibration "
    "share when the model is calibrated"
)


# ---- per partition -------------------------------------------------------------------------
def _values(frame, model: TabularModel, test_size, test_seed, cal, file, score: bool) -> dict:
    """{column: its training values as floats (NaN: missing), SCORE_KEY: P(default)}."""
    train = training_rows(frame, test_size, test_seed, cal)
    out = {c.name: to_numbers(train[c.name], file=file) for c in model.preprocessor.numeric}
    if score and model.is_binary:
        proba = model.predict_proba(train, file=file, unseen=Counter())
        out[SCORE_KEY] = proba[:, model.positive_index].astype(np.float64)
    return out


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _label_counts(series: pd.Series, file: str) -> dict:
    values, counts = np.unique(parse_target(series, file=file), return_counts=True)
    return {_plain(v): int(c) for v, c in zip(values, counts, strict=True)}


def _summary(frame, values: dict, model, target, test_size, test_seed, cal, file) -> dict:
    """One partition: per key (n present, least, largest); label counts per split;
    categorical counts per bin."""
    train = training_rows(frame, test_size, test_seed, cal)
    calibration = (
        _label_counts(calibration_rows(frame, test_size, test_seed, cal)[target], file)
        if cal is not None
        else {}
    )
    numeric, finite = {}, {}
    for key, x in values.items():
        present = x[~np.isnan(x)]
        numeric[key] = (present.size, *_least_largest(present))
        finite[key] = _least_largest(x[np.isfinite(x)])
    return {
        "columns": int(frame.shape[1]),
        "numeric": numeric,
        "finite": finite,
        "labels": {
            "all": _label_counts(frame[target], file),
            "train": _label_counts(train[target], file),
            "calibration": calibration,
            "test": _label_counts(test_rows(frame, test_size, test_seed)[target], file),
        },
        "categorical": {
            c.name: CategoricalBins.fit(to_text(train[c.name]), c.categories).counts
            for c in model.preprocessor.categorical
        },
    }


def _least_largest(x: np.ndarray) -> tuple[float, float]:
    return (float(x.min()), float(x.max())) if x.size else (np.inf, -np.inf)


def _add_counts(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}


def _add_summaries(a: dict, b: dict) -> dict:
    numeric = {}
    for key, (na, lo_a, hi_a) in a["numeric"].items():
        nb, lo_b, hi_b = b["numeric"][key]
        numeric[key] = (na + nb, min(lo_a, lo_b), max(hi_a, hi_b))
    finite = {
        key: (min(lo, b["finite"][key][0]), max(hi, b["finite"][key][1]))
        for key, (lo, hi) in a["finite"].items()
    }
    return {
        "columns": a["columns"],
        "numeric": numeric,
        "finite": finite,
        "labels": {s: _add_counts(a["labels"][s], b["labels"][s]) for s in a["labels"]},
        "categorical": {
            k: [x + y for x, y in zip(v, b["categorical"][k], strict=True)]
            for k, v in a["categorical"].items()
        },
    }


def _refine(values: dict, request: dict) -> dict:
    """Per key and interval [lo, hi): ('hist', edges) -> (counts per bin [e_i, e_{i+1}),
    least, largest); ('gather', lo, hi) -> the sorted values."""
    out: dict = {}
    for key, asks in request.items():
        x = values[key]
        for ask in asks:
            if ask[0] == "hist":
                edges = ask[1]
                inside = x[(x >= edges[0]) & (x < edges[-1])]
                i = np.searchsorted(edges, inside, side="right") - 1
                counts = np.bincount(i, minlength=len(edges) - 1)
                lo = float(inside.min()) if inside.size else np.inf
                hi = float(inside.max()) if inside.size else -np.inf
                out[(key, ask[1][0], ask[1][-1])] = ("hist", counts, lo, hi)
            else:
                _, lo, hi = ask
                out[(key, lo, hi)] = ("gather", np.sort(x[(x >= lo) & (x < hi)]))
    return out


def _add_refined(a: dict, b: dict) -> dict:
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va[0] == "hist":
            out[k] = ("hist", va[1] + vb[1], min(va[2], vb[2]), max(va[3], vb[3]))
        else:
            out[k] = ("gather", np.sort(np.concatenate([va[1], vb[1]])))
    return out


def _count(values: dict, edges: dict) -> dict:
    return {key: NumericBins(e, [0] * (len(e) + 2)).count(values[key]) for key, e in edges.items()}


def _add_count(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


# ---- the client's side ---------------------------------------------------------------------
def quantile_ranks(n: int, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.quantile's (linear) lower and upper ranks and weights for q = j/n_bins:
    v = (n - 1) q, i = floor(v), g = v - i; ranks i and i + 1, both n - 1 past the end."""
    q = np.arange(1, n_bins) / n_bins
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    gamma = virtual - previous
    lower = np.clip(previous, 0, n - 1).astype(np.int64)
    upper = np.clip(previous + 1, 0, n - 1).astype(np.int64)
    return lower, upper, gamma


def lerp(a: float, b: float, t: float) -> float:
    """numpy's lerp: a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5."""
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


def _edges_of(lo: float, hi: float, n: int) -> np.ndarray:
    """n equal-width bins from lo to hi (distinct edges, lo and hi included)."""
    e = lo + (hi / n - lo / n) * np.arange(n + 1)  # no overflow of hi - lo
    e = np.clip(e, lo, hi)
    e[0], e[-1] = lo, hi
    e = np.unique(e)
    step = np.nextafter(lo, np.inf)
    if len(e) == 2 and step < hi:  # rounding merged every interior edge: split off lo
        e = np.array([lo, step, hi])
    return e


def _run(client, leaves, add) -> Any:
    import dask

    return client.compute(tree_sum(leaves, dask.delayed(add))).result()


def order_statistics(
    client, parts: list, summary: dict, ranks: dict, *, refine_bins: int, gather_limit: int
) -> dict:
    """{key: {rank: s_rank}}: each rank's value among the key's present values, by counting
    (see the module docstring). ``parts``: the per-partition values, ``summary``: key ->
    (n, least, largest)."""
    import dask

    found: dict = {key: {} for key in ranks}
    # an open interval: [lo, hi), values below lo, values inside, ranks sought inside
    open_: list[list] = []
    for key, rs in ranks.items():
        n, least, largest = summary[key]
        if least == largest:
            found[key] = dict.fromkeys(rs, least)
        elif rs:
            open_.append([key, least, float(np.nextafter(largest, np.inf)), 0, n, sorted(rs)])
    while open_:
        request: dict = {}
        for key, lo, hi, _below, count, _rs in open_:
            ask = (
                ("gather", lo, hi)
                if count <= gather_limit
                else ("hist", _edges_of(lo, hi, refine_bins))
            )
            request.setdefault(key, []).append(ask)
        got = _run(client, [dask.delayed(_refine)(p, request) for p in parts], _add_refined)
        following = []
        for key, lo, hi, below, _count, rs in open_:
            reply = got[(key, lo, hi)]
            if reply[0] == "gather":
                for r in rs:
                    found[key][r] = float(reply[1][r - below])
                continue
            _, counts, least, largest = reply
            if least == largest:  # one value fills the interval
                found[key].update(dict.fromkeys(rs, least))
                continue
            edges = _edges_of(lo, hi, refine_bins)
            cum = np.cumsum(counts)
            bins: dict = {}
            for r in rs:
                bins.setdefault(int(np.searchsorted(cum, r - below, side="right")), []).append(r)
            for i, in_bin in bins.items():
                under = below + (int(cum[i - 1]) if i else 0)
                following.append(
                    [key, float(edges[i]), float(edges[i + 1]), under, int(counts[i]), in_bin]
                )
        open_ = following
    return found


def table_facts(
    model: TabularModel,
    table: Table,
    *,
    test_size: float,
    test_seed: int,
    n_bins: int,
    client: Any,
    calibration: tuple[float, int] | None = None,
    refine_bins: int = REFINE_BINS,
    gather_limit: int = GATHER_LIMIT,
) -> tuple[TrainingDistributions | None, dict, int]:
    """(training distributions (None for n_bins 0), the model_card block, rows of the
    files) of a model fitted on ``table``'s training rows (without the ``calibration``
    = (fraction, seed) share)."""
    import dask

    parts = [
        dask.delayed(_values)(part, model, test_size, test_seed, calibration, file, bool(n_bins))
        for part, file in zip(table.partitions(), table.files, strict=True)
    ]
    parts = client.persist(parts)  # held by the workers for the passes below
    summary = _run(
        client,
        [
            dask.delayed(_summary)(
                part, v, model, model.target, test_size, test_seed, calibration, file
            )
            for part, v, file in zip(table.partitions(), parts, table.files, strict=True)
        ],
        _add_summaries,
    )
    distributions = None
    if n_bins:
        distributions = _distributions(
            client, model, parts, summary, n_bins, refine_bins, gather_limit
        )
    card = _card(summary, model)
    return distributions, card, card["splits"]["all"]["rows"]


def _card(summary: dict, model: TabularModel) -> dict:
    """training_facts' block from the summed summary (no calibration rows)."""
    positive = model.positive_class if model.is_binary else None

    def split(counts: dict) -> dict:
        rows = sum(counts.values())
        out: dict = {"rows": rows}
        if positive is not None and rows:
            out["defaults"] = counts.get(positive, 0)
            out["default_rate"] = out["defaults"] / rows
        return out

    labels = summary["labels"]
    ranges = {
        c.name: outward_range(*summary["finite"][c.name])
        for c in model.preprocessor.numeric
        if summary["finite"][c.name][0] <= summary["finite"][c.name][1]
    }
    return {
        "columns": summary["columns"],
        "label_counts": [[v, labels["all"][v]] for v in sorted(labels["all"])],
        "splits": {
            "all": split(labels["all"]),
            "train": split(labels["train"]),
            "calibration": split(labels["calibration"]),
            "test": split(labels["test"]),
        },
        "numeric_ranges": ranges,
    }


def _distributions(client, model, parts, summary, n_bins, refine_bins, gather_limit):
    ranks, plan = {}, {}
    for key, (n, _lo, _hi) in summary["numeric"].items():
        if n:
            plan[key] = quantile_ranks(n, n_bins)
            ranks[key] = set(plan[key][0].tolist()) | set(plan[key][1].tolist())
    found = order_statistics(
        client, parts, summary["numeric"], ranks, refine_bins=refine_bins, gather_limit=gather_limit
    )
    edges = {}
    for key in summary["numeric"]:
        if key not in plan:
            edges[key] = []
            continue
        lower, upper, gamma = plan[key]
        s = found[key]
        q = [
            lerp(s[a], s[b], g)
            for a, b, g in zip(lower.tolist(), upper.tolist(), gamma.tolist(), strict=True)
        ]
        edges[key] = [float(v) for v in np.unique(q)]
    import dask

    counts = _run(client, [dask.delayed(_count)(p, edges) for p in parts], _add_count)
    numeric = {
        key: NumericBins(edges[key], [int(c) for c in counts[key]])
        for key in summary["numeric"]
        if key != SCORE_KEY
    }
    categorical = {
        c.name: CategoricalBins(
            list(c.categories), [int(x) for x in summary["categorical"][c.name]]
        )
        for c in model.preprocessor.categorical
    }
    score = None
    if SCORE_KEY in edges:
        score = NumericBins(edges[SCORE_KEY], [int(c) for c in counts[SCORE_KEY]])
    columns = {**numeric, **categorical}
    rows = {sum(b.counts) for b in columns.values()} | ({sum(score.counts)} if score else set())
    if len(rows) != 1:
        raise ValueError(f"the variables have different numbers of rows: {sorted(rows)}")
    return TrainingDistributions(rows.pop(), n_bins, score, columns, TABLE_TRAINING_ROWS)
