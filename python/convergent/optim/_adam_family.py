"""What NAdam, RAdam and Adamax share: the betas check and the group call of their kernels."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer


def betas_pair(g: dict[str, Any]) -> tuple[Any, Any]:
    """The group's ``(beta1, beta2)``; ValueError naming betas unless it is a pair."""
    betas = g["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]


class AdamFamily(Optimizer):
    """Base of NAdam, RAdam and Adamax: two state buffers per parameter (zero-filled) and one
    ``_core.<kind>_step(params, grads, *buffers, steps, *hyper, dry_run)`` call per group."""

    _buffers: tuple[str, str] = ("exp_avg", "exp_avg_sq")

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return dict.fromkeys(self._buffers, 0.0)

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        raise NotImplementedError

    def _run(self, g, params, grads, states, old_states, dry_run):
        kind, hyper, names = self._kernel_args(g)
        bufs = self._buffer_lists(states, names)[:2]
        steps = [s["step"] for s in states]
        getattr(_core, f"{kind}_step")(params, grads, *bufs, steps, *hyper, dry_run)
