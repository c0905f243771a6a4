"""cg.nn.Dense vs the NumPy reference (forward, backward, penalties), every ISA, 1 vs 2 threads.

Tolerances: the reference is evaluated in float64 from the layer's own (exact) inputs and saved
output; a result that is a K-term dot product gets ``2 * (K + 4) * eps * S`` with ``S`` the same
product over absolute values (Higham's summation bound with room for the elementwise steps),
eps the layer dtype's machine epsilon; elementwise results get ``8 * eps * |value|``.
"""

from __future__ import annotations

import json

import convergent as cg
import numpy as np
import pytest
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
ACTS = [None, "linear", "relu", "leaky_relu", "sigmoid", "tanh"]
REG = dict(weight_l1=0.01, weight_l2=0.02, activity_l1=0.03, activity_l2=0.04)


def _close(got, want, scale, k, dt):
    eps = np.finfo(dt).eps
    tol = 2 * (k + 4) * eps * scale + 8 * eps * np.abs(want) + np.finfo(dt).tiny
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= tol), float((err - tol).max())


def _layer(n_in, n_out, act, dt, bias=True, **kw):
    layer = cg.nn.Dense(n_in, n_out, act, bias=bias, dtype=dt, seed=3, **kw)
    if bias:  # non-zero biases, so the test sees them
        layer.bias[...] = np.random.default_rng(4).standard_normal(n_out)
    return layer


def _run(layer, x, dout):
    """Forward + backward, checked against the float64 reference."""
    dt = layer.dtype
    w = layer.weight.astype(np.float64)
    b = None if layer.bias is None else layer.bias.astype(np.float64)
    x64 = x.astype(np.float64)
    y = layer.forward(x, training=True)
    want_y = ref.dense_forward(x64, w, b, layer.activation, layer.negative_slope)
    s = np.abs(x64) @ np.abs(w) + (0 if b is None else np.abs(b))
    _close(y, want_y, s, x.shape[1], dt)
    # Backward from the layer's own output, so that only the backward's rounding is measured.
    y64 = y.astype(np.float64)
    reg = {k: getattr(layer, k) for k in REG}
    dx = layer.backward(dout)
    dw, db, dxr = ref.dense_backward(
        x64, w, y64, dout.astype(np.float64), layer.activation, layer.negative_slope, **reg
    )
    g_abs = np.abs(
        ref.dense_backward(x64, w, y64, np.abs(dout.astype(np.float64)) + 1, "linear", **reg)[0]
    )
    dyp = ref.activation_grad(np.abs(dout.astype(np.float64)) + 1, y64, "linear")
    _close(layer.gradients()[0], dw, g_abs + np.abs(x64).T @ dyp, x.shape[0], dt)
    if layer.bias is not None:
        _close(layer.gradients()[1], db, dyp.sum(axis=0), x.shape[0], dt)
    _close(dx, dxr, dyp @ np.abs(w).T, w.shape[1], dt)
    pen = ref.dense_penalty(w, y64, **reg)
    assert layer.penalty() == pytest.approx(pen, rel=1e-12 if dt == np.float64 else 1e-6)
    # The weight part, as summed by the backward's penalty pass (float64 sums of the exact
    # weights: only summation order differs from the reference).
    want_w = ref.dense_penalty(w, y64, weight_l1=reg["weight_l1"], weight_l2=reg["weight_l2"])
    assert layer.backward_weight_penalty == pytest.approx(want_w, rel=1e-12, abs=0.0)
    return y, dx


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_forward_backward_vs_reference(isa, dt, act):
    rng = np.random.default_rng(0)
    shapes = [(1, 1, 1), (7, 5, 17), (33, 33, 3), (130, 100, 40), (3, 300, 35)]
    for i, (batch, n_in, n_out) in enumerate(shapes):
        kw = REG if i % 2 else {}
        layer = _layer(n_in, n_out, act, dt, bias=i != 3, negative_slope=0.2, **kw)
        x = rng.standard_normal((batch, n_in)).astype(dt)
        dout = rng.standard_normal((batch, n_out)).astype(dt)
        _run(layer, x, dout)


@pytest.mark.parametrize("dt", DTYPES)
def test_need_input_grad_false_and_buffer_reuse(dt):
    rng = np.random.default_rng(1)
    layer = _layer(20, 9, "relu", dt)
    x = rng.standard_normal((16, 20)).astype(dt)
    dout = rng.standard_normal((16, 9)).astype(dt)
    y1 = layer.forward(x, training=True)
    dx1 = layer.backward(dout)
    g1 = [g.copy() for g in layer.gradients()]
    dx1c = dx1.copy()
    y2 = layer.forward(x, training=True)
    assert y2 is y1  # same buffer for the same batch size
    assert layer.backward(dout, need_input_grad=False) is None
    for g, h in zip(layer.gradients(), g1):
        assert np.array_equal(g, h)
    assert layer.backward(dout) is dx1 and np.array_equal(dx1, dx1c)
    y3 = layer.forward(x, training=False)  # inference: a fresh array
    assert y3 is not y1 and np.array_equal(y3, y1)


