"""Averaged SGD."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992; in the form of Bottou, 2012), torch.optim.ASGD
    semantics.

    Each parameter keeps ``eta`` (its step size, ``lr`` before the first step) and ``mu`` (its
    averaging weight, 1 before the first step) in its state, as torch does. At step ``t`` (per
    parameter, from 1), with ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          if weight_decay != 0
        p = p * (1 - lambd * eta) - eta * g
        ax = p  if mu == 1  else  ax + (p - ax) * mu
        eta = lr / (1 + lambd * lr * t) ** alpha          (in double)
        mu = 1 / max(1, t - t0)

    The averaged parameters are ``state["ax"]``. ``eta`` and ``mu`` are Python floats (double);
    torch keeps them as 0-d tensors of its default dtype, so float64 torch matches to rounding
    while float32 torch (its default) rounds eta to float32 and may differ in the last bits.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        _core.check_asgd(g["lr"], g["lambd"], g["alpha"], g["t0"], g["weight_decay"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"ax": 0.0}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.asgd_step's order, after the per-tensor
        etas, mus and steps) and the state buffers it uses; shared with the fused loop."""
        hyper = (g["lr"], g["lambd"], g["alpha"], g["t0"], g["weight_decay"])
        return "asgd", (*hyper, bool(g["maximize"])), ("ax", None, None)

    def _run(self, g, params, grads, states, old_states, dry_run):
        _, hyper, names = self._kernel_args(g)
        axs = self._buffer_lists(states, names)[0]
        etas = [st.get("eta", g["lr"]) for st in states]
        mus = [st.get("mu", 1.0) for st in states]
        steps = [st["step"] for st in states]
        out = _core.asgd_step(params, grads, axs, etas, mus, steps, *hyper, dry_run)
        if not dry_run:
            for st, eta, mu in zip(states, *out):
                st["eta"], st["mu"] = eta, mu
