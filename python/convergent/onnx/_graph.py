"""A small builder of ONNX graphs, and the layout bookkeeping of the exporter.

Tensors are tracked as :class:`Tensor`: the ONNX value's name, its rank, and the permutation
``perm`` with ``onnx_value = transpose(ours, perm)``. Our images are NHWC; ONNX's image
operators want NCHW, so a tensor can live in either layout inside the graph and is transposed
only when an operator needs the other one (at the graph's edges, and around Flatten).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NCHW", "Graph", "Tensor", "float_attr", "natural", "to_layout"]

NCHW = (0, 3, 1, 2)  # onnx = transpose(ours NHWC, NCHW)


def float_attr(v: float) -> float:
    """The Python float an ONNX float (float32) attribute ``v`` was written from, when that
    value has a short decimal form (1e-05, 0.01): float32's shortest repr read as a double."""
    return float(str(np.float32(v)))


@dataclass(frozen=True)
class Tensor:
    name: str
    rank: int
    perm: tuple[int, ...]
    shape: tuple[int, ...] | None = None  # ours (batch 1), when every size is known

    def axis(self, ours: int) -> int:
        """The ONNX axis of our axis ``ours`` (negative counts from the end)."""
        return self.perm.index(ours % self.rank)


class Graph:
    """Nodes and initializers of one graph, with unique names. ``dtype``: the float type of the
    weights (float32 or float64); ``prefix`` is put before every generated name."""

    def __init__(self, dtype: Any, opset: int, prefix: str = "") -> None:
        from onnx import helper

        self.dtype = np.dtype(dtype)
        self.elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.opset = int(opset)
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = set()
        self.lengths: str | None = None  # the sequence_lens input of recurrent nodes
        self.tokens = False  # the graph's input is token ids (an Embedding first)
        self.transposed: dict[tuple[str, tuple[int, ...]], str] = {}

    def unique(self, base: str) -> str:
        base = self.prefix + base
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        self._used.add(name)
        return name

    def const(self, value: Any, base: str, dtype: Any = None) -> str:
        """An initializer holding ``value`` (in the graph's float type unless ``dtype``)."""
        from onnx import numpy_helper

        arr = np.array(value, self.dtype if dtype is None else dtype, order="C")
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], base: str, n_out: int = 1, doc: str = "",
             outputs: list[str] | None = None, **attrs: Any) -> Any:  # fmt: skip
        """Adds ``op``; returns its output name (a list when ``n_out > 1``). An output given as
        ``""`` in ``outputs`` is left out (optional ONNX outputs)."""
        from onnx import helper

        if outputs is None:
            outputs = [self.unique(f"{base}_out{i}" if n_out > 1 else base) for i in range(n_out)]
        node = helper.make_node(op, inputs, outputs, name=self.unique(f"{base}/{op}"), **attrs)
        if doc:
            node.doc_string = doc
        self.nodes.append(node)
        return outputs[0] if n_out == 1 else outputs


def to_layout(g: Graph, t: Tensor, perm: tuple[int, ...]) -> Tensor:
    """``t`` in the layout ``perm`` (a Transpose node when it is in another one)."""
    if t.perm == tuple(perm):
        return t
    key = (t.name, tuple(perm))
    if key not in g.transposed:  # one Transpose per value and layout (residual branches)
        r = [t.perm.index(p) for p in perm]
        g.transposed[key] = g.node("Transpose", [t.name], "transpose", perm=r)
    return Tensor(g.transposed[key], t.rank, tuple(perm), t.shape)


def natural(g: Graph, t: Tensor) -> Tensor:
    """``t`` in our own layout (NHWC for images)."""
    return to_layout(g, t, tuple(range(t.rank)))
