"""The base class, the argument checks and the first schedules (see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _number(x: Any, name: str, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    if positive and x <= 0:
        raise ValueError(f"{name} must be > 0, got {x}")
    if nonneg and x < 0:
        raise ValueError(f"{name} must be >= 0, got {x}")
    return x


def _count(x: Any, name: str, *, positive: bool) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    if x < (1 if positive else 0):
        raise ValueError(f"{name} must be {'>= 1' if positive else '>= 0'}, got {x}")
    return int(x)


def _describe(inner: Any) -> Any:
    """The config of a wrapped schedule (its type and config), or the repr of a plain callable."""
    if isinstance(inner, Schedule):
        return {"type": type(inner).__name__, "config": inner.get_config()}
    return repr(inner)


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")


class Schedule:
    """Base class: subclasses implement ``_lr(step)`` (and ``_momentum(step)`` when they drive
    momentum); ``__call__`` and ``momentum`` validate the step.

    ``drives_momentum`` tells :func:`convergent.fit` to set, before each step, the momentum of
    every param group to ``momentum(step)``: ``group["momentum"]`` for optimizers that have one
    (SGD, RMSprop), ``group["betas"] = (momentum, beta2)`` for the Adam family (torch's
    ``cycle_momentum`` convention).
    """

    #: Whether ``momentum(step)`` gives each step's momentum (or beta1).
    drives_momentum: bool = False

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self._lr(step))

    def momentum(self, step: int) -> float | None:
        """The momentum (or beta1) of ``step``; None when the schedule does not drive it."""
        _check_step(step)
        return float(self._momentum(step)) if self.drives_momentum else None

    def _lr(self, step: int) -> float:
        raise NotImplementedError

    def _momentum(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``lr(step) = lr``."""

    def __init__(self, lr: float) -> None:
        self.lr = _number(lr, "lr", nonneg=True)

    def _lr(self, step: int) -> float:
        return self.lr

    def get_config(self) -> dict[str, Any]:
        return {"lr": self.lr}


class StepDecay(Schedule):
    """``initial_lr * gamma ** (step // step_size)`` (torch StepLR, counted in steps)."""

    def __init__(self, initial_lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.step_size = _count(step_size, "step_size", positive=True)
        self.gamma = _number(gamma, "gamma", nonneg=True)

    def _lr(self, step: int) -> float:
        return self.initial_lr * self.gamma ** (step // self.step_size)

    def get_config(self) -> dict[str, Any]:
        return {"initial_lr": self.initial_lr, "step_size": self.step_size, "gamma": self.gamma}


class PiecewiseConstant(Schedule):
    """Keras PiecewiseConstantDecay: ``values[0]`` while ``step <= boundaries[0]``,
    ``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the
    last boundary. ``boundaries`` strictly increasing; ``len(values) == len(boundaries) + 1``."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
            raise TypeError("boundaries must be a list of ints")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError("values must be a list of numbers")
        self.boundaries = [
            _count(b, f"boundaries[{i}]", positive=False) for i, b in enumerate(boundaries)
        ]
        self.values = [_number(v, f"values[{i}]", nonneg=True) for i, v in enumerate(values)]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(self.boundaries) + 1} "
                f"items, got {len(self.values)}"
            )
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError("boundaries must be strictly increasing")

    def _lr(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class _TimeDecay(Schedule):
    """Shared by ExponentialDecay and InverseTimeDecay: ``p = step / decay_steps`` (or
    ``step // decay_steps`` when ``staircase``) feeds the subclass's closed form."""

    _rate_positive = False

    def __init__(
        self, initial_lr: float, decay_steps: int, decay_rate: float, staircase: bool = False
    ) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        pos = self._rate_positive
        self.decay_rate = _number(decay_rate, "decay_rate", positive=pos, nonneg=not pos)
        self.staircase = bool(staircase)

    def _progress(self, step: int) -> float:
        return step // self.decay_steps if self.staircase else step / self.decay_steps

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_lr": self.initial_lr,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class ExponentialDecay(_TimeDecay):
    """Keras ExponentialDecay: ``initial_lr * decay_rate ** (step / decay_steps)``, with
    ``step // decay_steps`` when ``staircase``."""

    _rate_positive = True

    def _lr(self, step: int) -> float:
        return self.initial_lr * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_TimeDecay):
    """Keras InverseTimeDecay: ``initial_lr / (1 + decay_rate * step / decay_steps)``, with
    ``step // decay_steps`` when ``staircase``."""

    def _lr(self, step: int) -> float:
        return self.initial_lr / (1.0 + self.decay_rate * self._progress(step))


class CosineDecay(Schedule):
    """Keras 3 CosineDecay (Loshchilov & Hutter, SGDR, 2017), with optional linear warmup.

    Without ``warmup_target``: ``s = min(step, decay_steps)``,
    ``lr = initial_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``.
    With ``warmup_target``: ``s = min(step, warmup_steps + decay_steps)``; while
    ``s < warmup_steps``, ``lr = initial_lr + (warmup_target - initial_lr) * s / warmup_steps``,
    then the cosine above from ``warmup_target`` over ``s - warmup_steps``. As in Keras,
    ``warmup_steps`` has no effect unless ``warmup_target`` is given.
    """

    def __init__(
        self,
        initial_lr: float,
        decay_steps: int,
        alpha: float = 0.0,
        warmup_steps: int = 0,
        warmup_target: float | None = None,
    ) -> None:
        self.initial_lr = _number(initial_lr, "initial_lr", nonneg=True)
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        self.alpha = _number(alpha, "alpha", nonneg=True)
        if self.alpha > 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        self.warmup_steps = _count(warmup_steps, "warmup_steps", positive=False)
        self.warmup_target = (
            None if warmup_target is None else _number(warmup_target, "warmup_target", nonneg=True)
        )

    def _decay(self, s: float, start: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def _lr(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_lr)
        s = min(step, self.warmup_steps + self.decay_steps)
        if s < self.warmup_steps:
            frac = s / self.warmup_steps
            return (self.warmup_target - self.initial_lr) * frac + self.initial_lr
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_lr": self.initial_lr,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_steps": self.warmup_steps,
            "warmup_target": self.warmup_target,
        }


class LinearWarmup(Schedule):
    """Linear warmup in front of any schedule: for ``step < warmup_steps``,
    ``lr = start_lr + (schedule(0) - start_lr) * step / warmup_steps``; afterwards
    ``lr = schedule(step - warmup_steps)`` (the wrapped schedule starts when warmup ends).
    When the wrapped schedule drives momentum, the warmup steps have its step-0 momentum."""

    def __init__(self, schedule: Any, warmup_steps: int, start_lr: float = 0.0) -> None:
        if not callable(schedule):
            raise TypeError("schedule must be callable: schedule(step) -> lr")
        self.schedule = schedule
        self.warmup_steps = _count(warmup_steps, "warmup_steps", positive=False)
        self.start_lr = _number(start_lr, "start_lr", nonneg=True)

    @property
    def drives_momentum(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.schedule, "drives_momentum", False))

    def _lr(self, step: int) -> float:
        if step < self.warmup_steps:
            target = float(self.schedule(0))
            return self.start_lr + (target - self.start_lr) * (step / self.warmup_steps)
        return float(self.schedule(step - self.warmup_steps))

    def _momentum(self, step: int) -> float:
        return float(self.schedule.momentum(max(step - self.warmup_steps, 0)))

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": _describe(self.schedule),
            "warmup_steps": self.warmup_steps,
            "start_lr": self.start_lr,
        }
