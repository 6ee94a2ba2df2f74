"""Backward passes with one planted bug each: a gradient check must fail every one."""

from __future__ import annotations

import numpy as np

from backprop_lab.nn.layers import Dense, ReLU
from backprop_lab.nn.losses import BinaryCrossEntropy
from backprop_lab.nn.model import Sequential


class ReLUWithoutMask(ReLU):
    def backward(self, g):
        return g  # bug: forgets ReLU'(x)


class DenseTransposed(Dense):
    def backward(self, g, need_input_grad=True):
        self.grads["W"] = self.x.T @ g
        self.grads["b"] = g.sum(axis=0)
        return g @ self.params["W"]  # bug: W instead of W^T (square layer, so shapes agree)


class BCEWithoutMean(BinaryCrossEntropy):
    def backward(self):
        return self.dl_dz(self.z, self.y)  # bug: forgets the 1/N of the mean


class WrongSignL2(Sequential):
    def loss_and_gradients(self, X, y, loss, *, l2=0.0, sample_weight=None):
        # bug: the penalty's gradient l2 * W subtracted instead of added (J keeps +l2/2 ||W||^2)
        value, grads = super().loss_and_gradients(X, y, loss, l2=-l2, sample_weight=sample_weight)
        weights = [v for k, v in self.params.items() if k.startswith("W")]
        return value + l2 * sum(float(np.sum(W * W)) for W in weights), grads
