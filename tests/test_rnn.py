"""Recurrent layers (SimpleRNN, LSTM, GRU): the C++ kernels against the NumPy reference on every
ISA and both dtypes, thread-count determinism, the scalar subprocess, gradcheck, save/load and
bad input. The torch comparisons are in tests/test_rnn_torch.py.

Tolerances: float64 rtol 1e-11 / atol 1e-12 (different GEMM summation orders); float32 rtol 2e-4
/ atol 2e-5: the kernels and the reference both round every step, and BPTT chains up to a few
dozen of them (the same per-op error of ~1e-6 as the Dense layer, times the chain length).
"""

from __future__ import annotations

import subprocess
import sys

import convergent as cg
import numpy as np
import pytest
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}
CELLS = {"lstm": cg.nn.LSTM, "gru": cg.nn.GRU, "tanh": cg.nn.SimpleRNN, "relu": cg.nn.SimpleRNN}


def make(cell, d, h, dtype=np.float64, **kw):
    if cell in ("tanh", "relu"):
        kw["nonlinearity"] = cell
    return CELLS[cell](d, h, dtype=dtype, **kw)


def run_layer(layer, x, lengths, dout):
    y = layer.forward(x, training=True, lengths=lengths).copy()
    hn, cn = (None if s is None else s.copy() for s in layer.final_state)
    dx = layer.backward(dout).copy()
    return y, hn, cn, dx, [g.copy() for g in layer.gradients()]


