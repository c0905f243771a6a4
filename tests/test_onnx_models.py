"""Whole models through ONNX: an MLP and a CNN (residual blocks, BatchNorm) exported to files
and run in onnxruntime; MLP and CNN exported by torch 2.13.0 loaded into convergent; errors."""

from __future__ import annotations

import subprocess
import sys
import warnings

import convergent as cg
import numpy as np
import pytest
from _onnx_helpers import assert_close, check_export, onnx, ops, run_ort

nn = cg.nn


def _train(model, x, y, loss):
    """A few steps, so that BatchNorm's running statistics and the weights are not defaults."""
    cg.fit(model, loss, cg.optim.Adam(model.parameters(), lr=1e-2), x, y, epochs=2,
           batch_size=16, progress=False)  # fmt: skip
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_file_round_trip(rng, tmp_path, dtype):
    model = nn.Sequential([
        nn.Dense(6, 16, dtype=dtype), nn.BatchNorm(16, dtype=dtype), nn.ReLU(), nn.Dropout(0.2),
        nn.Dense(16, 8, "tanh", dtype=dtype), nn.PReLU(8, dtype=dtype),
        nn.Dense(8, 3, dtype=dtype),
    ], seed=3)  # fmt: skip
    x = rng.standard_normal((64, 6)).astype(dtype)
    _train(model, x, rng.integers(0, 3, 64), nn.SoftmaxCrossEntropy())
    path = tmp_path / "mlp.onnx"
    model.to_onnx(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert_close(run_ort(proto, {"input": x})[0], model.forward(x))
    back = cg.onnx.load(path)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
    assert [type(v).__name__ for v in back.layers] == [
        "Dense", "BatchNorm", "ReLU", "Dense", "PReLU", "Dense"]  # fmt: skip
    check_export(back, x)  # the loaded model exports again


def _cnn(dtype, flatten):
    def block(c):
        return nn.Residual([nn.Conv2D(c, c, 3, padding=1, dtype=dtype),
                            nn.BatchNorm(c, dtype=dtype), nn.ReLU(),
                            nn.Conv2D(c, c, 3, padding="same", dtype=dtype),
                            nn.BatchNorm(c, dtype=dtype)])  # fmt: skip

    down = nn.Residual(
        [nn.Conv2D(8, 12, 3, stride=2, padding=1, activation="relu", dtype=dtype),
         nn.Conv2D(12, 12, 3, padding=1, dtype=dtype)],
        shortcut=nn.Conv2D(8, 12, 1, stride=2, dtype=dtype),
    )  # fmt: skip
    head = ([nn.Flatten(), nn.Dense(4 * 4 * 12, 5, dtype=dtype)] if flatten
            else [nn.GlobalAvgPool2D(), nn.Dense(12, 5, dtype=dtype)])  # fmt: skip
    return nn.Sequential([
        nn.Conv2D(3, 8, 3, padding=1, dtype=dtype), nn.BatchNorm(8, dtype=dtype), nn.ReLU(),
        block(8), nn.MaxPool2D(2), down, nn.ReLU(), *head, nn.Softmax(),
    ], seed=11)  # fmt: skip


@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cnn_with_residual_and_batchnorm(rng, dtype, flatten):
    model = _cnn(dtype, flatten)
    x = rng.standard_normal((32, 16, 16, 3)).astype(dtype)
    _train(model, x, rng.integers(0, 5, 32), nn.SoftmaxCrossEntropy())
    proto = check_export(model, x, (16, 16, 3), ort_run=dtype == np.float32)
    assert ops(proto).count("Transpose") == (2 if flatten else 1)  # only at the edges
    assert ops(proto).count("Add") == 2


def test_autoencoder_with_upsampling(rng):
    model = nn.Sequential([
        nn.Conv2D(1, 4, 3, padding=1, activation="relu"), nn.MaxPool2D(2),
        nn.GaussianNoise(0.1), nn.UpSampling2D(2), nn.Conv2D(4, 1, 3, padding=1,
                                                             activation="sigmoid"),
    ], seed=2)  # fmt: skip
    check_export(model, rng.standard_normal((3, 8, 8, 1)).astype(np.float32))


# ---- models written by torch -----------------------------------------------------------------
def _torch_export(module, x):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript", reason="torch.onnx.export (dynamo) needs onnxscript")
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation notices
        program = torch.onnx.export(module.eval(), (x,), dynamo=True, verbose=False,
                                    dynamic_shapes={"x": {0: batch}})  # fmt: skip
    return program.model_proto


def test_torch_mlp(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
        torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Softmax(dim=1),
    )  # fmt: skip
    with torch.no_grad():
        mlp[1].running_mean.uniform_(-1, 1)
        mlp[1].running_var.uniform_(0.5, 2)

    class Wrap(torch.nn.Module):  # the exported input is named "x"
        def __init__(self):
            super().__init__()
            self.mlp = mlp

        def forward(self, x):
            return self.mlp(x)

    x = rng.standard_normal((5, 6)).astype(np.float32)
    proto = _torch_export(Wrap(), torch.from_numpy(x))
    model = cg.onnx.load(proto)
    want = mlp(torch.from_numpy(x)).detach().numpy()
    assert_close(model.forward(x), want)
    assert_close(run_ort(proto, {proto.graph.input[0].name: x})[0], want)


def test_torch_cnn(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.fc = torch.nn.Linear(8 * 4 * 4, 5)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.c1(x))), 2)
            x = x + torch.relu(self.c2(x))
            x = torch.nn.functional.avg_pool2d(x, 2)
            return self.fc(torch.flatten(x, 1))  # flattened in NCHW order

    net = CNN()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    x = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    proto = _torch_export(net, torch.from_numpy(x))
    model = cg.onnx.load(proto)  # takes NHWC images
    want = net.eval()(torch.from_numpy(x)).detach().numpy()
    assert_close(model.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1))), want)


