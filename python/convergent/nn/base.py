"""The layer protocol every convergent layer follows (Sequential, fit and gradcheck rely on it).

A layer maps a batch ``x`` of shape (batch, features) to an output; ``backward(dout)`` takes the
gradient of the loss with respect to that output, overwrites the layer's parameter gradients
(never accumulates) and returns the gradient with respect to ``x``. Parameters are NumPy arrays
that optimizers update in place; ``parameters()`` and ``gradients()`` are aligned lists whose
arrays stay the same objects for the layer's lifetime (so an optimizer can hold on to them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Layer"]


class Layer:
    """Base class of layers. Subclasses fill ``self._params`` / ``self._grads`` (same keys, same
    order), ``self._buffers`` (non-trainable state such as running statistics) and implement
    ``forward``, ``backward`` and ``get_config``."""

    def __init__(self) -> None:
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._buffers: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training)

    def parameters(self) -> list[np.ndarray]:
        return list(self._params.values())

    def gradients(self) -> list[np.ndarray]:
        return list(self._grads.values())

    def named_parameters(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable arrays saved with the model (e.g. BatchNorm running statistics)."""
        return dict(self._buffers)

    def penalty(self) -> float:
        """Regularization added to the loss by this layer for the last forward pass (weight and
        activity L1/L2); its gradient is included by ``backward``. 0 for most layers."""
        return 0.0

    def reset_parameters(self, rng: np.random.Generator) -> None:  # noqa: B027 - optional hook
        """Re-draws the parameters from ``rng`` in place (the arrays stay the same objects).
        Sequential(seed=...) calls it on each layer in order. Default: no-op."""

    def set_rng(self, rng: np.random.Generator) -> None:  # noqa: B027 - optional hook
        """Gives a stochastic layer (Dropout, RReLU) its random generator. Default: no-op."""

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(self)(**get_config())`` rebuilds it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"
