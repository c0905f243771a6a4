"""Shared helpers for the optimizer tests: a reference optimizer built on ``cg.reference`` (one
tensor at a time, per-parameter state like the fast optimizers), trajectories and comparisons.

The reference optimizer is written against the documented torch.optim semantics and the
``convergent.reference`` kernels only; it does not reuse the fast optimizer classes.
"""

from __future__ import annotations

import itertools

import convergent as cg
import numpy as np
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


def case_id(name: str, opts: dict) -> str:
    parts = [name]
    for k, v in opts.items():
        if k == "lr":
            continue
        if isinstance(v, bool):
            if v:
                parts.append(k)
        elif isinstance(v, tuple):
            parts.append(f"{k}={v[0]},{v[1]}")
        elif v != 0:
            parts.append(f"{k}={v:g}")
    return "-".join(parts)


class RefOptimizer:
    """torch.optim semantics over ``cg.reference``: groups, lazily created state, None skips."""

    def __init__(self, name: str, groups: list[dict], defaults: dict):
        self.name = name
        self.cls = getattr(cg.optim, name)
        # The constructor's defaults (e.g. AdamW's weight_decay=1e-2), then the case's options.
        self.param_groups = [
            {**self._class_defaults(), **defaults, **{k: v for k, v in g.items()}} for g in groups
        ]
        self.state: dict[int, dict] = {}

    def _class_defaults(self) -> dict:
        import inspect

        sig = inspect.signature(self.cls.__init__)
        return {k: p.default for k, p in sig.parameters.items() if k not in ("self", "params")}

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


def assert_bits_equal(a, b, what: str = "") -> None:
    """Same dtype, shape and bits (0 ulp; distinguishes -0.0 from 0.0 and NaN payloads)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (
        f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    )
    if a.tobytes() != b.tobytes():
        np.testing.assert_array_equal(a, b, err_msg=what)  # shows where the values differ
        raise AssertionError(f"{what}: same values but different bits (signed zeros or NaNs)")


def assert_state_equal(fast_state: dict, ref_state: dict, where: str = "") -> None:
    assert sorted(fast_state) == sorted(ref_state), where
    for i in ref_state:
        fs, rs = fast_state[i], ref_state[i]
        assert sorted(fs) == sorted(rs), f"{where} param {i}: {sorted(fs)} vs {sorted(rs)}"
        for k, v in rs.items():
            if isinstance(v, np.ndarray):
                assert_bits_equal(fs[k], v, f"{where} state[{i}][{k!r}]")
            else:
                assert fs[k] == v, f"{where} state[{i}][{k!r}]: {fs[k]} vs {v}"


def make_params(rng, shapes, dtype) -> list[np.ndarray]:
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def make_grads(rng, params, step: int, none_at=()) -> list:
    """Gradients for one step; parameters whose index is in ``none_at`` get None."""
    return [
        None if i in none_at else (rng.standard_normal(p.shape) * (1 + 0.1 * step)).astype(p.dtype)
        for i, p in enumerate(params)
    ]


def trajectory(name, opts, shapes, dtype, steps, seed=0, lrs=None) -> dict[str, np.ndarray]:
    """Runs the fast optimizer ``steps`` times on one group; returns params and state, flat,
    keyed by name (for comparisons across processes and ISAs)."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, shapes, dtype)
    opt = getattr(cg.optim, name)(params, **opts)
    for t in range(steps):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[t]
        opt.step(make_grads(rng, params, t))
    out = {f"p{i}": p for i, p in enumerate(params)}
    for i, st in opt.state.items():
        for k, v in st.items():
            out[f"s{i}_{k}"] = np.asarray(v)
    return out
