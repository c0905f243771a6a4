"""Gradient checking: analytic gradients from ``backward`` vs float64 central differences.

``gradcheck(model, loss, X, y)`` works on any object with the layer protocol (a single layer, a
Sequential, ...): ``forward(x, training=...)``, ``backward(dout) -> dx``, ``parameters()`` and
``gradients()`` (aligned lists), optionally ``penalty()``, ``named_parameters()``, ``buffers()``
and ``set_rng(rng)``.

The checked scalar is ``f = loss.forward(model.forward(X), y) + model.penalty()``. For each
checked element ``w`` of each parameter (and of ``X``), the numerical derivative is
``(f(w + eps) - f(w - eps)) / (2 eps)`` and the check passes when
``|analytic - numerical| <= atol + rtol * |numerical|``. With ``eps = 1e-6`` the truncation error
is O(eps²) and the rounding error about 1e-16 |f| / eps, so the defaults ``rtol = 1e-5`` and
``atol = 1e-8`` hold for losses of order 1. Inputs within ``eps`` of a kink (ReLU at 0, ...) give
meaningless numerical derivatives: keep them away from kinks.

Stochastic layers (Dropout, RReLU): with ``training=False`` (the default) the model is checked in
eval mode, where they are deterministic. With ``training=True`` the model gets a fresh
``np.random.default_rng(seed)`` through ``set_rng`` before every evaluation, so each forward pass
draws the same noise (the model's ``set_rng`` must make its randomness a function of the
generator it is given); the model keeps that generator afterwards.

Every parameter element is written back with its exact original value after each perturbation,
and parameters and buffers (e.g. running statistics updated in training mode) are restored
bit-exactly at the end, even if an exception interrupts the check. The model's saved forward
state reflects the last (perturbed) evaluation: run ``forward`` again before ``backward``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .nn.lengths import forward_with_lengths

__all__ = ["GradcheckError", "GradcheckReport", "TensorCheck", "gradcheck"]


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; ``.report`` holds the full GradcheckReport."""

    def __init__(self, message: str, report: GradcheckReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class TensorCheck:
    """Result for one tensor. ``worst_index`` is the multi-index of the largest violation (or of
    the largest absolute error when all pass), with its analytic and numerical values."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_err: float
    max_rel_err: float
    passed: bool
    worst_index: tuple[int, ...]
    analytic: float
    numerical: float

    def __str__(self) -> str:
        status = "ok" if self.passed else "FAIL"
        text = (
            f"{self.name:<20} {str(self.shape):<14} {self.checked:>7} "
            f"{self.max_abs_err:>11.3e} {self.max_rel_err:>11.3e}  {status}"
        )
        if not self.passed:
            text += (
                f"  at {self.worst_index}: analytic {self.analytic:.10g}, "
                f"numerical {self.numerical:.10g}"
            )
        return text


class GradcheckReport:
    """Per-tensor results of :func:`gradcheck`; ``passed`` is True when every tensor passed."""

    def __init__(self, checks: list[TensorCheck], eps: float, rtol: float, atol: float) -> None:
        self.checks = checks
        self.eps, self.rtol, self.atol = eps, rtol, atol

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[TensorCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def max_rel_err(self) -> float:
        return max((c.max_rel_err for c in self.checks), default=0.0)

    @property
    def max_abs_err(self) -> float:
        return max((c.max_abs_err for c in self.checks), default=0.0)

    def __getitem__(self, name: str) -> TensorCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (
            f"GradcheckReport(passed={self.passed}, tensors={len(self.checks)}, "
            f"max_rel_err={self.max_rel_err:.3e}, max_abs_err={self.max_abs_err:.3e})"
        )

    def __str__(self) -> str:
        head = (
            f"gradcheck (eps={self.eps:g}, rtol={self.rtol:g}, atol={self.atol:g}): "
            f"{'passed' if self.passed else 'FAILED'}\n"
            f"{'tensor':<20} {'shape':<14} {'checked':>7} {'max abs err':>11} {'max rel err':>11}"
        )
        return "\n".join([head] + [str(c) for c in self.checks])


def _names(model: Any, params: list[np.ndarray]) -> list[str]:
    named = getattr(model, "named_parameters", None)
    if callable(named):
        try:
            items = list(dict(named()).items())
        except (TypeError, ValueError):
            items = []
        if len(items) == len(params) and all(a is b for (_, a), b in zip(items, params)):
            return [str(k) for k, _ in items]
    return [f"parameters()[{i}]" for i in range(len(params))]


def _buffers(model: Any) -> list[np.ndarray]:
    get = getattr(model, "buffers", None)
    if not callable(get):
        return []
    bufs = get()
    bufs = list(bufs.values()) if isinstance(bufs, dict) else list(bufs)
    return [b for b in bufs if isinstance(b, np.ndarray)]


def _require_float64(arr: Any, what: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
        got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
        raise TypeError(
            f"gradcheck needs float64 {what}, got {got}: float32 central differences are "
            f"dominated by rounding. Build the model with dtype=np.float64 and pass "
            f"X.astype(np.float64)."
        )


def _pick(size: int, max_checks: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def gradcheck(
    model: Any,
    loss: Any,
    X: np.ndarray,
    y: Any,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    *,
    training: bool = False,
    max_checks: int | None = 200,
    check_input: bool = True,
    seed: int = 0,
    raise_on_failure: bool = True,
    lengths: np.ndarray | None = None,
) -> GradcheckReport:
    """Compares ``model.backward`` with float64 central differences of the loss.

    Checks every element of each parameter tensor, or a seeded random subset of ``max_checks``
    elements for bigger tensors (``max_checks=None``: all), and of the input ``X`` when
    ``check_input``. Parameters and ``X`` must be float64 (``TypeError`` otherwise), except
    that integer tokens ``X`` (a model starting with an ``Embedding``) are allowed and never
    checked (they have no gradient); ``X`` itself is never modified. ``lengths`` (per-sample
    lengths of a padded sequence batch) go to ``model.forward(x, training, lengths=...)``.
    ``training`` selects the forward mode (see the module docstring for stochastic layers).
    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` (an ``AssertionError``)
    naming the failing tensors unless ``raise_on_failure=False``.
    """
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"eps must be a positive float, got {eps!r}")
    if max_checks is not None and (isinstance(max_checks, bool) or int(max_checks) < 1):
        raise ValueError(f"max_checks must be a positive int or None, got {max_checks!r}")
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu":
        check_input = False  # integer tokens (an Embedding's input): no gradient to check
    else:
        _require_float64(X, "input X")
    params = list(model.parameters())
    for p in params:
        _require_float64(p, "parameters")
    names = _names(model, params)
    penalty = getattr(model, "penalty", None)
    reseed = getattr(model, "set_rng", None) if training else None
    if training and not callable(reseed):
        raise TypeError("training=True needs a model with set_rng(rng) to fix its randomness")

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, float]:
        if reseed is not None:
            reseed(np.random.default_rng(seed))
        out = forward_with_lengths(model, x, training, lengths)
        value = float(loss.forward(out, y))
        if callable(penalty):
            value += float(penalty())
        return out, value

    saved_params = [p.copy() for p in params]
    saved_buffers = [(b, b.copy()) for b in _buffers(model)]
    xw = X.copy()
    try:
        evaluate(xw)
        dx = model.backward(loss.backward())
        dx = None if dx is None else np.array(dx, dtype=np.float64)
        grads = [np.array(g, dtype=np.float64) for g in model.gradients()]
        if len(grads) != len(params):
            raise ValueError(
                f"model.gradients() has {len(grads)} arrays for {len(params)} parameters"
            )
        targets = list(zip(names, params, grads))
        if check_input and dx is not None:
            targets.append(("input", xw, dx))
        pick_rng = np.random.default_rng(seed)
        checks = []
        for name, arr, analytic in targets:
            if analytic.shape != arr.shape:
                raise ValueError(
                    f"gradient of {name} has shape {analytic.shape}, expected {arr.shape}"
                )
            checks.append(
                _check_tensor(
                    name, arr, analytic, evaluate, xw, eps, rtol, atol,
                    _pick(arr.size, max_checks, pick_rng),
                )
            )  # fmt: skip
    finally:
        for p, s in zip(params, saved_params):
            p[...] = s
        for b, s in saved_buffers:
            b[...] = s
    report = GradcheckReport(checks, float(eps), float(rtol), float(atol))
    if raise_on_failure and not report.passed:
        worst = "; ".join(
            f"{c.name} at {c.worst_index}: analytic {c.analytic:.10g} vs numerical "
            f"{c.numerical:.10g} (max rel err {c.max_rel_err:.3e})"
            for c in report.failures
        )
        raise GradcheckError(f"gradient check failed for {worst}\n{report}", report)
    return report


def _check_tensor(name, arr, analytic, evaluate, xw, eps, rtol, atol, flat_idx) -> TensorCheck:
    numerical = np.empty(flat_idx.size)
    for j, flat in enumerate(flat_idx):
        idx = np.unravel_index(flat, arr.shape)
        orig = arr[idx]
        arr[idx] = orig + eps
        f_plus = evaluate(xw)[1]
        arr[idx] = orig - eps
        f_minus = evaluate(xw)[1]
        arr[idx] = orig
        numerical[j] = (f_plus - f_minus) / (2.0 * eps)
    ana = analytic.reshape(-1)[flat_idx]
    abs_err = np.abs(ana - numerical)
    scale = np.maximum(np.abs(ana), np.abs(numerical))
    rel_err = np.divide(abs_err, scale, out=np.zeros_like(abs_err), where=scale > 0)
    excess = abs_err - (atol + rtol * np.abs(numerical))
    ok = bool(np.all(excess <= 0)) and bool(np.all(np.isfinite(numerical)))
    k = int(np.argmax(excess)) if flat_idx.size else 0
    if not np.all(np.isfinite(excess)) and flat_idx.size:
        k = int(np.flatnonzero(~np.isfinite(excess))[0])
    worst = tuple(int(i) for i in np.unravel_index(flat_idx[k], arr.shape)) if flat_idx.size else ()
    return TensorCheck(
        name=name,
        shape=tuple(arr.shape),
        checked=int(flat_idx.size),
        max_abs_err=float(abs_err.max()) if flat_idx.size else 0.0,
        max_rel_err=float(rel_err.max()) if flat_idx.size else 0.0,
        passed=ok,
        worst_index=worst,
        analytic=float(ana[k]) if flat_idx.size else 0.0,
        numerical=float(numerical[k]) if flat_idx.size else 0.0,
    )
