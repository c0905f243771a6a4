"""cg.nn.Conv2D vs the NumPy reference (forward, backward, penalties) on every ISA, 1 vs 2
threads, the scalar path forced from the environment, gradcheck, and bad input.

Tolerances as tests/test_dense.py: the reference runs in float64 on the layer's own inputs; a
K-term dot product gets ``2 * (K + 4) * eps * S`` with ``S`` the same sum over absolute values,
plus ``8 * eps * |value|`` for the elementwise steps.
"""

from __future__ import annotations

import subprocess
import sys

import convergent as cg
import numpy as np
import pytest
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
REG = dict(weight_l1=0.01, weight_l2=0.02, activity_l1=0.03, activity_l2=0.04)
# (n, h, w, c, cout, kernel, options): odd sizes, stride, padding incl. "same", dilation,
# groups, depthwise, 1x1 (the plain-GEMM path) and 1x1 stride 2, K above the GEMM's kc (c=29,
# 3x3 -> 261) and more than mc rows (2*9*9 = 162) and more than nr columns (37).
CASES = [
    (2, 7, 6, 3, 5, 3, dict(padding=1, activation="relu")),
    (2, 7, 6, 3, 5, 3, dict(stride=2, padding="same", activation="tanh")),
    (2, 8, 9, 4, 6, (2, 3), dict(stride=(2, 1), padding=(0, 1), activation="sigmoid")),
    (1, 9, 9, 2, 4, 3, dict(dilation=2, padding="same", activation="leaky_relu")),
    (2, 6, 5, 4, 6, 3, dict(groups=2, padding="valid")),
    (2, 6, 6, 4, 8, 3, dict(groups=4, padding=1, activation="relu")),  # depthwise x2
    (2, 5, 4, 3, 37, 1, dict(activation="relu")),  # pointwise: the GEMM on x itself
    (2, 5, 5, 3, 4, 1, dict(stride=2)),
    (2, 9, 9, 29, 37, 3, dict(padding="same", activation="relu")),
    (1, 4, 4, 2, 3, 5, dict(padding=2, stride=3)),
    (30, 12, 12, 16, 8, 3, dict(padding=1, activation="relu")),  # 3 chunks of images in backward
    (2, 7, 9, 32, 10, 3, dict(groups=2, stride=(1, 2), padding="same", dilation=(2, 1))),
    # dx as a convolution with the flipped kernel (stride 1, >= 16 channels per group)
    (2, 6, 7, 32, 12, (3, 2), dict(groups=2, padding=(2, 1), dilation=(1, 2))),
    (1, 5, 5, 16, 4, 3, dict(padding=3)),  # more than "full" padding: col2im
    # depthwise, one filter per channel: the direct per-pixel kernels (19 channels: a tail)
    (3, 7, 6, 19, 19, 3, dict(groups=19, padding="same", stride=2, activation="relu", **REG)),
    (2, 6, 6, 5, 5, (2, 3), dict(groups=5, padding=(1, 0), dilation=(2, 1), activation="tanh")),
]


def _close(got, want, scale, k, dt):
    eps = np.finfo(dt).eps
    tol = 2 * (k + 4) * eps * scale + 8 * eps * np.abs(want) + np.finfo(dt).tiny
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= tol), float((err - tol).max())


def _layer(c, cout, k, dt, **opts):
    layer = cg.nn.Conv2D(c, cout, k, dtype=dt, seed=3, **opts)
    layer.bias[...] = np.random.default_rng(4).standard_normal(cout)
    return layer


def _geom(layer, x):
    return dict(stride=layer.stride, padding=layer.paddings(*x.shape[1:3]),
                dilation=layer.dilation, groups=layer.groups)  # fmt: skip


