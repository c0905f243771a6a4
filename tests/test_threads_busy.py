"""The pool on a busy machine: beside as many busy processes as this process may use cores, the
OS keeps our threads off their cores, and the calls go to the calling thread alone
(``contended_calls`` in ``_core.parallel_stats()``); once the busy processes end, calls run on
the pool again. In a subprocess: the pool's state is per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, os, subprocess, sys, time
import numpy as np
import convergent as cg
from convergent import _core

cg.set_num_threads(2)
rng = np.random.default_rng(0)
X = rng.standard_normal((2560, 256)).astype(np.float32)
y = rng.integers(0, 10, 2560)
d = cg.nn.Dense
model = cg.nn.Sequential([d(256, 512, "relu"), d(512, 256, "relu"), d(256, 10)], seed=0)
opt = cg.optim.Adam(model.parameters(), lr=1e-3)
loss = cg.nn.SoftmaxCrossEntropy()

def epoch():
    cg.fit(model, loss, opt, X, y, epochs=1, batch_size=128, progress=False)

def until(key, deadline_s):  # epochs until the stat grows (or the deadline passes)
    start, t0 = _core.parallel_stats()[key], time.time()
    while time.time() - t0 < deadline_s:
        epoch()
        if _core.parallel_stats()[key] > start:
            return True
    return False

epoch()
quiet_pool = until("calls", 10)
n = len(os.sched_getaffinity(0))
busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
try:
    time.sleep(0.3)
    loaded_one_thread = until("contended_calls", 20)
finally:
    for p in busy:
        p.kill()
        p.wait()
time.sleep(0.5)
quiet_again = until("calls", 10)
print(json.dumps([quiet_pool, loaded_one_thread, quiet_again]))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs os.sched_getaffinity")
def test_busy_machine_sends_calls_to_one_thread_and_back():
    if len(os.sched_getaffinity(0)) > 16:
        pytest.skip("too many cores to load with busy processes")
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    quiet_pool, loaded_one_thread, quiet_again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert quiet_pool  # 2 threads on the pool
    assert loaded_one_thread  # preemptions sent calls to the calling thread alone
    assert quiet_again  # and the pool came back
