"""Synthetic credit-risk data and small data helpers.

The generator draws borrowers from a fixed population, scores them with a
hidden logistic risk model and draws a default label from it.  Because the
model is known, the true probability of default ``P(default = 1 | x)`` is
returned alongside the labels, so the Bayes-optimal accuracy and log loss of
any sample can be computed exactly and used as a ceiling for trained models.
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._util.validation import check_labels_and_scores
from .feature_names import FEATURES as FEATURES

if TYPE_CHECKING:
    import pandas as pd

# pandas, SciPy and scikit-learn load in the functions that use them (a second or more
# together), so that what needs only FEATURES and the constants (the explorer's server)
# starts at once; FEATURES itself lives in feature_names, which needs no NumPy either.

# Weights of the hidden risk score on standardised features (+ raises risk).
TRUE_WEIGHTS: dict[str, float] = {
    "age": -0.15,
    "annual_income": -0.6,
    "debt_to_income": 0.7,
    "credit_history_years": -0.45,
    "late_payments": 0.8,
    "home_owner": -0.2,
    "employment_years": -0.35,
}

# Population mean and standard deviation of each feature.  Computed once from
# 20 million borrowers drawn by this generator, rounded to four significant
# figures and frozen here, so a borrower's score never depends on the sample
# it happens to be in.
REFERENCE_MEAN: dict[str, float] = {
    "age": 45.55,
    "annual_income": 51580.0,
    "debt_to_income": 0.3571,
    "credit_history_years": 13.78,
    "late_payments": 1.011,
    "home_owner": 0.336,
    "employment_years": 11.82,
}
REFERENCE_STD: dict[str, float] = {
    "age": 13.14,
    "annual_income": 28180.0,
    "debt_to_income": 0.1694,
    "credit_history_years": 9.474,
    "late_payments": 1.146,
    "home_owner": 0.4723,
    "employment_years": 8.336,
}

DEFAULT_NOISE = 1.0
DEFAULT_INTERCEPT = -0.25

# Nonlinear risk design (raw feature units).
DTI_THRESHOLD = 0.43  # risk ramps up over debt_to_income in [0.43, 0.53]
LATE_THRESHOLD = 3  # risk jumps once late_payments >= 3
LOW_INCOME = 40_000.0  # "low income" ramps in below 40k, fully on at 30k
# Population mean of the extra nonlinear terms (same 20-million-borrower
# sample, rounded), subtracted so that `intercept` keeps its meaning.
_NONLINEAR_CENTRE = 2.12

# Planted bias (see make_credit_risk): a group attribute drawn independently of the
# seven features, whose members get a higher hidden risk score.
GROUP_COLUMN = "group"
DEFAULT_BIAS_GROUP_SHARE = 0.3


class CreditRiskData(NamedTuple):
    """Features ``X``, labels ``y`` ("default") and true ``p_default``."""

    X: pd.DataFrame
    y: pd.Series
    p_default: pd.Series

    def frame(self, include_p_default: bool = False) -> pd.DataFrame:
        """Features and ``default`` (and ``p_default`` if asked) in one frame."""
        import pandas as pd

        parts = [self.X, self.y] + ([self.p_default] if include_p_default else [])
        return pd.concat(parts, axis=1)


def _ramp(t: np.ndarray) -> np.ndarray:
    """clip(t, 0, 1): 0 below the threshold, 1 above it, linear in between."""
    return np.clip(t, 0.0, 1.0)


def _draw_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the seven features; distributions as listed in make_credit_risk."""
    import pandas as pd
    from scipy.special import expit

    age = 18.0 + 62.0 * rng.beta(2.0, 2.5, n)
    log_income = rng.normal(10.5 + 0.008 * (age - 18.0), 0.5)
    dti = rng.beta(2.5, 4.5, n)
    history = (age - 18.0) * rng.beta(2.0, 2.0, n)
    late = rng.poisson(np.exp(-0.6 + 2.5 * dti - 0.03 * history))
    own_logit = -2.5 + 0.06 * (age - 18.0) + (log_income - 10.7)
    home = rng.random(n) < expit(own_logit)
    employment = (age - 16.0) * rng.beta(2.0, 3.0, n)
    columns = {
        "age": age,
        "annual_income": np.exp(log_income),
        "debt_to_income": dti,
        "credit_history_years": history,
        "late_payments": late.astype(np.int64),
        "home_owner": home.astype(np.int64),
        "employment_years": employment,
    }
    return pd.DataFrame(columns, columns=list(FEATURES))


