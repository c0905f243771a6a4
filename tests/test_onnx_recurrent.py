"""ONNX forms of Embedding and of the recurrent layers (SimpleRNN, LSTM, GRU).

The gate reordering (torch's LSTM i,f,g,o -> ONNX i,o,f,c; GRU r,z,n -> z,r,h with
linear_before_reset=1), the W/R/B layouts, bidirectional outputs and sequence lengths are
checked against torch 2.13.0: layers that hold torch's weights in convergent's layout
(``weight_ih (input, G*hidden)``, ...) and compute with torch are exported by convergent.onnx
and run in onnxruntime. The same tests run convergent's own layers where this build has them.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _onnx_helpers import assert_close, check_export, run_ort

nn = cg.nn
torch = pytest.importorskip("torch", reason="torch 2.13 is the reference for the gate orders")


def _torch_rnn(kind, input_size, hidden, bidirectional, seed):
    torch.manual_seed(seed)
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[kind]
    return cls(input_size, hidden, batch_first=True, bidirectional=bidirectional).eval()


class _TorchRecurrent(nn.Layer):
    """A recurrent layer computed by torch, with convergent's interface and parameter layout
    (the exporter looks converters up by class name: subclasses are named LSTM, GRU, SimpleRNN).
    ``lengths`` (set on the instance) is the per-sample number of valid steps."""

    def __init__(self, module, return_sequences):
        super().__init__()
        self.module = module
        self.input_size, self.hidden_size = module.input_size, module.hidden_size
        self.bidirectional, self.return_sequences = module.bidirectional, return_sequences
        self.lengths = None
        for sfx in ["_l0", "_l0_reverse"][: 1 + self.bidirectional]:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p = getattr(module, name + sfx).detach().numpy()
                self._params[name + sfx] = np.ascontiguousarray(p.T if p.ndim == 2 else p)

    def forward(self, x, training=False):
        xt = torch.from_numpy(x)
        dirs = 1 + self.bidirectional
        with torch.no_grad():
            if self.lengths is None:
                out, h = self.module(xt)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    xt, torch.from_numpy(self.lengths).long(), batch_first=True,
                    enforce_sorted=False)  # fmt: skip
                out, h = self.module(packed)
                out, _ = torch.nn.utils.rnn.pad_packed_sequence(
                    out, batch_first=True, total_length=x.shape[1])  # fmt: skip
        if isinstance(h, tuple):  # LSTM: (h_n, c_n)
            h = h[0]
        if self.return_sequences:
            return out.numpy()
        return h.numpy().transpose(1, 0, 2).reshape(x.shape[0], dirs * self.hidden_size)


class LSTM(_TorchRecurrent):
    pass


class GRU(_TorchRecurrent):
    pass


class SimpleRNN(_TorchRecurrent):
    pass


class Embedding(nn.Layer):
    """A lookup table in convergent's interface (parameter ``weight``)."""

    def __init__(self, table):
        super().__init__()
        self._params["weight"] = table

    def forward(self, x, training=False):
        return self._params["weight"][x]


DOUBLES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_gate_orders_against_torch(rng, kind, bidirectional, return_sequences, with_lengths):
    layer = DOUBLES[kind](_torch_rnn(kind, 5, 4, bidirectional, seed=7), return_sequences)
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    lengths = np.array([6, 2, 4], np.int32) if with_lengths else None
    layer.lengths = lengths
    model = nn.Sequential([layer], seed=None)
    proto = cg.onnx.build_model(model, lengths=with_lengths)
    feeds = {"input": x} | ({"lengths": lengths} if with_lengths else {})
    got = run_ort(proto, feeds)[0]
    want = model.forward(x)
    assert got.shape == want.shape == ((3, 6, 4 * (1 + bidirectional)) if return_sequences
                                       else (3, 4 * (1 + bidirectional)))  # fmt: skip
    assert_close(got, want)


def test_stacked_bidirectional_lstm_with_padded_lengths(rng):
    """Embedding -> bidirectional LSTM (sequences) -> bidirectional LSTM -> Dense, lengths."""
    table = rng.standard_normal((11, 5)).astype(np.float32)
    first = LSTM(_torch_rnn("LSTM", 5, 4, True, seed=1), return_sequences=True)
    second = LSTM(_torch_rnn("LSTM", 8, 3, True, seed=2), return_sequences=False)
    model = nn.Sequential([Embedding(table), first, second, nn.Dense(6, 2, seed=0)], seed=None)
    tokens = rng.integers(1, 11, (4, 7))
    lengths = np.array([7, 3, 5, 1], np.int32)
    for i, n in enumerate(lengths):
        tokens[i, n:] = 0
    first.lengths = second.lengths = lengths
    proto = cg.onnx.build_model(model, lengths=True)
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    assert proto.graph.node[0].op_type == "Gather"
    assert_close(run_ort(proto, {"input": tokens, "lengths": lengths})[0], model.forward(tokens))


# ---- convergent's own layers (present once the recurrent layers are in this build) -----------
@pytest.mark.skipif(not hasattr(nn, "LSTM"), reason="this build has no recurrent layers")
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_convergent_recurrent_layers(rng, kind, bidirectional, return_sequences):
    layer = getattr(nn, kind)(5, 4, return_sequences=return_sequences,
                              bidirectional=bidirectional)  # fmt: skip
    for p in layer.parameters():
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    model = nn.Sequential([layer, nn.Dense(4 * (1 + bidirectional), 2)], seed=None)
    check_export(model, rng.standard_normal((3, 6, 5)).astype(np.float32))


@pytest.mark.skipif(not hasattr(nn, "Embedding"), reason="this build has no Embedding layer")
def test_convergent_embedding(rng):
    model = nn.Sequential([nn.Embedding(10, 4), nn.Dense(4, 3)], seed=0)
    proto = cg.onnx.build_model(model)
    tokens = rng.integers(0, 10, (3, 5))
    assert_close(run_ort(proto, {"input": tokens})[0], model.forward(tokens))
    np.testing.assert_array_equal(cg.onnx.load(proto).forward(tokens), model.forward(tokens))
