"""GEMM epilogue on every partial tile: bias + activation for m in 1..14 and n in 1..40.

Every row count up to two AVX2 micro-tiles plus two (MR = 6) and every column count up to 2.5
AVX2 float32 micro-tiles (NR = 16; 5 float64 ones, NR = 8), so the tiles are stored through both
the full and the partial store paths, with each bias vector loaded whole, masked or not at all.
A regression test: built by GCC 12 with -fsanitize=undefined, the store once read the first
bias vector of a tile as its last one (see store_tile in csrc/nn/gemm.h).

Reference: ``act(op(a) @ op(b) + beta * out0 + bias)`` in float64 (convergent.reference). With
S = |a| @ |b| + |beta * out0| + |bias|, an output is within ``rtol * S + 8 * eps * |ref|`` of it
(K = 5 products: the FMA sum errs below (K + 2) * eps * S, Higham 2002 §3.1; the activations
are 1-Lipschitz and add a few ulp), rtol = 1e-12 for float64 and 1e-5 for float32.
"""

from __future__ import annotations

import numpy as np
import pytest
from convergent import _core
from convergent import reference as ref

ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh"]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
K = 5


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_partial_tiles_with_bias(isa, rng, dt, act):
    eps = np.finfo(dt).eps
    # One set of operands for the whole sweep, sliced per shape; pre-activations of order 1..5
    # of both signs, so every branch of the activations (x > 0 and x <= 0) is used.
    a_all = (2 * rng.standard_normal((14, K))).astype(dt)
    b_all = rng.standard_normal((K, 40)).astype(dt)
    bias_all = rng.standard_normal(40).astype(dt)
    c_all = rng.standard_normal((14, 40)).astype(dt)
    bad = []
    for m in range(1, 15):
        for n in range(1, 41):
            a, b, bias = a_all[:m], np.ascontiguousarray(b_all[:, :n]), bias_all[:n]
            for beta in (0.0, 1.0):
                out = c_all[:m, :n].copy()
                z = a.astype(np.float64) @ b + bias + beta * out
                s = np.abs(a).astype(np.float64) @ np.abs(b) + np.abs(bias) + beta * np.abs(out)
                want = ref.activation(z, act, 0.1)
                _core.gemm(a, b, out, beta=beta, bias=bias, activation=act, negative_slope=0.1)
                err = np.abs(out - want)
                tol = RTOL[dt] * s + 8 * eps * np.abs(want)
                if not np.all(err <= tol):
                    cols = sorted({int(j) for j in np.nonzero(err > tol)[1]})
                    bad.append((m, n, beta, cols))
    assert not bad, f"{isa} {np.dtype(dt).name} {act}: (m, n, beta, wrong columns) {bad[:5]}"
