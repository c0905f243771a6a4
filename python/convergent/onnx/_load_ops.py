"""The operator table of :func:`convergent.onnx.load`: ONNX node -> convergent layers.

Each function takes (builder, node, attributes, state, next items) and returns (layers, new
state, how many of the next items it consumed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ._graph import NCHW, float_attr
from ._recurrent import our_weights

__all__ = ["OPS", "LoadError"]


class LoadError(ValueError):
    """The ONNX graph has a node or a structure without a convergent form."""


OPS: dict[str, Any] = {}


def op(*names: str) -> Any:
    def deco(fn: Any) -> Any:
        for n in names:
            OPS[n] = fn
        return fn

    return deco


def _need(cond: bool, node: Any, what: str) -> None:
    if not cond:
        raise LoadError(f"node {node.name!r} ({node.op_type}): {what}")


def _set(layer: Any, **arrays: np.ndarray) -> Any:
    mine = {**layer.named_parameters(), **layer.buffers()}
    for k, v in arrays.items():
        if v is None:
            continue
        if mine[k].shape != np.shape(v):
            raise LoadError(f"{type(layer).__name__}.{k}: shape {np.shape(v)}, expected "
                            f"{mine[k].shape}")  # fmt: skip
        np.copyto(mine[k], v, casting="unsafe")
    return layer


@op("Identity", "Dropout")
def _identity(b, node, a, st, nxt):
    return [], st, 0


@op("Transpose")
def _transpose(b, node, a, st, nxt):
    _need(st.fidx is None and not st.pending, node, "a transpose of flattened values")
    r = a.get("perm", list(range(st.rank))[::-1])
    return [], replace(st, perm=tuple(st.perm[i] for i in r)), 0


def _features_last(b, node, st) -> None:
    _need(st.perm == tuple(range(st.rank)), node, "the features must be the last axis")


def _weight_rows(w: np.ndarray, st) -> np.ndarray:
    if st.fidx is None:
        return w
    out = np.empty_like(w)
    out[st.fidx] = w  # ONNX feature j is our feature fidx[j]
    return out


@op("Gemm", "MatMul")
def _dense(b, node, a, st, nxt):
    from .. import nn

    _features_last(b, node, st)
    w = b.const(node, 1)
    if node.op_type == "Gemm":
        _need(a.get("transA", 0) == 0 and float_attr(a.get("alpha", 1.0)) == 1.0
              and float_attr(a.get("beta", 1.0)) == 1.0, node, "transA, alpha or beta")  # fmt: skip
        _need(st.rank == 2, node, "Gemm of a tensor that is not 2-D")
        w = w.T if a.get("transB", 0) else w
        bias = b.const(node, 2)
        used = 0
    else:
        _need(w is not None and w.ndim == 2, node, "MatMul by a 2-D constant")
        bias, used = None, 0
        if nxt and nxt[0][0] == "node" and nxt[0][1].op_type == "Add":
            add = nxt[0][1]
            c = [i for i in add.input if i in b.r.consts]
            if len(c) == 1 and b.r.uses.get(node.output[0], 0) == 1:
                bias, used = b.r.consts[c[0]], 1
    w = _weight_rows(np.asarray(w), st)
    out_features = w.shape[1]
    if bias is not None:
        bias = np.asarray(bias).reshape(-1)
        if bias.size == 1 and out_features > 1:
            bias = np.full(out_features, bias[0])
        _need(bias.size == out_features, node, f"bias of shape {bias.shape}")
    last = b.r.producer[add.output[0]][1] if used else node
    act, slope, k = b.fused(last, nxt[used:])
    layer = nn.Dense(w.shape[0], out_features, act, bias=bias is not None, init="zeros",
                     negative_slope=slope, dtype=b.dtype())  # fmt: skip
    _set(layer, weight=w, bias=bias)
    return [layer], replace(st, fidx=None), used + k


@op("Relu", "Sigmoid", "Tanh")
def _act(b, node, a, st, nxt):
    from .. import nn

    return [getattr(nn, {"Relu": "ReLU"}.get(node.op_type, node.op_type))()], st, 0


@op("LeakyRelu")
def _leaky(b, node, a, st, nxt):
    from .. import nn

    return [nn.LeakyReLU(float_attr(a.get("alpha", 0.01)))], st, 0


@op("PRelu")
def _prelu(b, node, a, st, nxt):
    from .. import nn

    s = np.asarray(b.const(node, 1))
    if s.ndim == 0:
        return [nn.LeakyReLU(float(s))], st, 0
    if s.size == 1:
        return [_set(nn.PReLU(1, dtype=b.dtype()), weight=s.reshape(1))], st, 0
    axes = [st.rank - s.ndim + k for k, d in enumerate(s.shape) if d != 1]
    _need(len(axes) == 1 and st.perm[axes[0]] == 1, node,
          "a slope per entry of an axis other than our channel axis 1")  # fmt: skip
    w = s.reshape(-1)
    if st.fidx is not None:
        w = _weight_rows(w[:, None], st)[:, 0]
    return [_set(nn.PReLU(w.size, dtype=b.dtype()), weight=w)], st, 0


@op("Softmax")
def _softmax(b, node, a, st, nxt):
    from .. import nn

    axis = a.get("axis", -1) % st.rank
    _need(st.perm[axis] == st.rank - 1 and st.fidx is None, node, "softmax over an inner axis")
    return [nn.Softmax()], st, 0


@op("BatchNormalization")
def _batchnorm(b, node, a, st, nxt):
    from .. import nn

    _need(len([o for o in node.output if o]) == 1, node, "training-mode outputs")
    _need((st.rank == 2 and st.perm == (0, 1)) or (st.rank == 4 and st.perm == NCHW), node,
          "channels must be ONNX axis 1 of (N, C) or NCHW values")  # fmt: skip
    scale, bias, mean, var = (np.asarray(b.const(node, k)) for k in range(1, 5))
    if st.fidx is not None:
        scale, bias, mean, var = (_weight_rows(v[:, None], st)[:, 0]
                                  for v in (scale, bias, mean, var))  # fmt: skip
    momentum = round(1.0 - float_attr(a.get("momentum", 0.9)), 10)
    layer = nn.BatchNorm(scale.size, eps=float_attr(a.get("epsilon", 1e-5)), momentum=momentum,
                         dtype=b.dtype())  # fmt: skip
    return [_set(layer, weight=scale, bias=bias, running_mean=mean, running_var=var)], st, 0


def _pads(node: Any, a: dict, n: int = 2) -> tuple[int, int] | None:
    p = list(a.get("pads", [0] * 2 * n))
    if p[:n] != p[n:]:
        return None
    return tuple(int(v) for v in p[:n])


def _images(node, st) -> None:
    _need(st.rank == 4 and st.perm == NCHW and st.fidx is None, node, "input is not NCHW images")


@op("Conv")
def _conv(b, node, a, st, nxt):
    from .. import nn
    from ..reference.conv import same_padding

    _images(node, st)
    w = np.asarray(b.const(node, 1))
    _need(w.ndim == 4, node, "only 2-D convolutions")
    cout, cin_g, kh, kw = w.shape
    group, stride = a.get("group", 1), tuple(a.get("strides", [1, 1]))
    dil = tuple(a.get("dilations", [1, 1]))
    auto = a.get("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        padding: Any = "same"
    elif auto == "VALID":
        padding = 0
    else:
        _need(auto == "NOTSET", node, f"auto_pad {auto}")
        padding = _pads(node, a)
        if padding is None:  # asymmetric: Keras's "same" for this input size?
            shape, p, want = b.shape(node.input[0]), list(a["pads"]), None
            if shape is not None and None not in shape[2:]:
                (t, bo), (lf, r) = (same_padding(shape[2 + i], (kh, kw)[i], stride[i], dil[i])
                                    for i in range(2))  # fmt: skip
                want = [t, lf, bo, r]
            _need(want == p, node, f"asymmetric pads {p} other than 'same'")
            padding = "same"
    act, slope, k = b.fused(node, nxt)
    layer = nn.Conv2D(cin_g * group, cout, (kh, kw), stride=stride, padding=padding,
                      dilation=dil, groups=group, activation=act, negative_slope=slope,
                      bias=len(node.input) > 2 and bool(node.input[2]), init="zeros",
                      dtype=b.dtype())  # fmt: skip
    return [_set(layer, weight=w.transpose(2, 3, 1, 0), bias=b.const(node, 2))], st, k


def _pool_args(node, a, st):
    _images(node, st)
    _need(a.get("ceil_mode", 0) == 0, node, "ceil_mode=1")
    _need(list(a.get("dilations", [1, 1])) == [1, 1], node, "dilated pooling")
    _need(a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID"), node, "auto_pad")
    pads = _pads(node, a)
    _need(pads is not None, node, "asymmetric pads")
    kernel = tuple(a["kernel_shape"])
    return kernel, tuple(a.get("strides", [1, 1])), pads


@op("MaxPool")
def _maxpool(b, node, a, st, nxt):
    from .. import nn

    _need(len([o for o in node.output if o]) == 1, node, "the indices output")
    _need(a.get("storage_order", 0) == 0, node, "storage_order=1")
    kernel, stride, pads = _pool_args(node, a, st)
    return [nn.MaxPool2D(kernel, stride, pads)], st, 0


@op("AveragePool")
def _avgpool(b, node, a, st, nxt):
    from .. import nn

    kernel, stride, pads = _pool_args(node, a, st)
    _need(a.get("count_include_pad", 0) == 1 or pads == (0, 0), node,
          "count_include_pad=0 with padding (ours divides by the whole window)")  # fmt: skip
    return [nn.AvgPool2D(kernel, stride, pads)], st, 0


@op("GlobalAveragePool")
def _global_avg(b, node, a, st, nxt):
    from .. import nn

    _images(node, st)
    return [nn.GlobalAvgPool2D()], _squeezed(st, "GlobalAveragePool"), 0


def _squeezed(st, pending):  # a (N, C) value that ONNX holds as (N, C, 1, 1)
    return replace(st, rank=2, perm=(0, 1), pending=pending)


@op("ReduceMean")
def _reduce_mean(b, node, a, st, nxt):
    from .. import nn

    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        axes = b.const(node, 1).tolist()
    _need(st.rank == 4 and axes is not None, node, "a mean over other axes than the image's")
    ours = sorted(st.perm[x % 4] for x in axes)
    _need(ours == [1, 2], node, "a mean over other axes than height and width")
    if a.get("keepdims", 1):
        _need(st.perm == NCHW, node, "keepdims on NHWC values")
        return [nn.GlobalAvgPool2D()], _squeezed(st, "ReduceMean"), 0
    return [nn.GlobalAvgPool2D()], replace(st, rank=2, perm=(0, 1)), 0


@op("Flatten", "Reshape", "Squeeze")
def _flatten(b, node, a, st, nxt):
    from .. import nn

    if node.op_type == "Flatten":
        _need(a.get("axis", 1) == 1, node, "axis other than 1")
    elif node.op_type == "Reshape":
        shape = np.asarray(b.const(node, 1)).tolist()
        dims = b.shape(node.input[0]) or []
        rest = dims[1:]
        full = None if None in rest or not rest else int(np.prod(rest))
        _need(len(shape) == 2 and shape[1] in (-1, full) and (shape[0] in (0, -1) or
              (len(dims) and shape[0] == dims[0])), node, f"a reshape to {shape}")  # fmt: skip
    if st.pending:
        return [], replace(st, pending=""), 0
    _need(node.op_type != "Squeeze", node, "a squeeze")
    if st.rank == 2:
        return [], st, 0
    if st.perm == tuple(range(st.rank)):
        return [nn.Flatten()], st.__class__(2, (0, 1)), 0
    _need(st.rank == 4 and st.perm == NCHW, node, "a flatten of transposed values")
    dims = b.shape(node.input[0])
    _need(
        dims is not None and None not in dims[1:], node, "a flatten of NCHW values of unknown size"
    )
    c, h, w = dims[1:]
    fidx = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
    return [nn.Flatten()], st.__class__(2, (0, 1), fidx), 0


@op("Resize", "Upsample")
def _resize(b, node, a, st, nxt):
    from .. import nn

    _images(node, st)
    _need(a.get("mode", "nearest") == "nearest", node, f"mode {a.get('mode')}")
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    rnd = a.get("nearest_mode", "round_prefer_floor")
    _need((ctm, rnd) in (("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                         ("pytorch_half_pixel", "round_prefer_floor")), node,
          f"coordinate_transformation_mode {ctm} with nearest_mode {rnd}")  # fmt: skip
    scales = b.const(node, 1 if node.op_type == "Upsample" else 2)
    if scales is None or np.size(scales) == 0:
        sizes, dims = b.const(node, 3), b.shape(node.input[0])
        _need(sizes is not None and dims is not None and None not in dims, node, "sizes unknown")
        scales = np.asarray(sizes, np.float64) / np.asarray(dims, np.float64)
    s = np.asarray(scales, np.float64).tolist()
    _need(s[:2] == [1, 1] and all(v == int(v) and v >= 1 for v in s[2:]), node,
          f"scales {s} (integer upsampling of height and width only)")  # fmt: skip
    return [nn.UpSampling2D((int(s[2]), int(s[3])))], st, 0


@op("Gather")
def _gather(b, node, a, st, nxt):
    from .. import nn

    w = b.const(node, 0)
    _need(w is not None and a.get("axis", 0) == 0 and w.ndim == 2, node,
          "a lookup in a constant (num_embeddings, dim) table")  # fmt: skip
    _need(hasattr(nn, "Embedding"), node, "this convergent has no Embedding layer")
    layer = nn.Embedding(w.shape[0], w.shape[1])
    _set(layer, weight=w)
    return [layer], st.__class__(st.rank + 1, tuple(range(st.rank + 1))), 0


@op("RNN", "LSTM", "GRU")
def _recurrent(b, node, a, st, nxt):
    from .. import nn

    kind = {"RNN": "SimpleRNN"}.get(node.op_type, node.op_type)
    _need(hasattr(nn, kind), node, f"this convergent has no {kind} layer")
    _need(st.rank == 3 and st.perm == (1, 0, 2), node, "input not from (batch, time, features)")
    _need(a.get("layout", 0) == 0 and not a.get("clip") and not a.get("input_forget"), node,
          "layout, clip or input_forget")  # fmt: skip
    acts = [x.decode() if isinstance(x, bytes) else x for x in a.get("activations", [])]
    default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
    _need(not acts or acts == default[node.op_type] * (len(acts) // len(default[node.op_type])),
          node, f"activations {acts} (ours are ONNX's defaults)")  # fmt: skip
    if node.op_type == "GRU":
        _need(a.get("linear_before_reset", 0) == 1, node, "linear_before_reset=0 (torch's is 1)")
    hidden = int(a["hidden_size"])
    dirs = {"forward": 1, "bidirectional": 2}.get(a.get("direction", "forward"))
    _need(dirs is not None, node, "direction 'reverse'")
    w, r, bias = (b.const(node, k) for k in (1, 2, 3))
    seq = len(node.output) > 0 and bool(node.output[0])
    # our export's tail: Transpose to batch first, then Reshape merging the directions
    _need(len(nxt) == 2 and all(i[0] == "node" for i in nxt)
          and [i[1].op_type for i in nxt] == ["Transpose", "Reshape"], node,
          "the output must go through convergent's Transpose + Reshape")  # fmt: skip
    params = our_weights(kind, np.asarray(w), np.asarray(r), bias, hidden)
    layer = getattr(nn, kind)(w.shape[2], hidden, return_sequences=seq, bidirectional=dirs == 2,
                              dtype=w.dtype)  # fmt: skip
    for dst, src in zip(layer.parameters(), params):
        np.copyto(dst, src, casting="unsafe")
    return [layer], st.__class__(3 if seq else 2, (0, 1, 2) if seq else (0, 1)), 2
