"""Embedding: the C++ row gather and the deterministic scatter-add of the weight gradient
against the reference (exact: a copy, and additions in position order on every ISA), 1 vs 2
threads bit-identical, mask_zero (padding row, derived lengths), gradcheck, torch 2.13.0's
nn.Embedding(padding_idx=0), and bad input that raises and changes nothing."""

import os
import subprocess
import sys

import convergent as cg
import numpy as np
import pytest
from convergent import _core
from convergent.reference import embedding as ref
from hypothesis import given, settings
from hypothesis import strategies as st

DTYPES = [np.float32, np.float64]
# Embedding widths 1..2x the widest vector (16 floats) and beyond.
DIMS = list(range(1, 34)) + [100]


def _tokens(rng, shape, vocab, zero_tail=False):
    x = rng.integers(1 if zero_tail else 0, vocab, shape)
    if zero_tail:  # trailing zero padding of random lengths >= 1
        lengths = rng.integers(1, shape[1] + 1, shape[0])
        x[np.arange(shape[1])[None, :] >= lengths[:, None]] = 0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_match_reference_exactly(isa, dtype, rng):
    for dim in DIMS:
        vocab = int(rng.integers(1, 40))
        w = rng.standard_normal((vocab, dim)).astype(dtype)
        idx = rng.integers(0, vocab, int(rng.integers(1, 60)))
        out = np.full((idx.size, dim), np.nan, dtype)
        _core.embedding_forward(w, idx, out)
        assert np.array_equal(out, ref.embedding_forward(w, idx))
        dout = rng.standard_normal((idx.size, dim)).astype(dtype)
        for pad in (None, int(idx[0])):
            dw = np.full_like(w, np.nan)
            _core.embedding_backward(idx, dout, dw, pad)
            assert np.array_equal(dw, ref.embedding_backward(w.shape, idx, dout, pad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_threads_bit_identical(isa, threads, dtype, rng):
    vocab, dim, n = 300, 37, 5000  # many rows per token, several 64-row work items
    idx = rng.integers(0, vocab, n)
    dout = rng.standard_normal((n, dim)).astype(dtype)
    got = []
    for t in (1, 2):
        threads(t)
        dw = np.empty((vocab, dim), dtype)
        _core.embedding_backward(idx, dout, dw)
        got.append(dw)
    assert np.array_equal(got[0], got[1])
    assert np.array_equal(got[0], ref.embedding_backward((vocab, dim), idx, dout))


@settings(max_examples=40, deadline=None)
@given(
    vocab=st.integers(1, 50),
    dim=st.integers(1, 40),
    n=st.integers(0, 300),
    pad=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_scatter_add_property(vocab, dim, n, pad, seed):
    """Any vocabulary, width and position count (0 included: the gradient is all zeros), with
    and without a padding row: the same bits as np.add.at."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, n)
    dout = rng.standard_normal((n, dim)).astype(np.float32)
    padding = int(rng.integers(0, vocab)) if pad else None
    dw = np.full((vocab, dim), np.nan, np.float32)
    _core.embedding_backward(idx, dout, dw, padding)
    assert np.array_equal(dw, ref.embedding_backward((vocab, dim), idx, dout, padding))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_shapes_and_gradient(dtype, rng):
    emb = cg.nn.Embedding(11, 5, dtype=dtype, seed=1)
    assert emb.weight.dtype == dtype and np.all(np.abs(emb.weight) <= 0.05)
    x = rng.integers(0, 11, (4, 7)).astype(np.int32)  # any integer dtype
    out = emb.forward(x)
    assert out.shape == (4, 7, 5) and out.dtype == dtype
    assert np.array_equal(out, emb.weight[x])
    assert emb.forward(x[:, 0]).shape == (4, 5)
    emb.forward(x)
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert emb.backward(dout) is None
    ref_dw = ref.embedding_backward(emb.weight.shape, x, dout)
    assert np.array_equal(emb.gradients()[0], ref_dw)
    assert emb.output_lengths is None


def test_mask_zero_lengths_padding_row_and_gradient(rng):
    emb = cg.nn.Embedding(9, 3, mask_zero=True, dtype=np.float64, seed=0)
    assert np.array_equal(emb.weight[0], np.zeros(3))
    x = _tokens(rng, (50, 8), 9, zero_tail=True)
    out = emb.forward(x)
    lengths, valid = ref.mask_zero_lengths(x)
    assert valid.all() and np.array_equal(emb.output_lengths, lengths)
    assert np.all(out[x == 0] == 0)
    dout = rng.standard_normal(out.shape)
    emb.backward(dout)
    assert np.array_equal(emb.gradients()[0], ref.embedding_backward((9, 3), x, dout, 0))
    assert np.all(emb.gradients()[0][0] == 0)
    assert emb.forward(np.array([[3, 4, 5]])).shape == (1, 3, 3)
    assert np.array_equal(emb.output_lengths, [3])  # no padding: the whole row


@pytest.mark.parametrize(
    "x, what",
    [
        (np.array([[1, 0, 2, 0]]), "a token after a 0"),
        (np.array([[0, 1, 2]]), "no token"),
        (np.array([[1, 2], [0, 0]]), "no token"),
    ],
)
def test_mask_zero_rejects_zeros_that_are_not_trailing(x, what):
    emb = cg.nn.Embedding(5, 2, mask_zero=True)
    with pytest.raises(ValueError, match=what):
        emb.forward(x)


def test_gradcheck_embedding_in_a_model(rng):
    model = cg.nn.Sequential(
        [
            cg.nn.Embedding(12, 4, mask_zero=True, dtype=np.float64, init="normal"),
            cg.nn.Dense(4, 3, activation="tanh", dtype=np.float64),
            cg.nn.Dense(3, 5, dtype=np.float64),
        ],
        seed=3,
    )
    x = _tokens(rng, (6, 5), 12, zero_tail=True)
    y = np.where(x == 0, -100, rng.integers(0, 5, x.shape))
    report = cg.gradcheck(model, cg.nn.SoftmaxCrossEntropy(ignore_index=-100), x, y)
    assert report.passed and report["0.weight"].checked == 48


def test_matches_torch_padding_idx():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    emb = cg.nn.Embedding(20, 6, mask_zero=True, dtype=np.float64, init="normal", seed=2)
    x = _tokens(rng, (7, 9), 20, zero_tail=True)
    t = torch.nn.Embedding(20, 6, padding_idx=0).double()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(emb.weight))
    out = emb.forward(x)
    tout = t(torch.from_numpy(x))
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.from_numpy(dout))
    emb.backward(dout)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(emb.gradients()[0], t.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_save_load_roundtrip(tmp_path, rng):
    model = cg.nn.Sequential([cg.nn.Embedding(7, 3, mask_zero=True), cg.nn.Dense(3, 2)], seed=4)
    path = tmp_path / "m.npz"
    model.save(path)
    back = cg.nn.load(path)
    x = _tokens(rng, (3, 4), 7, zero_tail=True)
    assert np.array_equal(back.forward(x), model.forward(x))
    assert back.layers[0].mask_zero


def test_bad_input_raises_and_changes_nothing(rng):
    emb = cg.nn.Embedding(6, 4, seed=0)
    w0 = emb.weight.copy()
    emb.forward(np.array([[1, 2]]))
    emb.backward(np.ones((1, 2, 4), np.float32))
    g0 = emb.gradients()[0].copy()
    for bad in (np.array([[1, 6]]), np.array([[-1, 2]])):
        with pytest.raises(ValueError, match=r"x tokens must be in \[0, 6\)"):
            emb.forward(bad)
    with pytest.raises(TypeError, match="integer"):
        emb.forward(np.array([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="numpy"):
        emb.forward([[1, 2]])
    with pytest.raises(ValueError, match="batch"):
        emb.forward(np.zeros((2, 2, 2), np.int64))
    with pytest.raises(ValueError, match="shape"):
        emb.backward(np.ones((1, 3, 4), np.float32))
    with pytest.raises(TypeError, match="float32"):
        emb.backward(np.ones((1, 2, 4), np.float64))
    assert np.array_equal(emb.weight, w0) and np.array_equal(emb.gradients()[0], g0)
    with pytest.raises(RuntimeError, match="before forward"):
        cg.nn.Embedding(3, 2).backward(np.ones((1, 2)))
    for args, err in (((0, 3), ValueError), ((3.0, 2), TypeError), ((1, 2), ValueError)):
        with pytest.raises(err):
            cg.nn.Embedding(*args, mask_zero=args == (1, 2))
    with pytest.raises(TypeError, match="dtype"):
        cg.nn.Embedding(3, 2, dtype=np.int32)


def test_core_bad_input_writes_nothing(rng):
    w = rng.standard_normal((5, 3))
    idx = np.array([0, 4, 2])
    out = np.full((3, 3), 7.0)
    dw = np.full((5, 3), 7.0)
    dout = np.ones((3, 3))
    cases = [
        (_core.embedding_forward, (w, np.array([0, 5, 1]), out), ValueError, r"\[0, 5\).*found 5"),
        (_core.embedding_forward, (w, idx.astype(np.int32), out), TypeError, "int64"),
        (_core.embedding_forward, (w, idx, np.ones((3, 3), np.float32)), TypeError, "out"),
        (_core.embedding_forward, (w, idx, np.ones((2, 3))), ValueError, "out"),
        (_core.embedding_backward, (np.array([0, -1, 1]), dout, dw), ValueError, "found -1"),
        (_core.embedding_backward, (idx, dout, dw, 5), ValueError, "padding_idx"),
        (_core.embedding_backward, (idx, dout, dw, True), TypeError, "padding_idx"),
        (_core.embedding_backward, (idx, dout[:2], dw), ValueError, "dout"),
        (_core.embedding_backward, (idx, dout, dw[:, ::2]), ValueError, "contiguous"),
    ]
    for fn, args, err, match in cases:
        with pytest.raises(err, match=match):
            fn(*args)
    assert np.all(out == 7.0) and np.all(dw == 7.0)
    ro = np.zeros((5, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.embedding_backward(idx, dout, ro)


def test_scalar_isa_subprocess():
    """CONVERGENT_ISA=scalar picks the portable kernels at import; they match the reference."""
    code = (
        "import numpy as np, convergent as cg\n"
        "from convergent import _core\n"
        "from convergent.reference import embedding as ref\n"
        "assert cg.get_isa() == 'scalar'\n"
        "rng = np.random.default_rng(0)\n"
        "idx = rng.integers(0, 30, 500); dout = rng.standard_normal((500, 19)).astype(np.float32)\n"
        "dw = np.empty((30, 19), np.float32); _core.embedding_backward(idx, dout, dw, 3)\n"
        "assert np.array_equal(dw, ref.embedding_backward((30, 19), idx, dout, 3))\n"
    )
    env = {**os.environ, "CONVERGENT_ISA": "scalar"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
