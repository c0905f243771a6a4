"""Plain-NumPy reference of the NAdam, RAdam and Adamax kernels, one tensor at a time, in place.

As in :mod:`convergent.reference.optim`, each function performs the IEEE operations of its C++
kernel in the same order, in the array's dtype, with scalar coefficients computed in Python
floats (double) and then rounded to that dtype, so the fast path matches these functions exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .optim import _c

__all__ = ["adamax_step", "nadam_mu", "nadam_step", "radam_step"]


def _moments(param, grad, exp_avg, exp_avg_sq, beta1, beta2, weight_decay, decoupled, maximize):
    """The gradient (negated if maximizing, plus ``wd*p`` unless decoupled), the parameter
    (scaled by ``1 - lr*wd`` by the caller's ``decay`` when decoupled) and the new moments."""
    g = -grad if maximize else grad.copy()
    if weight_decay != 0 and not decoupled:
        g = g + param * _c(weight_decay, param)
    m = exp_avg + (g - exp_avg) * _c(1.0 - beta1, param)
    v = exp_avg_sq * _c(beta2, param) + (g * g) * _c(1.0 - beta2, param)
    return g, m, v


def nadam_mu(beta1: float, momentum_decay: float, t: float) -> float:
    """NAdam's momentum schedule ``mu_t = beta1 (1 - 0.96^(t psi) / 2)`` (Dozat 2016, torch)."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


def nadam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    *,
    mu_product,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    decoupled=False,
    maximize=False,
) -> float:
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), torch.optim.NAdam.

    With ``mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))`` and ``P_t = mu_1 ... mu_t``
    (``mu_product`` is ``P_{t-1}``; the new ``P_t`` is returned)::

        g = g + wd * p                    (coupled)   or   p = p * (1 - lr * wd)   (decoupled)
        m = m + (1 - b1) (g - m);  v = b2 v + (1 - b2) g²
        d = sqrt(v / (1 - b2^t)) + eps
        p = p + (g / d) * (-lr (1 - mu_t) / (1 - P_t))
        p = p + (m / d) * (-lr mu_{t+1} / (1 - P_t mu_{t+1}))

    torch's convention: the bias correction of v sits inside the square root and eps outside;
    the schedule (psi = momentum_decay = 0.004) is Dozat's.
    """
    p = param.copy()
    g, m, v = _moments(
        p, grad, exp_avg, exp_avg_sq, beta1, beta2, weight_decay, decoupled, maximize
    )
    if decoupled:
        p = p * _c(1.0 - lr * weight_decay, param)
    mu = nadam_mu(beta1, momentum_decay, step)
    mu_next = nadam_mu(beta1, momentum_decay, step + 1.0)
    prod = mu_product * mu
    prod_next = prod * mu_next
    denom = np.sqrt(v / _c(1.0 - beta2**step, param)) + _c(eps, param)
    exp_avg[...] = m
    exp_avg_sq[...] = v
    p = p + (g / denom) * _c(-lr * (1.0 - mu) / (1.0 - prod), param)
    param[...] = p + (m / denom) * _c((-lr * mu_next) / (1.0 - prod_next), param)
    return prod


def radam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    *,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled=False,
    maximize=False,
):
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"),
    torch.optim.RAdam.

    ``m``, ``v`` and weight decay as in :func:`nadam_step`; with ``rho_inf = 2/(1-b2) - 1`` and
    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``::

        rho_t > 5:  r = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
                    p = p + (m / (sqrt(v) + eps)) * (-(lr r sqrt(1 - b2^t) / (1 - b1^t)))
        otherwise:  p = p + m * (-(lr / (1 - b1^t)))           (SGD with momentum, no v)

    torch's convention (eps added to the uncorrected sqrt(v), the switch at rho_t > 5); the step
    size lr · r · sqrt(1-b2^t) / (1-b1^t) is folded into one double coefficient.
    """
    p = param.copy()
    _, m, v = _moments(
        p, grad, exp_avg, exp_avg_sq, beta1, beta2, weight_decay, decoupled, maximize
    )
    if decoupled:
        p = p * _c(1.0 - lr * weight_decay, param)
    bc1 = 1.0 - beta1**step
    bc2 = 1.0 - beta2**step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * beta2**step / bc2
    exp_avg[...] = m
    exp_avg_sq[...] = v
    if rho_t > 5.0:
        rect = math.sqrt(
            (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        )
        neg_step = -(lr * rect * math.sqrt(bc2) / bc1)
        param[...] = p + (m / (np.sqrt(v) + _c(eps, param))) * _c(neg_step, param)
    else:
        param[...] = p + m * _c(-(lr / bc1), param)


def adamax_step(
    param,
    grad,
    exp_avg,
    exp_inf,
    *,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    maximize=False,
):
    """Adamax (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", section 7.1),
    torch.optim.Adamax.

    ::

        g = g + wd * p
        m = m + (1 - b1) (g - m)
        u = max(b2 u, |g| + eps)          (NaN-propagating maximum)
        p = p + (m / u) * (-(lr / (1 - b1^t)))

    torch's convention: eps is added to |g| inside the maximum (the paper has no eps).
    """
    g = -grad if maximize else grad.copy()
    if weight_decay != 0:
        g = g + param * _c(weight_decay, param)
    m = exp_avg + (g - exp_avg) * _c(1.0 - beta1, param)
    u = np.maximum(exp_inf * _c(beta2, param), np.abs(g) + _c(eps, param))
    exp_avg[...] = m
    exp_inf[...] = u
    param[...] = param + (m / u) * _c(-(lr / (1.0 - beta1**step)), param)
