"""L-BFGS: convergence, agreement with torch.optim.LBFGS, state, bad input."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _problems import logistic, logistic_data, rosenbrock

LINE_SEARCHES = [None, "strong_wolfe"]


def _minimize(opt, x, steps):
    for _ in range(steps):
        opt.step(lambda: (lambda r: (r[0], [r[1]]))(rosenbrock(x)))


@pytest.mark.parametrize("ls", LINE_SEARCHES)
@pytest.mark.parametrize(
    ("start", "steps"), [([-1.2, 1.0], 50), ([0.0] * 10, 100)], ids=["2d", "10d"]
)
def test_rosenbrock_converges(ls, start, steps):
    x = np.array(start)
    lr = 1.0 if ls else 0.05  # a fixed unit step overshoots Rosenbrock's valley
    opt = cg.optim.LBFGS([x], lr=lr, line_search_fn=ls, tolerance_change=1e-15)
    _minimize(opt, x, steps)
    np.testing.assert_allclose(x, 1.0, atol=1e-5)


@pytest.mark.parametrize("ls", LINE_SEARCHES)
def test_rosenbrock_float32(ls):
    x = np.array([-1.2, 1.0], dtype=np.float32)
    _minimize(cg.optim.LBFGS([x], lr=1.0 if ls else 0.1, line_search_fn=ls), x, 50)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, 1.0, atol=2e-3)


def test_logistic_matches_newton_reference():
    X, y = logistic_data(seed=1)
    w_ref, b_ref = np.zeros(X.shape[1]), np.zeros(1)
    newton = cg.optim.Newton(
        [w_ref, b_ref], max_iter=50, tolerance_grad=1e-12, tolerance_change=0.0
    )
    newton.step(lambda: logistic(w_ref, b_ref, X, y))
    _, (gw, gb), _ = logistic(w_ref, b_ref, X, y)
    assert np.sqrt(np.sum(gw**2) + gb[0] ** 2) < 1e-10

    w, b = np.zeros(X.shape[1]), np.zeros(1)
    opt = cg.optim.LBFGS(
        [w, b],
        max_iter=100,
        tolerance_grad=1e-10,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    for _ in range(3):
        opt.step(lambda: logistic(w, b, X, y)[:2])
    np.testing.assert_allclose(w, w_ref, atol=1e-6)
    np.testing.assert_allclose(b, b_ref, atol=1e-6)


def test_logistic_matches_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    X, y = logistic_data(seed=2)
    d = X.shape[1]

    def fun(v):
        loss, (gw, gb), _ = logistic(v[:d], v[d:], X, y)
        return loss, np.concatenate([gw, gb])

    ref = optimize.minimize(fun, np.zeros(d + 1), jac=True, method="BFGS", tol=1e-12).x
    w, b = np.zeros(d), np.zeros(1)
    opt = cg.optim.LBFGS(
        [w, b],
        max_iter=100,
        tolerance_grad=1e-10,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    opt.step(lambda: logistic(w, b, X, y)[:2])
    np.testing.assert_allclose(np.concatenate([w, b]), ref, atol=1e-6)


def _quadratic(seed=0, n=6):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    a = m @ m.T + n * np.eye(n)
    c = rng.standard_normal(n)
    return a, c


@pytest.mark.parametrize("ls", LINE_SEARCHES)
@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_trajectory_matches_torch(ls, problem):
    torch = pytest.importorskip("torch")
    a, c = _quadratic()
    at, ct = torch.tensor(a), torch.tensor(c)
    if problem == "quadratic":
        x0 = np.ones(6)

        def f_np(v):
            return 0.5 * v @ a @ v - c @ v, a @ v - c

        def f_t(v):
            return 0.5 * v @ at @ v - ct @ v

        kw = dict(max_iter=4, history_size=3)  # history wraps; several step() calls
        steps, rtol = 6, 1e-9
    else:
        x0 = np.array([-1.2, 1.0])
        f_np = rosenbrock

        def f_t(v):
            return 100 * (v[1] - v[0] ** 2) ** 2 + (1 - v[0]) ** 2

        kw = dict(max_iter=5, lr=1.0 if ls else 0.1)
        steps, rtol = 4, 1e-7  # Rosenbrock amplifies last-bit differences in the dot products
    x = x0.copy()
    opt = cg.optim.LBFGS([x], line_search_fn=ls, **kw)
    xt = torch.tensor(x0.copy(), requires_grad=True)
    topt = torch.optim.LBFGS([xt], line_search_fn=ls, **kw)

    def closure_t():
        topt.zero_grad()
        loss = f_t(xt)
        loss.backward()
        return loss.detach()

    for _ in range(steps):
        first = opt.step(lambda: (lambda r: (float(r[0]), [r[1]]))(f_np(x)))
        first_t = float(topt.step(closure_t))
        assert first == pytest.approx(first_t, rel=rtol, abs=1e-12)
        np.testing.assert_allclose(x, xt.detach().numpy(), rtol=rtol, atol=1e-12)
        ts, ms = topt.state[xt], opt.state[0]
        assert (ms["n_iter"], ms["func_evals"]) == (ts["n_iter"], ts["func_evals"])
        assert len(ms["old_dirs"]) == len(ts["old_dirs"])
        assert ms["t"] == pytest.approx(float(ts["t"]), rel=rtol)


def test_state_dict_resumes_exactly():
    x = np.array([-1.2, 1.0, 0.5])
    opt = cg.optim.LBFGS([x], max_iter=3, line_search_fn="strong_wolfe")
    _minimize(opt, x, 2)
    sd = opt.state_dict()
    x_copy = x.copy()
    _minimize(opt, x, 3)
    y = x_copy.copy()
    opt2 = cg.optim.LBFGS([y], max_iter=3, line_search_fn="strong_wolfe")
    opt2.load_state_dict(sd)
    _minimize(opt2, y, 3)
    np.testing.assert_array_equal(x, y)
    assert opt2.state[0]["n_iter"] == opt.state[0]["n_iter"]


def test_multiple_params_and_none_grad():
    w, b = np.array([3.0, -2.0]), np.array([5.0])
    opt = cg.optim.LBFGS([w, b], line_search_fn="strong_wolfe")
    opt.step(lambda: (float(np.sum((w - 1.0) ** 2)), [2.0 * (w - 1.0), None]))
    np.testing.assert_allclose(w, 1.0, atol=1e-6)
    assert b[0] == 5.0


@pytest.mark.parametrize(
    ("kwargs", "name", "exc"),
    [
        ({"lr": -1.0}, "lr", ValueError),
        ({"max_iter": 0}, "max_iter", ValueError),
        ({"max_iter": 2.5}, "max_iter", TypeError),
        ({"max_eval": 0}, "max_eval", ValueError),
        ({"tolerance_grad": float("nan")}, "tolerance_grad", ValueError),
        ({"tolerance_change": -1.0}, "tolerance_change", ValueError),
        ({"history_size": 0}, "history_size", ValueError),
        ({"line_search_fn": "armijo"}, "line_search_fn", ValueError),
    ],
)
def test_bad_hyperparameters(kwargs, name, exc):
    with pytest.raises(exc, match=name):
        cg.optim.LBFGS([np.zeros(2)], **kwargs)


def test_bad_params():
    with pytest.raises(TypeError, match="params"):
        cg.optim.LBFGS([np.zeros(2, dtype=np.int64)])
    with pytest.raises(ValueError, match="param group"):
        cg.optim.LBFGS([{"params": [np.zeros(2)]}, {"params": [np.zeros(2)]}])


@pytest.mark.parametrize(
    ("result", "exc", "match"),
    [
        (lambda x: (1.0,), TypeError, "tuple of 2"),
        (lambda x: ("a", [x]), TypeError, "loss"),
        (lambda x: (1.0, [x, x]), ValueError, "grads"),
        (lambda x: (1.0, [np.zeros(3)]), ValueError, r"grads\[0\]"),
        (lambda x: (1.0, x), TypeError, "grads"),
    ],
)
def test_bad_closure_leaves_params_and_state(result, exc, match):
    x = np.array([-1.2, 1.0])
    opt = cg.optim.LBFGS([x], line_search_fn="strong_wolfe")
    _minimize(opt, x, 1)
    before, sd = x.copy(), opt.state_dict()
    calls = []

    def closure():
        calls.append(1)
        if len(calls) < 3:  # fail in the middle of a step, after the params moved
            f, g = rosenbrock(x)
            return f, [g]
        return result(x)

    with pytest.raises(exc, match=match):
        opt.step(closure)
    np.testing.assert_array_equal(x, before)
    assert opt.state[0]["n_iter"] == sd["state"][0]["n_iter"]
    np.testing.assert_array_equal(opt.state[0]["d"], sd["state"][0]["d"])
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)


@pytest.mark.parametrize("ls", LINE_SEARCHES)
def test_callback_once_per_evaluated_iteration(ls):
    x = np.array([-1.2, 1.0])
    opt = cg.optim.LBFGS([x], lr=1.0 if ls else 0.05, max_iter=7, line_search_fn=ls)
    seen = []
    opt.step(lambda: (lambda r: (r[0], [r[1]]))(rosenbrock(x)), callback=seen.append)
    # without a line search the step's last point is not evaluated (torch's behaviour)
    assert len(seen) == opt.state[0]["n_iter"] - (ls is None)
    if ls:
        assert seen[-1] == rosenbrock(x)[0]
