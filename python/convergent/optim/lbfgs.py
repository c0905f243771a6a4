"""L-BFGS with torch.optim.LBFGS semantics, over NumPy arrays.

The algorithm (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4 and 7.5;
the strong-Wolfe line search is their Algorithm 3.5/3.6 with cubic interpolation, as ported by
torch from minFunc) works on the flattened concatenation of all parameters:

    d_1 = -g_1,  t_1 = min(1, 1/||g_1||_1) * lr                     (first iteration)
    s = t d,  y = g_new - g_old;  if y.s > 1e-10: push (y, s, 1/y.s), H_diag = y.s / y.y
    d = -H g   (two-loop recursion over at most ``history_size`` pairs, H_0 = H_diag * I)
    t = lr, or the step found by the strong-Wolfe line search (c1=1e-4, c2=0.9)
    x = x + t d

and stops when ``max_iter`` iterations or ``max_eval`` closure evaluations are used up, when
``max|g| <= tolerance_grad``, when ``g.d > -tolerance_change``, when ``max|t d| <=
tolerance_change`` or when ``|f_new - f_old| < tolerance_change``. The history persists across
``step`` calls (``state`` holds it), exactly as in torch, so a float64 problem follows torch's
trajectory to rounding. Vectors are kept in the parameters' dtype; scalars (dot products, step
sizes, H_diag) in double, where torch keeps 0-d tensors of the parameters' dtype: with float32
parameters the two agree to float32 rounding, and near the optimum their termination tests,
which then compare rounding noise, may stop at different iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._closure import Closure, FlatParams, SingleGroup, int_at_least, nonneg
from .optimizer import Optimizer

__all__ = ["LBFGS"]

_LIST_KEYS = ("old_dirs", "old_stps", "ro")
_ARRAY_KEYS = ("d", "prev_flat_grad")
_SCALAR_KEYS = ("func_evals", "n_iter", "t", "H_diag", "prev_loss")


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds``."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Strong-Wolfe line search along ``d`` from step ``t``: bracketing, then zoom by cubic
    interpolation. Returns (f_new, g_new, t, evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = obj_func(t)
    ls_func_evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(t)
        ls_func_evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # Keep trials away from the bracket's ends when progress is insufficient.
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(t)
        ls_func_evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(SingleGroup, Optimizer):
    """L-BFGS, torch.optim.LBFGS semantics (see the module docstring for the algorithm).

    ``step(closure)``: ``closure()`` evaluates the objective at the current parameters and
    returns ``(loss, grads)`` with ``grads`` aligned with the params (``None`` = zero); the
    optimizer may call it several times. ``step`` returns the loss of the first evaluation.
    A single param group only. If the closure raises, or returns something invalid, the
    parameters and the state are restored to what they were before the step.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        int_at_least(max_iter, "max_iter", 1)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)  # SingleGroup refuses a second group
        self._params = self.param_groups[0]["params"]
        self._flat_params = FlatParams(self._params)

    def _check(self, g: dict[str, Any]) -> None:
        nonneg(g["lr"], "lr")
        int_at_least(g["max_iter"], "max_iter", 1)
        int_at_least(g["max_eval"], "max_eval", 1)
        nonneg(g["tolerance_grad"], "tolerance_grad")
        nonneg(g["tolerance_change"], "tolerance_change")
        int_at_least(g["history_size"], "history_size", 1)
        if g["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"line_search_fn must be None or 'strong_wolfe', got {g['line_search_fn']!r}"
            )

    def step(  # type: ignore[override]
        self, closure: Callable[[], Any], callback: Callable[[float], Any] | None = None
    ) -> float:
        """Runs up to ``max_iter`` L-BFGS iterations; returns the loss at the starting point.

        ``callback(loss)`` (optional) is called after each iteration whose new point was
        evaluated (all of them with the line search; without it, all but a step's last one)."""
        group = self.param_groups[0]
        self._check(group)
        fn = Closure(closure, self._params, 2)
        return self._run_or_restore(lambda: self._step(group, fn, callback))

    def _step(self, group: dict[str, Any], closure: Closure, callback=None) -> float:
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        flat = self._flat_params
        # LBFGS keeps global state; it lives under the first parameter's index, as in torch.
        state = dict(self.state.get(0, {}))
        for key in _LIST_KEYS:
            if key in state:
                state[key] = list(state[key])
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        self.state[0] = state

        orig_loss, flat_grad = closure()
        loss = orig_loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y.dot(y))
                d = self._direction(flat_grad, old_dirs, old_stps, ro, H_diag)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            first = state["n_iter"] == 1
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if first else lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if group["line_search_fn"] is not None:
                x_init = flat.get()

                def obj_func(step, x_init=x_init, d=d):
                    flat.add(step, d)
                    try:
                        return closure()
                    finally:
                        flat.set(x_init)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                flat.add(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                flat.add(t, d)
                if n_iter != max_iter:
                    loss, flat_grad = closure()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if callback is not None and ls_func_evals > 0:
                callback(loss)

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag)
        state.update(prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _direction(flat_grad, old_dirs, old_stps, ro, H_diag) -> np.ndarray:
        """Two-loop recursion: -H g with the stored (y, s) pairs and H_0 = H_diag * I."""
        num_old = len(old_dirs)
        al = [0.0] * num_old
        q = -flat_grad
        for i in range(num_old - 1, -1, -1):
            al[i] = float(old_stps[i].dot(q)) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * H_diag
        for i in range(num_old):
            be_i = float(old_dirs[i].dot(r)) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        for s in sd["state"].values():
            for key in _LIST_KEYS:
                if key in s:
                    s[key] = [v.copy() if isinstance(v, np.ndarray) else v for v in s[key]]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the history and counters saved by ``state_dict()``."""
        g = self._checked_group(state_dict)
        n = int(self._flat_params.offsets[-1])
        dtype = self._params[0].dtype
        new_state: dict[int, dict[str, Any]] = {}
        for key, s in state_dict["state"].items():
            if int(key) != 0:
                raise ValueError(f"state_dict has state for param {key}; LBFGS keeps it under 0")
            ns: dict[str, Any] = {}
            for name, v in s.items():
                if name in _ARRAY_KEYS or name in _LIST_KEYS:
                    items = list(v) if name in _LIST_KEYS else [v]
                    if name == "ro":
                        items = [float(x) for x in items]
                    else:
                        for x in items:
                            if not isinstance(x, np.ndarray) or x.shape != (n,) or x.dtype != dtype:
                                raise ValueError(f"state[0][{name!r}] must hold ({n},) {dtype}")
                        items = [x.copy() for x in items]
                    ns[name] = items if name in _LIST_KEYS else items[0]
                elif name in _SCALAR_KEYS:
                    ns[name] = int(v) if name in ("func_evals", "n_iter") else float(v)
                else:
                    raise ValueError(f"state_dict has an unknown LBFGS state entry {name!r}")
            new_state[0] = ns
        g["params"] = self._params
        self.param_groups = [g]
        self.state = new_state
