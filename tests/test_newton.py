"""Damped Newton: convergence, damping on indefinite Hessians, state, bad input."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _problems import logistic, logistic_data, rosenbrock, rosenbrock_hessian


def _rosen_closure(x):
    def closure():
        f, g = rosenbrock(x)
        return f, [g], rosenbrock_hessian(x)

    return closure


@pytest.mark.parametrize("start", [[-1.2, 1.0], [0.0] * 10], ids=["2d", "10d"])
def test_rosenbrock_converges(start):
    x = np.array(start)
    opt = cg.optim.Newton([x], max_iter=100, tolerance_grad=1e-10, tolerance_change=0.0)
    opt.step(_rosen_closure(x))
    np.testing.assert_allclose(x, 1.0, atol=1e-8)
    assert opt.state[0]["n_iter"] < 60


def test_indefinite_start_raises_damping():
    # At (0, 1) Rosenbrock's Hessian is indefinite (h11 = -398): plain Newton would head uphill.
    x = np.array([0.0, 1.0])
    assert np.linalg.eigvalsh(rosenbrock_hessian(x)).min() < 0
    opt = cg.optim.Newton([x], max_iter=1)
    f0 = opt.step(_rosen_closure(x))
    assert rosenbrock(x)[0] < f0
    assert opt.state[0]["damping"] > 1.0


def test_logistic_quadratic_convergence():
    X, y = logistic_data(seed=3)
    w, b = np.zeros(X.shape[1]), np.zeros(1)
    opt = cg.optim.Newton(
        [w, b], damping=0.0, max_iter=1, tolerance_grad=1e-14, tolerance_change=0.0
    )
    norms = []
    for _ in range(6):
        opt.step(lambda: logistic(w, b, X, y))
        _, (gw, gb), _ = logistic(w, b, X, y)
        norms.append(np.sqrt(np.sum(gw**2) + gb[0] ** 2))
    assert norms[-1] < 1e-12
    # quadratic convergence: the gradient norm roughly squares (up to a constant)
    assert norms[3] < 10 * norms[2] ** 2


def test_no_line_search_and_float32():
    X, y = logistic_data(seed=4)
    w, b = np.zeros(X.shape[1], np.float32), np.zeros(1, np.float32)
    opt = cg.optim.Newton([w, b], line_search=None, max_iter=20)
    opt.step(lambda: logistic(w, b, X, y))
    assert w.dtype == np.float32
    _, (gw, gb), _ = logistic(w, b, X, y)
    assert np.abs(gw).max() < 1e-5


def test_state_dict_roundtrip():
    x = np.array([-1.2, 1.0])
    opt = cg.optim.Newton([x], max_iter=3)
    opt.step(_rosen_closure(x))
    sd = opt.state_dict()
    opt2 = cg.optim.Newton([x.copy()], max_iter=3)
    opt2.load_state_dict(sd)
    assert opt2.state == opt.state
    with pytest.raises(ValueError, match="state"):
        opt2.load_state_dict({"state": {0: {"bogus": 1}}, "param_groups": sd["param_groups"]})


@pytest.mark.parametrize(
    ("kwargs", "name", "exc"),
    [
        ({"lr": -1.0}, "lr", ValueError),
        ({"damping": float("inf")}, "damping", ValueError),
        ({"max_iter": 0}, "max_iter", ValueError),
        ({"line_search": "wolfe"}, "line_search", ValueError),
        ({"c1": 1.0}, "c1", ValueError),
        ({"max_ls": 1.5}, "max_ls", TypeError),
    ],
)
def test_bad_hyperparameters(kwargs, name, exc):
    with pytest.raises(exc, match=name):
        cg.optim.Newton([np.zeros(2)], **kwargs)


@pytest.mark.parametrize(
    ("hessian", "exc", "match"),
    [
        (np.zeros((3, 3)), ValueError, "shape"),
        (np.full((2, 2), np.nan), ValueError, "non-finite"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "dtype"),
    ],
)
def test_bad_hessian_leaves_params(hessian, exc, match):
    x = np.array([-1.2, 1.0])
    opt = cg.optim.Newton([x])
    before = x.copy()
    calls = []

    def closure():
        calls.append(1)
        f, g = rosenbrock(x)
        return f, [g], rosenbrock_hessian(x) if len(calls) < 2 else hessian

    with pytest.raises(exc, match=match):
        opt.step(closure)
    np.testing.assert_array_equal(x, before)
    assert opt.state == {}
