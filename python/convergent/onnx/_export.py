"""Export of a Sequential to ONNX: one converter per layer type, standard operators only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ._graph import NCHW, Graph, Tensor, natural, to_layout

__all__ = ["CONVERTERS", "build_model", "convert_layer", "export", "model_dtype"]

FUSED = "convergent: activation fused into the preceding layer"
Converter = Callable[[Graph, Any, Tensor], Tensor]
CONVERTERS: dict[str, Converter] = {}


def converter(*names: str) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        for n in names:
            CONVERTERS[n] = fn
        return fn

    return deco


def convert_layer(g: Graph, layer: Any, t: Tensor) -> Tensor:
    """The ONNX form of ``layer`` applied to ``t`` (looked up by class name, then its bases)."""
    for cls in type(layer).__mro__:
        fn = CONVERTERS.get(cls.__name__)
        if fn is not None:
            out = fn(g, layer, t)
            shape = None
            if t.shape is not None:  # the sizes after this layer, from the layer itself
                dtype = np.int64 if t.name == "input" and g.tokens else g.dtype
                shape = layer.forward(np.zeros(t.shape, dtype), training=False).shape
            return replace(out, shape=shape)
    raise NotImplementedError(
        f"layer {type(layer).__name__} has no ONNX form (convergent.onnx converts "
        f"{', '.join(sorted(CONVERTERS))})"
    )


# ---- activations -----------------------------------------------------------------------------
def leaky(g: Graph, t: Tensor, slope: float, base: str, doc: str = "") -> Tensor:
    """``x if x > 0 else slope * x``: LeakyRelu when its float32 ``alpha`` is the slope in the
    graph's type, else PRelu with a rank-0 slope (float64 models keep the exact slope)."""
    if g.dtype == np.float32 or float(np.float32(slope)) == slope:
        return Tensor(g.node("LeakyRelu", [t.name], base, alpha=float(slope), doc=doc), t.rank,
                      t.perm)  # fmt: skip
    s = g.const(np.asarray(slope, g.dtype).reshape(()), f"{base}.slope")
    return Tensor(g.node("PRelu", [t.name, s], base, doc=doc), t.rank, t.perm)


def fused_activation(g: Graph, t: Tensor, name: Any, slope: float, base: str) -> Tensor:
    """The activation a Dense or Conv2D applies in its store, as its own node (marked, so that
    :func:`convergent.onnx.load` fuses it back)."""
    ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in (None, "linear"):
        return t
    if name == "leaky_relu":
        return leaky(g, t, slope, base, FUSED)
    return Tensor(g.node(ops[name], [t.name], base, doc=FUSED), t.rank, t.perm)


def _unary(op: str) -> Converter:
    def fn(g: Graph, layer: Any, t: Tensor) -> Tensor:
        return Tensor(g.node(op, [t.name], type(layer).__name__), t.rank, t.perm)

    return fn


for _name, _op in (("ReLU", "Relu"), ("Sigmoid", "Sigmoid"), ("Tanh", "Tanh")):
    converter(_name)(_unary(_op))


@converter("LeakyReLU")
def _leaky_relu(g: Graph, layer: Any, t: Tensor) -> Tensor:
    return leaky(g, t, layer.negative_slope, "LeakyReLU")


@converter("RReLU")
def _rrelu(g: Graph, layer: Any, t: Tensor) -> Tensor:
    # inference: the fixed slope (lower + upper) / 2
    return leaky(g, t, (layer.lower + layer.upper) / 2.0, "RReLU")


@converter("PReLU")
def _prelu(g: Graph, layer: Any, t: Tensor) -> Tensor:
    w = np.asarray(layer.weight)
    if w.size == 1:
        slope = w.reshape(1)
    else:  # our channel axis is axis 1; PRelu broadcasts the slope from the right
        shape = [1] * (t.rank - 1)
        shape[t.axis(1) - 1] = w.size
        slope = w.reshape(shape)
    return Tensor(g.node("PRelu", [t.name, g.const(slope, "PReLU.weight")], "PReLU"), t.rank,
                  t.perm)  # fmt: skip


