"""Activation layers vs the NumPy reference and torch, both dtypes, edge cases, bad input.

Tolerances: float64 rtol 1e-12/atol 1e-15; float32 rtol 2e-6/atol 4e-7 (one elementwise op, or
the few ops of the logistic; Sigmoid and Tanh derive from the float32 output y, whose rounding near
±1 is up to 6e-8, i.e. 1.2e-7 |dout| absolute on 1 - y², with |dout| up to ~3.5 here), Softmax
float32 rtol 1e-5/atol 1e-6 (a row sum and a cancelling difference in backward). References run in
float64 on the same inputs. Gradients are checked against central differences in
test_gradcheck.py.
"""

import convergent as cg
import numpy as np
import pytest
from convergent.nn import LeakyReLU, PReLU, ReLU, RReLU, Sigmoid, Softmax, Tanh
from convergent.reference import activations as ref
from hypothesis import given, settings
from hypothesis import strategies as st

F32 = {"rtol": 2e-6, "atol": 4e-7}
F64 = {"rtol": 1e-12, "atol": 1e-15}
SOFTMAX_F32 = {"rtol": 1e-5, "atol": 1e-6}
# Softmax's backward y * (g - sum(g * y)) cancels: absolute error ~ features * eps * max|g|.
SOFTMAX_F64 = {"rtol": 1e-12, "atol": 1e-13}
SHAPES = [(1, 1), (1, 33), (5, 7), (17, 16), (2, 3, 5)]


def _tol(dtype, softmax=False):
    if dtype == np.float64:
        return SOFTMAX_F64 if softmax else F64
    return SOFTMAX_F32 if softmax else F32


def _cases(dtype):
    """(layer, reference forward(x), reference backward(x, dout) -> dx, dparams)."""
    w = np.array([0.3], dtype=dtype)
    mid = (1 / 8 + 1 / 3) / 2
    return [
        (ReLU(), ref.relu_forward, lambda x, g: (ref.relu_backward(x, g), [])),
        (
            LeakyReLU(0.2),
            lambda x: ref.leaky_relu_forward(x, 0.2),
            lambda x, g: (ref.leaky_relu_backward(x, 0.2, g), []),
        ),
        (
            PReLU(1, init=0.3, dtype=dtype),
            lambda x: ref.prelu_forward(x, w),
            lambda x, g: (lambda r: (r[0], [r[1]]))(ref.prelu_backward(x, w, g)),
        ),
        (
            RReLU(),
            lambda x: ref.rrelu_forward(x, mid),
            lambda x, g: (ref.rrelu_backward(x, mid, g), []),
        ),
        (Sigmoid(), ref.sigmoid_forward, lambda x, g: (ref.sigmoid_backward(x, g), [])),
        (Tanh(), ref.tanh_forward, lambda x, g: (ref.tanh_backward(x, g), [])),
        (Softmax(), ref.softmax_forward, lambda x, g: (ref.softmax_backward(x, g), [])),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [False, True])
def test_matches_reference(dtype, shape, training):
    rng = np.random.default_rng(sum(shape))
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x0, g0 = x.copy(), g.copy()
    for layer, fwd, bwd in _cases(dtype):
        if training and isinstance(layer, RReLU):
            continue  # random slopes: test_rrelu_training
        tol = _tol(dtype, isinstance(layer, Softmax))
        y = layer.forward(x, training=training)
        dx = layer.backward(g)
        assert y.dtype == dtype and dx.dtype == dtype and y.shape == shape == dx.shape
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        np.testing.assert_allclose(y, fwd(x64), **tol, err_msg=repr(layer))
        rdx, rdp = bwd(x64, g64)
        np.testing.assert_allclose(dx, rdx, **tol, err_msg=repr(layer))
        for grad, rgrad in zip(layer.gradients(), rdp):
            assert grad.dtype == dtype
            np.testing.assert_allclose(grad, rgrad, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)
        assert np.array_equal(x, x0) and np.array_equal(g, g0)


def _torch_fn(torch, layer, tw):
    F = torch.nn.functional
    return {
        ReLU: F.relu,
        LeakyReLU: lambda t: F.leaky_relu(t, 0.2),
        PReLU: lambda t: F.prelu(t, tw),
        RReLU: lambda t: F.rrelu(t, training=False),
        Sigmoid: torch.sigmoid,
        Tanh: torch.tanh,
        Softmax: lambda t: torch.softmax(t, dim=-1),
    }[type(layer)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2)])