def check_against_reference(cell, b, t, d, h, bi, seq, use_len, dtype, rng):
    layer = make(cell, d, h, dtype, bidirectional=bi, return_sequences=seq, seed=int(h))
    x = rng.standard_normal((b, t, d)).astype(dtype)
    lens = rng.integers(1, t + 1, b).astype(np.int64) if use_len else None
    dirs = 2 if bi else 1
    dout = rng.standard_normal((b, t, dirs * h) if seq else (b, dirs * h)).astype(dtype)
    y, hn, cn, dx, grads = run_layer(layer, x, lens, dout)
    p64 = [p.astype(np.float64) for p in layer.parameters()]
    out, rhn, rcn, cache = ref.rnn_forward(cell, x.astype(np.float64), p64, lens, seq)
    rdx, rgrads = ref.rnn_backward(cache, dout.astype(np.float64))
    tol = TOL[dtype]
    np.testing.assert_allclose(y, out, **tol)
    np.testing.assert_allclose(hn, rhn, **tol)
    if cell == "lstm":
        np.testing.assert_allclose(cn, rcn, **tol)
    np.testing.assert_allclose(dx, rdx, **tol)
    for name, g, rg in zip(layer.named_parameters(), grads, rgrads):
        np.testing.assert_allclose(g, rg, **tol, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_hidden_sizes_around_the_simd_tile(isa, cell, dtype, rng):
    # every hidden size from 1 to 2x the widest tile (32 floats), options rotating
    for h in range(1, 34):
        check_against_reference(cell, 2, 3, 3, h, h % 2 == 0, h % 3 == 0, h % 4 == 1, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh", "relu"])
def test_random_shapes_and_options(isa, cell, dtype, rng):
    # more rows than the GEMM's mc (150 > 144 float rows), G*H above its kc (256)
    shapes = [(1, 1, 1, 1), (5, 7, 3, 6), (13, 4, 17, 40), (3, 9, 33, 47), (26, 3, 5, 19),
              (150, 2, 3, 5), (4, 2, 3, 90)]  # fmt: skip
    for b, t, d, h in shapes:
        combos = (
            [(False, False), (False, True), (True, False), (True, True)]
            if b * h < 600
            else [(True, True)]
        )
        for bi, seq in combos:
            check_against_reference(cell, b, t, d, h, bi, seq, (b + t) % 2 == 0, dtype, rng)


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_lengths_all_full_equal_no_lengths(cell, rng):
    layer = make(cell, 4, 5, bidirectional=True, return_sequences=True, seed=0)
    x = rng.standard_normal((3, 6, 4))
    dout = rng.standard_normal((3, 6, 10))
    a = run_layer(layer, x, None, dout)
    b = run_layer(layer, x, np.full(3, 6, np.int64), dout)
    for u, v in zip(a[:4] + tuple(a[4]), b[:4] + tuple(b[4])):
        if u is not None:
            assert u.tobytes() == v.tobytes()


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_padding_values_change_nothing(cell, rng):
    # a padded step's input reaches no output, state or gradient; its dx is 0
    layer = make(cell, 3, 4, bidirectional=True, return_sequences=True, seed=0)
    lens = np.array([2, 5, 1], np.int64)
    x = rng.standard_normal((3, 5, 3))
    x2 = x.copy()
    for i, n in enumerate(lens):
        x2[i, n:] = rng.standard_normal((5 - n, 3))
    x2[0, 3:] = [np.nan, np.inf, -np.inf]  # row 0 has 2 steps
    dout = rng.standard_normal((3, 5, 8))
    dout2 = dout.copy()
    for i, n in enumerate(lens):
        dout[i, n:] = 0
    a, b = run_layer(layer, x, lens, dout), run_layer(layer, x2, lens, dout2)
    for i, n in enumerate(lens):
        assert not a[0][i, n:].any() and not a[3][i, n:].any()
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=0)
    np.testing.assert_allclose(a[3], b[3], rtol=1e-15, atol=1e-15)
    for g, g2 in zip(a[4], b[4]):
        np.testing.assert_allclose(g, g2, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
@pytest.mark.parametrize("bi", [False, True])
def test_threads_bit_identical(isa, threads, cell, bi, dtype, rng):
    b, t, d, h = 37, 8, 11, 70  # above the 2^20 multiply-adds of a threaded sweep
    x = rng.standard_normal((b, t, d)).astype(dtype)
    lens = rng.integers(1, t + 1, b).astype(np.int64)
    dout = rng.standard_normal((b, t, (2 if bi else 1) * h)).astype(dtype)
    results = []
    for n in (1, 2, 3):
        threads(n)
        layer = make(cell, d, h, dtype, bidirectional=bi, return_sequences=True, seed=3)
        y, hn, cn, dx, grads = run_layer(layer, x, lens, dout)
        results.append([y, hn, dx, *grads] + ([cn] if cn is not None else []))
    for other in results[1:]:
        for u, v in zip(results[0], other):
            assert u.tobytes() == v.tobytes()


_SCRIPT = """
import sys, numpy as np, convergent as cg
assert cg.get_isa() == "scalar"
rng = np.random.default_rng(0)
x = rng.standard_normal((3, 5, 4))
lens = np.array([5, 2, 3], np.int64)
out = {}
for dt in (np.float32, np.float64):
    for name, cls in (("lstm", cg.nn.LSTM), ("gru", cg.nn.GRU), ("rnn", cg.nn.SimpleRNN)):
        layer = cls(4, 7, bidirectional=True, return_sequences=True, dtype=dt, seed=1)
        y = layer.forward(x.astype(dt), training=True, lengths=lens)
        dx = layer.backward(np.ones_like(y))
        key = name + np.dtype(dt).name
        out[key + "y"], out[key + "dx"], out[key + "dw"] = y, dx, layer.gradients()[1]
np.savez(sys.argv[1], **out)
"""


def test_env_scalar_subprocess_matches_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERGENT_ISA", "scalar")
    path = tmp_path / "s.npz"
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    saved = np.load(path)
    previous = cg.get_isa()
    cg.set_isa("scalar")
    try:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((3, 5, 4))
        lens = np.array([5, 2, 3], np.int64)
        for dt in DTYPES:
            for name, cls in (("lstm", cg.nn.LSTM), ("gru", cg.nn.GRU), ("rnn", cg.nn.SimpleRNN)):
                layer = cls(4, 7, bidirectional=True, return_sequences=True, dtype=dt, seed=1)
                y = layer.forward(x.astype(dt), training=True, lengths=lens)
                dx = layer.backward(np.ones_like(y))
                key = name + np.dtype(dt).name
                assert saved[key + "y"].tobytes() == y.tobytes()
                assert saved[key + "dx"].tobytes() == dx.tobytes()
                assert saved[key + "dw"].tobytes() == layer.gradients()[1].tobytes()
    finally:
        cg.set_isa(previous)


class _WithLengths(cg.nn.Layer):
    """A recurrent layer run with fixed lengths (for gradcheck, which passes no lengths)."""

    def __init__(self, layer, lengths):
        super().__init__()
        self.layer, self.lengths = layer, lengths
        self._params, self._grads = layer._params, layer._grads

    def forward(self, x, training=False):
        return self.layer.forward(x, training, lengths=self.lengths)

    def backward(self, dout):
        return self.layer.backward(dout)


OPTIONS = [
    dict(),
    dict(return_sequences=True),
    dict(bidirectional=True),
    dict(bidirectional=True, return_sequences=True),
    dict(bidirectional=True, return_sequences=True, lengths=True),
    dict(bidirectional=True, lengths=True),
    dict(stacked=True),
]


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh", "relu"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_gradcheck(cell, opts):
    opts = dict(opts)
    use_len, stacked = opts.pop("lengths", False), opts.pop("stacked", False)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 3))
    if stacked:
        model = cg.nn.Sequential(
            [make(cell, 3, 4, return_sequences=True, bidirectional=True),
             make(cell, 8, 3, bidirectional=True)],
            seed=1,
        )  # fmt: skip
    else:
        layer = make(cell, 3, 5, seed=1, **opts)
        model = _WithLengths(layer, np.array([4, 2, 1], np.int64)) if use_len else layer
    out = model.forward(x)
    target = rng.standard_normal(out.shape)
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, target, max_checks=60)
    assert report.passed, str(report)