@converter("Softmax")
def _softmax(g: Graph, layer: Any, t: Tensor) -> Tensor:
    return Tensor(g.node("Softmax", [t.name], "Softmax", axis=t.axis(-1)), t.rank, t.perm)


@converter("Dropout", "GaussianNoise")
def _identity(g: Graph, layer: Any, t: Tensor) -> Tensor:
    return t  # identity in inference


# ---- dense, normalization, residual, containers ----------------------------------------------
@converter("Dense")
def _dense(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = natural(g, t)
    w = g.const(layer.weight, "Dense.weight")
    b = None if layer.bias is None else g.const(layer.bias, "Dense.bias")
    if t.rank == 2:
        y = g.node("Gemm", [t.name, w] + ([b] if b else []), "Dense")
    else:  # (..., in_features): MatMul broadcasts over the leading axes
        y = g.node("MatMul", [t.name, w], "Dense")
        if b:
            y = g.node("Add", [y, b], "Dense.bias")
    out = Tensor(y, t.rank, t.perm)
    return fused_activation(g, out, layer.activation, layer.negative_slope, "Dense.act")


@converter("BatchNorm")
def _batchnorm(g: Graph, layer: Any, t: Tensor) -> Tensor:
    if t.rank == 4:
        t = to_layout(g, t, NCHW)
    elif t.rank != 2:
        raise ValueError(f"BatchNorm takes 2-D or 4-D input, got rank {t.rank}")
    p, b = layer.named_parameters(), layer.buffers()
    ins = [t.name] + [g.const(a, f"BatchNorm.{k}") for k, a in (
        ("weight", p["weight"]), ("bias", p["bias"]),
        ("running_mean", b["running_mean"]), ("running_var", b["running_var"]))]  # fmt: skip
    y = g.node("BatchNormalization", ins, "BatchNorm", epsilon=float(layer.eps))
    return Tensor(y, t.rank, t.perm)


@converter("Sequential")
def _sequential(g: Graph, layer: Any, t: Tensor) -> Tensor:
    for sub in layer.layers:
        t = convert_layer(g, sub, t)
    return t


@converter("Residual")
def _residual(g: Graph, layer: Any, t: Tensor) -> Tensor:
    out = convert_layer(g, layer.block, t)
    skip = t if layer.shortcut is None else convert_layer(g, layer.shortcut, t)
    skip = to_layout(g, skip, out.perm)
    return Tensor(g.node("Add", [out.name, skip.name], "Residual"), out.rank, out.perm)


def model_dtype(model: Any) -> np.dtype:
    """The float type of the model's parameters (float32 without any)."""
    for p in model.parameters():
        if p.dtype in (np.float32, np.float64):
            return np.dtype(p.dtype)
    dt = getattr(model, "dtype", None)
    return np.dtype(dt) if dt is not None else np.dtype(np.float32)


def _first_layer(model: Any) -> Any:
    layer = model
    while True:
        if type(layer).__name__ == "Sequential" and layer.layers:
            layer = layer.layers[0]
        elif type(layer).__name__ == "Residual":
            layer = layer.block
        else:
            return layer


def infer_input_shape(model: Any) -> tuple[Any, ...]:
    """The shape of one sample (no batch axis) the first layer takes; None for a free size."""
    first = _first_layer(model)
    name = type(first).__name__
    if name == "Dense":
        return (first.in_features,)
    if name == "Conv2D":
        return (None, None, first.in_channels)
    if name == "Embedding":
        return (None,)
    if name in ("SimpleRNN", "LSTM", "GRU"):
        return (None, first.input_size)
    if name == "BatchNorm":
        return (first.num_features,)
    raise ValueError(
        f"cannot tell the input shape from the first layer ({name}); pass input_shape "
        "(the shape of one sample, without the batch axis)"
    )


def build_model(model: Any, input_shape: Any = None, opset: int = 17, lengths: bool = False,
                dtype: Any = None, graph_name: str = "convergent") -> Any:  # fmt: skip
    """The ``onnx.ModelProto`` of ``model`` (a Sequential or any convertible layer)."""
    from onnx import TensorProto, checker, helper

    from .. import __version__
    from ..nn import Layer
    from . import _images, _recurrent  # noqa: F401  (register their converters)

    if not isinstance(model, Layer):
        raise TypeError(
            f"model must be a convergent.nn.Sequential (or a layer), got {type(model).__name__}"
        )
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset < 13:
        raise ValueError(f"opset must be an int >= 13, got {opset!r}")
    dt = model_dtype(model) if dtype is None else np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    if input_shape is not None and not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of sizes or None, got {input_shape!r}")
    if not isinstance(lengths, bool):
        raise TypeError(f"lengths must be a bool, got {type(lengths).__name__}")
    shape = infer_input_shape(model) if input_shape is None else tuple(input_shape)
    for i, d in enumerate(shape):
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1):
            raise ValueError(f"input_shape[{i}] must be a positive int or None, got {d!r}")
    g = Graph(dt, opset)
    g.tokens = tokens = type(_first_layer(model)).__name__ == "Embedding"
    in_type = TensorProto.INT64 if tokens else g.elem_type
    dims = ["batch"] + [f"dim{i + 1}" if d is None else int(d) for i, d in enumerate(shape)]
    inputs = [helper.make_tensor_value_info(g.reserve("input"), in_type, dims)]
    if lengths:
        inputs.append(helper.make_tensor_value_info(g.reserve("lengths"), TensorProto.INT32,
                                                    ["batch"]))  # fmt: skip
        g.lengths = "lengths"
    g.reserve("output")
    known = None if None in shape else (1, *shape)
    t = Tensor("input", len(dims), tuple(range(len(dims))), known)
    t = natural(g, convert_layer(g, model, t))
    if t.name == "input":
        g.node("Identity", [t.name], "output", outputs=["output"])
    else:  # rename the last value to "output"
        for node in g.nodes:
            node.output[:] = ["output" if o == t.name else o for o in node.output]
            node.input[:] = ["output" if o == t.name else o for o in node.input]
    outputs = [
        helper.make_tensor_value_info("output", g.elem_type, ["batch"] + [None] * (t.rank - 1))
    ]
    graph = helper.make_graph(g.nodes, graph_name, inputs, outputs, initializer=g.initializers)
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", int(opset))],
        producer_name="convergent", producer_version=__version__,
    )  # fmt: skip
    # the oldest IR version with this opset: readable by as many runtimes as possible
    onnx_model.ir_version = helper.find_min_ir_version_for(list(onnx_model.opset_import))
    checker.check_model(onnx_model, full_check=True)
    return onnx_model


def export(model: Any, path: Any, input_shape: Any = None, opset: int = 17, *,
           lengths: bool = False) -> Any:  # fmt: skip
    """Writes ``model`` to ``path`` as ONNX; returns the ``onnx.ModelProto``.

    ``model``: a ``convergent.nn.Sequential`` (or a layer), or a fitted
    ``convergent.sklearn`` MLPClassifier / MLPRegressor (outputs "label" and "probabilities",
    or "variable", as scikit-learn's converters). ``input_shape``: the shape of one sample
    without the batch axis (None entries are free sizes); by default from the first layer.
    The batch size is free. ``lengths=True`` adds an int32 input "lengths" (batch,) given to
    the recurrent layers as ONNX's ``sequence_lens``.
    """
    from onnx import save_model

    if type(model).__module__.startswith("convergent.sklearn"):
        from ._sklearn import estimator_model

        proto = estimator_model(model, opset=opset)
    else:
        proto = build_model(model, input_shape, opset, lengths)
    save_model(proto, path)
    return proto
