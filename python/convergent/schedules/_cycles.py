"""Cyclical schedules that also cycle momentum: OneCycle (torch OneCycleLR) and Cyclic (torch
CyclicLR). Both are closed forms of the step in torch too, so the values are torch's bits."""

from __future__ import annotations

import math
from typing import Any

from ._base import Schedule, _count, _number


def _choice(x: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(x, str):
        raise TypeError(f"{name} must be a str, got {type(x).__name__}")
    if x not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {x!r}")
    return x


class OneCycle(Schedule):
    """The 1cycle policy (Smith & Topin, "Super-Convergence", 2017), torch
    ``OneCycleLR(optimizer, max_lr, total_steps, ...)`` with its defaults and values.

    With ``initial = max_lr / div_factor`` and ``min_lr = initial / final_div_factor``, the
    phases end at step ``pct_start * total_steps - 1`` (``initial -> max_lr``, momentum
    ``max_momentum -> base_momentum``) and ``total_steps - 1`` (``max_lr -> min_lr``, momentum
    back to ``max_momentum``). With ``three_phase`` they end at ``pct_start * total_steps - 1``
    (up), ``2 * pct_start * total_steps - 2`` (back down to ``initial``, momentum back up) and
    ``total_steps - 1`` (``initial -> min_lr``, momentum held at ``max_momentum``). A step in
    the phase from ``start`` to ``end`` has ``pct = (step - start) / (end - start)`` and
    ``cos``: ``end_v + (start_v - end_v) / 2 * (cos(pi * pct) + 1)``, ``linear``:
    ``(end_v - start_v) * pct + start_v``.

    ``cycle_momentum`` (default True): ``momentum(step)`` is the momentum of SGD and RMSprop or
    the beta1 of the Adam family for that step (:func:`convergent.fit` sets it; an optimizer
    with neither is a ValueError, as in torch). Steps run from 0 to ``total_steps``; a later
    step is a ValueError, as torch's "Tried to step ... times". A ``pct_start`` that makes the
    first phase zero steps long (``pct_start * total_steps == 1``, where torch divides by zero)
    is a ValueError.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        self.max_lr = _number(max_lr, "max_lr", nonneg=True)
        self.total_steps = _count(total_steps, "total_steps", positive=True)
        self.pct_start = _number(pct_start, "pct_start")
        if not 0.0 <= self.pct_start <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {self.pct_start}")
        self.anneal_strategy = _choice(anneal_strategy, "anneal_strategy", ("cos", "linear"))
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = _number(base_momentum, "base_momentum", nonneg=True)
        self.max_momentum = _number(max_momentum, "max_momentum", nonneg=True)
        self.div_factor = _number(div_factor, "div_factor", positive=True)
        self.final_div_factor = _number(final_div_factor, "final_div_factor", positive=True)
        self.three_phase = bool(three_phase)
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        top, base, T, p = self.max_lr, self.base_momentum, self.total_steps, self.pct_start
        mom = self.max_momentum
        # (last step, lr from, lr to, momentum from, momentum to), as torch builds them
        if self.three_phase:
            self._phases = [
                (float(p * T) - 1, initial, top, mom, base),
                (float(2 * p * T) - 2, top, initial, base, mom),
                (T - 1, initial, low, mom, mom),
            ]
        else:
            self._phases = [
                (float(p * T) - 1, initial, top, mom, base),
                (T - 1, top, low, base, mom),
            ]
        if self._phases[0][0] == 0:
            raise ValueError(
                f"pct_start={self.pct_start} with total_steps={T} gives a first phase of zero "
                "steps (pct_start * total_steps == 1)"
            )

    @property
    def drives_momentum(self) -> bool:  # type: ignore[override]
        return self.cycle_momentum

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _phase(self, step: int) -> tuple[float, tuple[Any, ...]]:
        if step > self.total_steps:
            raise ValueError(f"step {step} is past total_steps={self.total_steps}")
        start = 0.0
        for i, phase in enumerate(self._phases):
            end = phase[0]
            if step <= end or i == len(self._phases) - 1:
                if end == start:
                    raise ValueError(f"step {step} falls in a phase of zero steps")
                return (step - start) / (end - start), phase
            start = end
        raise AssertionError("unreachable")

    def _lr(self, step: int) -> float:
        pct, phase = self._phase(step)
        return self._anneal(phase[1], phase[2], pct)

    def _momentum(self, step: int) -> float:
        pct, phase = self._phase(step)
        return self._anneal(phase[3], phase[4], pct)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "cycle_momentum": self.cycle_momentum,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


class Cyclic(Schedule):
    """Cyclical learning rates (Smith, "Cyclical Learning Rates for Training Neural Networks",
    2017), torch ``CyclicLR(optimizer, base_lr, max_lr, ...)`` with its defaults and values.

    A cycle is ``step_size_up + step_size_down`` steps (``step_size_down=None``: the same as
    up). With ``cycle = floor(1 + step / total)``, ``x = 1 + step / total - cycle`` and
    ``ratio = step_size_up / total``, the height is ``x / ratio`` while ``x <= ratio``, else
    ``(x - 1) / (ratio - 1)``; ``lr = base_lr + (max_lr - base_lr) * height * scale`` where
    ``scale`` is 1 (``"triangular"``), ``1 / 2 ** (cycle - 1)`` (``"triangular2"``) or
    ``gamma ** step`` (``"exp_range"``). With ``cycle_momentum`` (default True),
    ``momentum = max_momentum - (max_momentum - base_momentum) * height * scale``: inverse to
    the learning rate, driving SGD's and RMSprop's momentum or the Adam family's beta1.
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
    ) -> None:
        self.base_lr = _number(base_lr, "base_lr", nonneg=True)
        self.max_lr = _number(max_lr, "max_lr", nonneg=True)
        self.step_size_up = _count(step_size_up, "step_size_up", positive=True)
        self.step_size_down = (
            None
            if step_size_down is None
            else _count(step_size_down, "step_size_down", positive=False)
        )
        self.mode = _choice(mode, "mode", ("triangular", "triangular2", "exp_range"))
        self.gamma = _number(gamma, "gamma", positive=True)
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = _number(base_momentum, "base_momentum", nonneg=True)
        self.max_momentum = _number(max_momentum, "max_momentum", nonneg=True)
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        self._total = up + down
        self._ratio = up / self._total

    @property
    def drives_momentum(self) -> bool:  # type: ignore[override]
        return self.cycle_momentum

    def _height_scale(self, step: int) -> tuple[float, float]:
        cycle = math.floor(1 + step / self._total)
        x = 1.0 + step / self._total - cycle
        ratio = self._ratio
        height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:
            scale = self.gamma**step
        return height, scale

    def _lr(self, step: int) -> float:
        height, scale = self._height_scale(step)
        return self.base_lr + (self.max_lr - self.base_lr) * height * scale

    def _momentum(self, step: int) -> float:
        height, scale = self._height_scale(step)
        return self.max_momentum - (self.max_momentum - self.base_momentum) * height * scale

    def get_config(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "cycle_momentum": self.cycle_momentum,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }
