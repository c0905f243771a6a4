"""pytest-benchmark suite of the GEMM and the dense layer (run: pytest bench/test_bench_nn.py).

Grouped by size; GFLOP/s is attached as extra info. The comparison with NumPy and torch in
separate processes is bench/compare_gemm.py and bench/compare_dense.py.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from convergent import _core

pytest.importorskip("pytest_benchmark")

GEMM_SIZES = [(128, 784, 256), (128, 256, 128), (256, 1024, 1024)]


@pytest.fixture(params=cg.available_isas())
def isa(request):
    old = cg.get_isa()
    cg.set_isa(request.param)
    yield request.param
    cg.set_isa(old)


@pytest.mark.parametrize("size", GEMM_SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_gemm(benchmark, isa, size, dt):
    m, k, n = size
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dt)
    b = rng.standard_normal((k, n)).astype(dt)
    bias = rng.standard_normal(n).astype(dt)
    out = np.empty((m, n), dt)
    benchmark.group = f"gemm {m}x{k}x{n} {np.dtype(dt).name}"
    benchmark(_core.gemm, a, b, out, bias=bias, activation="relu")
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info["gflops"] = 2 * m * k * n / benchmark.stats.stats.min / 1e9


@pytest.mark.parametrize("batch", [32, 128, 512])
def test_dense_forward_backward(benchmark, isa, batch):
    rng = np.random.default_rng(0)
    layer = cg.nn.Dense(784, 256, "relu", seed=0)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    dout = rng.standard_normal((batch, 256)).astype(np.float32)

    def step():
        layer.forward(x, training=True)
        layer.backward(dout)

    benchmark.group = f"dense 784->256 relu batch {batch}"
    benchmark(step)
