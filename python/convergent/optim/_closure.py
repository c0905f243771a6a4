"""Closure calls and flat parameter views shared by the closure-based optimizers
(LBFGS, Newton): validation of what a closure returns, and in-place moves along a flat direction."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def int_at_least(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def nonneg(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")


class Closure:
    """Calls a user closure and checks its result: (loss, grads) -> (float, flat gradient)."""

    def __init__(self, fn: Callable[[], Any], params: list[np.ndarray], n_out: int) -> None:
        if not callable(fn):
            raise TypeError(f"closure must be callable, got {type(fn).__name__}")
        self.fn, self.params, self.n_out = fn, params, n_out
        self.dtype = params[0].dtype

    def __call__(self) -> tuple:
        out = self.fn()
        if not isinstance(out, (tuple, list)) or len(out) != self.n_out:
            raise TypeError(f"closure must return a tuple of {self.n_out} items")
        loss = out[0]
        if isinstance(loss, np.ndarray) and loss.size == 1:
            loss = loss.reshape(())[()]
        if isinstance(loss, bool) or not isinstance(loss, (int, float, np.integer, np.floating)):
            raise TypeError(f"closure's loss must be a real number, got {type(loss).__name__}")
        return (float(loss), self.flatten(out[1]), *out[2:])

    def flatten(self, grads: Any) -> np.ndarray:
        if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
            raise TypeError("closure's grads must be a list of arrays (one per parameter)")
        if len(grads) != len(self.params):
            raise ValueError(f"closure returned {len(grads)} grads for {len(self.params)} params")
        flat = []
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                flat.append(np.zeros(p.size, self.dtype))
                continue
            g = np.asarray(g)
            if g.dtype.kind not in "fiu":
                raise TypeError(f"closure's grads[{i}] has dtype {g.dtype}; expected real numbers")
            if g.shape != p.shape:
                raise ValueError(f"closure's grads[{i}] has shape {g.shape}; param is {p.shape}")
            flat.append(g.astype(self.dtype, copy=False).ravel())
        return np.concatenate(flat)


class FlatParams:
    """The parameters seen as one flat vector: read, axpy and restore without per-element loops."""

    def __init__(self, params: list[np.ndarray]) -> None:
        self.params = params
        self.offsets = np.cumsum([0] + [p.size for p in params])

    def add(self, t: float, d: np.ndarray) -> None:
        for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            p += t * d[a:b].reshape(p.shape)

    def get(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]

    def set(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self.params, values):
            np.copyto(p, v)


class SingleGroup:
    """Mixin for the closure-driven optimizers (LBFGS, Newton): one param group only, and
    hyperparameters typed by the subclass's own ``_check`` (some are strings or None, which the
    base class's numbers-only pre-check would reject)."""

    param_groups: list[dict[str, Any]]

    def add_param_group(self, group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError(f"{type(self).__name__} supports a single param group (params)")
        super().add_param_group(group)  # type: ignore[misc]

    def _validate(self, group: dict[str, Any]) -> None:
        self._check(group)  # type: ignore[attr-defined]

    def _run_or_restore(self, run: Callable[[], float]) -> float:
        """``run()``; if it raises, the parameters and the state are put back as they were."""
        flat: FlatParams = self._flat_params  # type: ignore[attr-defined]
        state: dict[int, Any] = self.state  # type: ignore[attr-defined]
        saved_params, saved_state = flat.get(), state.get(0)
        try:
            return run()
        except BaseException:
            flat.set(saved_params)
            if saved_state is None:
                state.pop(0, None)
            else:
                state[0] = saved_state
            raise

    def _checked_group(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """The hyperparameters of ``state_dict``'s single group, validated (nothing is changed)."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        params = self.param_groups[0]["params"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError("state_dict does not match this optimizer's single param group")
        g = {**self.defaults, **{k: v for k, v in groups[0].items() if k != "params"}}  # type: ignore[attr-defined]
        self._check(g)  # type: ignore[attr-defined]
        return g
