"""What NAdam, RAdam and Adamax share: two zero-filled state buffers and one group call of their
kernels, ``_core.<kind>_step(params, grads, *buffers, steps, *hyper, dry_run)``."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer


class AdamFamily(Optimizer):
    """Base of NAdam, RAdam and Adamax: two state buffers per parameter (zero-filled) and one
    ``_core.<kind>_step(params, grads, *buffers, steps, *hyper, dry_run)`` call per group."""

    _buffers: tuple[str, str] = ("exp_avg", "exp_avg_sq")
    _kernel_buffers = 2
    _kernel_steps = True

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return dict.fromkeys(self._buffers, 0.0)
