"""The training step's bookkeeping: the non-finite gradient guard with clipping, and the count
of correct predictions of a batch."""

from __future__ import annotations

import math

import numpy as np

from . import _core

_sum = np.add.reduce


def _correct(loss, pred, target, m: int) -> float:
    """Rows of the batch predicted right: counted by the loss's forward when it does so."""
    c = getattr(loss, "batch_correct", None)
    return float(c) if c is not None else loss.accuracy(pred, target) * m


def _all_finite(grads) -> bool:
    try:
        return _core.all_finite(grads)
    except (TypeError, ValueError):  # not contiguous float32/float64 arrays: reduce in NumPy
        s = 0.0
        for g in grads:
            s += float(_sum(g, axis=None))  # NaN and inf propagate through the sum
        return math.isfinite(s)


def _sq_sum(g) -> float:
    """sum g**2 in float64 (the kernel the C++ training loop calls; NumPy for other arrays)."""
    try:
        return _core.abs_sq_sums(g)[1]
    except (TypeError, ValueError):  # not a C-contiguous float32/float64 array
        return float(np.sum(np.square(g, dtype=np.float64)))


def _scale_clip(g, scale: float, bound: float) -> None:
    """g = clip(g * scale, -bound, bound) in place, in g's dtype."""
    try:
        _core.scale_clip(g, scale, bound)
    except (TypeError, ValueError):  # not a C-contiguous float32/float64 array
        if scale != 1.0:
            g *= g.dtype.type(scale)
        if bound != math.inf:
            np.clip(g, -bound, bound, out=g)


def _finite_and_clip(grads, clip_norm, clip_value) -> bool:
    """False if a gradient is non-finite (nothing is changed then); else clips in place: by the
    global norm (summed in float64, gradient by gradient) and then by value. The C++ training
    loop (train_loop_driver.cpp) does the same with the same kernels."""
    scale = 1.0
    if clip_norm is not None:
        sq = 0.0
        for g in grads:
            sq += _sq_sum(g)
        total = math.sqrt(sq)
        if not math.isfinite(total):
            return False
        coef = clip_norm / (total + 1e-6)  # torch.nn.utils.clip_grad_norm_
        if coef < 1.0:
            scale = coef
    elif not _all_finite(grads):
        return False
    if scale != 1.0 or clip_value is not None:
        bound = math.inf if clip_value is None else clip_value
        for g in grads:
            _scale_clip(g, scale, bound)
    return True
