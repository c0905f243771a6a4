"""The optimizer base class: parameter groups, lazily created state, ``state_dict``.

Every optimizer updates its parameters (float32 or float64, C-contiguous, writeable NumPy arrays)
in place. ``step(grads)`` takes one gradient per parameter, in the order of the flattened groups;
a ``None`` gradient skips that parameter for this step (its state is not advanced), as in
torch.optim. All arrays and hyperparameters are validated before anything is written, so a
rejected call leaves every parameter and all optimizer state untouched.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import _core

__all__ = ["Optimizer"]


def _param_list(params: Any, where: str) -> list[np.ndarray]:
    if isinstance(params, np.ndarray):
        return [params]
    if not isinstance(params, Iterable) or isinstance(params, (str, bytes, dict)):
        raise TypeError(
            f"{where} must be an array or a list of arrays, got {type(params).__name__}"
        )
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{where}[{i}] must be a numpy.ndarray, got {type(p).__name__}")
    return out


def hyperparameters(args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An optimizer constructor's ``defaults``: its arguments (``locals()`` taken first thing
    in ``__init__``) but ``self`` and ``params``, in signature order, then ``extra``."""
    skip = ("self", "params", "__class__")
    return {**{k: v for k, v in args.items() if k not in skip}, **extra}


def betas_pair(g: dict[str, Any]) -> tuple[Any, Any]:
    """The group's ``(beta1, beta2)``; ValueError naming betas unless it is a pair."""
    betas = g["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]


@functools.cache
def _signature_defaults(cls: type) -> dict[str, Any]:
    """The constructor's own defaults (their types tell numbers from flags)."""
    sig = inspect.signature(cls.__init__)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not p.empty}


