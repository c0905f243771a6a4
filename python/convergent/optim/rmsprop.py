"""RMSprop, plain and centered."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012; centered form: Graves, 2013), torch.optim.RMSprop semantics.

    With ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          if weight_decay != 0
        v = alpha * v + (1 - alpha) * g * g
        a = a + (1 - alpha) * (g - a);  d = sqrt(v - a * a) + eps      if centered
        d = sqrt(v) + eps                                              otherwise
        b = momentum * b + g / d;  p = p - lr * b                      if momentum > 0
        p = p - lr * g / d                                             otherwise
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        _core.check_rmsprop(g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        spec = {"square_avg": 0.0}
        if g["momentum"] != 0:
            spec["momentum_buffer"] = 0.0
        if g["centered"]:
            spec["grad_avg"] = 0.0
        return spec

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.rmsprop_step's order) and the state buffers
        it uses (names, None where unused); shared with the fused loop."""
        centered, momentum = bool(g["centered"]), g["momentum"] != 0
        hyper = (g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"], centered)
        names = (
            "square_avg",
            "grad_avg" if centered else None,
            "momentum_buffer" if momentum else None,
        )
        return "rmsprop", (*hyper, bool(g["maximize"])), names
