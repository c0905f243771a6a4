"""pytest-benchmark suite for the optimizer steps (speed is measured here, never asserted).

    python -m pytest bench/test_bench_optim.py --benchmark-group-by=group

Groups are "<optimizer> <params> x<tensors>": convergent on every available ISA, the NumPy
reference and (when torch is installed) torch.optim for-loop, foreach and fused, all float32 and
on 2 threads. Each round starts from the same values, copied into buffers allocated once (no page
faults in the timed step). ``extra_info`` carries the effective GB/s. For the contender-per-
process comparison table, use bench/compare_optim.py.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from convergent import reference as ref

N = 1 << 20
LAYOUTS = {"x1": 1, "x100": 100}
OPTS = {  # class, kwargs, bytes moved per element (float32)
    "Adam": ({}, 28),
    "AdamW": ({}, 28),
    "SGD": ({"lr": 1e-3, "momentum": 0.9}, 20),
    "Adagrad": ({}, 20),
    "RMSprop": ({}, 20),
}
THREADS = 2


def _data(count):
    rng = np.random.default_rng(0)
    sizes = [N // count] * count
    sizes[-1] += N - sum(sizes)
    params = [rng.standard_normal(k, dtype=np.float32) for k in sizes]
    grads = [rng.standard_normal(k, dtype=np.float32) * np.float32(1e-2) for k in sizes]
    return params, grads


def _run(benchmark, group, name, step, params):
    start = [p.copy() for p in params]

    def setup():
        for p, s in zip(params, start):
            np.copyto(p, s)

    benchmark.group = group
    benchmark.pedantic(step, setup=setup, rounds=15, warmup_rounds=2, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        benchmark.extra_info["GB/s"] = round(OPTS[name][1] * N / median / 1e9, 2)


@pytest.fixture
def two_threads():
    previous = cg.get_num_threads()
    cg.set_num_threads(THREADS)
    yield
    cg.set_num_threads(previous)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(OPTS))
@pytest.mark.parametrize("isa", cg.available_isas())
def test_convergent(benchmark, two_threads, isa, name, layout):
    params, grads = _data(LAYOUTS[layout])
    opt = getattr(cg.optim, name)(params, **OPTS[name][0])
    previous = cg.get_isa()
    cg.set_isa(isa)
    try:
        _run(benchmark, f"{name} 1M {layout}", name, lambda: opt.step(grads), params)
    finally:
        cg.set_isa(previous)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(OPTS))
def test_numpy_reference(benchmark, name, layout):
    params, grads = _data(LAYOUTS[layout])
    a = [np.zeros_like(p) for p in params]
    b = [np.zeros_like(p) for p in params]
    kw = OPTS[name][0]

    def step():
        for p, g, x, y in zip(params, grads, a, b):
            if name in ("Adam", "AdamW"):
                wd = 1e-2 if name == "AdamW" else 0.0
                ref.adam_step(
                    p, g, x, y, None, step=3, lr=1e-3, weight_decay=wd, decoupled=name == "AdamW"
                )
            elif name == "SGD":
                ref.sgd_step(p, g, x, first_step=False, lr=kw["lr"], momentum=kw["momentum"])
            elif name == "Adagrad":
                ref.adagrad_step(p, g, x, step=3, lr=1e-2)
            else:
                ref.rmsprop_step(p, g, x, None, None, lr=1e-2)

    _run(benchmark, f"{name} 1M {layout}", name, step, params)


@pytest.mark.parametrize("variant", ["for-loop", "foreach", "fused"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(OPTS))
def test_torch(benchmark, name, layout, variant):
    torch = pytest.importorskip("torch")
    if variant == "fused" and name == "RMSprop":
        pytest.skip("torch.optim.RMSprop has no fused implementation")
    torch.set_num_threads(THREADS)
    params, grads = _data(LAYOUTS[layout])
    tparams = [torch.from_numpy(p) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    extra = {"for-loop": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[variant]
    opt = getattr(torch.optim, name)(tparams, **OPTS[name][0], **extra)
    _run(benchmark, f"{name} 1M {layout}", name, opt.step, params)