def _linear_score(X: pd.DataFrame) -> np.ndarray:
    """sum_j w_j * (x_j - mean_j) / std_j with the frozen population constants."""
    return sum(
        TRUE_WEIGHTS[f] * (X[f].to_numpy(np.float64) - REFERENCE_MEAN[f]) / REFERENCE_STD[f]
        for f in FEATURES
    )


def _nonlinear_terms(X: pd.DataFrame) -> np.ndarray:
    """Thresholds, an interaction and a U-shape in age (see make_credit_risk)."""
    age = X["age"].to_numpy(np.float64)
    dti_high = _ramp((X["debt_to_income"].to_numpy(np.float64) - DTI_THRESHOLD) / 0.1)
    low_income = _ramp((LOW_INCOME - X["annual_income"].to_numpy(np.float64)) / 10_000.0)
    many_late = (X["late_payments"].to_numpy() >= LATE_THRESHOLD).astype(np.float64)
    return (
        2.5 * np.abs(age - 45.0) / 15.0
        + 0.8 * dti_high
        + 0.6 * many_late
        + 0.6 * dti_high * low_income
        - _NONLINEAR_CENTRE
    )


def _risk_score(X: pd.DataFrame, intercept: float, nonlinear: bool) -> np.ndarray:
    """The hidden score s of make_credit_risk, before any planted bias."""
    if nonlinear:
        return intercept + 0.6 * _linear_score(X) + _nonlinear_terms(X)
    return intercept + _linear_score(X)


