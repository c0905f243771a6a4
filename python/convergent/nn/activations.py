"""Activation layers: ReLU, LeakyReLU, PReLU, RReLU, Sigmoid, Tanh, Softmax (torch semantics).

All are vectorized NumPy over whole arrays of any shape (Softmax over the last axis, PReLU's
channel axis is axis 1) and keep the input's dtype (float32 or float64). Masks are 0/1 arrays of
the input's dtype and branches are selected arithmetically: masked ``where=``/``copyto`` run an
order of magnitude slower in NumPy.

Buffers: in training mode (``forward(x, training=True)``) a layer writes its output and its input
gradient into arrays it owns and reuses for every batch of the same shape and dtype, so the array
returned by one training-mode call is overwritten by the next one (the training loop consumes it at
once). Eval-mode calls return fresh arrays. ``backward`` uses what ``forward`` saved (a mask, the
returned output or the noise): modifying the returned output in place before ``backward``
invalidates the gradient of Sigmoid, Tanh and Softmax.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Layer

__all__ = ["PReLU", "RReLU", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh", "sigmoid"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, accurate in both tails, for any ``x``.

    ``exp(-x)`` overflows to +inf for very negative ``x`` (below about -88 in float32, -709 in
    float64) and the result is then exactly 0, the correctly rounded value up to denormals; the
    overflow is expected and not reported. ``out`` may be ``x`` itself.
    """
    out = np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.divide(1, out, out=out)


def _select(positive: np.ndarray, slope: Any, out: np.ndarray) -> np.ndarray:
    """``out = 1 where positive == 1 else slope`` from a 0/1 float mask, exactly and without
    masked ufuncs (slow in NumPy): ``(1 - positive) * slope + positive``."""
    np.subtract(1, positive, out=out)
    out *= slope
    out += positive
    return out


def _check_x(x: Any, name: str = "x") -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")


