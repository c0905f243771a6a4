"""Batch normalization (torch.nn.BatchNorm1d / BatchNorm2d semantics), computed by the C++
kernel."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .base import Layer

__all__ = ["BatchNorm"]


def _dtype(dtype: Any) -> np.dtype:
    d = np.dtype(dtype)
    if d not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {d}")
    return d


class BatchNorm(Layer):
    r"""Batch normalization over the batch axis (Ioffe & Szegedy, 2015), as torch BatchNorm1d.

    ``x`` is ``(batch, num_features)`` or NHWC images ``(batch, height, width, num_features)``;
    for images the statistics of each channel are over batch, height and width (torch
    BatchNorm2d after the NCHW -> NHWC transpose; the unbiased variance uses n*h*w).

    Training: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the batch mean and the
    *biased* batch variance; the running statistics are updated with the *unbiased* variance,
    ``running = (1 - momentum) * running + momentum * batch`` (``momentum=None``: cumulative
    average with factor ``1 / num_batches_tracked``). Inference uses the running statistics.
    Parameters ``weight`` (ones) and ``bias`` (zeros); buffers ``running_mean`` (zeros),
    ``running_var`` (ones) and ``num_batches_tracked`` (int64). Training needs >= 2 rows.
    Per-feature sums are taken in double, rows in order, so results do not depend on threads.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"num_features must be an int, got {type(num_features).__name__}")
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        if momentum is not None and not (
            isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0
        ):
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.dtype = _dtype(dtype)
        c = self.num_features
        self._params = {"weight": np.ones(c, self.dtype), "bias": np.zeros(c, self.dtype)}
        self._grads = {"weight": np.zeros(c, self.dtype), "bias": np.zeros(c, self.dtype)}
        self._buffers = {
            "running_mean": np.zeros(c, self.dtype),
            "running_var": np.ones(c, self.dtype),
            "num_batches_tracked": np.zeros((), np.int64),
        }
        self._save_mean = np.zeros(c, np.float64)
        self._save_invstd = np.zeros(c, np.float64)
        self._x: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()
        self._training = False
        self._out: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, like: np.ndarray) -> np.ndarray:
        buf = self._out.get(name)
        if buf is None or buf.shape != like.shape:
            buf = np.empty_like(like)
            self._out[name] = buf
        return buf

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Normalizes ``x`` (batch, num_features). In training mode the output array is reused
        by the next training call of the same shape."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim not in (2, 4) or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x must have shape (batch, {self.num_features}) or (batch, height, width, "
                f"{self.num_features}), got {x.shape}"
            )
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype}; this BatchNorm is {self.dtype}")
        # NHWC images: the statistics of each channel over (batch, height, width), the rows of
        # the (n*h*w, c) view (torch BatchNorm2d).
        self._shape = x.shape
        x = np.ascontiguousarray(x).reshape(-1, self.num_features)
        p, b = self._params, self._buffers
        momentum = 0.0
        if training:
            if x.shape[0] < 2:
                raise ValueError("BatchNorm needs at least 2 rows per batch in training mode")
            y = self._buffer("y", x)
            count = int(b["num_batches_tracked"]) + 1
            momentum = 1.0 / count if self.momentum is None else self.momentum
        else:
            y = np.empty_like(x)
        _core.batchnorm_forward(
            x,
            p["weight"],
            p["bias"],
            y,
            self._save_mean,
            self._save_invstd,
            b["running_mean"],
            b["running_var"],
            bool(training),
            momentum,
            self.eps,
        )
        if training:
            b["num_batches_tracked"][...] = count
        self._x = x
        self._training = bool(training)
        return y.reshape(self._shape)

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if self._x is None:
            raise RuntimeError("backward called before forward")
        dout = np.ascontiguousarray(dout).reshape(self._x.shape)
        dx = self._buffer("dx", self._x) if need_input_grad else None
        _core.batchnorm_backward(
            dout,
            self._x,
            self._params["weight"],
            self._save_mean,
            self._save_invstd,
            dx,
            self._grads["weight"],
            self._grads["bias"],
            self._training,
        )
        return None if dx is None else dx.reshape(self._shape)

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """weight = 1, bias = 0 and fresh running statistics (no randomness involved)."""
        self._params["weight"].fill(1)
        self._params["bias"].fill(0)
        self._buffers["running_mean"].fill(0)
        self._buffers["running_var"].fill(1)
        self._buffers["num_batches_tracked"][...] = 0

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "dtype": self.dtype.name,
        }
