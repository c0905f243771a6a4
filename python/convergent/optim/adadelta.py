"""Adadelta."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), torch.optim.Adadelta semantics.

    With ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          if weight_decay != 0
        v = rho * v + (1 - rho) * g * g                   (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta           (acc_delta)
        p = p - lr * delta
    """

    _kernel_buffers = 2

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        _core.check_adadelta(g["lr"], g["rho"], g["eps"], g["weight_decay"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.adadelta_step's order) and the state
        buffers it uses; shared with the fused loop."""
        hyper = (g["lr"], g["rho"], g["eps"], g["weight_decay"], bool(g["maximize"]))
        return "adadelta", hyper, ("square_avg", "acc_delta", None)
