"""GEMM with fused epilogue vs the float64 NumPy product, on every ISA, thread count and edge size.

Tolerance: inputs are exact in their dtype and the reference is computed in float64 from them.
For an output element with K products the blocked FMA sum has an error below
``(K + 2) * eps * S`` where ``S = (|op(a)| @ |op(b)|) + |beta*out| + |bias|`` (the standard
bound for recursive summation, Higham 2002 §3.1), and the activations add at most a few ulp of
the result and are 1-Lipschitz. We allow ``2 * (K + 2) * eps * S + 8 * eps * |ref|``, with eps
the dtype's machine epsilon.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import convergent as cg
import numpy as np
import pytest
from convergent import _core
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh"]


def _operands(rng, m, k, n, ta, tb, dt):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
    return a, b


def _expected(a, b, ta, tb, out0, beta, bias, act, slope):
    """float64 reference and the magnitude S of the error bound."""
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    z, s = A @ B, np.abs(A) @ np.abs(B)
    if beta:
        z, s = z + out0, s + np.abs(out0)
    if bias is not None:
        z, s = z + bias, s + np.abs(bias)
    return ref.activation(z, act, slope), s


def _check(a, b, ta=False, tb=False, beta=0.0, bias=None, act="linear", slope=0.01, rng=None):
    dt = a.dtype
    k = a.shape[0] if ta else a.shape[1]
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    out = (rng or np.random.default_rng(0)).standard_normal((m, n)).astype(dt)
    out0 = out.astype(np.float64)
    want, s = _expected(a, b, ta, tb, out0, beta, bias, act, slope)
    _core.gemm(a, b, out, trans_a=ta, trans_b=tb, beta=beta, bias=bias, activation=act,
               negative_slope=slope)  # fmt: skip
    eps = np.finfo(dt).eps
    tol = 2 * (k + 2) * eps * s + 8 * eps * np.abs(want) + np.finfo(dt).tiny
    err = np.abs(out.astype(np.float64) - want)
    assert np.all(err <= tol), (m, k, n, ta, tb, beta, act, float((err - tol).max()))


@pytest.mark.parametrize("dt", DTYPES)
def test_small_shapes_every_transpose(isa, dt):
    rng = np.random.default_rng(1)
    for m in range(1, 34):
        for n in range(1, 34):
            k = (1, 2, 3, 7, 16, 33)[(m * 7 + n) % 6]
            ta, tb = bool((m + n) % 2), bool((m // 2 + n) % 2)
            a, b = _operands(rng, m, k, n, ta, tb, dt)
            _check(a, b, ta, tb, rng=rng)


@pytest.mark.parametrize("dt", DTYPES)
def test_block_edges(isa, dt):
    bl = _core.gemm_blocking(dt)
    mr, nr, mc, kc, nc = bl["mr"], bl["nr"], bl["mc"], bl["kc"], bl["nc"]
    rng = np.random.default_rng(2)
    shapes = [
        (mr - 1, 5, nr - 1), (mr, 9, nr), (mr + 1, 4, nr + 1), (2 * mr + 3, 3, 3 * nr + 5),
        (mc - 1, 6, 17), (mc, 5, 9), (mc + 1, 7, 2 * nr + 1), (2 * mc + 5, 3, nr),
        (7, kc - 1, 11), (5, kc, 9), (6, kc + 1, 13), (9, 2 * kc + 3, 2 * nr - 1), (3, 784, 19),
        (2, 5, nc + 3), (mr + 2, 3, nc + nr + 1),
        (131, 257, 299), (1, 300, 1), (300, 1, 300), (29, 0, 31),
    ]  # fmt: skip
    for i, (m, k, n) in enumerate(shapes):
        for ta in (False, True):
            for tb in (False, True):
                a, b = _operands(rng, m, k, n, ta, tb, dt)
                bias = rng.standard_normal(n).astype(dt) if (i + ta + tb) % 2 else None
                _check(a, b, ta, tb, beta=float((i + tb) % 2), bias=bias, rng=rng)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_epilogue_once_after_full_k(isa, dt, act):
    # K spans several KC blocks: an activation applied per block would change the result.
    kc = _core.gemm_blocking(dt)["kc"]
    rng = np.random.default_rng(3)
    for m, k, n in [(13, 2 * kc + 7, 37), (5, 3, 20), (40, kc, 17)]:
        for ta, tb in [(False, False), (True, False), (False, True), (True, True)]:
            a, b = _operands(rng, m, k, n, ta, tb, dt)
            a *= dt(4.0 / np.sqrt(k))  # pre-activations of order 1..4: every branch is used
            bias = rng.standard_normal(n).astype(dt)
            for beta in (0.0, 1.0):
                _check(a, b, ta, tb, beta=beta, bias=bias, act=act, slope=0.2, rng=rng)
                _check(a, b, ta, tb, beta=beta, bias=None, act=act, slope=0.01, rng=rng)


@pytest.mark.parametrize("dt", DTYPES)
def test_threads_bit_identical(isa, dt, threads):
    rng = np.random.default_rng(4)
    shapes = [(256, 300, 520, False, False), (700, 64, 90, True, False),
              (130, 257, 800, False, True), (96, 96, 96, True, True),
              (128, 784, 256, False, False), (8, 4000, 20, False, False),
              (12, 3000, 40, True, True)]  # fmt: skip
    # 2-4 threads: dynamic items after packing the shared operand per thread (shapes 2-5),
    # a static split (shape 1: more rows than one A block), or shared packs (the last two);
    # 5 and 8 threads share the packed operand between them.
    for m, k, n, ta, tb in shapes:
        a, b = _operands(rng, m, k, n, ta, tb, dt)
        bias = rng.standard_normal(n).astype(dt)
        c0 = rng.standard_normal((m, n)).astype(dt)
        for beta in (0.0, 1.0):
            outs = []
            for t in (1, 2, 3, 5, 8):
                cg.set_num_threads(t)
                out = c0.copy()
                _core.gemm(
                    a, b, out, trans_a=ta, trans_b=tb, beta=beta, bias=bias, activation="tanh"
                )
                outs.append(out)
            assert all(np.array_equal(outs[0], o) for o in outs[1:])


def _ulps(got, want_ld, dt):
    want = want_ld.astype(dt)
    spacing = np.spacing(np.abs(want)).astype(np.longdouble)
    diff = np.abs(got.astype(np.longdouble) - want_ld)
    return np.where(got == want, 0, diff / spacing)


@pytest.mark.parametrize("dt", DTYPES)
def test_activation_accuracy(isa, dt):
    """sigmoid and tanh of the epilogue within 4 ulp of a long-double reference."""
    rng = np.random.default_rng(5)
    x = np.concatenate([
        rng.uniform(-20, 20, 60000), rng.uniform(-1, 1, 30000), rng.uniform(-800, 800, 2000),
        np.geomspace(1e-30, 1e2, 5000), -np.geomspace(1e-30, 1e2, 5000),
    ]).astype(dt)  # fmt: skip
    xl = x.astype(np.longdouble)
    out = np.empty_like(x)
    _core.activation(x, out, "tanh")
    assert _ulps(out, np.tanh(xl), dt).max() <= 4
    _core.activation(x, out, "sigmoid")
    sig = 1 / (1 + np.exp(-xl))
    big = sig > np.finfo(dt).tiny  # subnormal results: absolute error below the smallest step
    assert _ulps(out[big], sig[big], dt).max() <= 4
    assert np.all(np.abs(out[~big] - sig[~big].astype(dt)) <= 2 * np.finfo(dt).smallest_subnormal)


@pytest.mark.parametrize("dt", DTYPES)
def test_activation_special_values(isa, dt):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 1000, -1000], dt)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for act in ACTS:
            _core.activation(x, out, act, negative_slope=0.1)
            want = ref.activation(x, act, 0.1)
            np.testing.assert_array_equal(out, want, err_msg=act)
            if act in ("linear", "tanh"):  # odd functions keep the sign of zero
                assert np.array_equal(np.signbit(out[:2]), [False, True]), act


def test_scalar_isa_in_subprocess():
    code = textwrap.dedent("""
        import numpy as np, convergent as cg
        from convergent import _core
        assert cg.get_isa() == "scalar", cg.get_isa()
        rng = np.random.default_rng(0)
        a = rng.standard_normal((37, 300)); b = rng.standard_normal((41, 300))
        bias = rng.standard_normal(41); out = np.empty((37, 41))
        _core.gemm(a, b, out, trans_b=True, bias=bias, activation="sigmoid")
        want = 1 / (1 + np.exp(-(a @ b.T + bias)))
        assert np.allclose(out, want, rtol=1e-13, atol=1e-13), np.abs(out - want).max()
        print("ok")
    """)
    env = dict(os.environ, CONVERGENT_ISA="scalar")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _bad(call, exc, match, *watched):
    before = [w.copy() for w in watched]
    with pytest.raises(exc, match=match):
        call()
    for w, b in zip(watched, before):
        assert np.array_equal(w, b, equal_nan=True)


def test_bad_arguments_raise_and_change_nothing():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((5, 6)).astype(np.float32)
    out = rng.standard_normal((4, 6)).astype(np.float32)
    bias = np.zeros(6, np.float32)
    g = _core.gemm
    _bad(lambda: g(a, b.astype(np.float64), out), TypeError, "b has dtype float64", out)
    _bad(lambda: g(a, b, out.astype(np.float64)), TypeError, "out has dtype", out)
    _bad(lambda: g(a.astype(np.int64), b, out), TypeError, "a has dtype", out)
    _bad(lambda: g(a, [[1.0]], out), TypeError, "b must be a numpy.ndarray", out)
    _bad(lambda: g(a, b[:4], out), ValueError, "b has shape", out)
    _bad(lambda: g(a, b, out, trans_a=True), ValueError, "b has shape", out)
    _bad(lambda: g(a, b, out[:, :5]), ValueError, "out", out)
    _bad(lambda: g(a, b, np.empty((4, 7), np.float32)), ValueError, "out has shape", out)
    _bad(lambda: g(a, b, out, bias=np.zeros(5, np.float32)), ValueError, "bias has shape", out)
    _bad(lambda: g(a, b, out, bias=bias.astype(np.float64)), TypeError, "bias has dtype", out)
    _bad(lambda: g(np.asfortranarray(a), b, out), ValueError, "a must be C-contiguous", out)
    _bad(lambda: g(a, b[:, ::2], np.empty((4, 3), np.float32)), ValueError, "b must be C-cont")
    _bad(lambda: g(a, b, out, beta=0.5), ValueError, "beta", out)
    _bad(lambda: g(a, b, out, activation="gelu"), ValueError, "activation", out)
    _bad(lambda: g(a, b, out, activation=3), TypeError, "activation", out)
    _bad(lambda: g(a, b, out, negative_slope=np.nan), ValueError, "negative_slope", out)
    _bad(lambda: g(a, b, a[:, :0].reshape(4, 0)), ValueError, "out has shape", out)
    ro = out.copy()
    ro.flags.writeable = False
    _bad(lambda: g(a, b, ro), ValueError, "out is read-only", ro)
    sq = rng.standard_normal((6, 6)).astype(np.float32)
    _bad(lambda: g(sq, sq, sq), ValueError, "out must not share memory with a", sq)
    _bad(lambda: g(a, b, b.reshape(-1)[:24].reshape(4, 6)), ValueError, "with b", b)
    _bad(lambda: g(a[None], b, out), ValueError, "a must be 2-dimensional", out)
