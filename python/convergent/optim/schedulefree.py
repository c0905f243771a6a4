"""Schedule-Free AdamW."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .optimizer import Optimizer, betas_pair, hyperparameters


class ScheduleFreeAdamW(Optimizer):
    r"""Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), the method of
    facebookresearch/schedule_free's ``AdamWScheduleFree`` (weight decay at y).

    No learning-rate schedule: the iterate that is evaluated, x, is an average of the z
    sequence, and gradients are taken at the interpolation y. At step t = k + 1 (per parameter),
    with ``lr_t = lr * min(1, t / warmup_steps) * sqrt(1 - beta2**t)``,
    ``lr_max = max(lr_max, lr_t)``, ``weight = t**r * lr_max**weight_lr_power``,
    ``weight_sum += weight`` and ``ckp1 = weight / weight_sum``::

        v = beta2 * v + (1 - beta2) * g * g                (g taken at y)
        z = z - lr_t * (g / (sqrt(v) + eps) + weight_decay * y)
        x = (1 - ckp1) * x + ckp1 * z
        y = beta1 * x + (1 - beta1) * z

    Memory-lean form: the parameter holds y in train mode and x in eval mode; the state of each
    parameter is ``"z"``, ``"exp_avg_sq"``, ``"step"`` (t) and the scalars ``"lr_max"`` (-1
    before the first step) and ``"weight_sum"``, so every parameter advances its own average
    (a ``None`` gradient leaves the parameter and all of its state untouched, as in the other
    optimizers; facebookresearch's version counts steps per group instead, which differs only
    when some gradients are None). x is not stored: :meth:`eval` computes it in place as
    ``p + (1 - 1/beta1) * (z - p)`` and :meth:`train` returns to ``p + (1 - beta1) * (z - p)``.
    Each param group records its mode in ``"train_mode"``, so ``state_dict()`` carries it.

    Call :meth:`train` before training steps and :meth:`eval` before evaluating or saving the
    parameters (``cg.fit`` does both); :meth:`step` in eval mode raises RuntimeError. ``betas[0]``
    must be in (0, 1) (x is recovered by dividing by it).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2.5e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ) -> None:
        super().__init__(params, hyperparameters(locals(), train_mode=True))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        w = g["warmup_steps"]
        if not isinstance(w, (int, np.integer)):
            raise TypeError(f"warmup_steps must be an int, got {type(w).__name__}")
        if not isinstance(g["train_mode"], (bool, np.bool_)):
            raise TypeError(f"train_mode must be a bool, got {type(g['train_mode']).__name__}")
        _core.check_schedulefree_adamw(
            g["lr"], b1, b2, g["eps"], g["weight_decay"], int(w), g["r"],
            g["weight_lr_power"],
        )  # fmt: skip

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"z": 0.0, "exp_avg_sq": 0.0}  # z is a copy of the parameter (_next_state)

    def _next_state(self, i: int, p: np.ndarray, spec: dict[str, float]) -> dict[str, Any]:
        if "z" not in self.state.get(i, {}):
            st = super()._next_state(i, p, {k: v for k, v in spec.items() if k != "z"})
            st["z"] = p.copy()
            st["lr_max"], st["weight_sum"] = -1.0, 0.0
            return st
        return super()._next_state(i, p, spec)

    def step(self, grads: Any) -> None:
        """One update of every parameter with a gradient; RuntimeError in eval mode."""
        for k, g in enumerate(self.param_groups):
            if not g["train_mode"]:
                raise RuntimeError(
                    f"ScheduleFreeAdamW.step() in eval mode (param group {k}): call train() "
                    "before training steps"
                )
        super().step(grads)

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.schedulefree_adamw_step's order, after the
        per-parameter steps, lr_maxs and weight_sums) and the state buffers it uses; shared
        with the fused loop."""
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["eps"], g["weight_decay"], int(g["warmup_steps"]), g["r"],
                 g["weight_lr_power"])  # fmt: skip
        return "schedulefree", hyper, ("z", "exp_avg_sq", None)

    def _run(self, g, params, grads, states, old_states, dry_run):
        _, hyper, names = self._kernel_args(g)
        zs, exp_avg_sqs, _ = self._buffer_lists(states, names)
        out = _core.schedulefree_adamw_step(
            params, grads, zs, exp_avg_sqs, [s["step"] for s in states],
            [s["lr_max"] for s in states], [s["weight_sum"] for s in states], *hyper, dry_run,
        )  # fmt: skip
        for s, (lr_max, weight_sum) in zip(states, out):
            s["lr_max"], s["weight_sum"] = lr_max, weight_sum

    # ---- train / eval -------------------------------------------------------------------------
    def train(self) -> None:
        """Parameters to y (the training iterate); nothing happens in train mode."""
        self._switch(to_eval=False)

    def eval(self) -> None:
        """Parameters to x (the averaged iterate to evaluate and save); nothing happens in eval
        mode."""
        self._switch(to_eval=True)

    def _switch(self, to_eval: bool) -> None:
        plans, offset = [], 0
        for g in self.param_groups:
            idx = range(offset, offset + len(g["params"]))
            offset += len(g["params"])
            if bool(g["train_mode"]) != to_eval:
                continue
            live = [i for i in idx if "z" in self.state.get(i, {})]
            ps = [g["params"][i - idx.start] for i in live]
            plans.append((g, ps, [self.state[i]["z"] for i in live]))
        # Validate every group before the first write, then switch.
        for dry_run in (True, False):
            for g, ps, zs in plans:
                _core.schedulefree_switch(ps, zs, g["betas"][0], to_eval, dry_run)
        for g, _, _ in plans:
            g["train_mode"] = not to_eval
        self.defaults["train_mode"] = not to_eval

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores state, hyperparameters and each group's train/eval mode (the parameters are
        restored by the caller, in the mode they were saved in)."""
        super().load_state_dict(state_dict)
        self.defaults["train_mode"] = all(bool(g["train_mode"]) for g in self.param_groups)
