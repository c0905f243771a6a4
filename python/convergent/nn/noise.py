"""Additive Gaussian noise, a regularizer for denoising autoencoders."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Layer

__all__ = ["GaussianNoise"]


class GaussianNoise(Layer):
    """``y = x + stddev * z``, ``z ~ N(0, 1)`` drawn afresh in each training forward pass;
    identity in inference (Keras ``GaussianNoise``; Vincent et al., "Extracting and composing
    robust features with denoising autoencoders", ICML 2008). ``dx = dout``.

    The draws come from the layer's Generator (``rng.standard_normal`` in the input's dtype,
    row-major order), given by ``Sequential(seed=...)`` as for Dropout; a stand-alone layer
    starts from ``numpy.random.default_rng(0)``.
    """

    def __init__(self, stddev: float) -> None:
        super().__init__()
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)):
            raise TypeError(f"stddev must be a float, got {type(stddev).__name__}")
        if not (math.isfinite(stddev) and stddev >= 0.0):
            raise ValueError(f"stddev must be a finite number >= 0, got {stddev!r}")
        self.stddev = float(stddev)
        self._rng = np.random.default_rng(0)
        self._work: np.ndarray | None = None

    def set_rng(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            raise TypeError("x must be a float32 or float64 numpy.ndarray")
        if not training or self.stddev == 0.0:
            return x
        z = self._work
        if z is None or z.shape != x.shape or z.dtype != x.dtype:
            z = self._work = np.empty(x.shape, x.dtype)
        self._rng.standard_normal(out=z, dtype=x.dtype)
        z *= x.dtype.type(self.stddev)
        z += x
        return z

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return dout if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {"stddev": self.stddev}
