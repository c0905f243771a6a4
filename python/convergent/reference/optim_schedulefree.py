"""Plain-NumPy references of Schedule-Free AdamW (Defazio et al. 2024, "The Road Less
Scheduled", arXiv:2405.15682), following facebookresearch/schedule_free.

Two forms of the same method:

- :class:`ScheduleFreeAdamWReference`: the simplified reference
  (``schedulefree/adamw_schedulefree_reference.py``, ``decay_at_z=False``), which stores the
  three sequences x, y, z explicitly and is written to be read next to the paper;
- :func:`schedulefree_adamw_step` and :func:`schedulefree_lerp`: the memory-lean form of
  ``schedulefree/adamw_schedulefree.py`` (``AdamWScheduleFree``) that the C++ kernel runs, one
  tensor at a time, with the kernel's IEEE operations in its order (coefficients in Python
  floats, rounded to the array's dtype). The parameter holds y in train mode and x in eval mode;
  only z and exp_avg_sq are stored.

In exact arithmetic the two give the same iterates; in float64 they agree to rounding (the
tests hold them to that over whole trajectories with warmup, weight decay and r != 0).

The per-step scalars (:func:`schedulefree_scalars`), with t = k + 1 the step count::

    lr_t = lr * min(1, t / warmup_steps) * sqrt(1 - beta2**t)
    lr_max = max(lr_t, lr_max)                       (lr_max starts at -1)
    weight = t**r * lr_max**weight_lr_power
    weight_sum = weight_sum + weight                 (starts at 0)
    ckp1 = weight / weight_sum                       (0 when weight_sum == 0)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ScheduleFreeAdamWReference",
    "schedulefree_adamw_step",
    "schedulefree_lerp",
    "schedulefree_scalars",
]


def schedulefree_scalars(step, lr_max, weight_sum, *, lr, beta2, warmup_steps, r, weight_lr_power):
    """(lr_t, ckp1, lr_max, weight_sum) of step ``step`` (t = k + 1 >= 1), given the running
    ``lr_max`` and ``weight_sum`` before it (Python floats: double precision)."""
    k = step - 1
    sched = (k + 1) / warmup_steps if k < warmup_steps else 1.0
    lr_t = lr * sched * math.sqrt(1 - beta2 ** (k + 1))
    lr_max = max(lr_t, lr_max)
    weight = ((k + 1) ** r) * (lr_max**weight_lr_power)
    weight_sum = weight_sum + weight
    ckp1 = weight / weight_sum if weight_sum != 0 else 0.0
    return lr_t, ckp1, lr_max, weight_sum


def schedulefree_adamw_step(
    y, grad, z, exp_avg_sq, *, lr_t, ckp1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0
):
    """One memory-lean step in place, given the step's scalars (:func:`schedulefree_scalars`)::

        v = v * beta2 + (g * g) * (1 - beta2)
        gn = g / (sqrt(v) + eps)
        gn = gn + y * weight_decay                  (weight decay at y; skipped when 0)
        y = y + (z - y) * ckp1                      (y moves to the new x's lerp point)
        y = y + gn * (lr_t * (beta1 * (1 - ckp1) - 1))
        z = z + gn * (-lr_t)

    Since y = (1 - beta1) z + beta1 x, this is the reference's z -= lr_t (g/denom + wd y),
    x = (1 - ckp1) x + ckp1 z, y = (1 - beta1) z + beta1 x, without storing x.
    """
    t = y.dtype.type
    v = exp_avg_sq * t(beta2) + (grad * grad) * t(1.0 - beta2)
    gn = grad / (np.sqrt(v) + t(eps))
    if weight_decay != 0:
        gn = gn + y * t(weight_decay)
    yn = y + (z - y) * t(ckp1)
    yn = yn + gn * t(lr_t * (beta1 * (1.0 - ckp1) - 1.0))
    z[...] = z + gn * t(-lr_t)
    exp_avg_sq[...] = v
    y[...] = yn


def schedulefree_lerp(param, z, *, beta1, to_eval):
    """The train/eval switch in place: ``p = p + (z - p) * w`` with ``w = 1 - 1/beta1`` (eval:
    y to x = (y - (1 - beta1) z) / beta1) or ``w = 1 - beta1`` (train: x to y)."""
    t = param.dtype.type
    w = 1.0 - 1.0 / beta1 if to_eval else 1.0 - beta1
    param[...] = param + (z - param) * t(w)


class ScheduleFreeAdamWReference:
    """The simplified reference, one float64 (or float32) tensor, explicit x, y, z::

        scalars of step t (schedulefree_scalars)
        z = z - lr_t * weight_decay * y             (decay at y; skipped when weight_decay == 0)
        v = beta2 * v + (1 - beta2) * g * g
        z = z - lr_t * g / (sqrt(v) + eps)
        x = (1 - ckp1) * x + ckp1 * z
        y = beta1 * x + (1 - beta1) * z
        p = y                                       (train mode); eval(): p = x; train(): p = y

    The gradient ``g`` is taken at y (the parameter in train mode). ``state`` holds x, y, z,
    exp_avg_sq and the step count, lr_max and weight_sum.
    """

    def __init__(self, param, *, lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0):  # fmt: skip
        self.p = param
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.warmup_steps, self.r, self.weight_lr_power = warmup_steps, r, weight_lr_power
        self.train_mode = True
        self.step_count, self.lr_max, self.weight_sum = 0, -1.0, 0.0
        self.x = self.y = self.z = self.exp_avg_sq = None

    def step(self, grad):
        if not self.train_mode:
            raise RuntimeError("not in train mode")
        beta1, beta2 = self.betas
        self.step_count += 1
        lr_t, ckp1, self.lr_max, self.weight_sum = schedulefree_scalars(
            self.step_count, self.lr_max, self.weight_sum, lr=self.lr, beta2=beta2,
            warmup_steps=self.warmup_steps, r=self.r, weight_lr_power=self.weight_lr_power,
        )  # fmt: skip
        if self.z is None:
            self.z, self.x, self.y = self.p.copy(), self.p.copy(), self.p.copy()
            self.exp_avg_sq = np.zeros_like(self.p)
        if self.weight_decay != 0:
            self.z = self.z - (lr_t * self.weight_decay) * self.y
        self.exp_avg_sq = beta2 * self.exp_avg_sq + (1 - beta2) * grad * grad
        self.z = self.z - lr_t * grad / (np.sqrt(self.exp_avg_sq) + self.eps)
        self.x = (1 - ckp1) * self.x + ckp1 * self.z
        self.y = beta1 * self.x + (1 - beta1) * self.z
        self.p[...] = self.y

    def eval(self):
        if self.train_mode and self.x is not None:
            self.p[...] = self.x
        self.train_mode = False

    def train(self):
        if not self.train_mode and self.y is not None:
            self.p[...] = self.y
        self.train_mode = True