def test_against_torch(dtype, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    x.reshape(-1)[:3] = 0.0  # the kink, where conventions differ
    g = rng.standard_normal(shape).astype(dtype)
    layers = [
        ReLU(),
        LeakyReLU(0.2),
        PReLU(4, init=0.1, dtype=dtype),
        RReLU(),
        Sigmoid(),
        Tanh(),
        Softmax(),
    ]
    layers[2].weight[...] = [0.1, -0.2, 0.3, 0.05]
    for layer in layers:
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(layers[2].weight.copy(), requires_grad=True)
        ty = _torch_fn(torch, layer, tw)(tx)
        ty.backward(torch.tensor(g))
        y = layer.forward(x)
        dx = layer.backward(g)
        tol = _tol(dtype, isinstance(layer, Softmax))
        np.testing.assert_allclose(y, ty.detach().numpy(), **tol, err_msg=repr(layer))
        np.testing.assert_allclose(dx, tx.grad.numpy(), **tol, err_msg=repr(layer))
        if isinstance(layer, PReLU):
            np.testing.assert_allclose(layer.gradients()[0], tw.grad.numpy(), rtol=1e-5)


def test_kink_conventions():
    x = np.zeros((1, 3))
    g = np.ones((1, 3))
    for layer, expected in [(ReLU(), 0.0), (LeakyReLU(0.1), 0.1), (PReLU(dtype=np.float64), 0.25)]:
        layer.forward(x)
        np.testing.assert_array_equal(layer.backward(g), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs(dtype):
    big = np.array([[-1e30, -1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, 1e30]], dtype=dtype)
    y = Sigmoid().forward(big)
    assert np.all(np.isfinite(y))
    assert y[0, 0] == 0 and y[0, -1] == 1 and y[0, 4] == 0.5
    # the negative tail keeps its relative accuracy: sigmoid(-30) = exp(-30) / (1 + exp(-30))
    np.testing.assert_allclose(y[0, 3], np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-6)
    if dtype == np.float64:
        np.testing.assert_allclose(y[0, 2], np.exp(-100.0), rtol=1e-12)
    t = Tanh().forward(big)
    assert np.array_equal(t[0, [0, 1, -2, -1]], [-1, -1, 1, 1])
    s = Softmax()
    p = s.forward(big)
    assert np.all(np.isfinite(p)) and p[0, -1] == 1 and p.sum() == 1
    assert np.all(np.isfinite(s.backward(np.ones_like(big))))
    rows = np.array([[1e30, 1e30, -1e30], [-5e3, -5e3, -5e3]], dtype=dtype)
    np.testing.assert_allclose(Softmax().forward(rows), [[0.5, 0.5, 0], [1 / 3] * 3], rtol=1e-6)


def test_softmax_float64_formula():
    # independent formulation: log-softmax through logaddexp, gradient by the explicit Jacobian
    rng = np.random.default_rng(3)
    x = 5 * rng.standard_normal((4, 6))
    y = Softmax().forward(x)
    logp = x - np.logaddexp.reduce(x, axis=1)[:, None]
    np.testing.assert_allclose(np.log(y), logp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-15)


def test_prelu_per_channel_and_gradient_overwrite():
    rng = np.random.default_rng(0)
    layer = PReLU(3, init=0.5, dtype=np.float64)
    w_obj, g_obj = layer.parameters()[0], layer.gradients()[0]
    layer.weight[...] = [0.1, 0.2, 0.3]
    x = rng.standard_normal((8, 3, 2))
    g = rng.standard_normal((8, 3, 2))
    layer.forward(x, training=True)
    layer.backward(g)
    first = g_obj.copy()
    layer.backward(g)
    assert np.array_equal(g_obj, first)  # overwritten, not accumulated
    expected = np.array([np.sum(np.minimum(x[:, c], 0) * g[:, c]) for c in range(3)])
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    assert layer.parameters()[0] is w_obj and layer.gradients()[0] is g_obj
    layer.reset_parameters(np.random.default_rng(1))
    assert np.all(layer.weight == 0.5) and layer.weight is w_obj
    assert list(layer.named_parameters()) == ["weight"]


def test_rrelu_training():
    lower, upper = 0.1, 0.4
    x = -np.abs(np.random.default_rng(0).standard_normal((200, 100))) - 0.01
    x[:, 0] = 1.0
    layer = RReLU(lower, upper)
    layer.set_rng(np.random.default_rng(5))
    y = layer.forward(x, training=True)
    slopes = (y / x)[:, 1:]
    assert np.all(y[:, 0] == 1.0)
    assert slopes.min() >= lower and slopes.max() <= upper
    assert slopes.mean() == pytest.approx((lower + upper) / 2, abs=0.002)
    assert slopes.std() == pytest.approx((upper - lower) / np.sqrt(12), rel=0.02)
    g = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(g), ref.rrelu_backward(x, y / x, g), rtol=1e-12)
    # seeded: the same generator state gives the same slopes; the next batch differs
    other = RReLU(lower, upper)
    other.set_rng(np.random.default_rng(5))
    assert np.array_equal(other.forward(x, training=True).copy(), y)
    assert not np.array_equal(other.forward(x, training=True), y)
    # eval: the mean slope, deterministic
    e = layer.forward(x, training=False)
    np.testing.assert_allclose(e, ref.leaky_relu_forward(x, (lower + upper) / 2), rtol=1e-15)
    # float32 draws
    y32 = layer.forward(x.astype(np.float32), training=True)
    assert y32.dtype == np.float32


def test_buffers_reused_only_in_training():
    x = np.random.default_rng(0).standard_normal((4, 5))
    for layer in [ReLU(), Sigmoid(), Softmax(), PReLU(dtype=np.float64)]:
        a = layer.forward(x, training=True)
        b = layer.forward(x + 1, training=True)
        assert a is b  # layer-owned buffer, overwritten
        c = layer.forward(x, training=False)
        d = layer.forward(x, training=False)
        assert c is not d and c is not a and np.array_equal(c, d)
        e = layer.forward(x[:2], training=True)
        assert e.shape == (2, 5)


def test_config_roundtrip_and_repr():
    for layer in [
        ReLU(),
        LeakyReLU(0.3),
        PReLU(4, init=0.1, dtype=np.float64),
        RReLU(0.2, 0.25),
        Sigmoid(),
        Tanh(),
        Softmax(),
    ]:
        clone = type(layer)(**layer.get_config())
        assert clone.get_config() == layer.get_config()
        assert repr(clone) == repr(layer)
    assert repr(LeakyReLU(0.3)) == "LeakyReLU(negative_slope=0.3)"
    assert PReLU(dtype=np.float64).weight.dtype == np.float64
    assert cg.nn.RReLU is RReLU


def test_bad_inputs():
    for layer in [ReLU(), LeakyReLU(), RReLU(), Sigmoid(), Tanh(), Softmax()]:
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((2, 2)))
        with pytest.raises(TypeError, match="x must be a NumPy array"):
            layer.forward([[1.0, 2.0]])
        with pytest.raises(TypeError, match="x must be float32 or float64"):
            layer.forward(np.ones((2, 2), dtype=np.int64))
        layer.forward(np.ones((2, 2)))
        with pytest.raises(ValueError, match="dout must have the shape"):
            layer.backward(np.ones((2, 3)))
        with pytest.raises(TypeError, match="dout must be float64"):
            layer.backward(np.ones((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="x must have a non-empty last axis"):
        Softmax().forward(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="x must have 3 channels"):
        PReLU(3).forward(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="x must be float32 like the layer"):
        PReLU().forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="num_parameters"):
        PReLU(0)
    with pytest.raises(TypeError, match="num_parameters"):
        PReLU(2.0)
    with pytest.raises(TypeError, match="dtype"):
        PReLU(dtype=np.int32)
    with pytest.raises(TypeError, match="negative_slope"):
        LeakyReLU("0.1")
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(float("nan"))
    with pytest.raises(ValueError, match="lower must be <= upper"):
        RReLU(0.5, 0.1)
    with pytest.raises(TypeError, match="rng"):
        RReLU().set_rng(3)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 9),
    features=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
    training=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_reference(batch, features, dtype, training, seed):
    rng = np.random.default_rng(seed)
    x = (4 * rng.standard_normal((batch, features))).astype(dtype)
    g = rng.standard_normal((batch, features)).astype(dtype)
    for layer, fwd, bwd in _cases(dtype):
        if training and isinstance(layer, RReLU):
            continue
        tol = _tol(dtype, isinstance(layer, Softmax))
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        np.testing.assert_allclose(layer.forward(x, training), fwd(x64), **tol)
        np.testing.assert_allclose(layer.backward(g), bwd(x64, g64)[0], **tol)


def test_bad_input_leaves_state_untouched():
    x = np.random.default_rng(0).standard_normal((3, 4))
    g = np.ones((3, 4))
    layer = PReLU(4, dtype=np.float64)
    layer.forward(x, training=True)
    dx = layer.backward(g).copy()
    grad = layer.gradients()[0].copy()
    weight = layer.weight.copy()
    with pytest.raises(ValueError):
        layer.forward(np.zeros((2, 5)), training=True)
    with pytest.raises(ValueError):
        layer.backward(np.ones((2, 4)))
    assert np.array_equal(layer.weight, weight) and np.array_equal(layer.gradients()[0], grad)
    np.testing.assert_array_equal(layer.backward(g), dx)  # still the gradient of the last x
