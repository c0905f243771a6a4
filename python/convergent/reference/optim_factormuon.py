"""Plain-NumPy references of the Adafactor and Muon kernels, one tensor at a time, in place.

Elementwise work is done in the array's dtype with scalar coefficients computed in Python floats
(double) and rounded to that dtype, as in the other optimizer references. torch.lerp's two forms
are used as torch defines them: ``a + w (b - a)`` when ``|w| < 0.5``, else
``b - (b - a)(1 - w)``, with ``w`` and ``1 - w`` in the array's dtype.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FACTOR_STRIP", "adafactor_step", "muon_step"]

# Adafactor's sums run in double over strips of at most FACTOR_STRIP consecutive elements of a
# row: element j of a strip goes to lane j % SUM_LANES, each lane is summed sequentially, the lanes
# are added in order, and the strip sums are then added in order (csrc/optim/adafactor.h).
FACTOR_STRIP = 4096
SUM_LANES = 32


def _lerp(a, b, w):
    t = a.dtype.type
    wt = t(w)
    if abs(wt) < 0.5:
        return a + wt * (b - a)
    return b - (b - a) * (t(1) - wt)


def _row_sums(sq: np.ndarray) -> np.ndarray:
    """Sums of each row of a 2-D float64 array: per strip, SUM_LANES lane sums (sequential) added
    in lane order; strips added in order (numpy.cumsum adds sequentially; numpy.sum would not).
    The strip is padded with zeros to whole lanes: adding 0.0 to a sum of squares changes no bit.
    """
    rows = sq.shape[0]
    total = np.zeros(rows)
    for j in range(0, sq.shape[1], FACTOR_STRIP):
        strip = sq[:, j : j + FACTOR_STRIP]
        pad = -strip.shape[1] % SUM_LANES
        lanes = np.concatenate([strip, np.zeros((rows, pad))], axis=1).reshape(rows, -1, SUM_LANES)
        lane_sums = np.cumsum(lanes, axis=1)[:, -1, :]
        total = total + np.cumsum(lane_sums, axis=1)[:, -1]
    return total


def _sum_sq(x: np.ndarray) -> float:
    """Sum of squares of a whole tensor (flattened), in double, in the strip order."""
    return float(_row_sums(np.square(x.astype(np.float64).reshape(1, -1)))[0])


def adafactor_step(
    param,
    grad,
    row_var,
    col_var,
    variance,
    *,
    step,
    lr=1e-2,
    beta2_decay=-0.8,
    eps=(None, 1e-3),
    d=1.0,
    weight_decay=0.0,
    maximize=False,
):
    """Adafactor (Shazeer & Stern 2018) as torch.optim.Adafactor (torch 2.13) defines it.

    At step ``t`` (from 1), with ``g = -g`` if maximize, ``eps1`` None meaning the dtype's
    machine epsilon, ``n`` the number of elements and ``beta = t ** beta2_decay``::

        rho   = min(lr, 1 / sqrt(t));  alpha = max(eps2, ||p|| / sqrt(n)) * rho
        p     = p * (1 - lr * weight_decay)             (decoupled; alpha uses p before it)
        ndim >= 2 (factored over the last two axes, rows x cols; leading axes are a batch):
          row_var = lerp(row_var, ||g||_row^2 / cols, beta)         shape (..., rows, 1)
          col_var = lerp(col_var, ||g||_col^2 / rows, beta)         shape (..., 1, cols)
          v = row_var * col_var / max(mean over rows of row_var, eps1)
        otherwise:  variance = lerp(variance, g * g, beta);  v = variance
        u     = (1 / sqrt(max(v, eps1 ** 2))) * g
        p     = p + (-alpha / max(1, ||u|| / (sqrt(n) * d))) * u

    torch's order is kept: a norm is squared after its square root (``||g||^2`` is
    ``sqrt(s) * sqrt(s)``), the row mean is taken over the updated ``row_var`` and clamped
    below by eps1. Unlike torch, the norms and means are sums in double (in the fixed order of
    ``FACTOR_STRIP``), rounded to the dtype where torch keeps them in it. An empty tensor is left
    as it is (torch divides by ``sqrt(0)``).
    """
    n = param.size
    if n == 0:
        return
    t = param.dtype.type
    eps1 = float(np.finfo(param.dtype).eps) if eps[0] is None else float(eps[0])
    eps2 = float(eps[1])
    g = -grad if maximize else grad.copy()
    rn = math.sqrt(n)
    rho = min(lr, 1.0 / math.sqrt(step))
    alpha = max(eps2, math.sqrt(_sum_sq(param)) / rn) * rho
    beta = float(step) ** beta2_decay
    if param.ndim >= 2:
        rows, cols = param.shape[-2:]
        sq = np.square(g.astype(np.float64))
        rnorm = np.sqrt(_row_sums(sq.reshape(-1, cols)).reshape(row_var.shape))
        cnorm = np.sqrt(np.cumsum(sq, axis=-2)[..., -1:, :]) if rows else np.zeros(col_var.shape)
        row_var[...] = _lerp(row_var, (rnorm * rnorm / cols).astype(param.dtype), beta)
        col_var[...] = _lerp(col_var, (cnorm * cnorm / rows).astype(param.dtype), beta)
        mean = np.cumsum(row_var.astype(np.float64), axis=-2)[..., -1:, :] / rows
        m = np.maximum(mean.astype(param.dtype), t(eps1))
        v = (row_var * col_var) / m
        u = (t(1) / np.sqrt(np.maximum(v, t(eps1 * eps1)))) * g
        usum = float(np.cumsum(_row_sums(np.square(u.astype(np.float64)).reshape(-1, cols)))[-1])
    else:
        variance[...] = _lerp(variance, g * g, beta)
        u = (t(1) / np.sqrt(np.maximum(variance, t(eps1 * eps1)))) * g
        usum = _sum_sq(u)
    denom = max(1.0, math.sqrt(usum) / (rn * d))
    param[...] = param * t(1.0 - lr * weight_decay) + t(-alpha / denom) * u


def muon_step(
    param,
    grad,
    momentum_buffer,
    *,
    lr=1e-3,
    weight_decay=0.1,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315),
    eps=1e-7,
    ns_steps=5,
    adjust_lr_fn=None,
):
    """Muon (Jordan et al. 2024) as torch.optim.Muon (torch 2.13) defines it, for a 2-D param.

    With ``(a, b, c) = ns_coefficients`` and ``R x C`` the param's shape::

        buf = lerp(buf, g, 1 - momentum)
        Y   = lerp(g, buf, momentum) if nesterov else buf
        Y   = Y / max(||Y||_F, eps)
        repeat ns_steps times (quintic Newton-Schulz iteration):
            A = Y Y^T,  B = b A + c A A,  Y = a Y + B Y          (R <= C)
            A = Y^T Y,  B = b A + c A A,  Y = a Y + Y B^T        (R > C: torch's transposed form)
        p   = p * (1 - lr * weight_decay) - lr * s * Y
        s   = sqrt(max(1, R / C))       adjust_lr_fn None or "original" (Jordan et al.)
        s   = 0.2 * sqrt(max(R, C))     "match_rms_adamw" (Liu et al. 2025, "Muon is Scalable")

    torch runs the iteration in bfloat16; this reference (and the kernel) in the param's dtype.
    The products are NumPy's matmul, so the kernel (convergent's GEMM) agrees to rounding.
    """
    t = param.dtype.type
    rows, cols = param.shape
    if param.size == 0:
        return
    momentum_buffer[...] = _lerp(momentum_buffer, grad, 1.0 - momentum)
    y = _lerp(grad, momentum_buffer, momentum) if nesterov else momentum_buffer.copy()
    norm = math.sqrt(float(np.square(y.astype(np.float64)).sum()))
    y = y / t(max(norm, eps))
    a, b, c = (t(x) for x in ns_coefficients)
    wide = rows <= cols
    for _ in range(ns_steps):
        gram = y @ y.T if wide else y.T @ y
        poly = b * gram + c * (gram @ gram)
        y = a * y + (poly @ y if wide else y @ poly.T)
    if adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = math.sqrt(max(1.0, rows / cols))
    param[...] = param * t(1.0 - lr * weight_decay) + t(-(lr * ratio)) * y
