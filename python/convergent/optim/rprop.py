"""Rprop."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, hyperparameters


def _pair(v: Any, name: str, what: str) -> tuple[Any, Any]:
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ValueError(f"{name} must be a pair {what}, got {v!r}")
    return v[0], v[1]


class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun, 1993), torch.optim.Rprop semantics (no weight-backtracking).

    Each element has its own step size (``state["step_size"]``, starting at ``lr``). With
    ``g = -g`` if ``maximize`` and ``s = sign(g * prev)``::

        step_size = clamp(step_size * (etaplus if s > 0 else etaminus if s < 0 else 1),
                          *step_sizes)
        g = 0 where s < 0                                 (no step after a sign change)
        p = p - sign(g) * step_size
        prev = g
    """

    _kernel_buffers = 2

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        etaminus, etaplus = _pair(g["etas"], "etas", "(etaminus, etaplus)")
        lo, hi = _pair(g["step_sizes"], "step_sizes", "(min, max)")
        _core.check_rprop(g["lr"], etaminus, etaplus, lo, hi)

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"prev": 0.0, "step_size": g["lr"]}

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.rprop_step's order) and the state buffers
        it uses; shared with the fused loop."""
        (etaminus, etaplus), (lo, hi) = g["etas"], g["step_sizes"]
        hyper = (g["lr"], etaminus, etaplus, lo, hi, bool(g["maximize"]))
        return "rprop", hyper, ("prev", "step_size", None)
