"""Damped Newton's method with a backtracking Armijo line search, for small problems.

Each iteration, at the current point x with loss f, gradient g and Hessian H (over the
flattened parameters, n x n; its symmetric part (H + H^T)/2 is used):

    solve (H + lam I) d = -g      by Cholesky; while H + lam I is not positive definite,
                                  lam <- 10 lam (Levenberg-Marquardt damping)
    t = lr;  while f(x + t d) > f + c1 t g.d:  t <- t/2      (Armijo, Nocedal & Wright Alg. 3.1)
    x <- x + t d

``lam`` starts at ``damping`` and is kept in the state: it grows tenfold when H + lam I is not
positive definite or the line search fails (the point is then left unchanged), and shrinks
tenfold (not below ``damping``) after each accepted full step, so near a minimum with a positive
definite Hessian the method is Newton's with a tiny damping and converges quadratically up to
the damping's relative size. ``line_search=None`` takes ``x <- x + lr d`` without a test.

The closure returns ``(loss, grads, hessian)``; the line search also calls it (and discards the
Hessian of rejected trials), so the Hessian should be cheap to form: this is for problems with a
few thousand parameters at most. Stops when ``max|g| <= tolerance_grad``, when ``g.d >
-tolerance_change``, ``max|t d| <= tolerance_change`` or ``|f_new - f| < tolerance_change``, or
after ``max_iter`` iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._closure import Closure, FlatParams, SingleGroup, int_at_least, nonneg
from .optimizer import Optimizer

__all__ = ["Newton"]


class Newton(SingleGroup, Optimizer):
    """Damped Newton with Armijo backtracking (see the module docstring).

    ``step(closure)``: ``closure()`` returns ``(loss, grads, hessian)`` at the current params,
    ``grads`` aligned with the params, ``hessian`` the (n, n) second derivatives over the params
    flattened and concatenated in order. Returns the loss at the starting point. A single param
    group. If the closure raises or returns something invalid, params and state are restored.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        damping: float = 1e-4,
        max_iter: int = 20,
        line_search: str | None = "armijo",
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        c1: float = 1e-4,
        max_ls: int = 30,
    ) -> None:
        defaults = dict(
            lr=lr,
            damping=damping,
            max_iter=max_iter,
            line_search=line_search,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            c1=c1,
            max_ls=max_ls,
        )
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]
        self._flat_params = FlatParams(self._params)
        self._n = int(self._flat_params.offsets[-1])

    def _check(self, g: dict[str, Any]) -> None:
        nonneg(g["lr"], "lr")
        nonneg(g["damping"], "damping")
        int_at_least(g["max_iter"], "max_iter", 1)
        nonneg(g["tolerance_grad"], "tolerance_grad")
        nonneg(g["tolerance_change"], "tolerance_change")
        nonneg(g["c1"], "c1")
        if not g["c1"] < 1:
            raise ValueError(f"c1 must be in [0, 1), got {g['c1']}")
        int_at_least(g["max_ls"], "max_ls", 1)
        if g["line_search"] not in (None, "armijo"):
            raise ValueError(f"line_search must be 'armijo' or None, got {g['line_search']!r}")

    def _evaluate(self, closure: Closure) -> tuple[float, np.ndarray, np.ndarray]:
        loss, g, h = closure()
        h = np.asarray(h)
        n = self._n
        if h.dtype.kind not in "fiu":
            raise TypeError(f"closure's hessian has dtype {h.dtype}; expected real numbers")
        if h.shape != (n, n):
            raise ValueError(f"closure's hessian has shape {h.shape}; expected ({n}, {n})")
        if not np.isfinite(h).all():
            raise ValueError("closure's hessian has non-finite entries")
        h = h.astype(np.float64)
        return loss, g, 0.5 * (h + h.T)

    @staticmethod
    def _solve(h: np.ndarray, g: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
        """d = -(H + lam I)^-1 g, raising lam until H + lam I is positive definite."""
        scale = max(1.0, float(np.abs(np.diag(h)).max(initial=0.0)))
        eye = np.eye(h.shape[0])
        while True:
            try:
                chol = np.linalg.cholesky(h + lam * eye)
                break
            except np.linalg.LinAlgError:
                lam = 10.0 * lam if lam > 0 else 1e-12 * scale
        z = np.linalg.solve(chol, -g.astype(np.float64))
        return np.linalg.solve(chol.T, z), lam

    def step(self, closure: Callable[[], Any]) -> float:  # type: ignore[override]
        """Runs up to ``max_iter`` damped Newton iterations; returns the starting loss."""
        group = self.param_groups[0]
        self._check(group)
        fn = Closure(closure, self._params, 3)
        return self._run_or_restore(lambda: self._step(group, fn))

    def _step(self, group: dict[str, Any], closure: Closure) -> float:
        lr, c1, floor = float(group["lr"]), group["c1"], float(group["damping"])
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        flat = self._flat_params
        dtype = self._params[0].dtype
        state = dict(self.state.get(0, {}))
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        state.setdefault("damping", floor)
        self.state[0] = state

        loss, g, h = self._evaluate(closure)
        orig_loss = loss
        state["func_evals"] += 1
        for _ in range(group["max_iter"]):
            if np.abs(g).max() <= tol_grad:
                break
            state["n_iter"] += 1
            d64, lam = self._solve(h, g, max(float(state["damping"]), floor))
            d = d64.astype(dtype)
            gtd = float(g.astype(np.float64).dot(d64))
            if gtd > -tol_change:
                state["damping"] = lam
                break
            t, accepted = lr, False
            x_start = flat.get()
            for _ls in range(group["max_ls"] if group["line_search"] else 1):
                flat.add(t, d)
                new = self._evaluate(closure)
                state["func_evals"] += 1
                if group["line_search"] is None or new[0] <= loss + c1 * t * gtd:
                    accepted = True
                    break
                flat.set(x_start)
                t *= 0.5
            if not accepted:
                state["damping"] = 10.0 * lam
                continue
            state["damping"] = max(lam / 10.0, floor) if t == lr else lam
            prev_loss = loss
            loss, g, h = new
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
            if not math.isfinite(loss):
                break
        return orig_loss

    # ---- checkpoints --------------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the counters and the current damping saved by ``state_dict()``."""
        g = self._checked_group(state_dict)
        new_state: dict[int, dict[str, Any]] = {}
        for key, s in state_dict["state"].items():
            if int(key) != 0 or set(s) - {"func_evals", "n_iter", "damping"}:
                raise ValueError("state_dict holds state that Newton does not keep")
            new_state[0] = {k: (float(v) if k == "damping" else int(v)) for k, v in s.items()}
        g["params"] = self._params
        self.param_groups = [g]
        self.state = new_state
