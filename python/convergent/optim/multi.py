"""Several optimizers stepping disjoint parameters as one (e.g. Muon for the weight matrices and
AdamW for the biases, as torch's Muon documentation advises)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .optimizer import Optimizer

__all__ = ["MultiOptimizer"]


class MultiOptimizer:
    """Steps each of ``optimizers`` on its own parameters, as one optimizer.

    ``step(grads)`` takes one gradient per parameter, in the order of ``params`` when given (it
    must hold every parameter of the optimizers once, e.g. ``model.parameters()`` so that
    ``cg.fit`` can drive it), else in the optimizers' order (each one's groups flattened).
    ``param_groups`` is the list of all their groups (the same dicts, so setting ``group["lr"]``
    or a schedule reaches every optimizer). Every gradient and every group's hyperparameters
    are checked before the first optimizer writes anything, so a rejected step leaves all
    parameters and state untouched.
    ``state_dict()`` has the usual ``{"state", "param_groups"}`` form with parameters numbered
    across the optimizers; ``load_state_dict`` restores it (resuming is bit-exact).
    """

    def __init__(
        self, optimizers: Sequence[Optimizer], params: Sequence[Any] | None = None
    ) -> None:
        if isinstance(optimizers, Optimizer) or not isinstance(optimizers, Sequence):
            raise TypeError("optimizers must be a list of convergent optimizers")
        optimizers = list(optimizers)
        if not optimizers:
            raise ValueError("optimizers must not be empty")
        seen: set[int] = set()
        for k, opt in enumerate(optimizers):
            if not isinstance(opt, Optimizer) or not hasattr(opt, "_validate_changed"):
                raise TypeError(
                    f"optimizers[{k}] must be a convergent optimizer, got {type(opt).__name__}"
                )
            for p in opt._flat():
                if id(p) in seen:
                    raise ValueError(f"optimizers[{k}] shares a parameter with an earlier one")
                seen.add(id(p))
        self.optimizers = optimizers
        flat = [p for opt in optimizers for p in opt._flat()]
        if params is None:
            self._where = list(range(len(flat)))
        else:
            if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
                raise TypeError("params must be a list of the optimizers' parameters")
            pos = {id(p): i for i, p in enumerate(params)}
            if len(pos) != len(params) or set(pos) != {id(p) for p in flat}:
                raise ValueError("params must list every parameter of the optimizers exactly once")
            self._where = [pos[id(p)] for p in flat]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def _counts(self) -> list[int]:
        return [len(opt._flat()) for opt in self.optimizers]

    def step(self, grads: Sequence[np.ndarray | None]) -> None:
        """One step of every optimizer, each with its slice of ``grads``."""
        if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
            raise TypeError("grads must be a list of arrays (one per parameter)")
        counts = self._counts()
        if len(grads) != sum(counts):
            raise ValueError(
                f"grads has {len(grads)} items; the optimizers have {sum(counts)} parameters"
            )
        params = [p for opt in self.optimizers for p in opt._flat()]
        grads = [grads[j] for j in self._where]  # in the optimizers' order
        for i, p, g in zip(self._where, params, grads):
            if g is None:
                continue
            if not isinstance(g, np.ndarray):
                raise TypeError(f"grads[{i}] must be a numpy.ndarray, got {type(g).__name__}")
            if g.dtype != p.dtype:
                raise TypeError(f"grads[{i}] has dtype {g.dtype}; its parameter has {p.dtype}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape}; its parameter has {p.shape}")
            if not g.flags.c_contiguous:
                raise ValueError(f"grads[{i}] must be C-contiguous")
        for opt in self.optimizers:
            for group in opt.param_groups:
                opt._validate_changed(group)
        start = 0
        for opt, n in zip(self.optimizers, counts):
            opt.step(list(grads[start : start + n]))
            start += n

    def state_dict(self) -> dict[str, Any]:
        state: dict[int, Any] = {}
        groups: list[dict[str, Any]] = []
        start = 0
        for opt, n in zip(self.optimizers, self._counts()):
            sd = opt.state_dict()
            state.update({start + int(i): s for i, s in sd["state"].items()})
            groups += [
                {**g, "params": [start + i for i in g["params"]]} for g in sd["param_groups"]
            ]
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(groups)} param groups; the optimizers have "
                f"{len(self.param_groups)}"
            )
        parts, g0, start = [], 0, 0
        for opt, n in zip(self.optimizers, self._counts()):
            mine = groups[g0 : g0 + len(opt.param_groups)]
            g0 += len(opt.param_groups)
            sub_state = {
                int(i) - start: s
                for i, s in state_dict["state"].items()
                if start <= int(i) < start + n
            }
            sub_groups = [{**g, "params": [int(i) - start for i in g["params"]]} for g in mine]
            parts.append({"state": sub_state, "param_groups": sub_groups})
            start += n
        # Each part is checked on a copy first, so a bad part leaves every optimizer as it was.
        for opt, part in zip(self.optimizers, parts):
            copy.deepcopy(opt).load_state_dict(part)
        for opt, part in zip(self.optimizers, parts):
            opt.load_state_dict(part)

    def __repr__(self) -> str:
        inner = ",\n".join("  " + repr(o).replace("\n", "\n  ") for o in self.optimizers)
        return f"MultiOptimizer([\n{inner}\n])"
