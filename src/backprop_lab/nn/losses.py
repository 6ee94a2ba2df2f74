"""Losses on the network's raw outputs (logits), each with its backward beside it.

Every loss is a weighted mean over the N rows, L = sum_i w_i l_i / sum_i w_i, with
w_i = 1 by default, so ``backward`` returns dL/dz = w_i (dl_i/dz_i) / sum_i w_i.
For the unweighted case that is the familiar (y_hat - y) / N. A batch whose weights
are all zero carries no information: its L and dL/dz are 0 (0/0 := 0), not NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax, softmax

from .._util.validation import check_class_indices


class Loss:
    """Base class: ``forward`` returns the scalar loss, ``backward`` returns dL/dz."""

    #: True when ``y`` holds integer class indices rather than targets shaped like z.
    takes_class_indices = False

    def forward(
        self, z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        """L = sum_i w_i l_i / sum_i w_i (0 when every w_i is 0)."""
        if z.shape[0] == 0:
            raise ValueError("cannot compute a loss on 0 rows")
        y = self.check_targets(z, y)
        self.z, self.y = z, y
        n = z.shape[0]
        if sample_weight is None:
            self.w = np.full(n, 1.0 / n)
        else:
            total = sample_weight.sum()
            self.w = sample_weight / total if total != 0 else np.zeros(n)
        return float(self.w @ self.per_row(z, y))

    def check_targets(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """y, checked against the outputs z: targets shaped like z (no broadcasting)."""
        if not self.takes_class_indices and y.shape != z.shape:
            raise ValueError(
                f"targets of shape {y.shape} do not match outputs of shape {z.shape}; "
                "refusing to broadcast"
            )
        return y

    def per_row(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """l_i for each row."""
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        """dL/dz = w_i dl_i/dz for the last ``forward`` call."""
        g = self.dl_dz(self.z, self.y)  # a new array, scaled in place
        g *= self.w.astype(self.z.dtype, copy=False)[:, None]
        return g

    def dl_dz(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dl_i/dz_i for each row."""
        raise NotImplementedError

    def predict(self, z: np.ndarray) -> np.ndarray:
        """Predicted labels (or values) from outputs z."""
        raise NotImplementedError

    def accuracy(
        self, z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        """Share of rows whose predicted label equals the target."""
        predicted = self.predict(z)
        hits = np.all(predicted == np.asarray(y).reshape(predicted.shape), axis=-1)
        return _weighted_mean(hits.reshape(-1), sample_weight)


def _weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    """sum_i w_i v_i / sum_i w_i, with 0/0 := 0 for weights that are all zero."""
    if weights is not None and np.sum(weights) == 0:
        return 0.0
    return float(np.average(values, weights=weights))


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on a logit z with y in {0, 1}; y_hat = sigmoid(z).

    l = -[y log sigmoid(z) + (1 - y) log sigmoid(-z)]. Since log sigmoid(z) = z - softplus(z)
    and log sigmoid(-z) = -softplus(z), this is l = softplus(z) - y z, with
    softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow, no log(0), exact
    when y_hat saturates at 0 or 1, and one exp and one log per entry.
    """

    def per_row(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """l_i = max(z, 0) - y z + log(1 + e^-|z|), summed over the single output."""
        return (np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))).sum(axis=1)

    def dl_dz(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dl/dz = sigmoid(z) - y = y_hat - y"""
        return expit(z) - y

    def predict(self, z: np.ndarray) -> np.ndarray:
        """1 where y_hat > 0.5, that is where z > 0."""
        return (z > 0).astype(z.dtype)

    @staticmethod
    def probabilities(z: np.ndarray) -> np.ndarray:
        return expit(z)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(z) against class indices y in {0, ..., K-1}.

    l = -log p_y with p = softmax(z) = e^z / sum_k e^z_k, via log-sum-exp (no overflow).
    """

    takes_class_indices = True

    def check_targets(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """y as integer class indices in 0..K-1, K = z.shape[1]: a label such as -1 (which
        indexing would silently read as the last class) or K is refused, naming its row."""
        return check_class_indices(y, n_classes=z.shape[1], n_rows=z.shape[0])

    def per_row(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """l_i = -log softmax(z_i)[y_i] = logsumexp(z_i) - z_i[y_i]"""
        return -np.take_along_axis(log_softmax(z, axis=1), y[:, None], axis=1)[:, 0]

    def dl_dz(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dl/dz = p - onehot(y): the same "prediction minus target" as the sigmoid case."""
        p = softmax(z, axis=1)
        p[np.arange(len(y)), y] -= 1.0
        return p

    def predict(self, z: np.ndarray) -> np.ndarray:
        """argmax_k z_k"""
        return np.argmax(z, axis=1)

    def accuracy(
        self, z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        return _weighted_mean(self.predict(z) == y, sample_weight)

    @staticmethod
    def probabilities(z: np.ndarray) -> np.ndarray:
        return softmax(z, axis=1)


class MeanSquaredError(Loss):
    """Mean squared error, l = mean over the K outputs of (z - y)^2 (as PyTorch's MSELoss)."""

    def per_row(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """l_i = (1/K) sum_k (z_ik - y_ik)^2"""
        return ((z - y) ** 2).mean(axis=1)

    def dl_dz(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dl/dz = 2 (z - y) / K"""
        return 2.0 * (z - y) / z.shape[1]

    def predict(self, z: np.ndarray) -> np.ndarray:
        """For 0/1 targets: 1 where z > 0.5."""
        return (z > 0.5).astype(z.dtype)

    @staticmethod
    def probabilities(z: np.ndarray) -> np.ndarray:
        return np.clip(z, 0.0, 1.0)


LOSSES: dict[str, type[Loss]] = {
    "bce": BinaryCrossEntropy,
    "softmax": SoftmaxCrossEntropy,
    "mse": MeanSquaredError,
}


def get_loss(loss: str | Loss) -> Loss:
    """A Loss instance from its name ('bce', 'softmax', 'mse') or an instance."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[loss]()
