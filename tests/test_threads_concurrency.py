"""Python threads and processes calling the kernels at the same time: no deadlock, no
oversubscription, the same results as alone.

The pool runs one parallel call at a time; a call made while another thread's call holds it runs
on its own calling thread. Each scenario runs in a fresh interpreter with a timeout, so a
deadlock fails the test instead of hanging the run.
"""

from __future__ import annotations

import json

import pytest
from _threads_helpers import run_script

FOUR_MODELS = r"""
import json, threading
import numpy as np
import convergent as cg
from convergent import _core

cg.set_num_threads(2)
_core.parallel_testing(adaptive=False)  # use the pool even on a busy machine

def train(seed, fused):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((640, 200)).astype(np.float32)
    y = rng.integers(0, 5, 640)
    d = cg.nn.Dense
    model = cg.nn.Sequential([d(200, 256, "relu"), d(256, 5)], seed=seed)
    opt = cg.optim.Adam(model.parameters(), lr=1e-3)
    class Every(cg.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass
    cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=64,
           progress=False, callbacks=() if fused else (Every(),))
    return [p.copy() for p in model.parameters()]

cases = [(s, s % 2 == 0) for s in range(4)]
alone = [train(*c) for c in cases]
results = [None] * 4
def run(i):
    results[i] = train(*cases[i])
threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(4)]
before = _core.parallel_stats()
for t in threads:
    t.start()
for t in threads:
    t.join(90)
after = _core.parallel_stats()
assert not any(t.is_alive() for t in threads), "a training thread did not finish"
same = all(
    all(np.array_equal(a, b) for a, b in zip(results[i], alone[i])) for i in range(4)
)
print(json.dumps({
    "same": same,
    "workers": after["workers"],
    "inline": after["inline_calls"] - before["inline_calls"],
    "pool": after["calls"] - before["calls"],
}))
"""


def test_four_python_threads_each_training_a_model():
    out = json.loads(run_script(FOUR_MODELS, timeout=240).stdout.splitlines()[-1])
    assert out["same"], "a model trained beside others differs from the one trained alone"
    # One pool of set_num_threads - 1 workers whatever the number of calling threads.
    assert out["workers"] == 1
    # The four callers shared the pool: some calls ran on it, the others on their own thread.
    assert out["pool"] > 0 and out["inline"] > 0


CROSS_VAL = r"""
import json, warnings
import numpy as np
import convergent as cg
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from convergent.sklearn import MLPClassifier
from sklearn.exceptions import ConvergenceWarning

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32) / 16.0

def clf():
    return MLPClassifier(hidden_layer_sizes=(256, 64), max_iter=4, random_state=0)

alone = cross_val_score(clf(), X, y, cv=4, n_jobs=1)
with parallel_backend(BACKEND, n_jobs=4):
    parallel = cross_val_score(clf(), X, y, cv=4, n_jobs=4)
print(json.dumps({"alone": alone.tolist(), "parallel": parallel.tolist()}))
"""


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_sklearn_cross_val_score_n_jobs_4(backend):
    pytest.importorskip("sklearn")
    pytest.importorskip("joblib")
    code = CROSS_VAL.replace("BACKEND", repr(backend))
    out = json.loads(run_script(code, timeout=300).stdout.splitlines()[-1])
    assert out["parallel"] == out["alone"]
    assert min(out["alone"]) > 0.5  # the models did learn


FORK = r"""
import os
import numpy as np
import convergent as cg
from convergent import _core

cg.set_num_threads(2)
_core.parallel_testing(delay_us=50, delay_caller=True, adaptive=False)
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 512)).astype(np.float32)
b = rng.standard_normal((512, 384)).astype(np.float32)
want = np.empty((256, 384), np.float32)
_core.gemm(a, b, want)
assert _core.parallel_stats()["workers"] == 1
pid = os.fork()
if pid == 0:  # the child: the parent's worker does not exist here; a new pool starts
    try:
        s0 = _core.parallel_stats()
        _core.parallel_testing(delay_us=1000, delay_caller=True, adaptive=False)
        ok = s0["workers"] == 0
        for _ in range(50):  # until the new worker has run a part (it starts late when busy)
            got = np.empty_like(want)
            _core.gemm(a, b, got)
            ok = ok and np.array_equal(got, want)
            s1 = _core.parallel_stats()
            if s1["parts_workers"] > 0:
                break
        ok = ok and s1["workers"] == 1 and s1["parts_workers"] > 0
    except BaseException:
        ok = False
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
got = np.empty_like(want)
_core.gemm(a, b, got)
assert np.array_equal(got, want)
print("ok")
"""


def test_fork_child_starts_its_own_pool():
    assert run_script(FORK, timeout=120).stdout.strip().endswith("ok")
