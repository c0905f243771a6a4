"""Cosine decay with warm restarts and polynomial decay (Keras formulas), linear scaling (torch
LinearLR) and a sequence of schedules (torch SequentialLR)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from ._base import Schedule, _count, _describe, _number


class CosineDecayRestarts(Schedule):
    """Keras CosineDecayRestarts: SGDR (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent
    with Warm Restarts", 2017). Period ``i`` lasts ``first_decay_steps * t_mul ** i`` steps and
    starts at ``initial_lr * m_mul ** i``.

    With ``f = step / first_decay_steps``: for ``t_mul == 1``, ``i = floor(f)`` and
    ``f = f - i``; otherwise ``i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))`` and
    ``f = (f - (1 - t_mul ** i) / (1 - t_mul)) / t_mul ** i``. Then
    ``lr = initial_lr * ((1 - alpha) * (0.5 * m_mul ** i * (1 + cos(pi * f))) + alpha)``.
    Computed in float64 with Keras's operations (so a restart step whose logarithm ratio rounds
    below the integer stays in the previous period, as in Keras). ``t_mul >= 1`` (shorter and
    shorter periods would end after finitely many steps).
    """

    def __init__(
        self,
        initial_lr: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
    ) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.first_decay_steps = _count(first_decay_steps, "first_decay_steps", positive=True)
        self.t_mul = _number(t_mul, "t_mul")
        if self.t_mul < 1.0:
            raise ValueError(f"t_mul must be >= 1, got {self.t_mul}")
        self.m_mul = _number(m_mul, "m_mul", nonneg=True)
        self.alpha = _number(alpha, "alpha", nonneg=True)
        if self.alpha > 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")

    def _lr(self, step: int) -> float:
        t = self.t_mul
        f = step / self.first_decay_steps
        if t == 1.0:
            i = math.floor(f)
            f -= i
        else:
            i = math.floor(math.log(1.0 - f * (1.0 - t)) / math.log(t))
            f = (f - (1.0 - t**i) / (1.0 - t)) / t**i
        cosine = 0.5 * self.m_mul**i * (1.0 + math.cos(math.pi * f))
        return self.initial_lr * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_lr": self.initial_lr,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
        }


class PolynomialDecay(Schedule):
    """Keras PolynomialDecay: ``(initial_lr - end_lr) * (1 - s / d) ** power + end_lr`` with
    ``s = min(step, decay_steps)`` and ``d = decay_steps``; with ``cycle``, ``s = step`` and
    ``d = decay_steps * ceil(step / decay_steps)`` (``decay_steps`` at step 0), so each
    multiple of ``decay_steps`` starts a new, longer decay from a lower point."""

    def __init__(
        self,
        initial_lr: float,
        decay_steps: int,
        end_lr: float = 1e-4,
        power: float = 1.0,
        cycle: bool = False,
    ) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        self.end_lr = _number(end_lr, "end_lr", nonneg=True)
        self.power = _number(power, "power", nonneg=True)
        self.cycle = bool(cycle)

    def _lr(self, step: int) -> float:
        d = float(self.decay_steps)
        if self.cycle:
            d *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
            s = float(step)
        else:
            s = float(min(step, self.decay_steps))
        return (self.initial_lr - self.end_lr) * (1 - s / d) ** self.power + self.end_lr

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_lr": self.initial_lr,
            "decay_steps": self.decay_steps,
            "end_lr": self.end_lr,
            "power": self.power,
            "cycle": self.cycle,
        }


class LinearSchedule(Schedule):
    """torch LinearLR in closed form: ``initial_lr * (start_factor + (end_factor -
    start_factor) * min(step, total_steps) / total_steps)``. (torch steps recursively, each lr
    a multiple of the last; its values agree to a few ulps.) ``start_factor`` in (0, 1] and
    ``end_factor`` in [0, 1], as torch requires."""

    def __init__(
        self,
        initial_lr: float,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_steps: int = 5,
    ) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.start_factor = _number(start_factor, "start_factor")
        if not 0.0 < self.start_factor <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1], got {self.start_factor}")
        self.end_factor = _number(end_factor, "end_factor")
        if not 0.0 <= self.end_factor <= 1.0:
            raise ValueError(f"end_factor must be in [0, 1], got {self.end_factor}")
        self.total_steps = _count(total_steps, "total_steps", positive=True)

    def _lr(self, step: int) -> float:
        s, e, T = self.start_factor, self.end_factor, self.total_steps
        return self.initial_lr * (s + (e - s) * min(T, step) / T)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_lr": self.initial_lr,
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
            "total_steps": self.total_steps,
        }


class SequentialSchedule(Schedule):
    """torch SequentialLR: ``schedules[i]`` runs from ``boundaries[i - 1]`` (0 for the first)
    and restarts its own step count there: ``lr(step) = schedules[i](step - boundaries[i - 1])``
    for ``boundaries[i - 1] <= step < boundaries[i]``. ``boundaries``: strictly increasing ints
    >= 1, one fewer than ``schedules``.

    It drives momentum when one of its schedules does: a segment whose schedule drives it gives
    that schedule's momentum; a segment whose schedule does not keeps the momentum the last
    driving segment before it ended with, or, before any, the first driving schedule's step-0
    momentum (what torch leaves in the optimizer when one scheduler cycles momentum).
    """

    def __init__(self, schedules: Sequence[Any], boundaries: Sequence[int]) -> None:
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise TypeError("schedules must be a list of schedules")
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
            raise TypeError("boundaries must be a list of ints")
        if not schedules:
            raise ValueError("schedules must hold at least one schedule")
        for i, s in enumerate(schedules):
            if not callable(s):
                raise TypeError(f"schedules[{i}] must be callable: schedule(step) -> lr")
        self.schedules = list(schedules)
        self.boundaries = [
            _count(b, f"boundaries[{i}]", positive=True) for i, b in enumerate(boundaries)
        ]
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                f"boundaries must have len(schedules) - 1 = {len(self.schedules) - 1} items, "
                f"got {len(self.boundaries)}"
            )
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError("boundaries must be strictly increasing")
        self._drives = [bool(getattr(s, "drives_momentum", False)) for s in self.schedules]

    @property
    def drives_momentum(self) -> bool:  # type: ignore[override]
        return any(self._drives)

    def _segment(self, step: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.boundaries, step)
        return i, step - (self.boundaries[i - 1] if i else 0)

    def _lr(self, step: int) -> float:
        i, local = self._segment(step)
        return float(self.schedules[i](local))

    def _momentum(self, step: int) -> float:
        i, local = self._segment(step)
        if self._drives[i]:
            return float(self.schedules[i].momentum(local))
        earlier = [j for j in range(i) if self._drives[j]]
        if earlier:
            j = earlier[-1]
            last = self.boundaries[j] - 1 - (self.boundaries[j - 1] if j else 0)
            return float(self.schedules[j].momentum(last))
        return float(self.schedules[self._drives.index(True)].momentum(0))

    def get_config(self) -> dict[str, Any]:
        return {
            "schedules": [_describe(s) for s in self.schedules],
            "boundaries": list(self.boundaries),
        }
