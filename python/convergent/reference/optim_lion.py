"""Plain-NumPy reference of the Lion kernel, one tensor at a time, updated in place.

Like :mod:`convergent.reference.optim`: the IEEE operations of the C++ kernel in the same order,
in the array's dtype, with coefficients computed in Python floats and rounded to that dtype.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lion_step"]


def lion_step(param, grad, exp_avg, *, lr, beta1=0.9, beta2=0.99, weight_decay=0.0, maximize=False):
    """Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of Optimization
    Algorithms", arXiv:2302.06675, Program 1), in optax.lion's order with decoupled weight
    decay (``optax.chain(scale_by_lion, add_decayed_weights, scale_by_learning_rate)``)::

        g = -g                                  if maximize
        c = (1 - beta1) * g + beta1 * m
        u = sign(c) + weight_decay * p          (numpy.sign: sign(0) = 0, sign(NaN) = NaN)
        p = p + (-lr) * u
        m = (1 - beta2) * g + beta2 * m

    The interpolation ``c`` uses the momentum *before* this step's update.
    """
    t = param.dtype.type
    g = -grad if maximize else grad
    c = g * t(1.0 - beta1) + exp_avg * t(beta1)
    u = np.sign(c) + param * t(weight_decay)
    param[...] = param + u * t(-lr)
    exp_avg[...] = g * t(1.0 - beta2) + exp_avg * t(beta2)
