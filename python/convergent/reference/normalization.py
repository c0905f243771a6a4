"""Plain-NumPy reference of batch normalization and inverted dropout.

Batch normalization: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML 2015, with the conventions of torch.nn.BatchNorm1d. The
statistics and the elementwise math are computed in float64 and the outputs rounded once to the
input's dtype, as the kernel does; the kernel sums the rows in order while NumPy sums pairwise,
so the two agree to the rounding of float64 sums (tests use rtol 1e-12 for float64 and one
float32 ulp-level tolerance for float32).
"""

from __future__ import annotations

import numpy as np

__all__ = ["batchnorm_backward", "batchnorm_forward", "dropout_forward"]


def batchnorm_forward(
    x, weight, bias, running_mean, running_var, *, training, momentum=0.1, eps=1e-5
):
    """Returns ``(y, mean, invstd)`` (mean and invstd in float64).

    Training: ``mean = sum_i x / n``, ``var = sum_i (x - mean)^2 / n`` (biased),
    ``invstd = 1 / sqrt(var + eps)``, ``y = (x - mean) * invstd * weight + bias``; the running
    statistics, when given, are updated in place with the unbiased variance ``var * n / (n - 1)``:
    ``running = (1 - momentum) * running + momentum * batch``.
    Inference: the same ``y`` with ``mean = running_mean``, ``var = running_var``.
    """
    xd = x.astype(np.float64)
    if training:
        n = x.shape[0]
        mean = xd.sum(axis=0) / n
        sq = ((xd - mean) ** 2).sum(axis=0)
        invstd = 1.0 / np.sqrt(sq / n + eps)
        if running_mean is not None:
            rm = (1.0 - momentum) * running_mean.astype(np.float64) + momentum * mean
            rv = (1.0 - momentum) * running_var.astype(np.float64) + momentum * sq / (n - 1)
            running_mean[...] = rm.astype(running_mean.dtype)
            running_var[...] = rv.astype(running_var.dtype)
    else:
        mean = running_mean.astype(np.float64)
        invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    scale = invstd * weight.astype(np.float64)
    y = (xd - mean) * scale + bias.astype(np.float64)
    return y.astype(x.dtype), mean, invstd


def batchnorm_backward(dout, x, weight, mean, invstd, *, training):
    """Returns ``(dx, dweight, dbias)``. With ``xhat = (x - mean) * invstd``:
    ``dbias = sum_i dout``, ``dweight = sum_i dout * xhat`` and
    ``dx = weight * invstd * (dout - dbias / n - xhat * dweight / n)`` in training mode
    (``dx = weight * invstd * dout`` in inference, where the statistics are constants)."""
    g = dout.astype(np.float64)
    xhat = (x.astype(np.float64) - mean) * invstd
    dbias = g.sum(axis=0)
    dweight = (g * xhat).sum(axis=0)
    n = x.shape[0]
    if training:
        dx = weight.astype(np.float64) * invstd * (g - dbias / n - xhat * (dweight / n))
    else:
        dx = weight.astype(np.float64) * invstd * g
    return dx.astype(x.dtype), dweight.astype(x.dtype), dbias.astype(x.dtype)


def dropout_forward(x, u, p):
    """Inverted dropout (Srivastava et al., JMLR 2014) given uniform draws ``u`` in [0, 1) of x's
    shape: an element is kept when ``u >= p`` and then scaled by ``1 / (1 - p)`` (the scale is
    computed in double and rounded to x's dtype). Returns ``(y, mask)`` with ``mask`` holding
    ``1 / (1 - p)`` or 0, so that ``y = x * mask`` and ``dx = dout * mask``."""
    scale = x.dtype.type(1.0 / (1.0 - p))
    mask = np.where(u >= x.dtype.type(p), scale, x.dtype.type(0))
    return x * mask, mask
