"""Adafactor: factored second moments (Shazeer & Stern 2018), torch.optim.Adafactor semantics."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .optimizer import Optimizer, hyperparameters


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, 2018) in torch.optim.Adafactor's variant (torch 2.13).

    At step ``t`` (per parameter, from 1), with ``g = -g`` if ``maximize``, ``eps = (eps1,
    eps2)`` (``eps1`` None: the dtype's machine epsilon) and ``n`` the parameter's size::

        beta  = t ** beta2_decay;  rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, RMS(p)) * rho                  (RMS of p before the weight decay)
        p     = p * (1 - lr * weight_decay)              (decoupled weight decay)
        ndim >= 2, factored over the last two axes (rows x cols):
            row_var = lerp(row_var, mean of g*g over cols, beta)       shape (..., rows, 1)
            col_var = lerp(col_var, mean of g*g over rows, beta)       shape (..., 1, cols)
            v = row_var * col_var / max(mean of row_var over rows, eps1)
        ndim <= 1:  variance = lerp(variance, g * g, beta);  v = variance
        u = g / sqrt(max(v, eps1 ** 2));   p = p - alpha / max(1, RMS(u) / d) * u

    State per parameter: ``step`` and ``row_var``/``col_var`` (factored) or ``variance``, named
    and shaped as torch's. Each tensor takes four passes (sum p^2; the squared-gradient row and
    column sums; sum u^2; the update with u recomputed). Their sums are taken in double in a fixed
    order (see ``convergent.reference.adafactor_step``), where torch sums in the parameter's
    dtype: the results are the same bits on every ISA and thread count, and match the reference
    exactly. An empty parameter is left unchanged (torch divides by ``sqrt(0)``).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _validate(self, g: dict[str, Any]) -> None:
        eps = g.get("eps", self.defaults.get("eps"))
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}")
        # The base class checks numbers; eps1 may also be None.
        super()._validate({**g, "eps": (0.0 if eps[0] is None else eps[0], eps[1])})

    def _check(self, g: dict[str, Any]) -> None:
        eps1, eps2 = g["eps"]
        _core.check_adafactor(g["lr"], g["beta2_decay"], eps1, eps2, g["d"], g["weight_decay"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"row_var": 0.0, "col_var": 0.0, "variance": 0.0}

    def _buffer_shape(self, name: str, p: np.ndarray) -> tuple[int, ...] | None:
        s = p.shape
        if name == "row_var":
            return (*s[:-1], 1) if p.ndim >= 2 else None
        if name == "col_var":
            return (*s[:-2], 1, s[-1]) if p.ndim >= 2 else None
        if name == "variance":
            return s if p.ndim < 2 else None
        return s

    def _run(self, g, params, grads, states, old_states, dry_run):
        bufs = [[st.get(name) for st in states] for name in ("row_var", "col_var", "variance")]
        eps1, eps2 = g["eps"]
        _core.adafactor_step(
            params,
            grads,
            *bufs,
            [s["step"] for s in states],
            g["lr"],
            g["beta2_decay"],
            eps1,
            eps2,
            g["d"],
            g["weight_decay"],
            bool(g["maximize"]),
            dry_run,
        )
