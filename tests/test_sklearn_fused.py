"""The fused loop's per-step Adam epsilon (``_core.train_steps(..., epss=...)``), which the
estimators' scikit-learn Adam uses: the same bits as the Python loop setting the group's eps
before each step, on every ISA and thread count; bad epss rejected before anything changes."""

from __future__ import annotations

import warnings

import convergent as cg
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimators need scikit-learn (the test extra)")

from convergent import _core, _fused, optim  # noqa: E402
from convergent.sklearn._sk_solvers import adam_eps, adam_epss  # noqa: E402


@pytest.fixture
def count_calls(monkeypatch):
    calls = [0]
    raw = _core.train_steps

    def wrapped(*args, **kwargs):
        calls[0] += 1
        return raw(*args, **kwargs)

    monkeypatch.setattr(_core, "train_steps", wrapped)
    return calls


def _fit(dt, shuffle=True, **kw):
    from convergent.sklearn import MLPClassifier

    rng = np.random.default_rng(5)
    X = rng.standard_normal((250, 11)).astype(dt)
    y = rng.integers(0, 4, 250)
    est = MLPClassifier(hidden_layer_sizes=(12, 9), batch_size=32, max_iter=3, random_state=0,
                        dtype=dt, shuffle=shuffle, alpha=1e-3, **kw)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _same(a, b):
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(u, v)
    assert a.loss_curve_ == b.loss_curve_
    assert a._n_updates == b._n_updates == 3 * 8
    sa, sb = a._optimizer.state_dict(), b._optimizer.state_dict()
    assert sa["param_groups"][0]["eps"] == sb["param_groups"][0]["eps"]
    for i in sa["state"]:
        for k, u in sa["state"][i].items():
            v = sb["state"][i][k]
            assert np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v, (i, k)


def _python_loop_only(monkeypatch):
    monkeypatch.setattr(_fused.FusedLoop, "plan", classmethod(lambda cls, *a, **k: None))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sklearn_adam_fused_is_the_python_loop(monkeypatch, count_calls, dt, shuffle):
    fused = _fit(dt, shuffle)
    assert count_calls[0] == 6  # per epoch: the full batches, then the partial one
    assert fused._optimizer.param_groups[0]["eps"] == adam_eps(1e-8, 0.999, 24)
    _python_loop_only(monkeypatch)
    _same(fused, _fit(dt, shuffle))


def test_sklearn_adam_fused_every_isa_and_thread_count(monkeypatch, isa, threads):
    runs = []
    for t in (1, 2):
        threads(t)
        runs.append(_fit(np.float32, beta_2=0.9, epsilon=1e-4))
    _python_loop_only(monkeypatch)
    runs.append(_fit(np.float32, beta_2=0.9, epsilon=1e-4))
    _same(runs[0], runs[1])
    _same(runs[0], runs[2])


def _adam_net():
    model = cg.nn.Sequential(
        [cg.nn.Dense(6, 5, "relu", dtype=np.float64), cg.nn.Dense(5, 3, dtype=np.float64)], seed=3
    )
    loss = cg.nn.SoftmaxCrossEntropy()
    return model, loss, optim.Adam(model.parameters(), lr=0.1, betas=(0.9, 0.5), eps=1e-8)


def _python_step(model, loss, opt, X, y, eps):
    opt.param_groups[0]["eps"] = eps
    loss.forward(model.forward(X, training=True), y)
    model.backward(loss.backward(), need_input_grad=False)
    opt.step(model.gradients())


def test_train_steps_epss_is_the_eps_of_each_step():
    """Steps with epss (e1, e2) in one fused call are the Python Adam's steps with eps e1, e2."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((32, 6))
    y = rng.integers(0, 3, 32)
    epss = adam_epss(0.3, 0.5, 0, 3)
    assert epss[0] == 0.3 / np.sqrt(0.5) and epss[2] == 0.3 / np.sqrt(1 - 0.5**3)
    a, b = _adam_net(), _adam_net()
    for net in (a, b):  # the first step (no optimizer state yet) is Python's in both
        _python_step(*net, X[:16], y[:16], float(epss[0]))
    _python_step(*a, X[:16], y[:16], float(epss[1]))
    _python_step(*a, X[16:], y[16:], float(epss[2]))
    plan = _fused.FusedLoop.plan(*b, X, y, 16, False, True)
    out = plan.run(None, 0, 2, epss=epss[1:])
    assert out is not None and out[2].all()
    for u, v in zip(a[0].parameters(), b[0].parameters()):
        assert np.array_equal(u, v)
    for i, st in a[2].state.items():
        for k, u in st.items():
            v = b[2].state[i][k]
            assert np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v, (i, k)
    assert a[2].param_groups[0]["eps"] == b[2].param_groups[0]["eps"] == epss[2]
    c = _adam_net()  # a different eps gives different bits: the array is really used
    _python_step(*c, X[:16], y[:16], float(epss[0]))
    plan = _fused.FusedLoop.plan(*c, X, y, 16, False, True)
    plan.run(None, 0, 2, epss=np.array([1e-8, 1e-8]))
    assert not np.array_equal(c[0].parameters()[0], b[0].parameters()[0])


def test_train_steps_bad_epss_changes_nothing():
    model, loss, opt = _adam_net()
    rng = np.random.default_rng(2)
    X = rng.standard_normal((32, 6))
    y = rng.integers(0, 3, 32)
    _python_step(model, loss, opt, X[:16], y[:16], 1e-8)
    plan = _fused.FusedLoop.plan(model, loss, opt, X, y, 16, False, True)
    captured = {}

    def capture(*args, **kwargs):
        captured["args"], captured["kwargs"] = args, kwargs
        return raw(*args, **kwargs)

    raw = _core.train_steps
    _fused._core.train_steps = capture
    try:
        plan.run(None, 0, 1, epss=np.array([1e-8]))
    finally:
        _fused._core.train_steps = raw
    args = list(captured["args"])
    args[16] = 2  # count
    bad = [
        (np.full(3, 1e-8), ValueError),  # one per step: count is 2
        (np.array([1e-8, np.nan]), ValueError),
        (np.array([1e-8, -1e-8]), ValueError),
        (np.array([1e-8, np.inf]), ValueError),
        (np.array([1e-8, 1e-8], np.float32), TypeError),
        ([1e-8, 1e-8], TypeError),
        (np.array([[1e-8, 1e-8]]), ValueError),
    ]
    params = model.parameters()
    states = [{k: v.copy() for k, v in st.items() if isinstance(v, np.ndarray)}
              for st in opt.state.values()]  # fmt: skip
    for epss, exc in bad:
        before = [p.copy() for p in params]
        with pytest.raises(exc, match="epss"):
            _core.train_steps(*args, epss=epss)
        for p, q in zip(params, before):
            assert np.array_equal(p, q), epss
    for st, old in zip(opt.state.values(), states):
        for k, v in old.items():
            assert np.array_equal(st[k], v)
    # epss is Adam's: another optimizer rejects it
    sgd_args = list(args)
    sgd_args[11], sgd_args[12] = "sgd", (0.1, 0.0, 0.0, 0.0, False, False)
    sgd_args[13] = [None, None, None]
    with pytest.raises(ValueError, match="epss"):
        _core.train_steps(*sgd_args, epss=np.array([1e-8, 1e-8]))