def _draw_group(n: int, seed: int, share: float) -> np.ndarray:
    """group ~ Bernoulli(share), from a stream of its own (spawn key 1 of ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    return (rng.random(n) < share).astype(np.int64)


def _check_bias_arguments(planted_bias: float | None, share: float) -> None:
    if planted_bias is not None and not math.isfinite(planted_bias):
        raise ValueError(f"planted_bias must be finite, got {planted_bias!r}")
    if not (math.isfinite(share) and 0.0 < share < 1.0):
        raise ValueError(f"bias_group_share must be strictly between 0 and 1, got {share!r}")


def make_credit_risk(
    n: int,
    seed: int = 0,
    *,
    noise: float = DEFAULT_NOISE,
    intercept: float = DEFAULT_INTERCEPT,
    nonlinear: bool = False,
    planted_bias: float | None = None,
    bias_group_share: float = DEFAULT_BIAS_GROUP_SHARE,
) -> CreditRiskData:
    """Draw ``n`` synthetic borrowers and their default labels.

    Features (Beta(a, b) on [0, 1], N(mu, sigma^2), Poisson(lam), Bernoulli(q)):

    - ``age = 18 + 62 * Beta(2, 2.5)``, in [18, 80], mean about 45.6;
    - ``annual_income = exp(N(10.5 + 0.008 (age - 18), 0.5^2))``, log-normal,
      median about 36k at 18 rising to about 59k at 80;
    - ``debt_to_income ~ Beta(2.5, 4.5)``, in [0, 1], mean about 0.36;
    - ``credit_history_years = (age - 18) * Beta(2, 2)``, in [0, age - 18];
    - ``late_payments ~ Poisson(exp(-0.6 + 2.5 dti - 0.03 history))``: more
      late payments with higher debt-to-income, fewer with longer history;
    - ``home_owner ~ Bernoulli(sigma(-2.5 + 0.06 (age - 18) + log income - 10.7))``:
      ownership rises with age and income;
    - ``employment_years = (age - 16) * Beta(2, 3)``, in [0, age - 16].

    Hidden risk score, with ``z_j = (x_j - REFERENCE_MEAN_j) / REFERENCE_STD_j``::

        s = intercept + sum_j TRUE_WEIGHTS_j * z_j

    and, if ``nonlinear``, ``s = intercept + 0.6 * sum_j w_j z_j + g(x)`` with
    ``g`` (centred to population mean 0) the sum of a U-shape in age
    ``2.5 |age - 45| / 15``; a ramp ``0.8 r`` with ``r = clip((dti - 0.43) / 0.1, 0, 1)``;
    a jump ``0.6 * [late_payments >= 3]``; and the interaction
    ``0.6 r * clip((40000 - income) / 10000, 0, 1)`` (high DTI on a low income).

    Label: ``default = [s + noise * eps > 0]`` with ``eps ~ Logistic(0, 1)``
    (CDF sigma).  Hence, exactly, ``P(default = 1 | x) = sigma(s / noise)``,
    which is returned as ``p_default`` (``[s > 0]`` when ``noise == 0``).
    Larger ``noise`` means more irreducible randomness.  Features are drawn
    before labels, so they do not depend on ``noise``, ``intercept`` or
    ``nonlinear``.

    Planted bias (off unless ``planted_bias`` is given): ``X`` gains an eighth
    column ``group`` (int 0/1), ``group ~ Bernoulli(bias_group_share)`` drawn
    independently of the seven features, and the score becomes::

        s = (the score above) + planted_bias * group

    So the *size* of the bias is ``planted_bias`` on the score scale: all else
    equal, a member of group 1 has log-odds of default higher by
    ``planted_bias / noise`` (exactly ``planted_bias`` at the default noise 1).
    Because the group is independent of the features, the groups are alike in
    every feature and differ only by the planted term; ``planted_bias=0`` adds
    the column with no effect (a control). On the approval scale (approve when
    ``p_default < threshold``) the size is :func:`planted_approval_gap`. The
    group is drawn from its own random stream, so the seven features, and the
    labels of group 0, are bit-identical to the draw without a planted bias.

    Measured at n = 20000, seed 0: at the defaults (noise 1, intercept -0.25)
    45.4% default (44.0% nonlinear) and the Bayes-optimal accuracy is 0.760
    (0.776 nonlinear).  ``intercept`` shifts the class balance: 0 gives 49.4%
    defaults and -2 gives 20.6%.
    """
    import pandas as pd
    from scipy.special import expit

    if isinstance(n, bool) or not isinstance(n, Integral):
        raise ValueError(f"n must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    if not math.isfinite(intercept):
        raise ValueError(f"intercept must be finite, got {intercept!r}")
    _check_bias_arguments(planted_bias, bias_group_share)

    rng = np.random.default_rng(int(seed))
    X = _draw_features(int(n), rng)
    eps = rng.logistic(0.0, 1.0, int(n))
    s = _risk_score(X, intercept, nonlinear)
    if planted_bias is not None:
        group = _draw_group(int(n), int(seed), bias_group_share)
        X[GROUP_COLUMN] = group
        s = s + planted_bias * group
    if noise > 0:
        with np.errstate(over="ignore"):  # tiny noise: s / noise = +-inf, sigma exact
            p = expit(s / noise)
        label = s + noise * eps > 0
    else:
        p = (s > 0).astype(np.float64)
        label = s > 0
    y = pd.Series(label.astype(np.int64), name="default")
    return CreditRiskData(X, y, pd.Series(p, name="p_default"))


def planted_approval_gap(
    planted_bias: float,
    *,
    threshold: float = 0.5,
    noise: float = DEFAULT_NOISE,
    intercept: float = DEFAULT_INTERCEPT,
    nonlinear: bool = False,
    n: int = 400_000,
    seed: int = 20_240_601,
) -> float:
    """The size of a planted bias in approval-rate points: what it costs group 1.

    A lender that knew the true probabilities approves when
    ``p_default < threshold``. With ``p(s) = sigma(s / noise)`` and the unbiased
    score ``s`` of make_credit_risk, the planted bias lowers the approval rate of
    group 1 by::

        gap = P(p(s) < threshold) - P(p(s + planted_bias) < threshold)

    (the groups share one feature distribution, so this is also the expected
    approval-rate difference between group 0 and group 1 under that rule: the
    demographic-parity difference a perfect model shows). The probabilities are
    population averages, estimated on ``n`` fresh borrowers, each scored both
    ways (Monte Carlo error below 0.001 at the default ``n``).
    """
    from scipy.special import expit

    _check_bias_arguments(planted_bias, DEFAULT_BIAS_GROUP_SHARE)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    X = _draw_features(int(n), np.random.default_rng(int(seed)))
    s = _risk_score(X, intercept, nonlinear)

    def approval_rate(score: np.ndarray) -> float:
        if noise == 0:
            p = (score > 0).astype(np.float64)
        else:
            with np.errstate(over="ignore"):
                p = expit(score / noise)
        return float(np.mean(p < threshold))

    return approval_rate(s) - approval_rate(s + planted_bias)


def _check_labels_probs(
    y: ArrayLike | None, p_default: ArrayLike
) -> tuple[np.ndarray | None, np.ndarray]:
    """Labels (None when not given) and true probabilities, checked."""
    if y is None:
        no_labels = np.zeros(np.size(p_default), dtype=np.int64)
        return None, check_labels_and_scores(no_labels, p_default, name="p_default")[1]
    return check_labels_and_scores(y, p_default, y_name="y", name="p_default")


def bayes_optimal_accuracy(y: ArrayLike, p_default: ArrayLike) -> float:
    """Accuracy on this sample of the Bayes classifier ``y_hat = [p > 1/2]``."""
    labels, p = _check_labels_probs(y, p_default)
    return float(np.mean((p > 0.5).astype(np.int64) == labels))


def expected_bayes_accuracy(p_default: ArrayLike) -> float:
    """Expected Bayes accuracy ``mean_i max(p_i, 1 - p_i)`` (no labels needed)."""
    _, p = _check_labels_probs(None, p_default)
    return float(np.mean(np.maximum(p, 1.0 - p)))


def bayes_optimal_log_loss(y: ArrayLike, p_default: ArrayLike) -> float:
    """Mean log loss of the true probabilities on this sample.

    ``-(1/n) sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]``, with ``p`` clipped
    to ``[eps, 1 - eps]`` (``eps`` = float64 machine epsilon) so that a label
    the model calls impossible costs a large finite amount, as in scikit-learn.
    """
    labels, p = _check_labels_probs(y, p_default)
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(labels == 1, np.log(p), np.log1p(-p))))


class Standardizer:
    """Per-column standardisation ``z = (x - mean_train) / std_train``.

    Fit on training data only, then transform training and test data with the
    training statistics, so no information leaks from the test set.
    ``std`` is the population standard deviation; columns with zero variance
    get ``scale_ = 1`` (they map to 0).
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    @staticmethod
    def _as_matrix(X: ArrayLike, name: str) -> np.ndarray:
        A = np.asarray(X, dtype=np.float64)
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (rows x columns), got {A.ndim}-D")
        if not np.all(np.isfinite(A)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return A

    def _check(self, X: ArrayLike, name: str) -> np.ndarray:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer is not fitted yet; call fit(X_train) first")
        A = self._as_matrix(X, name)
        if A.shape[1] != self.mean_.size:
            raise ValueError(
                f"{name} has {A.shape[1]} columns but the Standardizer was fitted "
                f"on {self.mean_.size}"
            )
        return A

    def fit(self, X: ArrayLike) -> Standardizer:
        """Learn ``mean_`` and ``scale_`` (population std, 1 where it is 0)."""
        A = self._as_matrix(X, "X")
        if A.shape[0] == 0:
            raise ValueError("X has no rows to fit on")
        self.mean_ = A.mean(axis=0)
        std = A.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """``z = (x - mean_) / scale_`` as a float64 array."""
        return (self._check(X, "X") - self.mean_) / self.scale_

    def fit_transform(self, X: ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: ArrayLike) -> np.ndarray:
        """``x = z * scale_ + mean_`` as a float64 array."""
        return self._check(Z, "Z") * self.scale_ + self.mean_


def stratified_split(
    X: pd.DataFrame | np.ndarray,
    y: pd.Series | np.ndarray,
    test_size: float = 0.2,
    seed: int = 0,
) -> tuple:
    """Split into ``(X_train, X_test, y_train, y_test)`` keeping class shares.

    Deterministic for a given ``seed``; input types (DataFrame/Series or array)
    are preserved.
    """
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    return X_train, X_test, y_train, y_test
