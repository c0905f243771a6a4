"""The recurrent layers against torch 2.x (nn.RNN, nn.LSTM, nn.GRU with batch_first=True) in
float64 with torch's weights copied over: outputs, final states (h_n, c_n), dx and every
parameter gradient equal to 1e-10. Variable lengths use torch's packed sequences
(pack_padded_sequence with enforce_sorted=False) as the oracle; stacking compares two layers in
a Sequential with a two-layer torch module."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is needed for the torch comparisons")

TOL = dict(rtol=1e-10, atol=1e-10)
KINDS = {
    "lstm": (cg.nn.LSTM, lambda d, h, **kw: torch.nn.LSTM(d, h, **kw), {}),
    "gru": (cg.nn.GRU, lambda d, h, **kw: torch.nn.GRU(d, h, **kw), {}),
    "tanh": (cg.nn.SimpleRNN, lambda d, h, **kw: torch.nn.RNN(d, h, **kw), {}),
    "relu": (
        cg.nn.SimpleRNN,
        lambda d, h, **kw: torch.nn.RNN(d, h, nonlinearity="relu", **kw),
        {"nonlinearity": "relu"},
    ),
}


def torch_run(mod, x, lengths, dout, seq, layers=1):
    """torch's outputs, (h_n, c_n) as (batch, dirs*H) of the last layer, dx and gradients."""
    tx = torch.tensor(x, requires_grad=True)
    b, t, _ = x.shape
    if lengths is None:
        out, state = mod(tx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        out, state = mod(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
    hn, cn = state if isinstance(state, tuple) else (state, None)
    dirs = 2 if mod.bidirectional else 1

    def last(s):
        return None if s is None else s[-dirs:].transpose(0, 1).reshape(b, -1)

    hn, cn = last(hn), last(cn)
    res = out if seq else hn
    (res * torch.tensor(dout)).sum().backward()
    grads = {k: v.grad.numpy() for k, v in mod.named_parameters()}
    cn_np = None if cn is None else cn.detach().numpy()
    return res.detach().numpy(), hn.detach().numpy(), cn_np, tx.grad.numpy(), grads


def ours_vs_torch_grads(layer, grads, index=0):
    for name, g in layer._grads.items():
        base, rev = (name[:-8], True) if name.endswith("_reverse") else (name, False)
        tg = grads[f"{base}_l{index}" + ("_reverse" if rev else "")]
        np.testing.assert_allclose(g, tg.T if base.startswith("weight") else tg, **TOL,
                                   err_msg=name)  # fmt: skip


@pytest.mark.parametrize("cell", list(KINDS))
@pytest.mark.parametrize("bi", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("seq", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("use_len", [False, True], ids=["full", "lengths"])
def test_layer_equals_torch(cell, bi, seq, use_len):
    ours_cls, torch_cls, kw = KINDS[cell]
    rng = np.random.default_rng([len(cell), bi, seq, use_len])
    b, t, d, h = 5, 7, 4, 9
    torch.manual_seed(0)
    mod = torch_cls(d, h, batch_first=True, bidirectional=bi).double()
    layer = ours_cls(d, h, bidirectional=bi, return_sequences=seq, dtype=np.float64, **kw)
    layer.load_torch_state_dict(mod.state_dict())
    x = rng.standard_normal((b, t, d))
    lens = np.array([7, 3, 1, 5, 6], np.int64) if use_len else None
    dirs = 2 if bi else 1
    dout = rng.standard_normal((b, t, dirs * h) if seq else (b, dirs * h))
    y, hn, cn, dx, grads = torch_run(mod, x, lens, dout, seq)
    out = layer.forward(x, training=True, lengths=lens)
    np.testing.assert_allclose(out, y, **TOL)
    np.testing.assert_allclose(layer.final_state[0], hn, **TOL)
    if cell == "lstm":
        np.testing.assert_allclose(layer.final_state[1], cn, **TOL)
    np.testing.assert_allclose(layer.backward(dout), dx, **TOL)
    ours_vs_torch_grads(layer, grads)


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
@pytest.mark.parametrize("use_len", [False, True], ids=["full", "lengths"])
def test_stacked_equals_torch_two_layers(cell, use_len):
    ours_cls, torch_cls, kw = KINDS[cell]
    rng = np.random.default_rng(3)
    b, t, d, h = 4, 6, 3, 5
    torch.manual_seed(1)
    mod = torch_cls(d, h, batch_first=True, bidirectional=True, num_layers=2).double()
    l1 = ours_cls(d, h, bidirectional=True, return_sequences=True, dtype=np.float64, **kw)
    l2 = ours_cls(2 * h, h, bidirectional=True, return_sequences=True, dtype=np.float64, **kw)
    model = cg.nn.Sequential([l1, l2], seed=None)
    l1.load_torch_state_dict(mod.state_dict(), layer=0)
    l2.load_torch_state_dict(mod.state_dict(), layer=1)
    x = rng.standard_normal((b, t, d))
    lens = np.array([6, 2, 4, 1], np.int64) if use_len else None
    dout = rng.standard_normal((b, t, 2 * h))
    y, hn, _, dx, grads = torch_run(mod, x, lens, dout, True)
    if use_len:  # the layers by hand (Sequential's lengths plumbing is tested with it)
        out = l2.forward(l1.forward(x, True, lengths=lens), True, lengths=lens)
        got_dx = l1.backward(l2.backward(dout))
    else:
        out = model.forward(x, training=True)
        got_dx = model.backward(dout)
    np.testing.assert_allclose(out, y, **TOL)
    np.testing.assert_allclose(l2.final_state[0], hn, **TOL)
    np.testing.assert_allclose(got_dx, dx, **TOL)
    ours_vs_torch_grads(l1, grads, 0)
    ours_vs_torch_grads(l2, grads, 1)


def test_load_torch_state_dict_checks_everything_first():
    layer = cg.nn.LSTM(3, 4, bidirectional=True, dtype=np.float64)
    before = [p.copy() for p in layer.parameters()]
    small = torch.nn.LSTM(3, 4, batch_first=True).double().state_dict()
    with pytest.raises(KeyError, match="weight_ih_l0_reverse"):
        layer.load_torch_state_dict(small)
    wrong = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True).double().state_dict()
    with pytest.raises(ValueError, match="weight_ih_l0"):
        layer.load_torch_state_dict(wrong)
    for a, p in zip(before, layer.parameters()):
        assert a.tobytes() == p.tobytes()


@pytest.mark.parametrize("cell", list(KINDS))
@pytest.mark.parametrize("bi", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("use_len", [False, True], ids=["full", "lengths"])
def test_initial_state_and_its_gradient_equal_torch(cell, bi, use_len):
    ours_cls, torch_cls, kw = KINDS[cell]
    rng = np.random.default_rng([len(cell), bi, use_len, 9])
    b, t, d, h = 4, 5, 3, 6
    dirs = 2 if bi else 1
    torch.manual_seed(2)
    mod = torch_cls(d, h, batch_first=True, bidirectional=bi).double()
    layer = ours_cls(d, h, bidirectional=bi, return_sequences=True, dtype=np.float64, **kw)
    layer.load_torch_state_dict(mod.state_dict())
    x = rng.standard_normal((b, t, d))
    lens = np.array([5, 2, 1, 4], np.int64) if use_len else None
    h0 = rng.standard_normal((dirs, b, h))
    c0 = rng.standard_normal((dirs, b, h))
    dout = rng.standard_normal((b, t, dirs * h))
    th0 = torch.tensor(h0, requires_grad=True)
    tc0 = torch.tensor(c0, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    inp = tx
    if use_len:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.tensor(lens), batch_first=True, enforce_sorted=False
        )
    out, state = mod(inp, (th0, tc0) if cell == "lstm" else th0)
    if use_len:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
    (out * torch.tensor(dout)).sum().backward()

    def ours(a):  # (dirs, batch, H) -> (batch, dirs*H)
        return np.ascontiguousarray(a.transpose(1, 0, 2).reshape(b, dirs * h))

    init = (ours(h0), ours(c0)) if cell == "lstm" else ours(h0)
    y = layer.forward(x, training=True, lengths=lens, initial_state=init)
    np.testing.assert_allclose(y, out.detach().numpy(), **TOL)
    hn = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(layer.final_state[0], ours(hn.detach().numpy()), **TOL)
    np.testing.assert_allclose(layer.backward(dout), tx.grad.numpy(), **TOL)
    dh0, dc0 = layer.initial_state_grad
    np.testing.assert_allclose(dh0, ours(th0.grad.numpy()), **TOL)
    if cell == "lstm":
        np.testing.assert_allclose(dc0, ours(tc0.grad.numpy()), **TOL)
    ours_vs_torch_grads(layer, {k: v.grad.numpy() for k, v in mod.named_parameters()})