class Optimizer:
    """Base class. Subclasses define ``_state_spec``, ``_check`` and ``_kernel_args`` (or their
    own ``_run``)."""

    _counts_steps = True  # keep a per-parameter "step" in the state (torch's SGD keeps none)
    # What the default ``_run`` passes to ``_core.<kind>_step`` after params and grads: the
    # first ``_kernel_buffers`` buffer lists of ``_kernel_args``, then the step counts if
    # ``_kernel_steps``, then the hyperparameters and dry_run.
    _kernel_buffers = 3
    _kernel_steps = False

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        if isinstance(params, np.ndarray):
            params = [params]
        params = list(params) if isinstance(params, Iterable) else params
        if not isinstance(params, list) or len(params) == 0:
            raise ValueError("params must be a non-empty list of arrays or of param-group dicts")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # ---- groups -------------------------------------------------------------------------------
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Adds a group: a dict with "params" and any hyperparameters to override."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) in param group: {sorted(unknown)}")
        params = _param_list(group["params"], "params")
        if not params:
            raise ValueError("a param group needs at least one parameter")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        dtypes = set()
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"params[{i}] appears in more than one param group")
            seen.add(id(p))
            if p.dtype not in (np.float32, np.float64):
                raise TypeError(f"params[{i}] has dtype {p.dtype}; expected float32 or float64")
            if not p.flags.c_contiguous:
                raise ValueError(f"params[{i}] must be C-contiguous")
            if not p.flags.writeable:
                raise ValueError(f"params[{i}] is read-only")
            dtypes.add(p.dtype)
        if len(dtypes) > 1:
            raise TypeError("params of one group must share one dtype (float32 or float64)")
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._validate(full)
        full["params"] = params
        self.param_groups.append(full)

    def _flat(self) -> list[np.ndarray]:
        return [p for g in self.param_groups for p in g["params"]]

    # ---- stepping -----------------------------------------------------------------------------
    def step(self, grads: Sequence[np.ndarray | None]) -> None:
        """Applies one update. ``grads`` aligns with the flattened parameters of all groups."""
        if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
            raise TypeError("grads must be a list of arrays (one per parameter)")
        n = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n:
            raise ValueError(f"grads has {len(grads)} items; the optimizer has {n} parameters")
        if len(self.param_groups) == 1 and self._steady_step(self.param_groups[0], grads):
            return
        flat = self._flat()
        plans = []
        offset = 0
        for group in self.param_groups:
            self._validate_changed(group)
            idx = [offset + i for i, _ in enumerate(group["params"])]
            offset += len(idx)
            live = [i for i in idx if grads[i] is not None]
            if not live:
                continue
            spec = self._state_spec(group)
            new_state = {i: self._next_state(i, flat[i], spec) for i in live}
            plans.append((group, live, new_state))
        # Validate every group (dry run) before the first write, then update. A single group
        # needs no dry run: the kernel call validates all of its arguments before writing.
        for dry_run in (True, False) if len(plans) > 1 else (False,):
            for group, live, new_state in plans:
                params = [flat[i] for i in live]
                gs = [grads[i] for i in live]
                old = [self.state.get(i, {}) for i in live]
                self._run(group, params, gs, [new_state[i] for i in live], old, dry_run)
        for _, live, new_state in plans:
            for i in live:
                self.state[i] = new_state[i]

    def _steady_step(self, group: dict[str, Any], grads: Sequence[Any]) -> bool:
        """The common case of one group whose parameters all have a gradient and all their state
        buffers: the state dicts are updated in place (step counts restored if the kernel
        rejects an argument) instead of being rebuilt. False (nothing done) otherwise."""
        self._validate_changed(group)
        states = self._steady_states(group)
        if states is None or any(g is None for g in grads):
            return False
        if self._counts_steps:
            for st in states:
                st["step"] = int(st.get("step", 0)) + 1
        try:
            self._run(group, group["params"], grads, states, states, False)
        except BaseException:
            if self._counts_steps:
                for st in states:
                    st["step"] -= 1
            raise
        return True

    def _steady_states(self, group: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The state dicts of a single group's parameters when each holds every buffer
        ``_state_spec`` asks for (past the first step), else None."""
        spec = self._state_spec(group)
        states = [self.state.get(i) for i in range(len(group["params"]))]
        for st, p in zip(states, group["params"]):
            if st is None or any(
                name not in st for name in spec if self._buffer_shape(name, p) is not None
            ):
                return None
        return states

    def _buffer_shape(self, name: str, p: np.ndarray) -> tuple[int, ...] | None:
        """The shape of state buffer ``name`` of parameter ``p``; None when ``p`` has no such
        buffer. The parameter's own shape here; Adafactor's factored moments differ."""
        return p.shape

    @staticmethod
    def _buffer_lists(states: Sequence[dict[str, Any]], names: Sequence[str | None]) -> list[Any]:
        """Per state buffer name (``_kernel_args``), its arrays across ``states``; None where
        the name is None (the kernel does not use that buffer)."""
        return [[st[n] for st in states] if n else None for n in names]

    def _steps_so_far(self, states: Sequence[dict[str, Any]]) -> list[int]:
        """The step count the kernel would see minus one (the fused loop adds one per step)."""
        return [int(st.get("step", 0)) for st in states]

    def _next_state(self, i: int, p: np.ndarray, spec: dict[str, float]) -> dict[str, Any]:
        """The state a successful step leaves: missing buffers of ``spec`` (``_state_spec``) are
        allocated (not yet stored) and the step count advanced. Existing buffers are the same
        arrays (updated in place)."""
        st = dict(self.state.get(i, {}))
        for name, fill in spec.items():
            shape = self._buffer_shape(name, p)
            if name not in st and shape is not None:
                st[name] = np.full(shape, fill, dtype=p.dtype)
        if self._counts_steps:
            st["step"] = int(st.get("step", 0)) + 1
        return st

    def _validate_changed(self, group: dict[str, Any]) -> None:
        """``_validate(group)`` unless the group holds the very values it last passed with."""
        key = tuple(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in group.items() if k != "params"
        )
        passed = self.__dict__.setdefault("_passed", {})
        if passed.get(id(group)) == key:
            return
        self._validate(group)
        passed[id(group)] = key

    def _validate(self, group: dict[str, Any]) -> None:
        """Numeric hyperparameters are real numbers (TypeError naming the one that is not),
        then the optimizer's own range checks (ValueError). Flags are taken by truth value."""
        for k, default in _signature_defaults(type(self)).items():
            if k not in self.defaults or isinstance(default, bool):
                continue
            v = group.get(k, default)
            items = v if isinstance(default, tuple) and isinstance(v, (tuple, list)) else (v,)
            for x in items:
                if isinstance(x, (bool, np.bool_)) or not isinstance(
                    x, (int, float, np.integer, np.floating)
                ):
                    raise TypeError(f"{k} must be a real number, got {type(x).__name__}")
        self._check(group)

    # ---- subclass hooks ---------------------------------------------------------------------
    def _state_spec(self, group: dict[str, Any]) -> dict[str, float]:
        """The state buffers a parameter needs under ``group``'s settings, with their initial
        fill value (each buffer has the parameter's shape and dtype)."""
        raise NotImplementedError

    def _check(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _kernel_args(self, group: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel's name (``_core.<kind>_step``), its hyperparameters in the kernel's order
        and the three state buffer names it uses (None where unused); shared with the fused
        loop."""
        raise NotImplementedError

    def _run(self, group, params, grads, states, old_states, dry_run: bool) -> None:
        """Calls the group kernel: ``states`` are the new state dicts (fresh buffers included),
        ``old_states`` the ones before this step (empty dicts for new parameters). By default
        ``_core.<kind>_step(params, grads, *buffers, [steps,] *hyper, dry_run)`` from
        ``_kernel_args`` (see ``_kernel_buffers`` and ``_kernel_steps``)."""
        kind, hyper, names = self._kernel_args(group)
        bufs = self._buffer_lists(states, names)[: self._kernel_buffers]
        steps = ([st["step"] for st in states],) if self._kernel_steps else ()
        getattr(_core, f"{kind}_step")(params, grads, *bufs, *steps, *hyper, dry_run)

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state and the hyperparameters; params are referred to by index."""
        groups, offset = [], 0
        for g in self.param_groups:
            d = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            d["params"] = list(range(offset, offset + len(g["params"])))
            offset += len(g["params"])
            groups.append(d)
        state = {
            i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for i, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores state and hyperparameters from ``state_dict()``; continues bit-exactly."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(groups)} param groups; the optimizer has "
                f"{len(self.param_groups)}"
            )
        new_groups = []
        for k, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            if len(theirs["params"]) != len(mine["params"]):
                raise ValueError(f"param group {k} has a different number of params")
            g = {**self.defaults, **{a: b for a, b in theirs.items() if a != "params"}}
            self._validate(g)
            g["params"] = mine["params"]
            new_groups.append(g)
        flat = self._flat()
        new_state: dict[int, dict[str, Any]] = {}
        for key, s in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(flat):
                raise ValueError(f"state_dict has state for param {i}, which does not exist")
            p = flat[i]
            ns: dict[str, Any] = {}
            for name, v in s.items():
                if isinstance(v, np.ndarray):
                    shape = self._buffer_shape(name, p)
                    if v.shape != shape or v.dtype != p.dtype:
                        raise ValueError(
                            f"state[{i}][{name!r}] has shape {v.shape} and dtype {v.dtype}; "
                            f"expected {shape} and {p.dtype} for param {i} of shape {p.shape}"
                        )
                    ns[name] = np.ascontiguousarray(v).copy()
                else:
                    if name == "step" and (
                        not float(v).is_integer() or not 0 <= v < 2**62 or math.isinf(v)
                    ):
                        raise ValueError(f"state[{i}]['step'] must be a non-negative integer")
                    ns[name] = int(v) if name == "step" else v
            new_state[i] = ns
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
