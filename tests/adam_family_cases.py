"""Cases of the NAdam / RAdam / Adamax tests: option grids and a reference optimizer built on
``convergent.reference`` (one tensor at a time, torch.optim's per-parameter state). The
machinery that runs them (and ``case_id``) is in ``_optim_harness``.

The reference optimizer is written against the documented torch.optim semantics and the
``convergent.reference`` kernels only; it does not reuse the fast optimizer classes.
"""

from __future__ import annotations

import itertools

import convergent as cg
import numpy as np
from _optim_harness import class_defaults
from convergent import reference as ref

NAMES = ("NAdam", "RAdam", "Adamax")

# (betas, eps) pairs: torch's defaults, and small betas with a large eps. With betas[1] = 0.999
# RAdam is unrectified for steps 1..5 and rectified after; with 0.8, for steps 1..6.
_BETAS_EPS = (((0.9, 0.999), 1e-8), ((0.5, 0.8), 1e-3))


def option_grid(name: str) -> list[dict]:
    """Every combination of the options of one optimizer."""
    if name == "NAdam":
        return [
            dict(
                lr=1e-2,
                betas=b,
                eps=e,
                momentum_decay=md,
                weight_decay=wd,
                decoupled_weight_decay=dec,
                maximize=mx,
            )
            for (b, e), md, wd, dec, mx in itertools.product(
                _BETAS_EPS, (4e-3, 0.2), (0.0, 0.1), (False, True), (False, True)
            )
        ]
    if name == "RAdam":
        return [
            dict(lr=1e-2, betas=b, eps=e, weight_decay=wd, decoupled_weight_decay=dec, maximize=mx)
            for (b, e), wd, dec, mx in itertools.product(
                _BETAS_EPS, (0.0, 0.1), (False, True), (False, True)
            )
        ]
    if name == "Adamax":
        return [
            dict(lr=1e-2, betas=b, eps=e, weight_decay=wd, maximize=mx)
            for (b, e), wd, mx in itertools.product(_BETAS_EPS, (0.0, 0.1), (False, True))
        ]
    raise KeyError(name)


def all_cases() -> list[tuple[str, dict]]:
    return [(name, opts) for name in NAMES for opts in option_grid(name)]


# Options that switch on every branch of each kernel.
FULL = {
    "NAdam": dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.2, maximize=True),
    "NAdamW": dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
    "RAdam": dict(lr=1e-2, betas=(0.5, 0.8), weight_decay=0.1, maximize=True),
    "RAdamW": dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
    "Adamax": dict(lr=1e-2, eps=1e-3, weight_decay=0.1, maximize=True),
}


def cls_name(key: str) -> str:
    """The optimizer class of a FULL key ("NAdamW" is NAdam with decoupled weight decay)."""
    return key[:-1] if key.endswith("W") else key


class RefOptimizer:
    """torch.optim semantics over ``cg.reference``: groups, lazily created state, None skips."""

    def __init__(self, name: str, groups: list[dict], defaults: dict):
        self.name = name
        cdef = class_defaults(getattr(cg.optim, name))
        self.param_groups = [{**cdef, **defaults, **g} for g in groups]
        self.state: dict[int, dict] = {}

    def _init_state(self, p: np.ndarray) -> dict:
        second = "exp_inf" if self.name == "Adamax" else "exp_avg_sq"
        st = {"step": 0, "exp_avg": np.zeros_like(p), second: np.zeros_like(p)}
        if self.name == "NAdam":
            st["mu_product"] = 1.0
        return st

    def step(self, grads: list) -> None:
        i = 0
        for g in self.param_groups:
            for p in g["params"]:
                if grads[i] is not None:
                    self._one(i, p, grads[i], g)
                i += 1

    def _one(self, i: int, p: np.ndarray, grad: np.ndarray, g: dict) -> None:
        st = self.state.setdefault(i, self._init_state(p))
        st["step"] += 1
        b1, b2 = g["betas"]
        common = dict(
            step=st["step"],
            lr=g["lr"],
            beta1=b1,
            beta2=b2,
            eps=g["eps"],
            weight_decay=g["weight_decay"],
            maximize=g["maximize"],
        )
        if self.name == "NAdam":
            st["mu_product"] = ref.nadam_step(
                p,
                grad,
                st["exp_avg"],
                st["exp_avg_sq"],
                mu_product=st["mu_product"],
                momentum_decay=g["momentum_decay"],
                decoupled=g["decoupled_weight_decay"],
                **common,
            )
        elif self.name == "RAdam":
            ref.radam_step(
                p,
                grad,
                st["exp_avg"],
                st["exp_avg_sq"],
                decoupled=g["decoupled_weight_decay"],
                **common,
            )
        else:
            ref.adamax_step(p, grad, st["exp_avg"], st["exp_inf"], **common)
