"""Age bands, and the US Regulation B check on the model's use of an applicant's age.

Regulation B lets an empirically derived scoring system use age only if the age of an
elderly applicant (62 or over) is not given a negative factor or value: here, the age
attribution of every elderly applicant is compared with the most favoured younger age
class (:func:`age_adverse_check`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .._util.validation import InputError
from .fairness_table import _clean

#: Age bands used on the synthetic data: under 25, 25-39, 40-61, 62 and over.
AGE_BINS: tuple[float, ...] = (25, 40, 62)
#: Age from which US Regulation B counts an applicant as elderly.
ELDERLY_AGE = 62


def _band_labels(bins: Sequence[float]) -> list[str]:
    """'under 25', '25-39', '40-61', '62 and over' (integer edges) or 'a to under b'."""

    def show(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    labels = [f"under {show(bins[0])}"]
    for lo, hi in itertools.pairwise(bins):
        if float(lo).is_integer() and float(hi).is_integer():
            labels.append(f"{show(lo)}-{show(hi - 1)}")
        else:
            labels.append(f"{show(lo)} to under {show(hi)}")
    labels.append(f"{show(bins[-1])} and over")
    return labels


def age_bands(
    ages: ArrayLike,
    bins: Sequence[float] = AGE_BINS,
    labels: Sequence[str] | None = None,
) -> pd.Series:
    """Cut a numeric column into bands [-inf, b0), [b0, b1), ..., [b_last, inf).

    With the default edges (25, 40, 62): 'under 25', '25-39', '40-61', '62 and over'.
    Returns an ordered categorical Series (same index as ``ages`` if it is a Series).
    """
    edges = [float(b) for b in bins]
    if not edges or any(not math.isfinite(b) for b in edges) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be finite and strictly increasing; got {list(bins)}")
    names = _band_labels(edges) if labels is None else [str(s) for s in labels]
    if len(names) != len(edges) + 1:
        raise ValueError(
            f"{len(edges)} bin edges make {len(edges) + 1} bands; got {len(names)} labels"
        )
    index = ages.index if isinstance(ages, pd.Series) else None
    name = ages.name if isinstance(ages, pd.Series) and ages.name is not None else "age"
    values = np.asarray(ages, dtype=np.float64).ravel()
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError("must hold finite numbers", column=str(name), row=int(np.argmax(bad)))
    codes = np.searchsorted(np.asarray(edges), values, side="right")
    cat = pd.Categorical.from_codes(codes, categories=names, ordered=True)
    return pd.Series(cat, index=index, name=f"{name}_band")


@dataclass(frozen=True)
class AgeAdverseResult:
    """Outcome of :func:`age_adverse_check`; ``passed`` when no elderly applicant is adverse."""

    n_elderly: int
    n_adverse: int
    share_adverse: float
    n_raises_risk: int
    share_raises_risk: float
    most_favoured_class: str
    most_favoured_value: float
    tolerance: float
    classes: pd.DataFrame

    @property
    def passed(self) -> bool:
        return self.n_adverse == 0

    def to_dict(self) -> dict:
        """JSON-ready: NaN as None, the class table as a list of records."""
        out = {k: _clean(v) for k, v in asdict(self).items() if k != "classes"}
        out["passed"] = self.passed
        out["classes"] = [
            {k: _clean(v) for k, v in rec.items()} for rec in self.classes.to_dict(orient="records")
        ]
        return out


def age_adverse_check(
    age_attribution: ArrayLike,
    ages: ArrayLike,
    *,
    elderly_age: float = ELDERLY_AGE,
    bins: Sequence[float] = (25, 40),
    tolerance: float = 0.0,
) -> AgeAdverseResult:
    """Is the model's use of age ever adverse to an elderly applicant?

    US Regulation B lets an empirically derived scoring system use age only if the
    age of an elderly applicant (62 or over) is not given a *negative factor or
    value*: a value less favourable than the one given to the class of non-elderly
    applicants most favoured on the basis of age. Here, with ``age_attribution`` the
    contribution of age to each applicant's log-odds of default (e.g. integrated
    gradients, all applicants against one baseline; positive raises risk):

    - the non-elderly applicants are cut into age classes at ``bins`` (default
      under 25, 25-39, 40-61); a class's value is its median age attribution;
    - the most favoured class is the one with the lowest median (age lowers its risk
      the most), its median v*;
    - an elderly applicant is ADVERSE when their age attribution > v* + ``tolerance``.

    Also reported: how many elderly applicants have a positive age attribution at
    all (age raises their risk relative to the baseline). Counts and shares are of
    the elderly applicants.
    """
    a, age = check_age_inputs(age_attribution, ages)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative number; got {tolerance!r}")
    edges = [float(b) for b in bins]
    if any(b >= elderly_age for b in edges):
        raise ValueError(f"bins must lie below the elderly age {elderly_age:g}; got {list(bins)}")
    elderly = age >= elderly_age
    young = ~elderly
    if not young.any():
        raise ValueError(f"no applicant is under {elderly_age:g}: nothing to compare with")
    bands = age_bands(age[young], bins=[*edges, elderly_age]) if edges else None
    if bands is not None:
        classes = (
            pd.DataFrame({"class": bands.array, "attribution": a[young]})
            .groupby("class", observed=True, sort=True)["attribution"]
            .agg(count="size", median_attribution="median")
            .reset_index()
        )
        classes["class"] = classes["class"].astype(str)
    else:
        classes = pd.DataFrame(
            {
                "class": [f"under {elderly_age:g}"],
                "count": [int(young.sum())],
                "median_attribution": [float(np.median(a[young]))],
            }
        )
    best = int(np.argmin(classes["median_attribution"].to_numpy()))
    v_star = float(classes["median_attribution"].iloc[best])
    n_elderly = int(elderly.sum())
    n_adverse = int(np.sum(a[elderly] > v_star + tolerance))
    n_raises = int(np.sum(a[elderly] > 0))

    def share(k: int) -> float:
        return k / n_elderly if n_elderly else math.nan

    return AgeAdverseResult(
        n_elderly=n_elderly,
        n_adverse=n_adverse,
        share_adverse=share(n_adverse),
        n_raises_risk=n_raises,
        share_raises_risk=share(n_raises),
        most_favoured_class=str(classes["class"].iloc[best]),
        most_favoured_value=v_star,
        tolerance=float(tolerance),
        classes=classes,
    )


def check_age_inputs(age_attribution: ArrayLike, ages: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both as 1-D float64 arrays of equal length and finite, or an error naming the row."""
    a = np.asarray(age_attribution, dtype=np.float64).ravel()
    age = np.asarray(ages, dtype=np.float64).ravel()
    if a.shape != age.shape:
        raise ValueError(f"age_attribution has {a.size} values but ages has {age.size}")
    for arr, column in ((a, "age_attribution"), (age, "age")):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError("must hold finite numbers", column=column, row=int(np.argmax(bad)))
    return a, age