@pytest.mark.parametrize("dt", DTYPES)
def test_threads_bit_identical(isa, dt):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((256, 300)).astype(dt)
    dout = rng.standard_normal((256, 200)).astype(dt)
    old = cg.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            cg.set_num_threads(t)
            layer = _layer(300, 200, "tanh", dt, **REG)
            y = layer.forward(x, training=True).copy()
            dx = layer.backward(dout).copy()
            pen = np.array(layer.backward_weight_penalty)
            results.append([y, dx, pen] + [g.copy() for g in layer.gradients()])
    finally:
        cg.set_num_threads(old)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_gradient_matches_finite_differences():
    """The reference formulas (and so the layer) are the derivative of loss + penalty."""
    rng = np.random.default_rng(3)
    for act in ["relu", "leaky_relu", "sigmoid", "tanh"]:
        layer = _layer(4, 3, act, np.float64, negative_slope=0.1, **REG)
        x = rng.standard_normal((5, 4))
        r = rng.standard_normal((5, 3))

        def loss(layer=layer, x=x, r=r):
            return float((layer.forward(x) * r).sum()) + layer.penalty()

        layer.forward(x, training=True)
        layer.backward(r)
        for p, g in zip(layer.parameters(), layer.gradients()):
            num = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                old = p[i]
                p[i] = old + 1e-6
                up = loss()
                p[i] = old - 1e-6
                num[i] = (up - loss()) / 2e-6
                p[i] = old
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6, err_msg=act)


def test_bad_input_raises_and_changes_nothing():
    rng = np.random.default_rng(5)
    layer = _layer(6, 4, "relu", np.float32)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    layer.forward(x, training=True)
    layer.backward(np.ones((3, 4), np.float32))
    before = [p.copy() for p in layer.parameters() + layer.gradients()]
    with pytest.raises(TypeError, match="x has dtype float64"):
        layer.forward(x.astype(np.float64))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        layer.forward(x.tolist())
    with pytest.raises(ValueError, match="x has shape"):
        layer.forward(x[:, :5].copy())
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        layer.forward(np.asfortranarray(x))
    with pytest.raises(ValueError, match="dout has shape"):
        layer.backward(np.ones((3, 5), np.float32))
    with pytest.raises(TypeError, match="dout has dtype"):
        layer.backward(np.ones((3, 4), np.float64))
    for p, b in zip(layer.parameters() + layer.gradients(), before):
        assert np.array_equal(p, b)
    with pytest.raises(RuntimeError, match="before forward"):
        _layer(2, 2, None, np.float32).backward(np.ones((1, 2), np.float32))
    for kwargs, exc in [
        (dict(in_features=0, out_features=2), ValueError),
        (dict(in_features=2.0, out_features=2), TypeError),
        (dict(in_features=2, out_features=2, activation="gelu"), ValueError),
        (dict(in_features=2, out_features=2, dtype=np.int32), TypeError),
        (dict(in_features=2, out_features=2, weight_l2=-1.0), ValueError),
        (dict(in_features=2, out_features=2, activity_l1=np.nan), ValueError),
        (dict(in_features=2, out_features=2, negative_slope=-0.1), ValueError),
    ]:
        with pytest.raises(exc):
            cg.nn.Dense(**kwargs)


def test_config_seed_and_reset():
    layer = cg.nn.Dense(5, 3, "tanh", weight_l2=0.1, dtype=np.float64, seed=7)
    cfg = layer.get_config()
    again = cg.nn.Dense(**json.loads(json.dumps(cfg)))
    assert np.array_equal(again.weight, layer.weight) and again.dtype == np.float64
    w0 = layer.weight
    layer.reset_parameters(np.random.default_rng(8))
    assert layer.weight is w0 and not np.array_equal(w0, again.weight)
    assert np.all(layer.bias == 0)
    bound = np.sqrt(6.0 / (5 + 3))  # glorot_uniform
    assert np.all(np.abs(layer.weight) <= bound)
    assert cg.nn.Dense(5, 3, bias=False).parameters()[0].shape == (5, 3)
    assert len(cg.nn.Dense(5, 3, bias=False).gradients()) == 1


def test_activity_penalty_follows_the_current_coefficients():
    rng = np.random.default_rng(7)
    layer = _layer(5, 4, "relu", np.float64, activity_l1=0.5, activity_l2=0.25)
    x = rng.standard_normal((8, 5))
    layer.forward(x, training=True)
    assert layer.penalty() > 0
    layer.activity_l1 = layer.activity_l2 = 0.0
    layer.forward(x, training=True)
    assert layer.penalty() == 0.0  # no weight penalty, and the activity term is gone
