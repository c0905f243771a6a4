"""Plain-NumPy reference of the activation functions: ``*_forward(x, ...) -> y`` and
``*_backward(x, ..., dout) -> dx`` (PReLU also returns the slope gradient).

Conventions are torch's: the derivative at a kink ``x = 0`` is the one of the ``x <= 0`` branch
(0 for ReLU, the slope for the leaky variants). Written independently of
``convergent.nn.activations`` (``np.where`` branches, ``logaddexp`` for the logistic, an
explicit Jacobian for softmax).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "leaky_relu_backward",
    "leaky_relu_forward",
    "prelu_backward",
    "prelu_forward",
    "relu_backward",
    "relu_forward",
    "rrelu_backward",
    "rrelu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_backward",
    "softmax_forward",
    "tanh_backward",
    "tanh_forward",
]


def relu_forward(x):
    """ReLU (Nair & Hinton 2010): ``y = x if x > 0 else 0``."""
    return np.where(x > 0, x, 0).astype(x.dtype)


def relu_backward(x, dout):
    """``dx = dout if x > 0 else 0``."""
    return np.where(x > 0, dout, 0).astype(x.dtype)


def leaky_relu_forward(x, negative_slope):
    """Leaky ReLU (Maas et al. 2013): ``y = x if x > 0 else negative_slope * x``."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(x, negative_slope, dout):
    """``dx = dout if x > 0 else negative_slope * dout``."""
    return np.where(x > 0, dout, dout * x.dtype.type(negative_slope))


def _channel_slope(x, weight):
    """The slopes broadcast against x: one shared slope, or one per channel on axis 1."""
    if weight.size == 1:
        return weight.reshape(())
    return weight.reshape((1, weight.size) + (1,) * (x.ndim - 2))


def prelu_forward(x, weight):
    """PReLU (He et al. 2015): ``y = x if x > 0 else a_c * x``, channel c on axis 1."""
    return np.where(x > 0, x, _channel_slope(x, weight) * x)


def prelu_backward(x, weight, dout):
    """``dx = dout if x > 0 else a_c * dout``; ``da_c = sum over non-channel axes of
    (x if x <= 0 else 0) * dout`` (all axes when the slope is shared). Returns ``(dx, da)``."""
    dx = np.where(x > 0, dout, _channel_slope(x, weight) * dout)
    contrib = np.where(x > 0, 0, x) * dout
    if weight.size == 1:
        da = np.array([contrib.sum()], dtype=weight.dtype)
    else:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        da = contrib.sum(axis=axes).astype(weight.dtype)
    return dx, da


def rrelu_forward(x, slopes):
    """RReLU (Xu et al. 2015): ``y = x if x > 0 else r * x``; in training ``r ~ U(lower, upper)``
    per element, in eval ``r = (lower + upper) / 2``. ``slopes`` holds r (broadcastable to x)."""
    return np.where(x > 0, x, slopes * x)


def rrelu_backward(x, slopes, dout):
    """``dx = dout if x > 0 else r * dout``."""
    return np.where(x > 0, dout, slopes * dout)


def sigmoid_forward(x):
    """Logistic ``y = 1 / (1 + exp(-x)) = exp(-log(1 + exp(-x)))``, via ``logaddexp``."""
    return np.exp(-np.logaddexp(0, -x)).astype(x.dtype)


def sigmoid_backward(x, dout):
    """``dx = dout * sigmoid(x) * sigmoid(-x)``."""
    return dout * sigmoid_forward(x) * sigmoid_forward(-x)


def tanh_forward(x):
    """``y = tanh(x)``."""
    return np.tanh(x)


def tanh_backward(x, dout):
    """``dx = dout / cosh(x)²`` (= dout (1 - tanh²x)), zero where cosh overflows."""
    with np.errstate(over="ignore"):
        return dout / np.square(np.cosh(x))


def softmax_forward(x):
    """Softmax over the last axis: ``y_i = exp(x_i - logsumexp(x))``."""
    return np.exp(x - np.logaddexp.reduce(x, axis=-1, keepdims=True))


def softmax_backward(x, dout):
    """Through the explicit Jacobian ``J_ij = y_i (delta_ij - y_j)`` of each row:
    ``dx_j = sum_i dout_i J_ij``."""
    y = softmax_forward(x)
    k = y.shape[-1]
    jac = y[..., :, None] * (np.eye(k, dtype=y.dtype) - y[..., None, :])
    return np.einsum("...i,...ij->...j", dout, jac)