@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
def test_save_load_and_config(cell, tmp_path, rng):
    model = cg.nn.Sequential(
        [make(cell, 3, 4, return_sequences=True, bidirectional=True, dtype=np.float32),
         make(cell, 8, 5, dtype=np.float32), cg.nn.Dense(5, 2)],
        seed=4,
    )  # fmt: skip
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    y = model.forward(x)
    model.save(tmp_path / "m")
    loaded = cg.nn.load(tmp_path / "m")
    assert loaded.forward(x).tobytes() == y.tobytes()
    names = list(model.layers[0].named_parameters())
    assert names == ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ih_reverse",
                     "weight_hh_reverse", "bias_ih_reverse", "bias_hh_reverse"]  # fmt: skip
    assert model.layers[0].parameters()[0].shape == (3, (4 if cell == "lstm" else 3) * 4
                                                     if cell != "relu" else 4)  # fmt: skip


def test_deepcopy_runs_like_the_original(rng):
    import copy

    layer = cg.nn.LSTM(3, 4, bidirectional=True, return_sequences=True, seed=0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    y = layer.forward(x, training=True).copy()
    twin = copy.deepcopy(layer)
    with pytest.raises(RuntimeError, match="before forward"):
        twin.backward(np.ones_like(y))
    assert twin.forward(x, training=True).tobytes() == y.tobytes()
    assert twin.backward(np.ones_like(y)).tobytes() == layer.backward(np.ones_like(y)).tobytes()


def test_reset_parameters_torch_bound():
    layer = cg.nn.GRU(3, 16, bidirectional=True, seed=0)
    before = [p.copy() for p in layer.parameters()]
    ids = [id(p) for p in layer.parameters()]
    layer.reset_parameters(np.random.default_rng(1))
    assert [id(p) for p in layer.parameters()] == ids
    for a, p in zip(before, layer.parameters()):
        assert not np.array_equal(a, p)
        assert np.abs(p).max() <= 0.25 and np.abs(p).max() > 0.2
    dense = cg.nn.LSTM(3, 4, init="glorot_uniform", seed=0)
    assert not dense.parameters()[2].any() and dense.parameters()[0].any()


def _bad_calls(cell, rng):
    x = rng.standard_normal((3, 4, 5))
    return [
        (TypeError, "x", lambda layer: layer.forward([[1.0]])),
        (TypeError, "dtype", lambda layer: layer.forward(x.astype(np.float32))),
        (ValueError, "shape", lambda layer: layer.forward(x[0])),
        (ValueError, "shape", lambda layer: layer.forward(x[:, :, :4].copy())),
        (ValueError, "C-contiguous", lambda layer: layer.forward(x[:, ::2])),
        (ValueError, "lengths", lambda layer: layer.forward(x, lengths=np.array([1, 2], np.int64))),
        (ValueError, "lengths", lambda layer: layer.forward(x, lengths=np.array([1, 0, 2]))),
        (ValueError, "lengths", lambda layer: layer.forward(x, lengths=np.array([1, 5, 2]))),
        (TypeError, "lengths", lambda layer: layer.forward(x, lengths=np.array([1.0, 2, 2]))),
        (TypeError, "lengths", lambda layer: layer.forward(x, lengths=[1, 2, 2])),
    ]


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_bad_input_raises_and_changes_nothing(cell, rng):
    layer = make(cell, 5, 6, return_sequences=True, seed=0)
    x = rng.standard_normal((3, 4, 5))
    lens = np.array([4, 2, 3], np.int64)
    y = layer.forward(x, training=True, lengths=lens).copy()
    params = [p.copy() for p in layer.parameters()]
    for exc, match, call in _bad_calls(cell, rng):
        with pytest.raises(exc, match=match):
            call(layer)
    for p, q in zip(params, layer.parameters()):
        assert p.tobytes() == q.tobytes()
    # the last good forward is still the one backward differentiates
    dout = rng.standard_normal(y.shape)
    with pytest.raises(ValueError, match="dout"):
        layer.backward(dout[:, :2].copy())
    with pytest.raises(TypeError, match="dout"):
        layer.backward(dout.astype(np.float32))
    dx = layer.backward(dout).copy()
    fresh = make(cell, 5, 6, return_sequences=True, seed=0)
    assert fresh.forward(x, training=True, lengths=lens).tobytes() == y.tobytes()
    assert fresh.backward(dout).tobytes() == dx.tobytes()
    with pytest.raises(RuntimeError, match="before forward"):
        make(cell, 5, 6).backward(dout)


def test_constructor_validation():
    with pytest.raises(TypeError, match="input_size"):
        cg.nn.LSTM(2.0, 3)
    with pytest.raises(ValueError, match="hidden_size"):
        cg.nn.GRU(2, 0)
    with pytest.raises(TypeError, match="dtype"):
        cg.nn.LSTM(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="nonlinearity"):
        cg.nn.SimpleRNN(2, 3, nonlinearity="sigmoid")
    assert cg.nn.LSTM.accepts_lengths and cg.nn.GRU.accepts_lengths


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_initial_state_zeros_and_bad_values(cell, rng):
    layer = make(cell, 3, 4, bidirectional=True, return_sequences=True, seed=0)
    x = rng.standard_normal((2, 5, 3))
    lens = np.array([5, 3], np.int64)
    dout = rng.standard_normal((2, 5, 8))
    y, _, _, dx, grads = run_layer(layer, x, lens, dout)
    zeros = np.zeros((2, 8))
    init = (zeros, zeros.copy()) if cell == "lstm" else zeros
    y0 = layer.forward(x, training=True, lengths=lens, initial_state=init).copy()
    assert y0.tobytes() == y.tobytes()
    assert layer.backward(dout).tobytes() == dx.tobytes()
    assert layer.initial_state_grad[0].shape == (2, 8)
    for g, g0 in zip(grads, layer.gradients()):
        assert g.tobytes() == g0.tobytes()
    bad = [(TypeError, zeros.astype(np.float32)), (ValueError, np.zeros((2, 4))),
           (TypeError, [[0.0] * 8] * 2)]  # fmt: skip
    if cell == "lstm":
        bad = [(TypeError, zeros)] + [(e, (v, zeros)) for e, v in bad]
    for exc, value in bad:
        with pytest.raises(exc, match="initial_state"):
            layer.forward(x, training=True, initial_state=value)
    assert layer.final_state[0].shape == (2, 8)
    assert layer.backward(dout).tobytes() == dx.tobytes()  # still the last good forward
    with pytest.raises(RuntimeError, match="initial_state"):
        make(cell, 3, 4).initial_state_grad  # noqa: B018


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_initial_state_against_reference(isa, cell, dtype, rng):
    for b, t, d, h, bi in [(3, 5, 4, 7, True), (20, 3, 2, 33, False), (2, 4, 3, 16, True)]:
        layer = make(cell, d, h, dtype, bidirectional=bi, return_sequences=True, seed=h)
        dirs = 2 if bi else 1
        x = rng.standard_normal((b, t, d)).astype(dtype)
        lens = rng.integers(1, t + 1, b).astype(np.int64)
        h0 = rng.standard_normal((b, dirs * h)).astype(dtype)
        c0 = rng.standard_normal((b, dirs * h)).astype(dtype)
        dout = rng.standard_normal((b, t, dirs * h)).astype(dtype)
        init = (h0, c0) if cell == "lstm" else h0
        y = layer.forward(x, training=True, lengths=lens, initial_state=init)
        dx = layer.backward(dout)
        dh0, dc0 = layer.initial_state_grad
        p64 = [p.astype(np.float64) for p in layer.parameters()]
        c_ref = c0.astype(np.float64) if cell == "lstm" else None
        out, _, _, cache = ref.rnn_forward(
            cell, x.astype(np.float64), p64, lens, True, h0.astype(np.float64), c_ref
        )
        rdx, rgrads, rdh0, rdc0 = ref.rnn_backward(cache, dout.astype(np.float64), True)
        tol = TOL[dtype]
        np.testing.assert_allclose(y, out, **tol)
        np.testing.assert_allclose(dx, rdx, **tol)
        np.testing.assert_allclose(dh0, rdh0, **tol)
        if cell == "lstm":
            np.testing.assert_allclose(dc0, rdc0, **tol)
        for g, rg in zip(layer.gradients(), rgrads):
            np.testing.assert_allclose(g, rg, **tol)