def _run(layer, x, dout):
    """Forward + backward, checked against the float64 reference."""
    dt = layer.dtype
    w, b, x64 = (a.astype(np.float64) for a in (layer.weight, layer.bias, x))
    geo = _geom(layer, x)
    k = layer.weight[..., 0].size
    y = layer.forward(x, training=True)
    want = ref.conv2d_forward(x64, w, b, activation_name=layer.activation, **geo)
    scale = ref.conv2d_forward(np.abs(x64), np.abs(w), np.abs(b), **geo)
    _close(y, want, scale, k, dt)
    y64 = y.astype(np.float64)
    reg = {r: getattr(layer, r) for r in REG}
    dx = layer.backward(dout)
    dw, db, dxr = ref.conv2d_backward(x64, w, y64, dout.astype(np.float64),
                                      activation_name=layer.activation, **geo, **reg)  # fmt: skip
    gabs = np.abs(dout.astype(np.float64)) + 1
    aw, ab, ax = ref.conv2d_backward(np.abs(x64), np.abs(w), y64, gabs, **geo, **reg)
    rows = y.shape[0] * y.shape[1] * y.shape[2]
    _close(layer.gradients()[0], dw, np.abs(aw), rows, dt)
    _close(layer.gradients()[1], db, ab, rows, dt)
    _close(dx, dxr, ax, layer.out_channels * k, dt)
    return y.copy(), dx.copy(), [g.copy() for g in layer.gradients()]


def _data(case, dt, seed=0):
    n, h, w, c, cout, k, opts = case
    rng = np.random.default_rng(seed)
    layer = _layer(c, cout, k, dt, **opts)
    x = rng.standard_normal((n, h, w, c)).astype(dt)
    dout = rng.standard_normal(layer.output_shape(x.shape)).astype(dt)
    return layer, x, dout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_matches_reference(isa, case, dtype):
    _run(*_data(CASES[case], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_regularization_and_penalty(isa, dtype):
    layer, x, dout = _data((2, 6, 6, 3, 4, 3, dict(padding=1, activation="relu", **REG)), dtype)
    y, _, _ = _run(layer, x, dout)
    w, y64 = layer.weight.astype(np.float64), y.astype(np.float64)
    want = (0.01 * np.abs(w).sum() + 0.02 * np.square(w).sum()
            + (0.03 * np.abs(y64).sum() + 0.04 * np.square(y64).sum()) / x.shape[0])  # fmt: skip
    assert layer.penalty() == pytest.approx(want, rel=1e-5)
    assert layer.backward_weight_penalty == pytest.approx(
        0.01 * np.abs(w).sum() + 0.02 * np.square(w).sum(), rel=1e-5
    )


def test_need_input_grad_false_skips_dx_same_grads():
    layer, x, dout = _data(CASES[1], np.float64)
    layer.forward(x, training=True)
    layer.backward(dout)
    grads = [g.copy() for g in layer.gradients()]
    assert layer.backward(dout, need_input_grad=False) is None
    for a, b in zip(grads, layer.gradients()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", [dict(padding=1, activation="relu"), dict(groups=2, stride=2),
                                  dict(kernel=1), dict(groups=16, cout=16, padding=1)])  # fmt: skip
def test_one_vs_two_threads_same_bits(threads, dtype, opts):
    opts = dict(opts)
    k, cout = opts.pop("kernel", 3), opts.pop("cout", 32)
    case = (24, 16, 16, 16, cout, k, opts)  # 3x3: 4 backward chunks of 7 images
    results = []
    for t in (1, 2):
        threads(t)
        layer, x, dout = _data(case, dtype)
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(dout).copy()
        results.append([y, dx, *(g.copy() for g in layer.gradients())])
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


_SCRIPT = """
import sys, numpy as np, convergent as cg
assert cg.get_isa() == "scalar"
x = np.random.default_rng(0).standard_normal((2, 7, 6, 5))
for dt in (np.float32, np.float64):
    layer = cg.nn.Conv2D(5, 6, 3, padding="same", stride=2, activation="relu", dtype=dt, seed=1)
    y = layer.forward(x.astype(dt), training=True)
    dx = layer.backward(np.ones_like(y))
    pools = [cg.nn.MaxPool2D(3, 2, 1), cg.nn.AvgPool2D(3, 2, 1)]
    p = [(q.forward(y), q.backward(np.ones((2, 2, 2, 6), dt))) for q in pools]
    np.savez(sys.argv[1] + np.dtype(dt).name + ".npz", y=y, dx=dx, dw=layer.gradients()[0],
             max=p[0][0], dmax=p[0][1], avg=p[1][0], davg=p[1][1])
"""


def test_env_scalar_subprocess_matches_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERGENT_ISA", "scalar")
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "s")], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    previous = cg.get_isa()
    cg.set_isa("scalar")
    try:
        x = np.random.default_rng(0).standard_normal((2, 7, 6, 5))
        for dt in DTYPES:
            layer = cg.nn.Conv2D(5, 6, 3, padding="same", stride=2, activation="relu",
                                 dtype=dt, seed=1)  # fmt: skip
            y = layer.forward(x.astype(dt), training=True)
            dx = layer.backward(np.ones_like(y))
            pools = [cg.nn.MaxPool2D(3, 2, 1), cg.nn.AvgPool2D(3, 2, 1)]
            p = [(q.forward(y), q.backward(np.ones((2, 2, 2, 6), dt))) for q in pools]
            got = (("y", y), ("dx", dx), ("dw", layer.gradients()[0]), ("max", p[0][0]),
                   ("dmax", p[0][1]), ("avg", p[1][0]), ("davg", p[1][1]))  # fmt: skip
            with np.load(tmp_path / f"s{np.dtype(dt).name}.npz") as sub:
                for name, v in got:
                    assert sub[name].tobytes() == v.tobytes(), name
    finally:
        cg.set_isa(previous)


