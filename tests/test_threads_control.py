"""Who sets the thread count: cg.set_num_threads, else OpenMP's count (OMP_NUM_THREADS,
threadpoolctl's limits); and the runtime's testing hooks reject bad values.

The count is process state, so the cases that need it unset run in a fresh interpreter.
"""

from __future__ import annotations

import json
import os

import convergent as cg
import pytest
from _threads_helpers import run_script
from convergent import _core

GEMM_CALLS = r"""
import numpy as np
from convergent import _core
a = np.ones((256, 512), np.float32); b = np.ones((512, 512), np.float32)
out = np.empty((256, 512), np.float32)
_core.parallel_testing(delay_us=200, delay_caller=True, adaptive=False)
def pool_use():  # up to 20 calls, until a worker has run a part (it starts late when busy)
    s0 = _core.parallel_stats()
    for _ in range(20):
        _core.gemm(a, b, out)
        s1 = _core.parallel_stats()
        if s1["parts_workers"] > s0["parts_workers"]:
            break
    return {k: s1[k] - s0[k] for k in ("calls", "parts_workers")}
"""


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(kw)
    return env


@pytest.mark.parametrize("n", ["1", "3"])
def test_omp_num_threads_sets_the_default(n):
    code = "import convergent as cg; print(cg.get_num_threads())"
    out = run_script(code, timeout=60, env=_env(OMP_NUM_THREADS=n)).stdout.split()[-1]
    assert out == n


def test_omp_num_threads_1_keeps_the_kernels_on_one_thread():
    code = GEMM_CALLS + "import json; print(json.dumps(pool_use()))"
    out = json.loads(run_script(code, timeout=60, env=_env(OMP_NUM_THREADS="1")).stdout)
    assert out == {"calls": 0, "parts_workers": 0}


THREADPOOLCTL = (
    GEMM_CALLS
    + r"""
import json
import convergent as cg
from threadpoolctl import threadpool_info, threadpool_limits

seen = [i for i in threadpool_info() if i["user_api"] == "openmp"]
default = cg.get_num_threads()
outside = pool_use()
with threadpool_limits(limits=1, user_api="openmp"):
    limited = cg.get_num_threads()
    inside = pool_use()
after = cg.get_num_threads()
cg.set_num_threads(2)  # an explicit count wins over OpenMP's
with threadpool_limits(limits=1, user_api="openmp"):
    explicit = cg.get_num_threads()
print(json.dumps({"seen": len(seen), "default": default, "limited": limited, "after": after,
                  "outside": outside, "inside": inside, "explicit": explicit}))
"""
)


def test_threadpoolctl_limits_convergent_threads():
    pytest.importorskip("threadpoolctl")
    out = json.loads(run_script(THREADPOOLCTL, timeout=60, env=_env(OMP_NUM_THREADS="2")).stdout)
    assert out["seen"] >= 1  # threadpoolctl finds the OpenMP runtime convergent links
    assert out["default"] == 2 and out["after"] == 2
    assert out["limited"] == 1
    assert out["outside"]["calls"] >= 1 and out["outside"]["parts_workers"] > 0
    assert out["inside"] == {"calls": 0, "parts_workers": 0}  # one thread under the limit
    assert out["explicit"] == 2


def test_set_num_threads(threads):
    threads(3)
    assert cg.get_num_threads() == 3
    threads(1)
    assert cg.get_num_threads() == 1


@pytest.mark.parametrize("n", [0, -2])
def test_set_num_threads_rejects_non_positive(n):
    before = cg.get_num_threads()
    with pytest.raises(ValueError, match="n must be >= 1"):
        cg.set_num_threads(n)
    assert cg.get_num_threads() == before


@pytest.mark.parametrize("delay", [-1, 1_000_001])
def test_parallel_testing_rejects_bad_delays(delay):
    with pytest.raises(ValueError, match="delay_us"):
        _core.parallel_testing(delay_us=delay)
