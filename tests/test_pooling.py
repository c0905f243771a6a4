"""Pooling, GlobalAvgPool2D, Flatten, UpSampling2D, GaussianNoise, BatchNorm on NHWC images,
Dense on (..., in_features) and Residual with a shortcut: against the NumPy reference, every
ISA, 1 vs 2 threads, gradcheck and bad input.

Max pooling is exact (a selection); average pooling sums at most kh*kw terms in the reference's
order and divides once, so it is exact as well; the backward passes add at most kh*kw terms per
element in a different order: float32 gets 8 * eps * (sum of the absolute terms).
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
POOLS = [  # (n, h, w, c, pool_size, stride, padding)
    (2, 6, 6, 3, 2, None, 0),
    (2, 7, 5, 5, 3, 2, 1),
    (1, 9, 8, 33, (3, 2), (2, 1), (1, 1)),
    (3, 4, 4, 2, 2, 1, 1),
    (1, 5, 5, 1, 5, None, 0),
    (2, 8, 7, 4, 2, 3, 1),  # stride > pool: gaps
]


def _pool_data(case, dt, seed=0):
    n, h, w, c, k, s, p = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dt)
    return x, rng, (k, s, p)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOLS)
def test_maxpool_matches_reference(isa, case, dtype):
    x, rng, (k, s, p) = _pool_data(case, dtype)
    x[0, 0, 0, 0] = x[0, 0, 1, 0] = 5.0  # a tie: the first element wins
    layer = cg.nn.MaxPool2D(k, s, p)
    y = layer.forward(x, training=True)
    want, arg = ref.maxpool2d_forward(x, _pair(k), s and _pair(s), _pair(p))
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(layer._argmax, arg)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    want_dx = ref.maxpool2d_backward(dout.astype(np.float64), arg, x.shape)
    scale = ref.maxpool2d_backward(np.abs(dout.astype(np.float64)), arg, x.shape)
    assert np.all(np.abs(dx - want_dx) <= 8 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOLS)
def test_avgpool_matches_reference(isa, case, dtype):
    x, rng, (k, s, p) = _pool_data(case, dtype)
    layer = cg.nn.AvgPool2D(k, s, p)
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, ref.avgpool2d_forward(x, _pair(k), s and _pair(s), _pair(p)))
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    args = (x.shape, _pair(k), s and _pair(s), _pair(p))
    want = ref.avgpool2d_backward(dout.astype(np.float64), *args)
    scale = ref.avgpool2d_backward(np.abs(dout.astype(np.float64)), *args)
    assert np.all(np.abs(dx - want) <= 8 * np.finfo(dtype).eps * scale)


def test_maxpool_nan_propagates_and_all_inf_window():
    x = np.zeros((1, 2, 2, 2))
    x[0, 0, 1, 0] = np.nan
    x[..., 1] = -np.inf
    layer = cg.nn.MaxPool2D(2)
    y = layer.forward(x)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == -np.inf
    assert layer._argmax[0, 0, 0].tolist() == [1, 0]


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("cls", [cg.nn.MaxPool2D, cg.nn.AvgPool2D])
def test_pool_one_vs_two_threads_same_bits(threads, cls):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 20, 20, 16)).astype(np.float32)
    dout = rng.standard_normal((8, 10, 10, 16)).astype(np.float32)
    out = []
    for t in (1, 2):
        threads(t)
        layer = cls(3, 2, 1)
        out.append((layer.forward(x).tobytes(), layer.backward(dout).tobytes()))
    assert out[0] == out[1]


@pytest.mark.parametrize(
    "layer",
    [lambda: cg.nn.MaxPool2D(2), lambda: cg.nn.MaxPool2D(3, 2, 1), lambda: cg.nn.AvgPool2D(2, 1),
     lambda: cg.nn.AvgPool2D(3, 2, 1), lambda: cg.nn.GlobalAvgPool2D(),
     lambda: cg.nn.UpSampling2D(2), lambda: cg.nn.UpSampling2D((1, 3))],
)  # fmt: skip
def test_gradcheck(layer):
    rng = np.random.default_rng(3)
    x = rng.permutation(5 * 7 * 3 * 2).reshape(2, 5, 7, 3) / 10.0  # distinct: no max ties
    model = cg.nn.Sequential([layer(), cg.nn.Flatten()], seed=None)
    target = rng.standard_normal(model.forward(x).shape)
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, target)
    assert report.passed, str(report)


def test_global_avgpool_flatten_upsampling_reference():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    gap, flat, up = cg.nn.GlobalAvgPool2D(), cg.nn.Flatten(), cg.nn.UpSampling2D((2, 3))
    np.testing.assert_allclose(gap.forward(x), ref.global_avgpool2d_forward(x), rtol=1e-15)
    d = np.ones((2, 5))
    np.testing.assert_allclose(gap.backward(d), ref.global_avgpool2d_backward(d, x.shape))
    assert flat.forward(x).shape == (2, 60) and flat.backward(np.ones((2, 60))).shape == x.shape
    np.testing.assert_array_equal(flat.forward(x)[0, :5], x[0, 0, 0])  # channels fastest
    y = up.forward(x)
    np.testing.assert_array_equal(y, ref.upsample_nearest_forward(x, (2, 3)))
    g = np.random.default_rng(1).standard_normal(y.shape)
    np.testing.assert_allclose(up.backward(g), ref.upsample_nearest_backward(g, (2, 3)))


def test_pool_bad_input_and_config():
    for bad, exc in [((0,), ValueError), (("2",), TypeError), ((2, 0), ValueError),
                     ((2, None, 2), ValueError), ((True,), TypeError)]:  # fmt: skip
        with pytest.raises(exc):
            cg.nn.MaxPool2D(*bad)
    layer = cg.nn.MaxPool2D(3)
    with pytest.raises(ValueError, match="larger than the padded input"):
        layer.forward(np.zeros((1, 2, 5, 1)))
    with pytest.raises(ValueError, match="4-D"):
        layer.forward(np.zeros((5, 5, 1)))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.forward(np.zeros((1, 5, 5, 1), np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        cg.nn.AvgPool2D(2).forward(np.zeros((1, 6, 6, 2))[:, ::2])
    with pytest.raises(ValueError, match="interpolation"):
        cg.nn.UpSampling2D(2, interpolation="bilinear")
    dx = np.full((1, 4, 4, 1), 3.0)
    arg = np.full((1, 2, 2, 1), 16, np.int64)
    with pytest.raises(ValueError, match="argmax must be in"):
        cg._core.maxpool2d_backward(np.ones((1, 2, 2, 1)), arg, dx, pool_size=(2, 2),
                                    stride=(2, 2), padding=(0, 0))  # fmt: skip
    assert np.all(dx == 3.0)
    for cls in (cg.nn.MaxPool2D, cg.nn.AvgPool2D):
        p = cls((2, 3), (1, 2), (1, 1))
        assert cls(**p.get_config()).get_config() == p.get_config()


# ---- BatchNorm on images, Dense on (..., in), Residual shortcut, GaussianNoise ---------------
def test_batchnorm_nhwc_is_per_channel_over_n_h_w():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 6))
    bn, bn1 = cg.nn.BatchNorm(6, dtype=np.float64), cg.nn.BatchNorm(6, dtype=np.float64)
    y = bn.forward(x, training=True)
    np.testing.assert_array_equal(y, bn1.forward(x.reshape(-1, 6), training=True).reshape(x.shape))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-12)
    np.testing.assert_allclose(bn.buffers()["running_var"], 0.9 + 0.1 * x.var(axis=(0, 1, 2),
                               ddof=1), rtol=1e-12)  # fmt: skip
    g = rng.standard_normal(x.shape)
    dx = bn.backward(g)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, bn1.backward(g.reshape(-1, 6)).reshape(x.shape))
    with pytest.raises(ValueError, match="height, width"):
        bn.forward(np.zeros((2, 3, 6)))


def test_dense_accepts_leading_dims():
    rng = np.random.default_rng(0)
    layer = cg.nn.Dense(4, 3, "tanh", dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 4))
    y = layer.forward(x, training=True).copy()
    assert y.shape == (2, 5, 3)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g).copy()
    dw = layer.gradients()[0].copy()
    y2 = layer.forward(x.reshape(10, 4), training=True)
    np.testing.assert_array_equal(y.reshape(10, 3), y2)
    np.testing.assert_array_equal(dx.reshape(10, 4), layer.backward(g.reshape(10, 3)))
    np.testing.assert_array_equal(dw, layer.gradients()[0])
    with pytest.raises(ValueError, match="expected"):
        layer.forward(np.zeros((2, 5, 3)))


def test_residual_with_projection_shortcut(tmp_path):
    conv = dict(dtype=np.float64)
    block = [cg.nn.Conv2D(3, 4, 3, stride=2, padding="same", **conv), cg.nn.Tanh(),
             cg.nn.Conv2D(4, 4, 3, padding=1, **conv)]  # fmt: skip
    model = cg.nn.Sequential(
        [cg.nn.Residual(block, shortcut=cg.nn.Conv2D(3, 4, 1, stride=2, **conv)),
         cg.nn.BatchNorm(4, dtype=np.float64), cg.nn.GlobalAvgPool2D()], seed=4,
    )  # fmt: skip
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 3))
    res = model.layers[0]
    y = res.forward(x)
    np.testing.assert_allclose(y, res.block.forward(x) + res.shortcut.forward(x), rtol=1e-14)
    assert len(res.parameters()) == 6 and "shortcut.weight" in res.named_parameters()
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, np.ones((2, 4)), training=True)
    assert report.passed, str(report)
    model.save(tmp_path / "m.npz")
    again = cg.nn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.forward(x), model.forward(x))
    with pytest.raises(ValueError, match="shapes must match"):
        cg.nn.Residual(
            cg.nn.Conv2D(3, 4, 1, **conv), shortcut=cg.nn.Conv2D(3, 4, 3, **conv)
        ).forward(x)


def test_gaussian_noise_gradcheck_in_training():
    model = cg.nn.Sequential([cg.nn.Conv2D(2, 3, 3, dtype=np.float64), cg.nn.GaussianNoise(0.5),
                              cg.nn.Flatten()], seed=0)  # fmt: skip
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 2))
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, np.zeros((2, 12)), training=True)
    assert report.passed, str(report)


def test_gaussian_noise():
    x = np.zeros((200, 50), np.float32)
    a, b = cg.nn.GaussianNoise(0.5), cg.nn.GaussianNoise(0.5)
    assert a.forward(x) is x
    y = a.forward(x, training=True).copy()
    assert abs(y.std() - 0.5) < 0.01 and abs(y.mean()) < 0.01 and y.dtype == np.float32
    np.testing.assert_array_equal(y, b.forward(x, training=True))  # same default seed
    assert not np.array_equal(y, a.forward(x, training=True))  # a fresh draw each pass
    expect = x + np.float32(0.5) * np.random.default_rng(7).standard_normal(x.shape, np.float32)
    a.set_rng(np.random.default_rng(7))
    np.testing.assert_array_equal(a.forward(x, training=True), expect)
    g = np.ones_like(x)
    assert a.backward(g) is g
    for bad, exc in [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)]:
        with pytest.raises(exc):
            cg.nn.GaussianNoise(bad)
    m1 = cg.nn.Sequential([cg.nn.GaussianNoise(1.0)], seed=3)
    m2 = cg.nn.Sequential([cg.nn.GaussianNoise(1.0)], seed=3)
    np.testing.assert_array_equal(m1.forward(x, True), m2.forward(x, True))


def test_maxpool_float32_image_of_2_24_pixels():
    # Positions beyond float32's exact integers take the driver's scalar loop.
    x = np.random.default_rng(0).random((1, 4096, 4096, 1), dtype=np.float32)
    layer = cg.nn.MaxPool2D(2)
    y = layer.forward(x)
    np.testing.assert_array_equal(
        y[0, :, :, 0], x[0, :, :, 0].reshape(2048, 2, 2048, 2).max((1, 3))
    )
    crop = x[:, -6:, -6:]
    _, arg = ref.maxpool2d_forward(crop, (2, 2))
    iy, ix = np.divmod(arg, 6)
    np.testing.assert_array_equal(layer._argmax[:, -3:, -3:], (iy + 4090) * 4096 + ix + 4090)
