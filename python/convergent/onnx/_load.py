"""Import: a Sequential from an ONNX graph of the operators convergent exports.

The graph is read as a chain of nodes from its input to its output; an ``Add`` of two computed
values is a :class:`~convergent.nn.Residual` (its branches are the chains from their nearest
common ancestor). Each tensor's layout is tracked as in the exporter (``onnx = transpose(ours,
perm)``): Transpose nodes change it and make no layer; a 4-D graph input that goes straight
into image operators is NCHW (unless convergent wrote the graph), so the loaded model takes NHWC
images (``x.transpose(0, 2, 3, 1)``); a Flatten of NCHW values becomes our (NHWC-order) Flatten
with the next Dense's weight rows permuted to match, so the outputs are the same.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._export import FUSED
from ._graph import NCHW, float_attr
from ._load_ops import OPS, LoadError

__all__ = ["load"]


@dataclass(frozen=True)
class State:
    """Our tensor's rank and layout; ``fidx`` (2-D only): ONNX feature j is our feature
    ``fidx[j]``; ``pending``: an ONNX op whose (N, C, 1, 1) output we hold as (N, C)."""

    rank: int
    perm: tuple[int, ...]
    fidx: Any = None
    pending: str = ""


class _Reader:
    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper, shape_inference

        with contextlib.suppress(Exception):  # shapes are a help, not a requirement
            model = shape_inference.infer_shapes(model)
        g = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.nodes = []
        for node in g.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            else:
                self.nodes.append(node)
        self.producer = {o: (i, n) for i, n in enumerate(self.nodes) for o in n.output if o}
        self.uses: dict[str, int] = {}
        for n in self.nodes:
            for i in n.input:
                self.uses[i] = self.uses.get(i, 0) + 1
        for o in g.output:
            self.uses[o.name] = self.uses.get(o.name, 0) + 1
        self.shapes: dict[str, list[Any]] = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            t = vi.type.tensor_type
            if t.HasField("shape"):
                self.shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                                        for d in t.shape.dim]  # fmt: skip
        inputs = [i for i in g.input if i.name not in self.consts]
        if not inputs:
            raise LoadError("the graph has no input")
        self.input = inputs[0]
        self.lengths = {i.name for i in inputs[1:]}
        if len(g.output) != 1:
            raise LoadError(f"the graph has {len(g.output)} outputs; a Sequential has one")
        self.output = g.output[0].name
        elem = self.input.type.tensor_type.elem_type
        self.dtype = {1: np.float32, 11: np.float64}.get(elem)
        if self.dtype is None:  # token ids in: the float type of the weights
            floats = [c.dtype for c in self.consts.values() if c.dtype.kind == "f"]
            self.dtype = floats[0] if floats else np.float32

    def dynamic(self, node: Any) -> list[str]:
        return [i for i in node.input if i and i not in self.consts and i not in self.lengths]

    def _ancestors(self, name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in self.producer:
                todo.extend(self.dynamic(self.producer[t][1]))
        return seen

    def _order(self, name: str) -> int:
        return self.producer[name][0] if name in self.producer else -1

    def chain(self, start: str, end: str) -> list[Any]:
        """The items from ``start`` to ``end`` in forward order: ("node", node) or
        ("residual", node, block items, shortcut items)."""
        items: list[Any] = []
        cur = end
        while cur != start:
            if cur not in self.producer:
                raise LoadError(f"value {cur!r} is not computed from the graph's input")
            node = self.producer[cur][1]
            dyn = self.dynamic(node)
            if node.op_type in ("Add", "Sum") and len(dyn) == 2:
                a, b = dyn
                common = self._ancestors(a) & self._ancestors(b)
                branch = max(common, key=self._order)
                items.append(("residual", node, self.chain(branch, a), self.chain(branch, b)))
                cur = branch
                continue
            if len(dyn) != 1:
                raise LoadError(
                    f"node {node.name!r} ({node.op_type}) has {len(dyn)} computed inputs; "
                    "convergent.onnx.load reads chains of single-input layers and residual Adds"
                )
            items.append(("node", node))
            cur = dyn[0]
        return items[::-1]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class _Builder:
    def __init__(self, reader: _Reader) -> None:
        self.r = reader

    def build(self, items: list[Any], st: State) -> tuple[list[Any], State]:
        from .. import nn

        layers: list[Any] = []
        i = 0
        while i < len(items):
            item = items[i]
            if item[0] == "residual":
                block, sb = self.build(item[2], st)
                short, ss = self.build(item[3], st)
                if (sb.rank, sb.perm, _key(sb.fidx)) != (ss.rank, ss.perm, _key(ss.fidx)):
                    raise LoadError(f"the two inputs of {item[1].name!r} have different layouts")
                if not block:
                    block, short = short, []
                if not block:
                    raise LoadError(f"node {item[1].name!r}: an Add of a value with itself")
                layers.append(nn.Residual(_one(block), _one(short) if short else None))
                st = sb
                i += 1
                continue
            node = item[1]
            fn = OPS.get(node.op_type)
            if fn is None:
                raise LoadError(
                    f"node {node.name!r}: operator {node.op_type} has no convergent layer "
                    f"(supported: {', '.join(sorted(OPS))})"
                )
            if st.pending and node.op_type not in ("Flatten", "Reshape", "Squeeze"):
                raise LoadError(f"node {node.name!r}: {node.op_type} after {st.pending} "
                                "(expected a Flatten, Reshape or Squeeze)")  # fmt: skip
            nxt = items[i + 1 : i + 3]
            new, st, used = fn(self, node, _attrs(node), st, nxt)
            layers.extend(new)
            i += 1 + used
        return layers, st

    # helpers for the operator functions
    def const(self, node: Any, k: int) -> np.ndarray:
        name = node.input[k] if k < len(node.input) else ""
        if not name:
            return None
        if name not in self.r.consts:
            raise LoadError(f"node {node.name!r}: input {k} ({name!r}) must be a constant")
        return self.r.consts[name]

    def shape(self, name: str) -> list[Any] | None:
        return self.r.shapes.get(name)

    def dtype(self) -> Any:
        return self.r.dtype or np.float32

    def fused(self, node: Any, nxt: list[Any]) -> tuple[str | None, float, int]:
        """The activation after ``node`` to fuse into it: (name, slope, items used)."""
        if not nxt or nxt[0][0] != "node" or self.r.uses.get(node.output[0], 0) != 1:
            return None, 0.01, 0
        act = nxt[0][1]
        if act.op_type == "Relu":  # same bits fused or not
            return "relu", 0.01, 1
        if act.doc_string != FUSED:
            return None, 0.01, 0
        if act.op_type in ("Sigmoid", "Tanh"):
            return act.op_type.lower(), 0.01, 1
        if act.op_type == "LeakyRelu":
            return "leaky_relu", float_attr(_attrs(act).get("alpha", 0.01)), 1
        if act.op_type == "PRelu":
            return "leaky_relu", float(self.const(act, 1)), 1
        return None, 0.01, 0


def _key(fidx: Any) -> Any:
    return None if fidx is None else tuple(fidx.tolist())


def _one(layers: list[Any]) -> Any:
    from .. import nn

    return layers[0] if len(layers) == 1 else nn.Sequential(layers, seed=None)


def load(path: Any) -> Any:
    """A ``convergent.nn.Sequential`` computing the ONNX model at ``path`` (a file name, or an
    ``onnx.ModelProto``). See the module docstring for layouts; an operator without a
    convergent layer raises ValueError naming the node."""
    import onnx

    from .. import nn

    model = path if isinstance(path, onnx.ModelProto) else onnx.load(path)
    reader = _Reader(model)
    items = reader.chain(reader.input.name, reader.output)
    dims = reader.shapes.get(reader.input.name, [])
    rank = len(dims)
    perm = tuple(range(rank))
    first = next((it[1] for it in items if it[0] == "node"), None)
    ours = model.producer_name == "convergent"  # our exports take our own layout
    if rank == 4 and not ours and not (first is not None and first.op_type == "Transpose"):
        perm = NCHW  # an NCHW input: our model takes the NHWC transpose
    layers, st = _Builder(reader).build(items, State(rank, perm))
    if st.fidx is not None or st.pending:
        raise LoadError("the graph ends in a flatten of NCHW values, which has no NHWC form")
    return nn.Sequential(layers, seed=None)
