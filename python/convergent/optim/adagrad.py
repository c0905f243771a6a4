"""Adagrad."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), torch.optim.Adagrad semantics.

    At step ``t`` (from 1), with ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          if weight_decay != 0
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                                     (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)
    """

    _kernel_buffers = 1
    _kernel_steps = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        v = g["initial_accumulator_value"]
        if not (isinstance(v, (int, float)) and 0.0 <= v < float("inf")):
            raise ValueError(f"initial_accumulator_value must be a finite number >= 0, got {v!r}")
        _core.check_adagrad(g["lr"], g["lr_decay"], g["weight_decay"], g["eps"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"sum": g["initial_accumulator_value"]}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.adagrad_step's order) and the state buffers
        it uses; shared with the fused loop."""
        hyper = (g["lr"], g["lr_decay"], g["weight_decay"], g["eps"], bool(g["maximize"]))
        return "adagrad", hyper, ("sum", None, None)
