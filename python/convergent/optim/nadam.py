"""NAdam: Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from ._adam_family import AdamFamily
from .optimizer import betas_pair, hyperparameters


class NAdam(AdamFamily):
    r"""NAdam (Dozat, 2016), torch.optim.NAdam semantics.

    At step ``t`` (per parameter, from 1), with ``g = -g`` if ``maximize``,
    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))`` and ``mu_product`` the running
    product ``mu_1 ... mu_t`` (``P_t``)::

        g = g + weight_decay * p                          (coupled L2)
        p = p * (1 - lr * weight_decay)                   (decoupled_weight_decay=True)
        m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - P_t) * g / d
        p = p - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

    State per parameter: ``step``, ``mu_product`` (a float64 number; torch keeps a 0-d tensor),
    ``exp_avg``, ``exp_avg_sq``. Scalars in double precision.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        _core.check_nadam(g["lr"], b1, b2, g["eps"], g["weight_decay"], g["momentum_decay"])

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.nadam_step's order, after steps) and the
        state buffers it uses; shared with the fused loop. The kernel also takes the
        per-parameter ``mu_product`` values (a float64 array it advances in place)."""
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["eps"], g["weight_decay"], g["momentum_decay"])
        flags = (bool(g["decoupled_weight_decay"]), bool(g["maximize"]))
        return "nadam", (*hyper, *flags), ("exp_avg", "exp_avg_sq", None)

    def _run(self, g, params, grads, states, old_states, dry_run):
        _, hyper, names = self._kernel_args(g)
        bufs = self._buffer_lists(states, names)[:2]
        mus = np.array([float(s.get("mu_product", 1.0)) for s in states], np.float64)
        steps = [s["step"] for s in states]
        _core.nadam_step(params, grads, *bufs, mus, steps, *hyper, dry_run)
        if not dry_run:
            for s, mu in zip(states, mus.tolist()):
                s["mu_product"] = mu
