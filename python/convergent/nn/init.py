"""Weight initializers, drawn from a seeded ``numpy.random.Generator``.

Fans follow the ``(in_features, out_features)`` layout of ``Dense.weight``: for a 2-D shape
``fan_in = shape[0]`` and ``fan_out = shape[1]``; a 1-D shape (a bias, a per-channel slope) has
``fan_in = fan_out = shape[0]``; for more dimensions the trailing ones form a receptive field that
multiplies both fans. The formulas are those of ``torch.nn.init``:

==================  ===============================================  ========================
name                distribution                                     torch.nn.init / Keras
==================  ===============================================  ========================
``zeros``/``ones``  constant 0 / 1                                   zeros_ / ones_
``uniform``         U(-0.05, 0.05)                                   Keras RandomUniform()
``normal``          N(0, 0.05²)                                      Keras RandomNormal()
``glorot_uniform``  U(-a, a), a = sqrt(6 / (fan_in + fan_out))       xavier_uniform_ (gain 1)
``glorot_normal``   N(0, 2 / (fan_in + fan_out))                     xavier_normal_ (gain 1)
``he_uniform``      U(-a, a), a = sqrt(6 / fan_in)                   kaiming_uniform_ (relu)
``he_normal``       N(0, 2 / fan_in)                                 kaiming_normal_ (relu)
==================  ===============================================  ========================

Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks"
(AISTATS 2010); He et al., "Delving Deep into Rectifiers" (ICCV 2015): gain sqrt(2), fan_in mode.

Random draws are made in float64 and rounded to the requested dtype, so a float32 and a float64
model built from the same seed start from the same values (up to rounding).
"""

from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

__all__ = ["INITIALIZERS", "compute_fans", "initialize"]

#: Names accepted by :func:`initialize`.
INITIALIZERS = (
    "zeros",
    "ones",
    "uniform",
    "normal",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
)

#: Bound of ``"uniform"`` and standard deviation of ``"normal"`` (the Keras defaults).
DEFAULT_SCALE = 0.05

Initializer = Union[str, Callable[[tuple, np.random.Generator, type], np.ndarray]]


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if not dims:
        raise ValueError("shape must have at least one dimension, got ()")
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"shape must be a tuple of ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"shape must have non-negative sizes, got {shape!r}")
    return tuple(int(d) for d in dims)


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, in the ``(in, out, *field)`` layout."""
    dims = _check_shape(shape)
    if len(dims) == 1:
        return dims[0], dims[0]
    field = math.prod(dims[2:])
    return dims[0] * field, dims[1] * field


def _fan_error(name: str, shape: tuple[int, ...]) -> ValueError:
    return ValueError(f"initializer {name!r} needs non-zero fans, got shape {shape}")


def initialize(
    name: Initializer,
    shape,
    rng: np.random.Generator,
    dtype=np.float32,
) -> np.ndarray:
    """Returns a new C-contiguous array of ``shape`` and ``dtype`` drawn by initializer ``name``.

    ``name`` is one of :data:`INITIALIZERS` (see the module docstring for the formulas) or a
    callable ``init(shape, rng, dtype) -> array`` whose result must have that shape. ``rng`` must
    be a ``numpy.random.Generator`` (``np.random.default_rng(seed)``); the same generator state
    gives the same array. Raises ``ValueError`` for an unknown name (listing the valid ones) and
    ``TypeError`` for a wrong ``rng``, ``dtype`` or ``shape`` type.
    """
    dims = _check_shape(shape)
    dt = _check_dtype(dtype)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    if callable(name):
        out = np.ascontiguousarray(name(dims, rng, dt), dtype=dt)
        if out.shape != dims:
            raise ValueError(
                f"initializer {getattr(name, '__name__', name)!r} returned shape {out.shape}, "
                f"expected {dims}"
            )
        return out
    if not isinstance(name, str):
        raise TypeError(f"init must be a name or a callable, got {type(name).__name__}")
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; valid names: {', '.join(INITIALIZERS)}")
    if name == "zeros":
        return np.zeros(dims, dtype=dt)
    if name == "ones":
        return np.ones(dims, dtype=dt)
    if name == "uniform":
        return _uniform(rng, DEFAULT_SCALE, dims, dt)
    if name == "normal":
        return _normal(rng, DEFAULT_SCALE, dims, dt)
    fan_in, fan_out = compute_fans(dims)
    if name.startswith("glorot"):
        if fan_in + fan_out == 0:
            raise _fan_error(name, dims)
        var = 2.0 / (fan_in + fan_out)
    else:
        if fan_in == 0:
            raise _fan_error(name, dims)
        var = 2.0 / fan_in
    if name.endswith("uniform"):
        # U(-a, a) has variance a²/3, so a = sqrt(3 var).
        return _uniform(rng, math.sqrt(3.0 * var), dims, dt)
    return _normal(rng, math.sqrt(var), dims, dt)


def _uniform(rng, bound, dims, dt):
    return rng.uniform(-bound, bound, size=dims).astype(dt, copy=False)


def _normal(rng, std, dims, dt):
    return (rng.standard_normal(size=dims) * std).astype(dt, copy=False)
