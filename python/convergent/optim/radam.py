"""RAdam: Adam with the variance of the adaptive learning rate rectified."""

from __future__ import annotations

from typing import Any

from .. import _core
from ._adam_family import AdamFamily
from .optimizer import betas_pair, hyperparameters


class RAdam(AdamFamily):
    r"""RAdam (Liu et al., 2020), torch.optim.RAdam semantics.

    At step ``t`` (per parameter, from 1), with ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          (coupled L2)
        p = p * (1 - lr * weight_decay)                   (decoupled_weight_decay=True)
        m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            p = p - lr * r * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)
        else:
            p = p - lr / (1 - beta1**t) * m

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``. Scalars in double precision.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        _core.check_radam(g["lr"], b1, b2, g["eps"], g["weight_decay"])

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.radam_step's order, after steps) and the
        state buffers it uses; shared with the fused loop."""
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["eps"], g["weight_decay"])
        flags = (bool(g["decoupled_weight_decay"]), bool(g["maximize"]))
        return "radam", (*hyper, *flags), ("exp_avg", "exp_avg_sq", None)
