"""ONNX forms of the image layers (NHWC here, NCHW in ONNX): Conv2D, pools, upsampling,
flatten."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._export import converter, fused_activation
from ._graph import NCHW, Graph, Tensor, natural, to_layout


@converter("Conv2D")
def _conv2d(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = to_layout(g, t, NCHW)
    w = g.const(np.asarray(layer.weight).transpose(3, 2, 0, 1), "Conv2D.weight")
    ins = [t.name, w] + ([] if layer.bias is None else [g.const(layer.bias, "Conv2D.bias")])
    attrs: dict[str, Any] = {
        "kernel_shape": list(layer.kernel_size),
        "strides": list(layer.stride),
        "dilations": list(layer.dilation),
        "group": int(layer.groups),
    }
    if layer.padding == "same":  # Keras's "same": the odd pixel at the bottom/right
        (sh, sw), (dh, dw) = layer.stride, layer.dilation
        if t.shape is not None or (sh, sw) == (1, 1):  # pads known (stride 1: d * (k - 1))
            h, w_ = t.shape[1:3] if t.shape is not None else (1, 1)
            top, bottom, left, right = layer.paddings(h, w_)
            attrs["pads"] = [top, left, bottom, right]
        elif (dh, dw) == (1, 1):
            attrs["auto_pad"] = "SAME_UPPER"  # the pads depend on the input size
        else:
            raise ValueError(
                "Conv2D with padding='same', stride > 1 and dilation > 1 needs the image size: "
                "pass input_shape"
            )
    else:
        ph, pw = (0, 0) if layer.padding == "valid" else layer.padding
        attrs["pads"] = [ph, pw, ph, pw]
    y = Tensor(g.node("Conv", ins, "Conv2D", **attrs), 4, NCHW)
    return fused_activation(g, y, layer.activation, layer.negative_slope, "Conv2D.act")


def _pool_attrs(layer: Any) -> dict[str, Any]:
    (ph, pw) = layer.padding
    return {"kernel_shape": list(layer.pool_size), "strides": list(layer.stride),
            "pads": [ph, pw, ph, pw]}  # fmt: skip


@converter("MaxPool2D")
def _maxpool(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = to_layout(g, t, NCHW)
    return Tensor(g.node("MaxPool", [t.name], "MaxPool2D", **_pool_attrs(layer)), 4, NCHW)


@converter("AvgPool2D")
def _avgpool(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = to_layout(g, t, NCHW)  # our average divides by the whole window, padding included
    y = g.node("AveragePool", [t.name], "AvgPool2D", count_include_pad=1, **_pool_attrs(layer))
    return Tensor(y, 4, NCHW)


@converter("GlobalAvgPool2D")
def _global_avg(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = to_layout(g, t, NCHW)
    y = g.node("GlobalAveragePool", [t.name], "GlobalAvgPool2D")
    return Tensor(g.node("Flatten", [y], "GlobalAvgPool2D.flatten", axis=1), 2, (0, 1))


@converter("UpSampling2D")
def _upsampling(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = to_layout(g, t, NCHW)
    sh, sw = layer.size
    scales = g.const(np.array([1, 1, sh, sw], np.float32), "UpSampling2D.scales", np.float32)
    y = g.node("Resize", [t.name, "", scales], "UpSampling2D", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")  # fmt: skip
    return Tensor(y, 4, NCHW)


@converter("Flatten")
def _flatten(g: Graph, layer: Any, t: Tensor) -> Tensor:
    t = natural(g, t)  # our flatten is in NHWC order: channels fastest
    if t.rank == 2:
        return t
    return Tensor(g.node("Flatten", [t.name], "Flatten", axis=1), 2, (0, 1))
