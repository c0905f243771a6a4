"""Same bits for any thread count and any interleaving of the parallel runtime.

Each case runs once on one thread (the reference), then under forced imbalance
(_core.parallel_testing: a worker or the calling thread delayed before every part it runs, the
claim order shuffled, 2, 3 and 8 threads), and every output, gradient, parameter and optimizer
state must be the same bits: the GEMM (each of its partitions), the optimizer kernels, the
training kernels (Dense, convolution, pooling, batch norm, softmax cross-entropy through a
model's forward and backward) and the fused training loop of cg.fit.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _threads_helpers import SCHEDULES, assert_same_bits, run_alone, run_under
from convergent import _core

DTYPES = [np.float32, np.float64]

# (m, k, n, trans_a, trans_b, bias+activation): shapes that take each partition of the GEMM at
# 2-4 threads (dynamic items with the duplicated operand packed once per thread, along N and
# along M; one fixed part per thread when that operand is too large) and, at 8 threads or
# with too few micro-panels, the schemes that share one packed operand.
GEMM_SHAPES = [
    pytest.param((128, 784, 256, False, False, True), id="dynamic-along-n"),
    pytest.param((784, 128, 256, True, False, False), id="dynamic-along-m-trans-a"),
    pytest.param((200, 1000, 256, False, True, True), id="fixed-parts-trans-b"),
    pytest.param((30, 700, 90, False, False, False), id="shared"),
    pytest.param((97, 301, 163, True, True, True), id="odd-sizes"),
]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("shape", GEMM_SHAPES)
@pytest.mark.parametrize("dt", DTYPES)
def test_gemm(isa, shape, dt, schedule, rng):
    m, k, n, ta, tb, epilogue = shape
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
    bias = rng.standard_normal(n).astype(dt) if epilogue else None
    start = rng.standard_normal((m, n)).astype(dt)

    def call():
        out = start.copy()
        kw = {"bias": bias, "activation": "leaky_relu"} if epilogue else {"beta": 1.0}
        _core.gemm(a, b, out, trans_a=ta, trans_b=tb, **kw)
        return out

    assert_same_bits(run_under(schedule, call), run_alone(call), "gemm")


OPTIMIZERS = {
    "Adam-amsgrad": lambda p: cg.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "AdamW": lambda p: cg.optim.AdamW(p, lr=1e-2),
    "SGD-nesterov": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda p: cg.optim.Adagrad(p, lr=0.05, lr_decay=0.01),
    "RMSprop-centered": lambda p: cg.optim.RMSprop(p, lr=1e-3, centered=True, momentum=0.5),
    "NAdam": lambda p: cg.optim.NAdam(p),
    "RAdam": lambda p: cg.optim.RAdam(p),
    "Adamax": lambda p: cg.optim.Adamax(p),
    "Adadelta": lambda p: cg.optim.Adadelta(p),
    "ASGD": lambda p: cg.optim.ASGD(p),
    "Rprop": lambda p: cg.optim.Rprop(p),
    "Adafactor": lambda p: cg.optim.Adafactor(p),
    "Muon": lambda p: cg.optim.Muon(p, lr=1e-2),
    "Lion": lambda p: cg.optim.Lion(p),
    "ScheduleFreeAdamW": lambda p: cg.optim.ScheduleFreeAdamW(p),
}


@pytest.mark.parametrize("schedule", SCHEDULES[1:4])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("dt", DTYPES)
def test_optimizer_kernels(name, dt, schedule, rng):
    # Tensors above the kernels' one-thread threshold (2^16 elements), plus small ones.
    shapes = [(300, 400), (400,), (129, 520), (7, 3)]
    if name == "Muon":  # 2-D parameters only
        shapes = [(300, 400), (129, 520), (7, 3)]
    params0 = [rng.standard_normal(s).astype(dt) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dt) for s in shapes] for _ in range(3)]

    def train():
        params = [p.copy() for p in params0]
        opt = OPTIMIZERS[name](params)
        for g in grads:
            opt.step(g)
        return params, opt.state_dict()["state"]

    assert_same_bits(run_under(schedule, train), run_alone(train), name)


def _model(dt):
    d = cg.nn.Dense
    return cg.nn.Sequential(
        [
            cg.nn.Conv2D(3, 8, 3, padding="same", activation="relu", dtype=dt),
            cg.nn.BatchNorm(8, dtype=dt),
            cg.nn.MaxPool2D(2),
            cg.nn.Conv2D(8, 16, 3, stride=2, dtype=dt),
            cg.nn.AvgPool2D(2),
            cg.nn.Flatten(),
            d(16 * 4 * 4, 300, "relu", dtype=dt),
            d(300, 10, dtype=dt, weight_l2=1e-3, activity_l1=1e-4),
        ],
        seed=3,
    )


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("dt", DTYPES)
def test_training_kernels(dt, schedule, rng):
    x = rng.standard_normal((64, 36, 36, 3)).astype(dt)
    y = rng.integers(0, 10, 64)

    def step():
        model = _model(dt)
        for layer in model.layers:
            if isinstance(layer, cg.nn.BatchNorm):
                for p in layer.parameters():
                    p[...] = rng_fixed(p.shape, dt)
        loss = cg.nn.SoftmaxCrossEntropy()
        out = model.forward(x, training=True)
        value = loss.forward(out, y)
        dx = model.backward(loss.backward())
        return out, value, dx, model.gradients()

    assert_same_bits(run_under(schedule, step), run_alone(step), "forward/backward")


def rng_fixed(shape, dt):
    return np.random.default_rng(7).uniform(0.5, 1.5, shape).astype(dt)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("fused", [True, False])
def test_fit(dt, fused, schedule, rng):
    """cg.fit on an MLP: the fused loop (whose steps gather the next batch beside the small last
    layer, a pair of concurrent tasks) and the Python loop (a callback between steps)."""
    X = rng.standard_normal((700, 300)).astype(dt)
    y = rng.integers(0, 10, 700)

    class EveryBatch(cg.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    def train():
        d = cg.nn.Dense
        model = cg.nn.Sequential(
            [d(300, 256, "relu", dtype=dt), d(256, 64, "tanh", dtype=dt), d(64, 10, dtype=dt)],
            seed=0,
        )
        opt = cg.optim.Adam(model.parameters(), lr=1e-3)
        hist = cg.fit(
            model,
            cg.nn.SoftmaxCrossEntropy(),
            opt,
            X,
            y,
            epochs=2,
            batch_size=128,
            seed=1,
            progress=False,
            callbacks=() if fused else (EveryBatch(),),
        )
        return model.parameters(), opt.state_dict()["state"], hist.history

    assert_same_bits(run_under(schedule, train), run_alone(train), "fit")


def test_hooks_make_the_workers_run_parts(rng):
    """The interleavings above are real: with the caller delayed, workers run parts; with the
    workers delayed, the caller waits for parts they claimed."""
    a = rng.standard_normal((256, 512)).astype(np.float32)
    b = rng.standard_normal((512, 512)).astype(np.float32)
    out = np.empty((256, 512), np.float32)
    before = _core.parallel_stats()

    def calls():  # until a worker has run a part (on a busy machine it may start late)
        for _ in range(50):
            _core.gemm(a, b, out)
            if _core.parallel_stats()["parts_workers"] > before["parts_workers"]:
                return

    run_under((2, 300, True, 5), calls)
    after = _core.parallel_stats()
    assert after["parts_workers"] > before["parts_workers"]
    assert after["workers"] >= 1
    assert after["calls"] > before["calls"]
