"""Plain-NumPy reference of the optimizer kernels, one tensor at a time, updated in place.

Each function performs the IEEE operations of its C++ kernel in the same order, in the array's
dtype, with scalar coefficients computed in Python floats (double) and then rounded to that
dtype. The fast path is therefore expected to match these functions exactly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["adagrad_step", "adam_step", "clip_gradients", "rmsprop_step", "scale_clip", "sgd_step"]


def _c(x: float, like: np.ndarray) -> np.generic:
    """A coefficient computed in double, rounded to the array's dtype."""
    return like.dtype.type(x)


def _grad(param, grad, weight_decay, maximize):
    g = -grad if maximize else grad.copy()
    if weight_decay != 0:
        g = g + param * _c(weight_decay, param)
    return g


def sgd_step(
    param,
    grad,
    momentum_buffer,
    *,
    first_step,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    """SGD with momentum (torch.optim.SGD; Nesterov: Sutskever et al. 2013).

    ``g += wd*p``; ``b = g`` on the first step else ``b = momentum*b + (1-dampening)*g``;
    ``g = g + momentum*b`` (nesterov) or ``g = b``; ``p -= lr*g``.
    """
    g = _grad(param, grad, weight_decay, maximize)
    if momentum != 0:
        if first_step:
            b = g.copy()
        else:
            b = momentum_buffer * _c(momentum, param) + g * _c(1.0 - dampening, param)
        momentum_buffer[...] = b
        g = g + b * _c(momentum, param) if nesterov else b
    param[...] = param + g * _c(-lr, param)


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    *,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    """Adam (Kingma & Ba 2015) / AdamW (Loshchilov & Hutter 2019), torch.optim Algorithm 1.

    ``m += (1-b1)(g-m)``; ``v = b2 v + (1-b2) g²``; ``v̂ = max(v̂, v)`` (AMSGrad, over the raw v);
    ``p -= lr/(1-b1^t) · m / (sqrt(v or v̂)/sqrt(1-b2^t) + eps)``. Epsilon sits outside the
    bias-corrected square root. AdamW first scales ``p *= 1 - lr*wd``; Adam adds ``wd*p`` to g.
    """
    g = -grad if maximize else grad.copy()
    p = param.copy()
    if weight_decay != 0 and not decoupled:
        g = g + p * _c(weight_decay, param)
    if decoupled:
        p = p * _c(1.0 - lr * weight_decay, param)
    bc1 = 1.0 - beta1**step
    bc2 = 1.0 - beta2**step
    m = exp_avg + (g - exp_avg) * _c(1.0 - beta1, param)
    v = exp_avg_sq * _c(beta2, param) + (g * g) * _c(1.0 - beta2, param)
    vhat = v
    if amsgrad:
        vhat = np.maximum(max_exp_avg_sq, v)
        max_exp_avg_sq[...] = vhat
    denom = np.sqrt(vhat) / _c(math.sqrt(bc2), param) + _c(eps, param)
    exp_avg[...] = m
    exp_avg_sq[...] = v
    param[...] = p + (m / denom) * _c(-(lr / bc1), param)


def adagrad_step(
    param, grad, state_sum, *, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False
):
    """Adagrad (Duchi et al. 2011), torch.optim.Adagrad.

    ``clr = lr / (1 + (t-1) lr_decay)``; ``s += g²``; ``p -= clr · g / (sqrt(s) + eps)``.
    """
    g = _grad(param, grad, weight_decay, maximize)
    s = state_sum + g * g
    state_sum[...] = s
    clr = lr / (1.0 + (step - 1) * lr_decay)
    param[...] = param + (g / (np.sqrt(s) + _c(eps, param))) * _c(-clr, param)


def rmsprop_step(
    param,
    grad,
    square_avg,
    grad_avg,
    momentum_buffer,
    *,
    lr,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
):
    """RMSprop (Hinton 2012; centered: Graves 2013), torch.optim.RMSprop.

    ``v = α v + (1-α) g²``; centered: ``a += (1-α)(g-a)``, ``d = sqrt(v - a²) + eps``, else
    ``d = sqrt(v) + eps``; momentum: ``b = μ b + g/d``, ``p -= lr b``; else ``p -= lr g/d``.
    """
    g = _grad(param, grad, weight_decay, maximize)
    v = square_avg * _c(alpha, param) + (g * g) * _c(1.0 - alpha, param)
    square_avg[...] = v
    if centered:
        a = grad_avg + (g - grad_avg) * _c(1.0 - alpha, param)
        grad_avg[...] = a
        d = np.sqrt(v - a * a) + _c(eps, param)
    else:
        d = np.sqrt(v) + _c(eps, param)
    upd = g / d
    if momentum != 0:
        upd = momentum_buffer * _c(momentum, param) + upd
        momentum_buffer[...] = upd
    param[...] = param + upd * _c(-lr, param)


def scale_clip(grad, scale, bound):
    """In place: ``grad = min(max(grad * scale, -bound), bound)`` in the array's dtype (NaN stays
    NaN), the kernel behind the training loop's gradient clips."""
    g = grad * _c(scale, grad)
    np.minimum(np.maximum(g, _c(-bound, grad)), _c(bound, grad), out=grad)
    return grad


def clip_gradients(grads, clip_norm=None, clip_value=None):
    """The training loop's guard and clips, in place: False (nothing changed) when the global
    norm (clip_norm given) or any gradient is not finite. With clip_norm, every gradient is
    scaled by ``clip_norm / (norm + 1e-6)`` when that is below 1 (torch ``clip_grad_norm_``),
    the norm summed in float64; with clip_value, each element is clipped to ``[-v, v]`` after."""
    if clip_norm is not None:
        total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
        if not math.isfinite(total):
            return False
        coef = clip_norm / (total + 1e-6)
        scale = coef if coef < 1.0 else 1.0
    else:
        if not all(np.all(np.isfinite(g)) for g in grads):
            return False
        scale = 1.0
    bound = math.inf if clip_value is None else clip_value
    if scale != 1.0 or clip_value is not None:
        for g in grads:
            scale_clip(g, scale, bound)
    return True
