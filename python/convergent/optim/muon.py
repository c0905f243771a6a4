"""Muon: momentum orthogonalized by Newton-Schulz, torch.optim.Muon semantics."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .optimizer import Optimizer, hyperparameters

_ADJUST = (None, "original", "match_rms_adamw")


class Muon(Optimizer):
    r"""Muon (Jordan et al., 2024), torch.optim.Muon semantics (torch 2.13), for 2-D params.

    Per parameter (``R x C``), with ``(a, b, c) = ns_coefficients``::

        buf = lerp(buf, g, 1 - momentum)                  (state "momentum_buffer")
        Y   = lerp(g, buf, momentum) if nesterov else buf
        Y   = Y / max(||Y||_F, eps)
        ns_steps times:  A = Y Y^T;  B = b A + c A A;  Y = a Y + B Y
                         (for R > C on the transpose, as torch does)
        p   = p * (1 - lr * weight_decay) - lr * s * Y
        s   = sqrt(max(1, R / C))  (adjust_lr_fn None or "original"),
              0.2 * sqrt(max(R, C))  ("match_rms_adamw": Liu et al. 2025, "Muon is Scalable
              for LLM Training"; the update's RMS matches AdamW's)

    Differences from torch: the Newton-Schulz iteration runs in the parameter's dtype (torch
    runs it in bfloat16), so results agree with torch to bfloat16's precision only. Its matrix
    products run on convergent's GEMM, with work buffers kept between steps; any thread count
    gives the same bits. Muon only updates 2-D parameters: optimize biases and other
    parameters with AdamW (``cg.optim.AdamW``).
    """

    _counts_steps = False  # torch's Muon keeps no step count

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def add_param_group(self, group: dict[str, Any]) -> None:
        params = group.get("params") if isinstance(group, dict) else None
        plist = [params] if isinstance(params, np.ndarray) else params
        if isinstance(plist, (list, tuple)):
            for i, p in enumerate(plist):
                if isinstance(p, np.ndarray) and p.ndim != 2:
                    raise ValueError(
                        f"params[{i}] has shape {p.shape}: Muon only supports 2-D parameters; "
                        "optimize the others (biases, embeddings, ...) with AdamW"
                    )
        super().add_param_group(group)

    def _validate(self, g: dict[str, Any]) -> None:
        fn = g.get("adjust_lr_fn")
        if fn not in _ADJUST or isinstance(fn, bool):
            raise ValueError(
                f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got {fn!r}"
            )
        coeffs = g.get("ns_coefficients", self.defaults.get("ns_coefficients"))
        if not isinstance(coeffs, (tuple, list)) or len(coeffs) != 3:
            raise ValueError(f"ns_coefficients must be a triple (a, b, c), got {coeffs!r}")
        steps = g.get("ns_steps", self.defaults.get("ns_steps"))
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
            raise TypeError(f"ns_steps must be an int, got {type(steps).__name__}")
        super()._validate({**g, "adjust_lr_fn": 0.0})  # the base class checks the numbers

    def _check(self, g: dict[str, Any]) -> None:
        a, b, c = g["ns_coefficients"]
        # adjust_lr_fn was checked by _validate (the group seen here has a number in its place).
        _core.check_muon(
            g["lr"], g["weight_decay"], g["momentum"], a, b, c, g["eps"], int(g["ns_steps"]), None
        )

    def _state_spec(self, g: dict[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0}

    def _run(self, g, params, grads, states, old_states, dry_run):
        a, b, c = g["ns_coefficients"]
        _core.muon_step(
            params,
            grads,
            [st["momentum_buffer"] for st in states],
            g["lr"],
            g["weight_decay"],
            g["momentum"],
            bool(g["nesterov"]),
            a,
            b,
            c,
            g["eps"],
            int(g["ns_steps"]),
            g["adjust_lr_fn"],
            dry_run,
        )
