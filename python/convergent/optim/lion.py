"""Lion (EvoLved Sign Momentum)."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, betas_pair, hyperparameters


class Lion(Optimizer):
    r"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), with
    optax.lion's update order and decoupled weight decay. Per parameter, with ``g = -g`` if
    ``maximize``::

        c = (1 - beta1) * g + beta1 * m
        p = p - lr * (sign(c) + weight_decay * p)      (sign(0) = 0)
        m = (1 - beta2) * g + beta2 * m

    State: ``"exp_avg"`` (m, zeros at first) and ``"step"``. The update has the size of ``lr`` in
    every coordinate, so Lion takes a learning rate 3-10x smaller than AdamW's (and a larger
    weight decay for the same ``lr * weight_decay``).
    """

    _kernel_buffers = 1

    def __init__(
        self,
        params: Any,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        _core.check_lion(g["lr"], b1, b2, g["weight_decay"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"exp_avg": 0.0}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.lion_step's order) and the state buffers it
        uses (names, None where unused)."""
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["weight_decay"], bool(g["maximize"]))
        return "lion", hyper, ("exp_avg", None, None)