@pytest.mark.parametrize(
    "opts",
    [dict(padding=1), dict(stride=2, padding="same"), dict(dilation=2, padding=2),
     dict(groups=2), dict(groups=4, padding="same"), dict(kernel=1), dict(kernel=1, stride=2),
     dict(kernel=(2, 3), stride=(1, 2), padding=(1, 0), activation="tanh")],
)  # fmt: skip
def test_gradcheck(opts):
    opts = dict(opts)
    k = opts.pop("kernel", 3)
    rng = np.random.default_rng(5)
    model = cg.nn.Sequential(
        [cg.nn.Conv2D(4, 4, k, dtype=np.float64, **opts), cg.nn.Flatten()], seed=2
    )
    x = rng.standard_normal((2, 7, 5, 4))
    out = model.forward(x)
    target = rng.standard_normal(out.shape)
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, target)
    assert report.passed, str(report)


def test_config_roundtrip_and_init_fans():
    layer = cg.nn.Conv2D(6, 8, (3, 5), stride=2, padding="same", groups=2, activation="relu",
                         init="he_uniform", seed=0)  # fmt: skip
    again = cg.nn.Conv2D(**layer.get_config())
    np.testing.assert_array_equal(layer.weight, again.weight)
    assert layer.weight.shape == (3, 5, 3, 8)
    bound = np.sqrt(6 / (3 * 5 * 3))  # fan_in = kh*kw*in/groups
    assert np.abs(layer.weight).max() <= bound and np.abs(layer.weight).max() > 0.8 * bound
    assert layer.output_shape((2, 7, 8, 6)) == (2, 4, 4, 8)


def _bad_calls():
    layer = cg.nn.Conv2D(3, 4, 3, padding=1, dtype=np.float32, seed=0)
    good = np.zeros((2, 5, 5, 3), np.float32)
    return (
        layer,
        good,
        [
            (TypeError, "dtype", good.astype(np.float64)),
            (TypeError, "ndarray", good.tolist()),
            (ValueError, "4-D", good[0]),
            (ValueError, "channels", np.zeros((2, 5, 5, 2), np.float32)),
            (ValueError, "larger than the padded input", np.zeros((2, 0, 5, 3), np.float32)),
            (ValueError, "C-contiguous", np.zeros((2, 5, 10, 3), np.float32)[:, :, ::2]),
        ],
    )


