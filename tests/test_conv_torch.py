"""float64 forward and backward of the image layers vs torch 2.13.0 (Conv2d, MaxPool2d, AvgPool2d,
BatchNorm2d, Upsample), after the NCHW <-> NHWC transpose: rtol 1e-10."""

from __future__ import annotations

import warnings

import convergent as cg
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: no PyTorch oracle")
F = torch.nn.functional

TOL = dict(rtol=1e-10, atol=1e-10)


def _nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize(
    "c, cout, k, opts",
    [(3, 5, 3, dict(padding=1)), (4, 6, (2, 3), dict(stride=(2, 1), padding=(1, 0))),
     (4, 8, 3, dict(groups=4, padding="same", stride=2)), (2, 4, 3, dict(dilation=2)),
     (6, 4, 3, dict(groups=2, padding="same")), (3, 7, 1, {}), (3, 4, 1, dict(stride=2)),
     (5, 5, 3, dict(groups=5, padding=1, stride=(2, 1)))],
)  # fmt: skip
def test_conv2d_matches_torch(c, cout, k, opts):
    rng = np.random.default_rng(0)
    layer = cg.nn.Conv2D(c, cout, k, activation="tanh", dtype=np.float64, seed=1, **opts)
    layer.bias[...] = rng.standard_normal(cout)
    x = rng.standard_normal((2, 7, 8, c))
    y = layer.forward(x, training=True)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    t, b, lf, r = layer.paddings(7, 8)
    xt = _nchw(x)
    wt = torch.tensor(layer.weight.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bt = torch.tensor(layer.bias.copy(), requires_grad=True)
    yt = torch.tanh(F.conv2d(F.pad(xt, (lf, r, t, b)), wt, bt, stride=layer.stride,
                             dilation=layer.dilation, groups=layer.groups))  # fmt: skip
    yt.backward(_nchw(g))
    np.testing.assert_allclose(y, _nhwc(yt), **TOL)
    np.testing.assert_allclose(dx, _nhwc(xt.grad), **TOL)
    np.testing.assert_allclose(layer.gradients()[0], wt.grad.numpy().transpose(2, 3, 1, 0), **TOL)
    np.testing.assert_allclose(layer.gradients()[1], bt.grad.numpy(), **TOL)


def test_same_padding_matches_torch_same_at_stride_1():
    layer = cg.nn.Conv2D(2, 3, (4, 3), padding="same", dilation=(1, 2), dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((1, 6, 7, 2))
    wt = torch.tensor(layer.weight.transpose(3, 2, 0, 1).copy())
    with warnings.catch_warnings():  # torch notes that it pads a copy for the even kernel
        warnings.simplefilter("ignore", UserWarning)
        yt = F.conv2d(_nchw(x), wt, torch.tensor(layer.bias), padding="same", dilation=(1, 2))
    np.testing.assert_allclose(layer.forward(x), _nhwc(yt), **TOL)


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))])
def test_pools_match_torch(k, s, p):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 3))
    x[0, 0, :2, 0] = 4.0  # ties
    for ours, theirs in ((cg.nn.MaxPool2D(k, s, p), torch.nn.MaxPool2d(k, s, p)),
                         (cg.nn.AvgPool2D(k, s, p), torch.nn.AvgPool2d(k, s, p))):  # fmt: skip
        y = ours.forward(x, training=True)
        g = rng.standard_normal(y.shape)
        dx = ours.backward(g)
        xt = _nchw(x)
        yt = theirs(xt)
        yt.backward(_nchw(g))
        np.testing.assert_allclose(y, _nhwc(yt), **TOL)
        np.testing.assert_allclose(dx, _nhwc(xt.grad), **TOL)
    _, idx = F.max_pool2d(_nchw(x), k, s, p, return_indices=True)
    m = cg.nn.MaxPool2D(k, s, p)
    m.forward(x)
    np.testing.assert_array_equal(m._argmax, idx.numpy().transpose(0, 2, 3, 1))


def test_batchnorm2d_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 6)) * 2 + 1
    bn = cg.nn.BatchNorm(6, momentum=0.2, dtype=np.float64)
    bn.parameters()[0][...] = rng.standard_normal(6)
    bn.parameters()[1][...] = rng.standard_normal(6)
    tb = torch.nn.BatchNorm2d(6, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        tb.weight.copy_(torch.tensor(bn.parameters()[0]))
        tb.bias.copy_(torch.tensor(bn.parameters()[1]))
    for _ in range(2):
        y = bn.forward(x, training=True)
        g = rng.standard_normal(y.shape)
        dx = bn.backward(g)
        xt = _nchw(x)
        tb.zero_grad()
        yt = tb(xt)
        yt.backward(_nchw(g))
        np.testing.assert_allclose(y, _nhwc(yt), **TOL)
        np.testing.assert_allclose(dx, _nhwc(xt.grad), **TOL)
        np.testing.assert_allclose(bn.gradients()[0], tb.weight.grad.numpy(), **TOL)
        np.testing.assert_allclose(bn.gradients()[1], tb.bias.grad.numpy(), **TOL)
        np.testing.assert_allclose(bn.buffers()["running_mean"], tb.running_mean.numpy(), **TOL)
        np.testing.assert_allclose(bn.buffers()["running_var"], tb.running_var.numpy(), **TOL)
    tb.eval()
    np.testing.assert_allclose(bn.forward(x), _nhwc(tb(_nchw(x))), **TOL)


def test_upsample_and_global_avgpool_match_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5))
    for size in (2, (2, 3)):
        up = cg.nn.UpSampling2D(size)
        y = up.forward(x)
        g = rng.standard_normal(y.shape)
        xt = _nchw(x)
        yt = torch.nn.Upsample(scale_factor=size, mode="nearest")(xt)
        yt.backward(_nchw(g))
        np.testing.assert_allclose(y, _nhwc(yt), **TOL)
        np.testing.assert_allclose(up.backward(g), _nhwc(xt.grad), **TOL)
    gap = cg.nn.GlobalAvgPool2D()
    xt = _nchw(x)
    yt = torch.nn.AdaptiveAvgPool2d(1)(xt).flatten(1)
    g = rng.standard_normal((2, 5))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(gap.forward(x), yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(gap.backward(g), _nhwc(xt.grad), **TOL)
