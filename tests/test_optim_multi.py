"""MultiOptimizer: several optimizers on disjoint parameters, stepped and saved as one."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest


def _params(rng, dtype=np.float64):
    return [rng.standard_normal(s).astype(dtype) for s in ((5, 3), (3,), (3, 2), (2,))]


def _pair(ps):
    return cg.optim.MultiOptimizer(
        [cg.optim.SGD([ps[0], ps[2]], lr=0.1, momentum=0.9), cg.optim.Adam([ps[1], ps[3]], lr=0.01)]
    )


def test_steps_equal_the_optimizers_stepped_apart(rng):
    a = _params(rng)
    b = [p.copy() for p in a]
    multi = _pair(a)
    sgd = cg.optim.SGD([b[0], b[2]], lr=0.1, momentum=0.9)
    adam = cg.optim.Adam([b[1], b[3]], lr=0.01)
    for _ in range(10):
        g = [rng.standard_normal(p.shape) for p in a]
        multi.step([g[0], g[2], g[1], g[3]])
        sgd.step([g[0], g[2]])
        adam.step([g[1], g[3]])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert len(multi.param_groups) == 2
    multi.param_groups[1]["lr"] = 0.5
    assert adam.param_groups[0]["lr"] == 0.01 and multi.optimizers[1].param_groups[0]["lr"] == 0.5


def test_bad_input_changes_nothing(rng):
    ps = _params(rng)
    multi = _pair(ps)
    order = [ps[0], ps[2], ps[1], ps[3]]
    multi.step([np.ones_like(p) for p in order])
    before = [p.copy() for p in ps]
    sd = multi.state_dict()
    good = [np.ones_like(p) for p in order]
    with pytest.raises(ValueError, match="grads has 3 items"):
        multi.step(good[:3])
    with pytest.raises(TypeError, match=r"grads\[3\] has dtype float32"):
        multi.step(good[:3] + [good[3].astype(np.float32)])
    with pytest.raises(ValueError, match=r"grads\[2\] has shape"):
        multi.step(good[:2] + [np.ones(4)] + good[3:])
    multi.param_groups[1]["lr"] = -1.0  # the second optimizer's group: the first must not step
    with pytest.raises(ValueError, match="lr"):
        multi.step(good)
    for p, q in zip(ps, before):
        np.testing.assert_array_equal(p, q)
    after = multi.state_dict()
    for i, st in sd["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(after["state"][i][k], v)


def test_state_dict_resume_is_bit_exact(rng):
    ps = _params(rng)
    order = lambda q: [q[0], q[2], q[1], q[3]]  # noqa: E731
    grads = [[rng.standard_normal(p.shape) for p in order(ps)] for _ in range(8)]
    full = _pair(ps)
    half = [p.copy() for p in ps]
    for g in grads:
        full.step(g)
    first = _pair(half)
    for g in grads[:4]:
        first.step(g)
    sd = first.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    resumed = _pair(half)
    resumed.load_state_dict(sd)
    for g in grads[4:]:
        resumed.step(g)
    for x, y in zip(ps, half):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="param groups"):
        resumed.load_state_dict({"state": {}, "param_groups": sd["param_groups"][:1]})


def test_constructor_rejects_bad_input(rng):
    ps = _params(rng)
    with pytest.raises(TypeError, match="list of convergent optimizers"):
        cg.optim.MultiOptimizer(cg.optim.SGD([ps[0]]))
    with pytest.raises(ValueError, match="must not be empty"):
        cg.optim.MultiOptimizer([])
    with pytest.raises(TypeError, match=r"optimizers\[1\]"):
        cg.optim.MultiOptimizer([cg.optim.SGD([ps[0]]), object()])
    with pytest.raises(ValueError, match="shares a parameter"):
        cg.optim.MultiOptimizer([cg.optim.SGD([ps[0]]), cg.optim.Adam([ps[0]])])


def _mlp():
    return cg.nn.Sequential(
        [cg.nn.Dense(4, 8, "relu", dtype=np.float64), cg.nn.Dense(8, 2, dtype=np.float64)], seed=0
    )


def _split(ps):
    ws, bs = [p for p in ps if p.ndim == 2], [p for p in ps if p.ndim == 1]
    return cg.optim.Adam(ws, lr=0.05), cg.optim.SGD(bs, lr=0.05, momentum=0.5)


def test_fit_drives_it_in_the_models_order(rng):
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    model = _mlp()
    ps = model.parameters()
    opt = cg.optim.MultiOptimizer(list(_split(ps)), params=ps)
    loss = cg.nn.SoftmaxCrossEntropy()
    cg.fit(model, loss, opt, X, y, epochs=3, batch_size=64, shuffle=False, progress=False)
    # The same full-batch steps by hand, each optimizer on its own parameters.
    ref = _mlp()
    adam, sgd = _split(ref.parameters())
    for _ in range(3):
        loss.forward(ref.forward(X, training=True), y)
        ref.backward(loss.backward())
        gs = ref.gradients()
        adam.step([g for g in gs if g.ndim == 2])
        sgd.step([g for g in gs if g.ndim == 1])
    for a, b in zip(ps, ref.parameters()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="exactly once"):
        cg.optim.MultiOptimizer([_split(ps)[0]], params=ps)
