"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from typing import Any

from .. import _core
from ._adam_family import AdamFamily
from .optimizer import betas_pair, hyperparameters


class Adamax(AdamFamily):
    r"""Adamax (Kingma & Ba, 2015, section 7.1), torch.optim.Adamax semantics.

    At step ``t`` (per parameter, from 1), with ``g = -g`` if ``maximize``::

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``. Scalars in double precision.
    """

    _buffers = ("exp_avg", "exp_inf")

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        _core.check_adamax(g["lr"], b1, b2, g["eps"], g["weight_decay"])

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.adamax_step's order, after steps) and the
        state buffers it uses; shared with the fused loop."""
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["eps"], g["weight_decay"], bool(g["maximize"]))
        return "adamax", hyper, ("exp_avg", "exp_inf", None)
