"""ONNX forms of Embedding (Gather) and of SimpleRNN, LSTM and GRU (ONNX's RNN, LSTM and GRU).

Our recurrent layers take batch-first ``(batch, time, features)`` input and keep torch's
parameters in the transposed layout: ``weight_ih (input_size, G*hidden)``, ``weight_hh (hidden,
G*hidden)``, ``bias_ih``, ``bias_hh`` (G*hidden each; the same four again for the reverse
direction), gates in torch's order. ONNX wants ``W [dirs, G*hidden, input]``, ``R [dirs,
G*hidden, hidden]``, ``B [dirs, 2*G*hidden]`` (input biases then recurrent biases) with its own
gate orders:

- LSTM: torch ``i, f, g, o`` -> ONNX ``i, o, f, c``;
- GRU: torch ``r, z, n`` -> ONNX ``z, r, h``, with ``linear_before_reset=1`` (torch's GRU applies
  the reset gate after the recurrent product, bias included);
- RNN (SimpleRNN): one tanh gate.

The sequence axis goes first for the ONNX operator (a Transpose each way). With
``return_sequences`` the output is ``Y`` as ``(batch, time, dirs*hidden)``, else ``Y_h`` as
``(batch, dirs*hidden)``: the forward direction's state at each sample's last valid step, the
reverse direction's after reading step 0 (ONNX's semantics with ``sequence_lens``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._export import converter
from ._graph import Graph, Tensor, natural

__all__ = ["GATES", "onnx_weights", "our_weights"]

# name -> (ONNX operator, number of gates, ONNX gate order as indices into torch's order)
GATES = {"SimpleRNN": ("RNN", 1, [0]), "LSTM": ("LSTM", 4, [0, 3, 1, 2]),
         "GRU": ("GRU", 3, [1, 0, 2])}  # fmt: skip


def _reorder(a: np.ndarray, order: list[int], hidden: int) -> np.ndarray:
    """Gate blocks of ``a`` (gates along axis 0, ``hidden`` rows each) in ``order``."""
    return np.concatenate([a[k * hidden : (k + 1) * hidden] for k in order], axis=0)


def onnx_weights(kind: str, params: list[np.ndarray], hidden: int) -> tuple[np.ndarray, ...]:
    """``(W, R, B)`` of ONNX's operator from our parameters (4 per direction, see above)."""
    _, gates, order = GATES[kind]
    if len(params) % 4 or len(params) == 0:
        raise ValueError(f"{kind}: expected 4 parameters per direction, got {len(params)}")
    ws, rs, bs = [], [], []
    for d in range(len(params) // 4):
        w_ih, w_hh, b_ih, b_hh = (np.asarray(p) for p in params[4 * d : 4 * d + 4])
        if w_ih.shape[1] != gates * hidden or w_hh.shape != (hidden, gates * hidden):
            raise ValueError(
                f"{kind}: weight_ih {w_ih.shape} / weight_hh {w_hh.shape} do not have "
                f"{gates} gates of hidden size {hidden}"
            )
        ws.append(_reorder(w_ih.T, order, hidden))
        rs.append(_reorder(w_hh.T, order, hidden))
        bs.append(np.concatenate([_reorder(b_ih, order, hidden), _reorder(b_hh, order, hidden)]))
    return np.stack(ws), np.stack(rs), np.stack(bs)


def our_weights(kind: str, w: np.ndarray, r: np.ndarray, b: np.ndarray | None,
                hidden: int) -> list[np.ndarray]:  # fmt: skip
    """Our parameters (4 per direction) from ONNX's ``W, R, B`` (``B`` None: zero biases):
    the inverse of :func:`onnx_weights`."""
    _, gates, order = GATES[kind]
    inv = [int(i) for i in np.argsort(order)]
    g = gates * hidden
    if w.ndim != 3 or w.shape[1] != g or r.shape != (w.shape[0], g, hidden):
        raise ValueError(f"{kind}: W {w.shape} / R {r.shape} do not have {gates} gates of "
                         f"hidden size {hidden}")  # fmt: skip
    params = []
    for d in range(w.shape[0]):
        bd = np.zeros(2 * g, w.dtype) if b is None else b[d]
        params += [_reorder(w[d], inv, hidden).T, _reorder(r[d], inv, hidden).T,
                   _reorder(bd[:g], inv, hidden), _reorder(bd[g:], inv, hidden)]  # fmt: skip
    return params


def _recurrent(g: Graph, layer: Any, t: Tensor) -> Tensor:
    kind = type(layer).__name__
    op, _, _ = GATES[kind]
    hidden = int(layer.hidden_size)
    if t.rank != 3:
        raise ValueError(f"{kind} takes (batch, time, features) input, got rank {t.rank}")
    t = natural(g, t)
    w, r, b = onnx_weights(kind, layer.parameters(), hidden)
    dirs = 2 if layer.bidirectional else 1
    if w.shape[0] != dirs:
        raise ValueError(f"{kind}: {w.shape[0]} directions of parameters, expected {dirs}")
    x = g.node("Transpose", [t.name], f"{kind}.time_first", perm=[1, 0, 2])
    ins = [x, g.const(w, f"{kind}.W"), g.const(r, f"{kind}.R"), g.const(b, f"{kind}.B")]
    if g.lengths is not None:
        ins.append(g.lengths)
    seq = bool(layer.return_sequences)
    attrs: dict[str, Any] = {"hidden_size": hidden,
                             "direction": "bidirectional" if dirs == 2 else "forward"}  # fmt: skip
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    y, y_h = g.unique(f"{kind}.Y"), g.unique(f"{kind}.Y_h")
    g.node(op, ins, kind, outputs=[y if seq else "", y_h], **attrs)
    if seq:  # Y (time, dirs, batch, hidden) -> (batch, time, dirs * hidden)
        y = g.node("Transpose", [y], f"{kind}.batch_first", perm=[2, 0, 1, 3])
        shape = g.const(np.array([0, 0, -1], np.int64), f"{kind}.shape", np.int64)
        return Tensor(g.node("Reshape", [y, shape], f"{kind}.output"), 3, (0, 1, 2))
    y = g.node("Transpose", [y_h], f"{kind}.batch_first", perm=[1, 0, 2])
    shape = g.const(np.array([0, -1], np.int64), f"{kind}.shape", np.int64)
    return Tensor(g.node("Reshape", [y, shape], f"{kind}.output"), 2, (0, 1))


for _kind in GATES:
    converter(_kind)(_recurrent)


@converter("Embedding")
def _embedding(g: Graph, layer: Any, t: Tensor) -> Tensor:
    w = g.const(layer.named_parameters()["weight"], "Embedding.weight")
    return Tensor(g.node("Gather", [w, t.name], "Embedding", axis=0), t.rank + 1,
                  tuple(range(t.rank + 1)))  # fmt: skip
