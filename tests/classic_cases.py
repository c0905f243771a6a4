"""Cases of the Adadelta / ASGD / Rprop tests: option grids, a reference optimizer built on
``cg.reference`` (torch.optim's state names, one tensor at a time), their gradients (with exact
zeros) and trajectories over them. The shared machinery is in ``_optim_harness``.

The reference optimizer is written against the documented torch.optim semantics and the
``convergent.reference`` kernels only; it does not reuse the fast optimizer classes.
"""

from __future__ import annotations

import itertools

import _optim_harness as harness
import convergent as cg
import numpy as np
from convergent import reference as ref

NAMES = ("Adadelta", "ASGD", "Rprop")


def option_grid(name: str) -> list[dict]:
    """Every combination of the options of one optimizer. The values reach every branch of
    the kernels: ASGD's t0=3 makes mu != 1 from the 6th step, Rprop's narrow step_sizes clamp
    at both ends within a few steps."""
    if name == "Adadelta":
        return [
            dict(lr=0.5, rho=rho, eps=eps, weight_decay=wd, maximize=mx)
            for rho, eps, wd, mx in itertools.product(
                (0.9, 0.3), (1e-6, 1e-2), (0.0, 0.1), (False, True)
            )
        ]
    if name == "ASGD":
        return [
            dict(lr=0.05, lambd=lam, alpha=a, t0=t0, weight_decay=wd, maximize=mx)
            for lam, a, t0, wd, mx in itertools.product(
                (1e-4, 0.5), (0.75, 1.0), (1e6, 3.0), (0.0, 0.1), (False, True)
            )
        ]
    if name == "Rprop":
        return [
            dict(lr=0.01, etas=etas, step_sizes=ss, maximize=mx)
            for etas, ss, mx in itertools.product(
                ((0.5, 1.2), (0.25, 1.9)), ((1e-6, 50.0), (4e-3, 0.03)), (False, True)
            )
        ]
    raise KeyError(name)


def all_cases() -> list[tuple[str, dict]]:
    return [(name, opts) for name in NAMES for opts in option_grid(name)]


def case_id(name: str, opts: dict) -> str:
    return harness.case_id(name, opts, every_value=True)


class RefOptimizer:
    """One param group over ``cg.reference``, with torch.optim's state names."""

    def __init__(self, name: str, params: list, **opts):
        self.name, self.params = name, params
        self.group = {**harness.class_defaults(getattr(cg.optim, name)), **opts}
        self.state: dict[int, dict] = {}

    def _init(self, p: np.ndarray) -> dict:
        g = self.group
        if self.name == "Adadelta":
            return {"step": 0, "square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}
        if self.name == "ASGD":
            return {"step": 0, "eta": g["lr"], "mu": 1.0, "ax": np.zeros_like(p)}
        return {"step": 0, "prev": np.zeros_like(p), "step_size": np.full_like(p, g["lr"])}

    def step(self, grads: list) -> None:
        g = self.group
        for i, (p, grad) in enumerate(zip(self.params, grads)):
            if grad is None:
                continue
            st = self.state.setdefault(i, self._init(p))
            st["step"] += 1
            if self.name == "Adadelta":
                ref.adadelta_step(
                    p,
                    grad,
                    st["square_avg"],
                    st["acc_delta"],
                    lr=g["lr"],
                    rho=g["rho"],
                    eps=g["eps"],
                    weight_decay=g["weight_decay"],
                    maximize=g["maximize"],
                )
            elif self.name == "ASGD":
                st["eta"], st["mu"] = ref.asgd_step(
                    p,
                    grad,
                    st["ax"],
                    eta=st["eta"],
                    mu=st["mu"],
                    step=st["step"],
                    lr=g["lr"],
                    lambd=g["lambd"],
                    alpha=g["alpha"],
                    t0=g["t0"],
                    weight_decay=g["weight_decay"],
                    maximize=g["maximize"],
                )
            else:
                ref.rprop_step(
                    p,
                    grad,
                    st["prev"],
                    st["step_size"],
                    etaminus=g["etas"][0],
                    etaplus=g["etas"][1],
                    step_min=g["step_sizes"][0],
                    step_max=g["step_sizes"][1],
                    maximize=g["maximize"],
                )


def make_grads(rng, params, step: int, none_at=()) -> list:
    """Gradients for one step (about 1 in 8 entries exactly zero, so Rprop meets a zero product
    after the first step too); parameters whose index is in ``none_at`` get None."""
    out = []
    for i, p in enumerate(params):
        if i in none_at:
            out.append(None)
            continue
        g = rng.standard_normal(p.shape) * (1 + 0.1 * step)
        g[rng.random(p.shape) < 0.125] = 0.0
        out.append(g.astype(p.dtype))
    return out


def trajectory(name, opts, shapes, dtype, steps, seed=0, lrs=None) -> dict[str, np.ndarray]:
    """The fast optimizer over ``steps`` steps of one group (these gradients); params and state,
    flat."""
    return harness.trajectory(name, opts, shapes, dtype, steps, seed, lrs, grads=make_grads)
