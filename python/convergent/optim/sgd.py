"""Stochastic gradient descent with momentum, dampening and Nesterov momentum."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


class SGD(Optimizer):
    r"""SGD, torch.optim.SGD semantics.

    For each parameter ``p`` with gradient ``g`` (``g = -g`` if ``maximize``)::

        g = g + weight_decay * p                           if weight_decay != 0
        b = g                                              on the first step
        b = momentum * b + (1 - dampening) * g             afterwards       (if momentum != 0)
        g = g + momentum * b   if nesterov   else   g = b                    (if momentum != 0)
        p = p - lr * g

    The textbook EMA momentum ``v = beta * v + (1 - beta) * g`` is ``momentum=beta,
    dampening=beta``. Nesterov needs ``momentum > 0`` and ``dampening == 0``
    (Sutskever et al., 2013).
    """

    _counts_steps = False

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        _core.check_sgd(g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if g["momentum"] != 0 else {}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.sgd_step's order) and the state buffers it
        uses (names, None where unused); shared with the fused loop."""
        hyper = (g["lr"], g["momentum"], g["dampening"], g["weight_decay"])
        names = ("momentum_buffer" if g["momentum"] != 0 else None, None, None)
        return "sgd", (*hyper, bool(g["nesterov"]), bool(g["maximize"])), names

    def _run(self, g, params, grads, states, old_states, dry_run):
        _, hyper, names = self._kernel_args(g)
        bufs = self._buffer_lists(states, names)[0]
        steps = [n + 1 for n in self._steps_so_far(old_states)]
        _core.sgd_step(params, grads, bufs, steps, *hyper, dry_run)

    def _steps_so_far(self, states):
        # SGD keeps no count: its kernel seeds a new momentum buffer with the gradient when it
        # sees step 1, so the count is 1 once the buffer exists and 0 before.
        return [1 if "momentum_buffer" in s else 0 for s in states]
