"""Test problems with analytic gradients and Hessians (shared by the optimizer tests)."""

from __future__ import annotations

import numpy as np
from convergent.demo import rosenbrock  # noqa: F401 - f and gradient, shared with the demo


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    a, b = x[:-1], x[1:]
    i = np.arange(n - 1)
    h[i, i] += 1200.0 * a**2 - 400.0 * b + 2.0
    h[i + 1, i + 1] += 200.0
    h[i, i + 1] = h[i + 1, i] = -400.0 * a
    return h


def logistic_data(seed: int = 0, n: int = 200, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(np.float64)
    return X, y


def logistic(w: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 1e-2):
    """Mean logistic loss + l2/2 |w|^2; returns (loss, [dw, db], hessian over [w, b])."""
    z = X @ w.astype(np.float64) + float(b[0])
    p = 1.0 / (1.0 + np.exp(-z))
    n = X.shape[0]
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(w.astype(float) ** 2))
    r = (p - y) / n
    gw = X.T @ r + l2 * w
    gb = np.array([r.sum()])
    Xa = np.hstack([X, np.ones((n, 1))])
    h = (Xa * (p * (1 - p) / n)[:, None]).T @ Xa
    h[:-1, :-1] += l2 * np.eye(X.shape[1])
    return loss, [gw, gb], h
