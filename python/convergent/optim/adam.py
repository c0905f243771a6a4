"""Adam and AdamW, with AMSGrad."""

from __future__ import annotations

from typing import Any

from .. import _core
from .optimizer import Optimizer, betas_pair, hyperparameters


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), torch.optim.Adam semantics (Algorithm 1 of its docs).

    At step ``t`` (per parameter, from 1), with ``g = -g`` if ``maximize``::

        g = g + weight_decay * p                          (Adam: L2 coupled to the gradient)
        p = p * (1 - lr * weight_decay)                   (AdamW: decoupled weight decay)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                             if amsgrad (max over the raw v)
        denom = sqrt(v_max if amsgrad else v) / sqrt(1 - beta2**t) + eps
        p = p - lr / (1 - beta1**t) * m / denom

    Bias corrections and step size are computed in double precision.
    """

    _decoupled = False
    _kernel_steps = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check(self, g: dict[str, Any]) -> None:
        b1, b2 = betas_pair(g)
        _core.check_adam(g["lr"], b1, b2, g["eps"], g["weight_decay"])

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        spec = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if g["amsgrad"]:
            spec["max_exp_avg_sq"] = 0.0
        return spec

    def _kernel_args(self, g: dict[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        """The kernel, its hyperparameters (in _core.adam_step's order) and the state buffers
        it uses (names, None where unused); shared with the fused loop."""
        amsgrad = bool(g["amsgrad"])
        b1, b2 = g["betas"]
        hyper = (g["lr"], b1, b2, g["eps"], g["weight_decay"], amsgrad, bool(g["maximize"]))
        names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if amsgrad else None)
        return "adam", (*hyper, self._decoupled), names


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay,
    torch.optim.AdamW semantics. The parameter first shrinks by ``1 - lr * weight_decay``, then
    takes the Adam step of :class:`Adam` computed without weight decay in the gradient."""

    _decoupled = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
