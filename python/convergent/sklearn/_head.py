"""The output activation and loss of scikit-learn's MLP on convergent's losses."""

from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.activations import sigmoid


class _Head:
    """The output activation and loss of sklearn's MLP on top of convergent's losses.

    ``kind``: "softmax" (integer class targets), "logistic" (0/1 targets, one column per
    output) or "identity" (real targets). ``forward`` returns sklearn's data loss; ``backward``
    returns sklearn's gradient with respect to the logits, ``(output - target) / n_b``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loss = {
            "softmax": nn.SoftmaxCrossEntropy,
            "logistic": nn.BinaryCrossEntropy,
            "identity": nn.MSELoss,
        }[kind]()
        self._scale = 1.0

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        value = self.loss.forward(logits, target)
        k = logits.shape[1]
        if self.kind == "logistic":  # convergent: mean over all elements; sklearn: sum of means
            self._scale = float(k)
            return value * k
        if self.kind == "identity":  # convergent: mean((p-y)^2); sklearn: half of it
            self._scale = k / 2.0
            return value / 2.0
        return value

    def backward(self) -> np.ndarray:
        d = self.loss.backward()
        if self._scale != 1.0:
            d *= d.dtype.type(self._scale)
        return d

    def output(self, logits: np.ndarray) -> np.ndarray:
        """The network's prediction: probabilities, or the regression values."""
        if self.kind == "softmax":
            return nn.Softmax().forward(logits)
        if self.kind == "logistic":
            return sigmoid(logits, out=logits)
        return logits
