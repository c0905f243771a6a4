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

try:
    import torch
except ImportError:  # the tests of convergent's own layers still run
    torch = None

nn = cg.nn
needs_torch = pytest.mark.skipif(torch is None, reason="torch 2.13 is the reference for the gates")


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


@needs_torch
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


@needs_torch
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


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("dirs", [1, 2])
def test_weight_mapping_inverts(rng, kind, dirs):
    """load's mapping from ONNX's W, R, B back to our parameters undoes export's."""
    from convergent.onnx._recurrent import GATES, onnx_weights, our_weights

    gates, hidden, n_in = GATES[kind][1], 3, 5
    shapes = [(n_in, gates * hidden), (hidden, gates * hidden), (gates * hidden,),
              (gates * hidden,)] * dirs  # fmt: skip
    params = [rng.standard_normal(s) for s in shapes]
    w, r, b = onnx_weights(kind, params, hidden)
    assert w.shape == (dirs, gates * hidden, n_in) and b.shape == (dirs, 2 * gates * hidden)
    back = our_weights(kind, w, r, b, hidden)
    for p, q in zip(params, back):
        np.testing.assert_array_equal(p, q)
    if gates > 1:  # the gate blocks really move
        assert not np.array_equal(w[0], params[0].T)


def _card_layer(kind):
    """A layer with the agreed constructor of convergent's recurrent layers
    (``(input_size, hidden_size, *, return_sequences, bidirectional, dtype)``, parameters in our
    layout), computed by torch from those parameters: what load builds before the merge."""

    class Card(_TorchRecurrent):
        def __init__(self, input_size, hidden_size, *, return_sequences=False,
                     bidirectional=False, dtype=np.float32):  # fmt: skip
            super().__init__(_torch_rnn(kind, input_size, hidden_size, bidirectional, 0),
                             return_sequences)  # fmt: skip
            for k in self._params:
                self._params[k] = np.zeros_like(self._params[k], dtype=dtype)

        def forward(self, x, training=False):
            with torch.no_grad():
                for k, v in self._params.items():
                    getattr(self.module, k).copy_(torch.from_numpy(v.T if v.ndim == 2 else v))
            return super().forward(x, training)

    Card.__name__ = Card.__qualname__ = kind
    return Card


@needs_torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_load_recurrent_with_the_agreed_interface(rng, monkeypatch, kind, bidirectional,
                                                  return_sequences):  # fmt: skip
    card = _card_layer(kind)
    monkeypatch.setattr(nn, kind, card, raising=False)
    layer = card(4, 3, return_sequences=return_sequences, bidirectional=bidirectional)
    for p in layer.parameters():
        p[...] = rng.uniform(-0.6, 0.6, p.shape)
    dense = nn.Dense(3 * (1 + bidirectional), 2, seed=1)
    model = nn.Sequential([layer] + ([] if return_sequences else [dense]), seed=None)
    check_export(model, rng.standard_normal((2, 5, 4)).astype(np.float32))


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


@pytest.mark.skipif(not hasattr(nn, "LSTM") or not hasattr(nn, "Embedding"),
                    reason="this build has no recurrent layers")  # fmt: skip
def test_convergent_stacked_bidirectional_lstm(rng):
    model = nn.Sequential([
        nn.Embedding(12, 5),
        nn.LSTM(5, 4, return_sequences=True, bidirectional=True),
        nn.LSTM(8, 3, bidirectional=True),
        nn.Dense(6, 2),
    ], seed=0)  # fmt: skip
    tokens = rng.integers(1, 12, (3, 7))
    proto = cg.onnx.build_model(model)
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    want = model.forward(tokens)
    assert_close(run_ort(proto, {"input": tokens})[0], want)
    np.testing.assert_array_equal(cg.onnx.load(proto).forward(tokens), want)
