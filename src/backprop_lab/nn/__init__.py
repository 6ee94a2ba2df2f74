"""The network: layers (backward beside forward), losses, initialisation, the model."""

from .layers import ACTIVATIONS, Dense, LeakyReLU, ReLU, Sigmoid, Tanh
from .losses import LOSSES, BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy, get_loss
from .model import Sequential, mlp

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "BinaryCrossEntropy",
    "Dense",
    "LeakyReLU",
    "MeanSquaredError",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "get_loss",
    "mlp",
]