def test_bad_input_raises_and_changes_nothing():
    layer, good, calls = _bad_calls()
    layer.forward(good + 1, training=True)
    before = [a.copy() for a in layer.parameters() + layer.gradients()]
    y_before = layer._y.copy()
    for exc, match, x in calls:
        with pytest.raises(exc, match=match):
            layer.forward(x, training=True)
    small = cg.nn.Conv2D(3, 4, 5, dtype=np.float32)
    with pytest.raises(ValueError, match="larger than the padded input"):
        small.forward(np.zeros((1, 4, 9, 3), np.float32))
    for a, b in zip(before, layer.parameters() + layer.gradients()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(y_before, layer._y)


def test_binding_validates_before_writing():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 5, 5, 4)), rng.standard_normal((3, 3, 2, 6))
    out = np.full((2, 3, 3, 6), 7.0)
    kw = dict(stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=2)
    cg._core.conv2d_forward(x, w, None, out, **kw)
    np.testing.assert_allclose(out, ref.conv2d_forward(x, w, **kw), rtol=1e-12, atol=1e-12)
    out[...] = 7.0
    bad = [
        (dict(weight=np.ascontiguousarray(w[:, :, :1])), ValueError, "in_channels / groups"),
        (dict(groups=4), ValueError, "groups"),
        (dict(groups=0), ValueError, "groups"),
        (dict(out=np.zeros((2, 3, 3, 5))), ValueError, "out has shape"),
        (dict(out=out.astype(np.float32)), TypeError, "out"),
        (dict(bias=np.zeros(5)), ValueError, "bias"),
        (dict(stride=(0, 1)), ValueError, "stride"),
        (dict(padding=(0, 0, -1, 0)), ValueError, "padding"),
        (dict(dilation=(1,)), ValueError, "dilation"),
        (dict(dilation=(1, 2**62)), ValueError, "dilation values must be at most"),
        (dict(padding=(2**62, 2**62, 0, 0)), ValueError, "padding values must be at most"),
        (dict(padding=(2**64, 0, 0, 0)), ValueError, "out of range"),
        (dict(activation="gelu"), ValueError, "activation"),
        (dict(out=x[:, :3, :3, :2]), ValueError, "out"),
    ]
    for change, exc, match in bad:
        args = dict(x=x, weight=w, bias=None, out=out, **kw)
        args.update(change)
        with pytest.raises(exc, match=match):
            cg._core.conv2d_forward(**args)
        assert np.all(out == 7.0)
    y = np.zeros((2, 3, 3, 6))
    cg._core.conv2d_forward(x, w, None, y, **kw)
    dyp, dw, dx = np.full_like(y, 7.0), np.full_like(w, 7.0), np.full_like(x, 7.0)
    with pytest.raises(ValueError, match="dx"):
        cg._core.conv2d_backward(x, w, y, y, dyp, dw, None, dx[:1], **kw)
    with pytest.raises(ValueError, match="dweight"):
        cg._core.conv2d_backward(x, w, y, y, dyp, dw[:2], None, dx, **kw)
    with pytest.raises(ValueError, match="weight_l2"):
        cg._core.conv2d_backward(x, w, y, y, dyp, dw, None, dx, weight_l2=-1.0, **kw)
    assert np.all(dyp == 7.0) and np.all(dw == 7.0) and np.all(dx == 7.0)


def test_constructor_validation():
    for kwargs, exc in [
        (dict(in_channels=0), ValueError),
        (dict(in_channels=3.0), TypeError),
        (dict(groups=2), ValueError),
        (dict(kernel_size=0), ValueError),
        (dict(kernel_size=(3, 3, 3)), TypeError),
        (dict(padding="full"), ValueError),
        (dict(padding=-1), ValueError),
        (dict(stride=0), ValueError),
        (dict(activation="gelu"), ValueError),
        (dict(dtype=np.int32), TypeError),
        (dict(weight_l1=-1.0), ValueError),
    ]:
        args = dict(in_channels=3, out_channels=4, kernel_size=3)
        args.update(kwargs)
        with pytest.raises(exc):
            cg.nn.Conv2D(**args)
