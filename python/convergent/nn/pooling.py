"""Pooling, flattening and upsampling of NHWC images."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .base import Layer
from .conv import check_images, pair

__all__ = ["AvgPool2D", "Flatten", "GlobalAvgPool2D", "MaxPool2D", "UpSampling2D"]


class _Pool2D(Layer):
    def __init__(self, pool_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.pool_size = pair(pool_size, "pool_size", 1)
        self.stride = self.pool_size if stride is None else pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
            raise ValueError(
                f"padding {self.padding} must be at most half of pool_size {self.pool_size}"
            )
        self._x_shape: tuple[int, ...] | None = None
        self._dx: np.ndarray | None = None

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, h, w, c = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.pool_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"x has shape {x_shape}: the pool {self.pool_size} is larger than the padded input"
            )
        return (n, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1, c)

    def _kw(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "stride": self.stride, "padding": self.padding}

    def _dx_buffer(self, dout: np.ndarray) -> np.ndarray:
        if self._x_shape is None:
            raise RuntimeError("backward called before forward")
        if self._dx is None or self._dx.shape != self._x_shape or self._dx.dtype != dout.dtype:
            self._dx = np.empty(self._x_shape, dout.dtype)
        return self._dx

    def get_config(self) -> dict[str, Any]:
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": list(self.padding)}  # fmt: skip


class MaxPool2D(_Pool2D):
    """Max pooling over NHWC windows (torch.nn.MaxPool2d semantics, ceil_mode=False).

    ``pool_size``, ``stride`` (default: ``pool_size``) and ``padding`` (implicit -inf, at most
    half the pool): an int or a (y, x) pair. The position of each maximum is kept for the
    backward pass (ties go to the first element in row-major window order, as torch; a NaN
    propagates). See :func:`convergent.reference.maxpool2d_forward`. In training mode the output
    array is reused by the next training call of the same shape (copy it to keep it).
    """

    def __init__(self, pool_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__(pool_size, stride, padding)
        self._argmax: np.ndarray | None = None
        self._buf: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, None, None)
        shape = self.output_shape(x.shape)
        buf = self._buf
        if not training or buf is None or buf[0].shape != shape or buf[0].dtype != x.dtype:
            buf = (np.empty(shape, x.dtype), np.empty(shape, np.int64))
            if training:  # reused by the next training call of the same shape
                self._buf = buf
        out, argmax = buf
        _core.maxpool2d_forward(x, out, argmax, **self._kw())
        self._x_shape, self._argmax = x.shape, argmax
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = self._dx_buffer(dout)
        _core.maxpool2d_backward(np.ascontiguousarray(dout), self._argmax, dx, **self._kw())
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling over NHWC windows (torch.nn.AvgPool2d defaults: count_include_pad=True,
    ceil_mode=False): the window sum, zero padding included, divided by the pool's area."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, None, None)
        out = np.empty(self.output_shape(x.shape), x.dtype)
        _core.avgpool2d_forward(x, out, **self._kw())
        self._x_shape = x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = self._dx_buffer(dout)
        _core.avgpool2d_backward(np.ascontiguousarray(dout), dx, **self._kw())
        return dx


class GlobalAvgPool2D(Layer):
    """``(n, h, w, c) -> (n, c)``: the mean over the spatial positions (torch's
    ``AdaptiveAvgPool2d(1)`` followed by a flatten)."""

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, None, None)
        self._x_shape = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._x_shape is None:
            raise RuntimeError("backward called before forward")
        n, h, w, c = self._x_shape
        g = dout / dout.dtype.type(h * w)
        return np.ascontiguousarray(np.broadcast_to(g[:, None, None, :], self._x_shape))

    def get_config(self) -> dict[str, Any]:
        return {}


class Flatten(Layer):
    """``(n, ...) -> (n, prod(...))`` in C order (an NHWC image becomes h*w*c features, channels
    fastest: Keras's order; torch's Flatten of NCHW orders channels slowest)."""

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError("x must be a numpy.ndarray with at least 2 dimensions")
        self._x_shape = x.shape
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._x_shape is None:
            raise RuntimeError("backward called before forward")
        return dout.reshape(self._x_shape)

    def get_config(self) -> dict[str, Any]:
        return {}


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling of NHWC images by an integer ``size`` (an int or a (y, x)
    pair): each pixel repeated ``size`` times along h and w (torch ``Upsample(scale_factor=size,
    mode="nearest")``, Keras ``UpSampling2D``). Backward sums each pixel's copies."""

    def __init__(self, size: Any = 2, interpolation: str = "nearest") -> None:
        super().__init__()
        self.size = pair(size, "size", 1)
        if interpolation != "nearest":
            raise ValueError(f"interpolation must be 'nearest', got {interpolation!r}")
        self.interpolation = interpolation

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, None, None)
        n, h, w, c = x.shape
        sh, sw = self.size
        out = np.empty((n, h, sh, w, sw, c), x.dtype)
        out[...] = x[:, :, None, :, None, :]
        return out.reshape(n, h * sh, w * sw, c)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, h, w, c = dout.shape
        sh, sw = self.size
        return dout.reshape(n, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4))

    def get_config(self) -> dict[str, Any]:
        return {"size": list(self.size), "interpolation": self.interpolation}
