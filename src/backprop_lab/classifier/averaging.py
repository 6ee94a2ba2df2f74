"""``alpha='auto'``: the L2 strength chosen by cross-validation, and the fold networks averaged.

The rows are split (stratified by class) into K = round(1 / validation_fraction) folds.
For each candidate alpha in the grid, network k is trained on the rows outside fold k
(with early stopping on fold k when it is on), and scores fold k, so that every row gets
one out-of-fold logit z_oof,i. The chosen alpha minimises the out-of-fold log loss

    CV(alpha) = sum_i w_i l(z_oof,i(alpha), y_i) / sum_i w_i,

and the fitted model averages the logits of that alpha's K networks,

    z(x) = (1/K) sum_k z_k(x).

The K networks share their starting weights across candidates (a paired comparison).
Averaging is one network: hidden layer l of the average stacks the K networks' units side
by side (W_1 = [W_1^(1) ... W_1^(K)], deeper weights block-diagonal), and the output
layer sums them with weight 1/K (W_L = [W_L^(1); ...; W_L^(K)] / K, b_L = mean_k
b_L^(k)), so ``network_`` is an ordinary :func:`~backprop_lab.nn.mlp` with K times the
hidden units, saved and scored like any other. Why average: each fold network sees a
different 1 - 1/K of the rows and stops at a different epoch; their mean has the same
bias and less variance, the variance that made one small-data network overconfident.

The candidates are ALPHA_GRID, at present alpha = 10 alone (see its comment for the
measurement); ``cv_log_loss_`` then records the out-of-fold log loss of the average's
members, an honest estimate of held-out log loss. A file of at least SINGLE_NETWORK_ROWS
rows gets one network, trained as for a numeric alpha (the variance averaging removes is
then small, and K fits of a large file are not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..nn import Sequential, get_loss, mlp

if TYPE_CHECKING:
    from .estimator import BackpropClassifier

#: The alpha of a single network, and of partial_fit, under alpha='auto'.
DEFAULT_ALPHA = 10.0

#: Candidate alphas. One: searching (1, 3, 10, 30) chose by noise on files with about 20
#: defaults (their out-of-fold log loss rests on those 20 rows) and lost to alpha = 10 in
#: benchmarks/defaults_grid.py (n2000-d3-r1%: AUC -0.0097 and log loss x1.021 against LR,
#: where 10 alone gives -0.0053 and x1.002), while the averaging alone met the targets.
ALPHA_GRID = (DEFAULT_ALPHA,)

#: With alpha='auto', a file of at least this many rows gets one network. Below it the
#: fold networks are averaged: with 100 columns one network trails logistic regression's
#: ROC AUC by up to 0.02 even at 20,000 rows and 12% defaults (benchmarks/defaults_grid.py).
SINGLE_NETWORK_ROWS = 100_000


def n_folds(validation_fraction: float) -> int:
    """K = round(1 / validation_fraction), at least 2: each fold is one validation share."""
    return max(2, round(1.0 / validation_fraction))


def folds(y_index: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """The validation rows of each of ``k`` stratified folds (plain folds if a class has
    fewer than ``k`` rows)."""
    counts = np.bincount(y_index)
    rows = np.arange(len(y_index))
    if counts[counts > 0].min() >= k:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return [np.sort(v) for _, v in splitter.split(rows, y_index)]
    order = np.random.default_rng(seed).permutation(len(y_index))
    return [np.sort(part) for part in np.array_split(order, k)]


def average_networks(networks: list[Sequential], activation: str) -> Sequential:
    """One network whose logits are the mean of ``networks``' logits (module docstring)."""
    params = [net.get_params() for net in networks]
    n_layers = sum(1 for name in params[0] if name.startswith("b"))
    k = len(networks)
    hidden = [k * params[0][f"b{i}"].shape[0] for i in range(1, n_layers)]
    merged = mlp(
        networks[0].n_inputs,
        hidden=hidden,
        n_outputs=networks[0].n_outputs,
        activation=activation,
        seed=0,
    )
    out = merged.get_params()
    for i in range(1, n_layers + 1):
        Ws = [p[f"W{i}"] for p in params]
        bs = [p[f"b{i}"] for p in params]
        if i == 1:
            out["W1"] = np.hstack(Ws)
            out["b1"] = np.concatenate(bs)
        elif i < n_layers:
            out[f"W{i}"] = _block_diagonal(Ws)
            out[f"b{i}"] = np.concatenate(bs)
        else:
            out[f"W{i}"] = np.vstack(Ws) / k
            out[f"b{i}"] = np.mean(bs, axis=0)
    merged.set_params(out)
    return merged


def _block_diagonal(blocks: list[np.ndarray]) -> np.ndarray:
    rows = sum(b.shape[0] for b in blocks)
    cols = sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols), dtype=blocks[0].dtype)
    r = c = 0
    for b in blocks:
        out[r : r + b.shape[0], c : c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def fit_auto(
    clf: BackpropClassifier,
    X: np.ndarray,
    y_index: np.ndarray,
    sw: np.ndarray | None,
    weights: np.ndarray | None,
    sizes: tuple[int, ...],
    seeds: tuple[int, int, int],
) -> None:
    """Fit ``clf`` under alpha='auto': choose alpha by out-of-fold log loss and average the
    fold networks (module docstring). Sets network_, alpha_, cv_log_loss_ and the
    training records of the first fold network."""
    split_seed, init_seed, batch_seed = seeds
    k = n_folds(clf.validation_fraction)
    val_folds = folds(y_index, k, split_seed)
    grid = ALPHA_GRID
    loss = get_loss(clf._loss_name)
    init_seeds = np.random.default_rng(init_seed).integers(0, 2**31 - 1, size=k)
    batch_seeds = np.random.default_rng(batch_seed).integers(0, 2**31 - 1, size=k)
    w = np.ones(len(y_index)) if weights is None else weights
    cv, fitted = {}, {}
    for alpha in grid:
        z_oof = np.zeros((len(y_index), 1 if clf._loss_name == "bce" else len(clf.classes_)))
        members, records = [], []
        for fold, val_rows in enumerate(val_folds):
            train_rows = np.setdiff1d(np.arange(len(y_index)), val_rows, assume_unique=True)
            network = clf._build(sizes, X.shape[1], int(init_seeds[fold]))
            clf._train_network(
                network,
                X,
                y_index,
                sw,
                weights,
                train_rows,
                val_rows if clf.early_stopping_ else None,
                alpha,
                int(batch_seeds[fold]),
            )
            z_oof[val_rows] = network.predict_logits(X[val_rows])
            members.append(network)
            records.append(clf._records())
        y_oof = clf._targets(y_index)
        y_oof = y_oof.reshape(-1, 1) if not loss.takes_class_indices else y_oof
        cv[alpha] = float(loss.forward(z_oof, y_oof, w))
        fitted[alpha] = (members, records)
    best = min(grid, key=lambda a: (cv[a], a))  # ties go to the smaller alpha
    members, records = fitted[best]
    clf.network_ = average_networks(members, clf.activation)
    clf._optimizer = None  # the fold networks' Adam moments do not fit the average
    clf.alpha_ = best
    clf.cv_log_loss_ = cv
    clf.n_networks_ = k
    (clf.loss_curve_, clf.validation_scores_, clf.n_iter_, clf.best_epoch_, clf.best_loss_) = (
        records[0]
    )