def _check_slope(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class _Activation(Layer):
    """Shared plumbing: input checks, per-shape buffers in training mode, dout checks."""

    def __init__(self) -> None:
        super().__init__()
        self._bufs: dict[str, np.ndarray] = {}
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self._training = False

    def _begin(self, x: Any, training: bool) -> None:
        _check_x(x)
        self._training = bool(training)
        self._shape, self._dtype = x.shape, x.dtype

    def _buf(self, key: str) -> np.ndarray:
        """An uninitialised array of the current batch's shape and dtype: a fresh one in eval
        mode, a layer-owned one (kept per key, reallocated when the batch changes) in training."""
        if not self._training:
            return np.empty(self._shape, dtype=self._dtype)
        buf = self._bufs.get(key)
        if buf is None or buf.shape != self._shape or buf.dtype != self._dtype:
            buf = self._bufs[key] = np.empty(self._shape, dtype=self._dtype)
        return buf

    def _check_dout(self, dout: Any) -> None:
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        _check_x(dout, "dout")
        if dout.shape != self._shape:
            raise ValueError(
                f"dout must have the shape of the last forward output {self._shape}, "
                f"got {dout.shape}"
            )
        if dout.dtype != self._dtype:
            raise TypeError(
                f"dout must be {self._dtype} like the last forward input, got {dout.dtype}"
            )

    def get_config(self) -> dict[str, Any]:
        return {}


class ReLU(_Activation):
    """``y = max(x, 0)``; ``dx = dout * (x > 0)`` (zero gradient at 0, as torch)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._begin(x, training)
        self._mask = np.greater(x, 0, out=self._buf("mask"))
        return np.maximum(x, 0, out=self._buf("out"))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        return np.multiply(dout, self._mask, out=self._buf("dx"))


class LeakyReLU(_Activation):
    """``y = x`` if ``x > 0`` else ``negative_slope * x``;
    ``dx = dout`` if ``x > 0`` else ``negative_slope * dout``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = _check_slope(negative_slope, "negative_slope")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._begin(x, training)
        mask = np.greater(x, 0, out=self._buf("mask"))
        self._factor = _select(mask, x.dtype.type(self.negative_slope), self._buf("factor"))
        return np.multiply(x, self._factor, out=self._buf("out"))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        return np.multiply(dout, self._factor, out=self._buf("dx"))

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class PReLU(_Activation):
    """Leaky ReLU with a learnable slope ``weight`` (He et al. 2015; torch.nn.PReLU semantics).

    ``y = x`` if ``x > 0`` else ``a_c * x``, where ``a`` has ``num_parameters`` entries: one shared
    slope (1) or one per channel, the channel being axis 1 of ``x`` (which must then have
    ``x.shape[1] == num_parameters``). ``dweight_c = sum over all other axes of dout * min(x, 0)``;
    ``dx = dout`` if ``x > 0`` else ``a_c * dout``. ``x`` must have the layer's ``dtype``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype=np.float32) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)):
            raise TypeError(f"num_parameters must be an int, got {type(num_parameters).__name__}")
        if num_parameters < 1:
            raise ValueError(f"num_parameters must be >= 1, got {num_parameters}")
        self.num_parameters = int(num_parameters)
        self.init = _check_slope(init, "init")
        self.dtype = np.dtype(dtype)
        if self.dtype not in _FLOATS:
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self._params["weight"] = np.full(self.num_parameters, self.init, dtype=self.dtype)
        self._grads["weight"] = np.zeros(self.num_parameters, dtype=self.dtype)

    @property
    def weight(self) -> np.ndarray:
        return self._params["weight"]

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Sets every slope back to ``init`` (a constant: ``rng`` is not used)."""
        self._params["weight"].fill(self.init)

    def _slope_view(self, ndim: int) -> np.ndarray:
        w = self._params["weight"]
        if self.num_parameters == 1:
            return w
        return w.reshape((1, self.num_parameters) + (1,) * (ndim - 2))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_x(x)
        if x.dtype != self.dtype:
            raise TypeError(
                f"x must be {self.dtype} like the layer (PReLU(dtype=...)), got {x.dtype}"
            )
        if self.num_parameters > 1 and (x.ndim < 2 or x.shape[1] != self.num_parameters):
            raise ValueError(
                f"x must have {self.num_parameters} channels on axis 1, got shape {x.shape}"
            )
        self._begin(x, training)
        mask = np.greater(x, 0, out=self._buf("mask"))
        self._factor = _select(mask, self._slope_view(x.ndim), self._buf("factor"))
        self._xneg = np.minimum(x, 0, out=self._buf("xneg"))
        return np.multiply(x, self._factor, out=self._buf("out"))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        prod = np.multiply(dout, self._xneg, out=self._buf("prod"))
        grad = self._grads["weight"]
        if self.num_parameters == 1:
            grad[0] = prod.sum()
        else:
            grad[...] = prod.sum(axis=tuple(i for i in range(prod.ndim) if i != 1))
        return np.multiply(dout, self._factor, out=self._buf("dx"))

    def get_config(self) -> dict[str, Any]:
        return {"num_parameters": self.num_parameters, "init": self.init, "dtype": self.dtype.name}


class RReLU(_Activation):
    """Randomized leaky ReLU (Xu et al. 2015, torch.nn.RReLU semantics).

    Training: ``y = x`` if ``x > 0`` else ``r * x`` with ``r ~ U(lower, upper)`` drawn per element
    from the layer's generator (``set_rng``; by default ``np.random.default_rng(0)``). Eval:
    ``r = (lower + upper) / 2`` for every element. ``dx = dout * r`` (``r = 1`` where ``x > 0``).
    """

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> None:
        super().__init__()
        self.lower = _check_slope(lower, "lower")
        self.upper = _check_slope(upper, "upper")
        if self.lower > self.upper:
            raise ValueError(f"lower must be <= upper, got lower={self.lower}, upper={self.upper}")
        self._rng = np.random.default_rng(0)

    def set_rng(self, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self._rng = rng

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._begin(x, training)
        mask = np.greater(x, 0, out=self._buf("mask"))
        noise = self._buf("noise")
        if self._training:
            slope = self._rng.random(out=self._buf("uniform"), dtype=x.dtype)
            slope *= x.dtype.type(self.upper - self.lower)
            slope += x.dtype.type(self.lower)
        else:
            slope = x.dtype.type((self.lower + self.upper) / 2.0)
        self._noise = _select(mask, slope, noise)
        return np.multiply(x, noise, out=self._buf("out"))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        return np.multiply(dout, self._noise, out=self._buf("dx"))

    def get_config(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper}


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))`` (see :func:`sigmoid` for the tails);
    ``dx = dout * y * (1 - y)``."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._begin(x, training)
        self._y = sigmoid(x, out=self._buf("out"))
        return self._y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        dx = np.subtract(1, self._y, out=self._buf("dx"))
        dx *= self._y
        dx *= dout
        return dx


class Tanh(_Activation):
    """``y = tanh(x)``; ``dx = dout * (1 - y²)``, computed as ``dout * (1 - y) * (1 + y)``."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._begin(x, training)
        self._y = np.tanh(x, out=self._buf("out"))
        return self._y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        # (1 - y)(1 + y): the factor close to 0 is exact when |y| >= 1/2 (Sterbenz), which
        # keeps the relative accuracy that 1 - y² loses near |y| = 1
        dx = np.subtract(1, self._y, out=self._buf("dx"))
        dx *= np.add(1, self._y, out=self._buf("scratch"))
        dx *= dout
        return dx


class Softmax(_Activation):
    """Softmax over the last axis: ``y = exp(x - max x) / sum exp(x - max x)``.

    Backward is the Jacobian-vector product ``dx = y * (dout - sum(dout * y))`` (sum over the
    last axis).
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_x(x)
        if x.ndim == 0 or x.shape[-1] == 0:
            raise ValueError(f"x must have a non-empty last axis, got shape {x.shape}")
        self._begin(x, training)
        out = np.subtract(x, x.max(axis=-1, keepdims=True), out=self._buf("out"))
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        self._y = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_dout(dout)
        dx = np.multiply(dout, self._y, out=self._buf("dx"))
        s = dx.sum(axis=-1, keepdims=True)
        np.subtract(dout, s, out=dx)
        dx *= self._y
        return dx