# ---- errors and the lazy attribute -----------------------------------------------------------
class Custom(nn.Layer):
    def forward(self, x, training=False):
        return x * 2

    def get_config(self):
        return {}


def test_export_errors(tmp_path):
    with pytest.raises(NotImplementedError, match="Custom has no ONNX form"):
        cg.onnx.build_model(nn.Sequential([nn.Dense(3, 3), Custom()]))
    with pytest.raises(TypeError, match="model must be a convergent.nn.Sequential"):
        cg.onnx.export(object(), tmp_path / "never.onnx")
    with pytest.raises(TypeError, match="input_shape"):
        cg.onnx.build_model(nn.Sequential([nn.Dense(3, 3)]), 3)
    with pytest.raises(TypeError, match="lengths"):
        cg.onnx.build_model(nn.Sequential([nn.Dense(3, 3)]), lengths="yes")
    with pytest.raises(ValueError, match="opset"):
        cg.onnx.build_model(nn.Sequential([nn.Dense(3, 3)]), opset=9)
    with pytest.raises(ValueError, match="input_shape"):
        cg.onnx.build_model(nn.Sequential([nn.MaxPool2D(2)]))
    with pytest.raises(ValueError, match=r"input_shape\[1\]"):
        cg.onnx.build_model(nn.Sequential([nn.MaxPool2D(2)]), (4, 0, 3))
    strided = nn.Sequential([nn.Conv2D(2, 2, 3, stride=2, dilation=2, padding="same")])
    with pytest.raises(ValueError, match="pass input_shape"):
        cg.onnx.build_model(strided)
    check_export(strided, np.ones((1, 9, 9, 2), np.float32), (9, 9, 2))
    assert not (tmp_path / "never.onnx").exists()


def _graph(op, **attrs):
    h, tp = onnx.helper, onnx.TensorProto
    x = h.make_tensor_value_info("x", tp.FLOAT, ["n", 4])
    y = h.make_tensor_value_info("y", tp.FLOAT, ["n", 4])
    node = h.make_node(op, ["x"], ["y"], name="my_node", **attrs)
    return h.make_model(h.make_graph([node], "g", [x], [y]),
                        opset_imports=[h.make_opsetid("", 17)])  # fmt: skip


def test_load_errors():
    with pytest.raises(ValueError, match="node 'my_node': operator Elu has no convergent layer"):
        cg.onnx.load(_graph("Elu"))
    with pytest.raises(ValueError, match="my_node.*axis other than 1"):
        cg.onnx.load(_graph("Flatten", axis=0))
    model = cg.onnx.load(_graph("LeakyRelu", alpha=0.2))
    assert isinstance(model.layers[0], nn.LeakyReLU) and model.layers[0].negative_slope == 0.2


def test_onnx_is_imported_lazily():
    code = ("import sys, convergent as cg; assert 'onnx' not in sys.modules; "
            "assert cg.onnx.export is not None; assert 'onnx' in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_opsets(rng, opset):
    model = _cnn(np.float32, flatten=True)
    proto = check_export(model, rng.standard_normal((2, 16, 16, 3)).astype(np.float32),
                         (16, 16, 3), opset=opset)  # fmt: skip
    assert proto.opset_import[0].version == opset


def test_residual_at_the_input_transposes_once(rng):
    model = nn.Sequential([nn.Residual(nn.Conv2D(3, 3, 3, padding=1)), nn.ReLU()], seed=1)
    proto = check_export(model, rng.standard_normal((2, 6, 5, 3)).astype(np.float32))
    assert ops(proto) == ["Transpose", "Conv", "Add", "Relu", "Transpose"]
