"""Plain-NumPy reference of the Adadelta, ASGD and Rprop kernels, one tensor at a time, in place.

As in :mod:`convergent.reference.optim`: each function performs the IEEE operations of its C++
kernel in the same order, in the array's dtype, with scalar coefficients computed in Python
floats (double) and then rounded to that dtype.
"""

from __future__ import annotations

import numpy as np

from .optim import _c, _grad

__all__ = ["adadelta_step", "asgd_step", "rprop_step"]


def adadelta_step(
    param, grad, square_avg, acc_delta, *, lr, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False
):
    """Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1) with
    torch.optim.Adadelta's conventions: a learning rate ``lr`` scales the update, and eps is
    added inside both square roots.

    With ``g = -g`` if maximize, ``g = g + wd·p`` if wd != 0::

        v = ρ v + ((1-ρ) g) g
        Δ = sqrt(u + eps) / sqrt(v + eps) · g
        u = ρ u + ((1-ρ) Δ) Δ
        p = p - lr Δ

    (``v`` = square_avg, ``u`` = acc_delta; products left to right, as torch's addcmul.)
    """
    g = _grad(param, grad, weight_decay, maximize)
    rho_c, omr = _c(rho, param), _c(1.0 - rho, param)
    eps_c = _c(eps, param)
    v = square_avg * rho_c + (g * omr) * g
    square_avg[...] = v
    delta = np.sqrt(acc_delta + eps_c) / np.sqrt(v + eps_c) * g
    acc_delta[...] = acc_delta * rho_c + (delta * omr) * delta
    param[...] = param + delta * _c(-lr, param)


def asgd_step(
    param,
    grad,
    ax,
    *,
    eta,
    mu,
    step,
    lr,
    lambd=1e-4,
    alpha=0.75,
    t0=1e6,
    weight_decay=0.0,
    maximize=False,
):
    """Averaged SGD (Polyak & Juditsky 1992, "Acceleration of Stochastic Approximation by
    Averaging"), in the form of Bottou 2012 ("Stochastic Gradient Descent Tricks", section 5.3)
    that torch.optim.ASGD implements.

    ``eta`` and ``mu`` are the tensor's scalars left by its previous step (``lr`` and 1 before
    the first); ``step`` is its step count after this step. With ``g = -g`` if maximize,
    ``g = g + wd·p`` if wd != 0::

        p = p (1 - λ η) - η g
        a = p  if μ == 1  else  a + (p - a) μ
        η' = lr / (1 + λ lr t)^α,   μ' = 1 / max(1, t - t0)

    Returns ``(η', μ')`` (Python floats, as torch computes them).
    """
    g = _grad(param, grad, weight_decay, maximize)
    p = param * _c(1.0 - lambd * eta, param) + g * _c(-eta, param)
    param[...] = p
    if mu == 1.0:
        ax[...] = p
    else:
        ax[...] = ax + (p - ax) * _c(mu, param)
    return lr / (1.0 + lambd * lr * step) ** alpha, 1.0 / max(1.0, step - t0)


def rprop_step(
    param,
    grad,
    prev,
    step_size,
    *,
    etaminus=0.5,
    etaplus=1.2,
    step_min=1e-6,
    step_max=50.0,
    maximize=False,
):
    """Rprop (Riedmiller & Braun 1993, "A Direct Adaptive Method for Faster Backpropagation
    Learning: The RPROP Algorithm"), the variant without weight-backtracking that
    torch.optim.Rprop implements (step sizes start at lr).

    With ``g = -g`` if maximize and ``s = sign(g · prev)`` (sign of NaN = 0, as torch)::

        step_size = clamp(step_size · {η+ if s > 0, η- if s < 0, 1 otherwise}, min, max)
        g = 0 where the factor == η- (s < 0; in float32 also where η- rounds to 1, as torch)
        p = p - sign(g) · step_size
        prev = g
    """
    g = -grad if maximize else grad.copy()
    t = param.dtype.type
    zero = t(0)
    prod = g * prev
    factor = np.where(prod > zero, t(etaplus), np.where(prod < zero, t(etaminus), t(1)))
    s = np.minimum(np.maximum(step_size * factor, t(step_min)), t(step_max))
    step_size[...] = s
    g = np.where(factor == t(etaminus), zero, g)
    prev[...] = g
    param[...] = np.where(g > zero, param - s, np.where(g < zero, param + s, param))
