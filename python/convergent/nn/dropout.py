"""Inverted dropout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014): in training, each element is zeroed with
    probability ``p`` and the kept ones are scaled by ``1 / (1 - p)``; identity in inference.

    An element is kept when a uniform draw ``u`` in [0, 1) from the layer's Generator satisfies
    ``u >= p`` (draws in the input's dtype, row-major order), see
    ``convergent.reference.dropout_forward``. ``Sequential(seed=...)`` gives the layer its
    Generator (``set_rng``); a stand-alone Dropout starts from ``numpy.random.default_rng(0)``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"p must be a float, got {type(p).__name__}")
        if not (math.isfinite(p) and 0.0 <= p < 1.0):
            raise ValueError(f"p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self._rng = np.random.default_rng(0)
        self._mask: np.ndarray | None = None  # the mask of the last training forward, or None
        self._work: tuple[np.ndarray, ...] | None = None  # reused u, mask, y, keep

    def set_rng(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            raise TypeError("x must be a float32 or float64 numpy.ndarray")
        if not training or self.p == 0.0:
            self._mask = None
            return x
        w = self._work
        if w is None or w[0].shape != x.shape or w[0].dtype != x.dtype:
            w = self._work = (*(np.empty(x.shape, x.dtype) for _ in range(3)),
                              np.empty(x.shape, np.bool_))  # fmt: skip
        u, mask, y, keep = w
        self._rng.random(out=u, dtype=x.dtype)
        np.greater_equal(u, x.dtype.type(self.p), out=keep)
        np.multiply(keep, x.dtype.type(1.0 / (1.0 - self.p)), out=mask)
        np.multiply(x, mask, out=y)
        self._mask = mask
        return y

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        if self._mask is None:
            return dout
        return dout * self._mask

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
