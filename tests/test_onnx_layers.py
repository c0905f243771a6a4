"""ONNX export of each layer: onnxruntime agrees with forward(training=False), the checker
passes, the round trip through convergent.onnx.load gives the same bits."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _onnx_helpers import check_export, ops  # skips the module without the onnx extra

nn = cg.nn
DTYPES = [np.float32, np.float64]


def _x(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _stats(bn, rng):
    """Running statistics and affine parameters away from their defaults."""
    c = bn.num_features
    bn.buffers()["running_mean"][...] = rng.standard_normal(c)
    bn.buffers()["running_var"][...] = rng.uniform(0.5, 2.0, c)
    bn.named_parameters()["weight"][...] = rng.uniform(0.5, 1.5, c)
    bn.named_parameters()["bias"][...] = rng.standard_normal(c)
    return bn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [None, "relu", "leaky_relu", "sigmoid", "tanh"])
def test_dense(rng, dtype, act):
    m = nn.Sequential([nn.Dense(7, 5, act, negative_slope=0.2, dtype=dtype)], seed=1)
    m.layers[0].bias[...] = rng.standard_normal(5)
    proto = check_export(m, _x(rng, (6, 7), dtype))
    assert ops(proto)[0] == "Gemm"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_dense_3d_input(rng, dtype, bias):
    m = nn.Sequential([nn.Dense(5, 3, "tanh", bias=bias, dtype=dtype)], seed=2)
    proto = check_export(m, _x(rng, (4, 6, 5), dtype), (None, 5))
    assert "MatMul" in ops(proto)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda dt: nn.ReLU(),
        lambda dt: nn.LeakyReLU(0.25),
        lambda dt: nn.LeakyReLU(1 / 3),  # float64: not a float32 alpha, kept exact by PRelu
        lambda dt: nn.RReLU(),  # eval: the slope (lower + upper) / 2
        lambda dt: nn.RReLU(0.1, 0.7),
        lambda dt: nn.Sigmoid(),
        lambda dt: nn.Tanh(),
        lambda dt: nn.Softmax(),
        lambda dt: nn.PReLU(1, 0.3, dtype=dt),
        lambda dt: nn.PReLU(6, dtype=dt),
    ],
    ids=[
        "relu",
        "leaky",
        "leaky_1/3",
        "rrelu",
        "rrelu2",
        "sigmoid",
        "tanh",
        "softmax",
        "prelu1",
        "prelu6",
    ],  # fmt: skip
)
def test_activations(rng, dtype, make):
    layer = make(dtype)
    if isinstance(layer, nn.PReLU):
        layer.weight[...] = rng.uniform(-0.5, 0.5, layer.weight.size)
    m = nn.Sequential([nn.Dense(4, 6, dtype=dtype), layer], seed=3)
    check_export(m, _x(rng, (5, 4), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_on_images(rng, dtype):
    """Softmax over channels and PReLU over our axis 1 (height) while the values are NCHW."""
    prelu = nn.PReLU(5, dtype=dtype)
    prelu.weight[...] = rng.uniform(-0.5, 0.5, 5)
    m = nn.Sequential([nn.MaxPool2D(1), nn.Softmax(), prelu, nn.MaxPool2D(1)], seed=0)
    check_export(m, _x(rng, (2, 5, 4, 3), dtype), (5, 4, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm(rng, dtype):
    m = nn.Sequential([nn.Dense(4, 6, dtype=dtype), _stats(nn.BatchNorm(6, dtype=dtype), rng)])
    proto = check_export(m, _x(rng, (5, 4), dtype))
    assert "BatchNormalization" in ops(proto)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_images(rng, dtype):
    bn = _stats(nn.BatchNorm(3, eps=1e-3, dtype=dtype), rng)
    check_export(nn.Sequential([bn], seed=None), _x(rng, (2, 4, 5, 3), dtype), (4, 5, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_noise_are_identities(rng, dtype):
    m = nn.Sequential([nn.Dense(4, 5, dtype=dtype), nn.Dropout(0.5), nn.GaussianNoise(0.3),
                       nn.Dense(5, 2, dtype=dtype)])  # fmt: skip
    proto = check_export(m, _x(rng, (3, 4), dtype))
    assert ops(proto) == ["Gemm", "Gemm"]
    alone = nn.Sequential([nn.Dropout(0.2)])
    check_export(alone, _x(rng, (3, 4), dtype), (4,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_residual(rng, dtype):
    m = nn.Sequential(
        [
            nn.Residual([nn.Dense(5, 5, "relu", dtype=dtype), nn.Dense(5, 5, dtype=dtype)]),
            nn.Residual(nn.Dense(5, 3, "tanh", dtype=dtype), shortcut=nn.Dense(5, 3, dtype=dtype)),
        ],
        seed=4,
    )
    proto = check_export(m, _x(rng, (6, 5), dtype))
    assert ops(proto).count("Add") == 2
    back = cg.onnx.load(proto)
    assert isinstance(back.layers[1], nn.Residual) and back.layers[1].shortcut is not None


# ---- images: only float32 runs in onnxruntime (its Conv, AveragePool, GlobalAveragePool and
# Resize have no float64 kernel); float64 is checked by the checker and the round trip.
CONVS = [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=3, padding="same", stride=2),
    dict(kernel_size=(2, 4), padding="same", stride=(2, 3)),
    dict(kernel_size=3, padding="same", dilation=2),
    dict(kernel_size=3, padding="valid", stride=2, dilation=(1, 2)),
    dict(kernel_size=(3, 1), padding=(1, 0), groups=2),
    dict(kernel_size=3, padding=1, groups=4, activation="relu"),  # depthwise
    dict(kernel_size=1, bias=False, activation="sigmoid"),
    dict(kernel_size=3, padding=2, activation="leaky_relu", negative_slope=0.1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONVS, ids=[str(i) for i in range(len(CONVS))])
@pytest.mark.parametrize("hw", [(7, 8), (6, 9)])
def test_conv2d(rng, dtype, cfg, hw):
    conv = nn.Conv2D(4, 8, dtype=dtype, **cfg)
    if conv.bias is not None:
        conv.bias[...] = rng.standard_normal(8)
    m = nn.Sequential([conv], seed=5)
    x = _x(rng, (3, *hw, 4), dtype)
    f32 = dtype == np.float32
    check_export(m, x, ort_run=f32)  # free height and width (auto_pad for "same")
    check_export(m, x, (*hw, 4), ort_run=f32)


POOLS = [
    lambda: nn.MaxPool2D(2),
    lambda: nn.MaxPool2D(3, stride=2, padding=1),
    lambda: nn.MaxPool2D((2, 3), stride=(1, 2)),
    lambda: nn.AvgPool2D(2),
    lambda: nn.AvgPool2D(3, stride=2, padding=1),  # the padding counts in the average
    lambda: nn.AvgPool2D((3, 2), stride=1, padding=(1, 1)),
    lambda: nn.GlobalAvgPool2D(),
    lambda: nn.UpSampling2D(2),
    lambda: nn.UpSampling2D((2, 3)),
    lambda: nn.Flatten(),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", POOLS, ids=[str(i) for i in range(len(POOLS))])
def test_pools_upsampling_flatten(rng, dtype, make):
    m = nn.Sequential([make()], seed=None)
    x = _x(rng, (2, 7, 6, 3), dtype)
    f64_ok = isinstance(m.layers[0], (nn.MaxPool2D, nn.Flatten))
    check_export(m, x, (7, 6, 3), ort_run=dtype == np.float32 or f64_ok)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_after_conv_keeps_our_order(rng, dtype):
    """Flatten of NHWC values (channels fastest), while the convolution ran in NCHW."""
    m = nn.Sequential([nn.Conv2D(2, 3, 3, padding=1, dtype=dtype), nn.Flatten(),
                       nn.Dense(5 * 4 * 3, 2, dtype=dtype)], seed=6)  # fmt: skip
    check_export(m, _x(rng, (2, 5, 4, 2), dtype), (5, 4, 2), ort_run=dtype == np.float32)
