"""Shared helpers for the Lion and Schedule-Free AdamW tests: option grids, reference optimizers
built on ``cg.reference`` only (one tensor at a time, per-parameter state like the fast
optimizers), and trajectories that also switch Schedule-Free between train and eval mode."""

from __future__ import annotations

import itertools

import convergent as cg
import numpy as np
from _optim_harness import flat_state, make_params
from convergent import reference as ref

NAMES = ("Lion", "ScheduleFreeAdamW")


def option_grid(name: str) -> list[dict]:
    if name == "Lion":
        return [
            dict(lr=1e-2, betas=b, weight_decay=wd, maximize=mx)
            for b, wd, mx in itertools.product(((0.9, 0.99), (0.5, 0.8)), (0.0, 0.1), (False, True))
        ]
    if name == "ScheduleFreeAdamW":
        return [
            dict(
                lr=0.05,
                betas=b,
                eps=1e-8,
                weight_decay=wd,
                warmup_steps=w,
                r=r,
                weight_lr_power=wlp,
            )  # fmt: skip
            for b, wd, w, r, wlp in itertools.product(
                ((0.9, 0.999), (0.5, 0.8)), (0.0, 0.1), (0, 5), (0.0, 0.5), (2.0, 0.0)
            )
        ]
    raise KeyError(name)


def all_cases() -> list[tuple[str, dict]]:
    return [(name, opts) for name in NAMES for opts in option_grid(name)]


def case_id(name: str, opts: dict) -> str:
    return name + "-" + "-".join(f"{k}={v}" for k, v in opts.items() if k != "lr")


class RefLion:
    """Lion from ``ref.lion_step``; state per parameter: step, exp_avg."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
        self.params, self.state = params, {}
        self.kw = dict(lr=lr, beta1=betas[0], beta2=betas[1], weight_decay=weight_decay,
                       maximize=maximize)  # fmt: skip

    def step(self, grads):
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            st = self.state.setdefault(i, {"step": 0, "exp_avg": np.zeros_like(p)})
            st["step"] += 1
            ref.lion_step(p, g, st["exp_avg"], **self.kw)


class RefScheduleFree:
    """Memory-lean Schedule-Free AdamW from ``ref.schedulefree_*``; state per parameter: step,
    z, exp_avg_sq, lr_max, weight_sum."""

    def __init__(self, params, lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0):  # fmt: skip
        self.params, self.state, self.train_mode = params, {}, True
        self.sched = dict(lr=lr, beta2=betas[1], warmup_steps=warmup_steps, r=r,
                          weight_lr_power=weight_lr_power)  # fmt: skip
        self.kw = dict(beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay)

    def step(self, grads):
        assert self.train_mode
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            st = self.state.get(i)
            if st is None:
                st = self.state[i] = dict(step=0, z=p.copy(), exp_avg_sq=np.zeros_like(p),
                                          lr_max=-1.0, weight_sum=0.0)  # fmt: skip
            st["step"] += 1
            lr_t, ckp1, st["lr_max"], st["weight_sum"] = ref.schedulefree_scalars(
                st["step"], st["lr_max"], st["weight_sum"], **self.sched
            )
            ref.schedulefree_adamw_step(p, g, st["z"], st["exp_avg_sq"], lr_t=lr_t, ckp1=ckp1,
                                        **self.kw)  # fmt: skip

    def _switch(self, to_eval):
        if self.train_mode == to_eval:
            for i, st in self.state.items():
                ref.schedulefree_lerp(self.params[i], st["z"], beta1=self.kw["beta1"],
                                      to_eval=to_eval)  # fmt: skip
            self.train_mode = not to_eval

    def eval(self):
        self._switch(True)

    def train(self):
        self._switch(False)


REFERENCE = {"Lion": RefLion, "ScheduleFreeAdamW": RefScheduleFree}


def make_grads(rng, params, t: int, none_at=()) -> list:
    """Gradients of step t: normal draws with exact zeros (and a -0.0) mixed in; None for the
    parameters in ``none_at``."""
    out = []
    for i, p in enumerate(params):
        if i in none_at:
            out.append(None)
            continue
        g = (rng.standard_normal(p.shape) * (1 + 0.1 * t)).astype(p.dtype)
        flat = g.reshape(-1)
        flat[:: 7 + t % 3] = 0.0
        flat[3::11] = -0.0
        out.append(g)
    return out


def run(opt, params, steps, seed, none_every=0, switch_every=4):
    """Steps ``opt`` (fast or reference); Schedule-Free goes eval -> train every
    ``switch_every`` steps and ends in eval mode. ``none_every``: param 0 gets a None gradient
    on every such step."""
    rng = np.random.default_rng(seed)
    switches = hasattr(opt, "eval")
    for t in range(steps):
        none_at = (0,) if none_every and t % none_every == 1 else ()
        opt.step(make_grads(rng, params, t, none_at))
        if switches and t % switch_every == switch_every - 1:
            opt.eval()
            opt.train()
    if switches:
        opt.eval()


def trajectory(name, opts, shapes, dtype, steps, seed=0, reference=False) -> dict:
    """Params and every state entry after ``run``, flat and keyed by name."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, shapes, dtype)
    cls = REFERENCE[name] if reference else getattr(cg.optim, name)
    opt = cls(params, **opts)
    run(opt, params, steps, seed + 1)
    return flat_state(params, opt.state)
