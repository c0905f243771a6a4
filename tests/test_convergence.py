"""A real convergence check: an MLP on scikit-learn's bundled digits reaches >= 95 % test
accuracy, with the same bits for the same seed."""

import convergent as cg
import numpy as np
import pytest

pytest.importorskip("sklearn")
if not hasattr(cg.nn, "Dense") or not hasattr(cg.nn, "SoftmaxCrossEntropy"):
    pytest.skip("needs cg.nn.Dense and cg.nn.SoftmaxCrossEntropy", allow_module_level=True)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
    return [((a - mean) / std).astype(np.float32) for a in (X_tr, X_te)] + [y_tr, y_te]


def _train(X, y, seed):
    model = cg.nn.Sequential(
        [cg.nn.Dense(64, 64, "relu", init="he_uniform"), cg.nn.Dropout(0.1), cg.nn.Dense(64, 10)],
        seed=seed,
    )
    opt = cg.optim.Adam(model.parameters(), lr=3e-3)
    sched = cg.schedules.CosineDecay(3e-3, decay_steps=15 * 43)
    h = cg.fit(
        model,
        cg.nn.SoftmaxCrossEntropy(),
        opt,
        X,
        y,
        epochs=15,
        batch_size=32,
        seed=seed,
        schedule=sched,
        progress=False,
    )
    return model, h


def test_digits_mlp_reaches_95_percent():
    X_tr, X_te, y_tr, y_te = _digits()
    model, h = _train(X_tr, y_tr, seed=0)
    acc = cg.nn.SoftmaxCrossEntropy().accuracy(model.forward(X_te), y_te)
    assert acc >= 0.95, acc
    assert h.history["loss"][-1] < 0.2 * h.history["loss"][0]
    old = cg.get_num_threads()
    try:
        cg.set_num_threads(1 if old > 1 else 2)
        again, _ = _train(X_tr, y_tr, seed=0)
    finally:
        cg.set_num_threads(old)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(model.parameters(), again.parameters()))


def test_fit_same_bits_for_one_and_two_threads_at_parallel_sizes():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1024, 256), dtype=np.float32)
    y = rng.integers(0, 10, 1024)
    runs = []
    old = cg.get_num_threads()
    try:
        for threads in (1, 2):
            cg.set_num_threads(threads)
            model = cg.nn.Sequential(
                [
                    cg.nn.Dense(256, 512, "relu"),
                    cg.nn.BatchNorm(512),
                    cg.nn.Dropout(0.2),
                    cg.nn.Residual([cg.nn.Dense(512, 512, "tanh")]),
                    cg.nn.Dense(512, 10),
                ],
                seed=3,
            )
            opt = cg.optim.Adam(model.parameters(), lr=1e-3)
            h = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=2, batch_size=256,
                       validation_split=0.25, clip_grad_norm=1.0, progress=False)  # fmt: skip
            runs.append(([v.tobytes() for v in model.state_dict().values()], h.history))
    finally:
        cg.set_num_threads(old)
    assert runs[0] == runs[1]


_SCALAR_SCRIPT = """
import numpy as np, convergent as cg
assert cg.get_isa() == "scalar"
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 20), dtype=np.float32)
y = (X[:, 0] > 0).astype(np.int64)
out = []
for threads in (1, 2):
    cg.set_num_threads(threads)
    m = cg.nn.Sequential([cg.nn.Dense(20, 64, "relu"), cg.nn.BatchNorm(64), cg.nn.Dropout(0.1),
                          cg.nn.Dense(64, 2)], seed=1)
    h = cg.fit(m, cg.nn.SoftmaxCrossEntropy(), cg.optim.Adam(m.parameters(), lr=1e-2), X, y,
               epochs=5, batch_size=32, progress=False)
    out.append([p.tobytes() for p in m.parameters()])
assert out[0] == out[1]
assert h.history["accuracy"][-1] > 0.9, h.history
print("ok")
"""


def test_fit_under_forced_scalar_isa_in_a_subprocess():
    import os
    import subprocess
    import sys

    env = {**os.environ, "CONVERGENT_ISA": "scalar"}
    res = subprocess.run([sys.executable, "-c", _SCALAR_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
