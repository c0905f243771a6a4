"""Cases of the SGD / Adam / AdamW / Adagrad / RMSprop tests: option grids and a reference
optimizer built on ``cg.reference`` (one tensor at a time, per-parameter state like the fast
optimizers). The machinery that runs them is in ``_optim_harness``.

The reference optimizer is written against the documented torch.optim semantics and the
``convergent.reference`` kernels only; it does not reuse the fast optimizer classes.
"""

from __future__ import annotations

import itertools

import convergent as cg
import numpy as np
from _optim_harness import class_defaults
from convergent import reference as ref

OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop")


def option_grid(name: str) -> list[dict]:
    """Every combination of the options of one optimizer (invalid combinations left out)."""
    if name == "SGD":
        out = []
        for mom, damp, nest, wd, mx in itertools.product(
            (0.0, 0.9), (0.0, 0.5), (False, True), (0.0, 1e-2), (False, True)
        ):
            if nest and (mom == 0 or damp != 0):
                continue
            out.append(
                dict(
                    lr=0.05,
                    momentum=mom,
                    dampening=damp,
                    nesterov=nest,
                    weight_decay=wd,
                    maximize=mx,
                )
            )
        return out
    if name in ("Adam", "AdamW"):
        return [
            dict(lr=1e-2, betas=b, eps=e, weight_decay=wd, amsgrad=ams, maximize=mx)
            for b, e, wd, ams, mx in itertools.product(
                ((0.9, 0.999), (0.5, 0.8)), (1e-8, 1e-3), (0.0, 0.1), (False, True), (False, True)
            )
        ]
    if name == "Adagrad":
        return [
            dict(
                lr=0.1,
                lr_decay=ld,
                weight_decay=wd,
                initial_accumulator_value=iav,
                eps=e,
                maximize=mx,
            )
            for ld, wd, iav, e, mx in itertools.product(
                (0.0, 0.05), (0.0, 0.1), (0.0, 0.3), (1e-10, 1e-2), (False, True)
            )
        ]
    if name == "RMSprop":
        return [
            dict(lr=1e-2, alpha=a, momentum=mom, centered=c, weight_decay=wd, maximize=mx)
            for a, mom, c, wd, mx in itertools.product(
                (0.99, 0.5), (0.0, 0.9), (False, True), (0.0, 0.1), (False, True)
            )
        ]
    raise KeyError(name)


def all_cases() -> list[tuple[str, dict]]:
    return [(name, opts) for name in OPTIMIZERS for opts in option_grid(name)]


class RefOptimizer:
    """torch.optim semantics over ``cg.reference``: groups, lazily created state, None skips."""

    def __init__(self, name: str, groups: list[dict], defaults: dict):
        self.name = name
        self.cls = getattr(cg.optim, name)
        # The constructor's defaults (e.g. AdamW's weight_decay=1e-2), then the case's options.
        self.param_groups = [
            {**class_defaults(self.cls), **defaults, **{k: v for k, v in g.items()}} for g in groups
        ]
        self.state: dict[int, dict] = {}

    def _init_state(self, p: np.ndarray, g: dict) -> dict:
        n = self.name
        if n == "SGD":
            return {}
        if n in ("Adam", "AdamW"):
            st = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
            if g["amsgrad"]:
                st["max_exp_avg_sq"] = np.zeros_like(p)
            return st
        if n == "Adagrad":
            return {"step": 0, "sum": np.full_like(p, g["initial_accumulator_value"])}
        st = {"step": 0, "square_avg": np.zeros_like(p)}
        if g["momentum"] != 0:
            st["momentum_buffer"] = np.zeros_like(p)
        if g["centered"]:
            st["grad_avg"] = np.zeros_like(p)
        return st

    def step(self, grads: list) -> None:
        i = 0
        for g in self.param_groups:
            for p in g["params"]:
                grad = grads[i]
                if grad is not None:
                    self._one(i, p, grad, g)
                i += 1

    def _one(self, i: int, p: np.ndarray, grad: np.ndarray, g: dict) -> None:
        st = self.state.setdefault(i, self._init_state(p, g))
        if "step" in st:
            st["step"] += 1
        n = self.name
        if n == "SGD":
            first = "momentum_buffer" not in st
            if g["momentum"] != 0 and first:
                st["momentum_buffer"] = np.zeros_like(p)
            ref.sgd_step(
                p,
                grad,
                st.get("momentum_buffer"),
                first_step=first,
                lr=g["lr"],
                momentum=g["momentum"],
                dampening=g["dampening"],
                weight_decay=g["weight_decay"],
                nesterov=g["nesterov"],
                maximize=g["maximize"],
            )
        elif n in ("Adam", "AdamW"):
            ref.adam_step(
                p,
                grad,
                st["exp_avg"],
                st["exp_avg_sq"],
                st.get("max_exp_avg_sq"),
                step=st["step"],
                lr=g["lr"],
                beta1=g["betas"][0],
                beta2=g["betas"][1],
                eps=g["eps"],
                weight_decay=g["weight_decay"],
                amsgrad=g["amsgrad"],
                maximize=g["maximize"],
                decoupled=n == "AdamW",
            )
        elif n == "Adagrad":
            ref.adagrad_step(
                p,
                grad,
                st["sum"],
                step=st["step"],
                lr=g["lr"],
                lr_decay=g["lr_decay"],
                weight_decay=g["weight_decay"],
                eps=g["eps"],
                maximize=g["maximize"],
            )
        else:
            ref.rmsprop_step(
                p,
                grad,
                st["square_avg"],
                st.get("grad_avg"),
                st.get("momentum_buffer"),
                lr=g["lr"],
                alpha=g["alpha"],
                eps=g["eps"],
                weight_decay=g["weight_decay"],
                momentum=g["momentum"],
                centered=g["centered"],
                maximize=g["maximize"],
            )
