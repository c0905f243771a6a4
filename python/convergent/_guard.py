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


def _finite_and_clip(grads, clip_norm, clip_value) -> bool:
    """False if a gradient is non-finite (nothing is changed then); else clips in place."""
    if clip_norm is not None:
        sq = 0.0
        for g in grads:
            r = g.reshape(-1)
            sq += float(np.dot(r, r))
        total = math.sqrt(sq)
        if not math.isfinite(total):
            return False
        coef = clip_norm / (total + 1e-6)  # torch.nn.utils.clip_grad_norm_
        if coef < 1.0:
            for g in grads:
                g *= g.dtype.type(coef)
    elif not _all_finite(grads):
        return False
    if clip_value is not None:
        for g in grads:
            np.clip(g, -clip_value, clip_value, out=g)
    return True
