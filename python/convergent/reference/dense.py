"""Plain-NumPy reference of the GEMM with fused epilogue and of the dense layer.

The compiled GEMM blocks the K reduction and uses FMA, so it agrees with these functions to
rounding (tests state the tolerance), not to the bit.

Dense layer (Keras ``Dense`` / ``torch.nn.Linear`` with the weight stored transposed)::

    y = act(x @ W + b)          x (batch, in), W (in, out), b (out,)

Backward, from the saved input ``x`` and output ``y`` (every derivative below is written with the
output, so the pre-activation need not be kept)::

    g   = dout + (activity_l1 * sign(y) + 2 * activity_l2 * y) / batch
    dy' = g * act'(y)
    dW  = x.T @ dy' + weight_l1 * sign(W) + 2 * weight_l2 * W
    db  = dy'.sum(axis=0)
    dx  = dy' @ W.T

Penalty (Keras ``L1L2`` on the kernel plus the activity regularizer on the layer output, divided
by the batch size as tf.keras does to make the activity strength batch-independent)::

    penalty = weight_l1 * sum|W| + weight_l2 * sum(W**2)
            + (activity_l1 * sum|y| + activity_l2 * sum(y**2)) / batch
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "activation",
    "activation_grad",
    "dense_backward",
    "dense_forward",
    "dense_penalty",
    "gemm",
]

#: Activation names of the dense layer and of the GEMM epilogue.
ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh")


def activation(z: np.ndarray, name: str | None, negative_slope: float = 0.01) -> np.ndarray:
    """``act(z)``: linear ``z``; relu ``max(z, 0)``; leaky_relu ``z if z > 0 else slope*z``
    (Maas et al. 2013); sigmoid ``1 / (1 + exp(-z))``; tanh ``tanh(z)``."""
    name = name or "linear"
    slope = z.dtype.type(negative_slope)
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, z.dtype.type(0))
    if name == "leaky_relu":
        return np.where(z > 0, z, z * slope)
    if name == "sigmoid":
        # exp of -|z| only: never overflows.
        e = np.exp(-np.abs(z))
        return np.where(z > 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)
    if name == "tanh":
        return np.tanh(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_grad(
    g: np.ndarray, y: np.ndarray, name: str | None, negative_slope: float = 0.01
) -> np.ndarray:
    """``g * act'(z)`` written with the output ``y = act(z)``: relu ``g if y > 0 else 0``;
    leaky_relu ``g if y > 0 else slope*g`` (needs slope >= 0); sigmoid ``g*(y*(1-y))``;
    tanh ``g*(1-y*y)``; linear ``g``."""
    name = name or "linear"
    one = y.dtype.type(1)
    if name == "linear":
        return g.copy()
    if name == "relu":
        return np.where(y > 0, g, y.dtype.type(0))
    if name == "leaky_relu":
        return np.where(y > 0, g, g * y.dtype.type(negative_slope))
    if name == "sigmoid":
        return g * (y * (one - y))
    if name == "tanh":
        return g * (one - y * y)
    raise ValueError(f"unknown activation {name!r}")


def gemm(
    a,
    b,
    out,
    *,
    trans_a=False,
    trans_b=False,
    beta=0.0,
    bias=None,
    activation_name=None,
    negative_slope=0.01,
):
    """``out = act(op(a) @ op(b) + beta*out + bias)`` with ``op(x) = x.T`` when ``trans_x``;
    written in place, in out's dtype (the product itself in that dtype as well)."""
    z = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if beta != 0:
        z = z + out
    if bias is not None:
        z = z + bias
    out[...] = activation(z, activation_name, negative_slope)
    return out


def dense_forward(x, weight, bias, activation_name=None, negative_slope=0.01):
    """``y = act(x @ weight + bias)`` (bias may be None)."""
    z = x @ weight
    if bias is not None:
        z = z + bias
    return activation(z, activation_name, negative_slope)


def dense_backward(
    x,
    weight,
    y,
    dout,
    activation_name=None,
    negative_slope=0.01,
    *,
    activity_l1=0.0,
    activity_l2=0.0,
    weight_l1=0.0,
    weight_l2=0.0,
):
    """Returns ``(dweight, dbias, dx)`` of ``y = act(x @ weight + b)`` (module docstring)."""
    dt = y.dtype.type
    batch = max(x.shape[0], 1)
    g = dout
    if activity_l1 != 0 or activity_l2 != 0:
        g = dout + (dt(activity_l1 / batch) * np.sign(y) + dt(2.0 * activity_l2 / batch) * y)
    dyp = activation_grad(g, y, activation_name, negative_slope)
    dweight = x.T @ dyp
    if weight_l1 != 0 or weight_l2 != 0:
        dweight = dweight + (dt(weight_l1) * np.sign(weight) + dt(2.0 * weight_l2) * weight)
    return dweight, dyp.sum(axis=0), dyp @ weight.T


def dense_penalty(
    weight, y, *, activity_l1=0.0, activity_l2=0.0, weight_l1=0.0, weight_l2=0.0
) -> float:
    """The regularization term of the loss (module docstring), in float64."""
    w = weight.astype(np.float64)
    yy = y.astype(np.float64)
    batch = max(y.shape[0], 1)
    return float(
        weight_l1 * np.abs(w).sum()
        + weight_l2 * np.square(w).sum()
        + (activity_l1 * np.abs(yy).sum() + activity_l2 * np.square(yy).sum()) / batch
    )
