"""Shared pieces of the tests of the parallel runtime (tests/test_threads_*.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest
from convergent import _core

# Interleavings forced through _core.parallel_testing: (threads, delay_us, delay_caller, seed).
# A delayed worker leaves most parts to the caller (and holds the parts it claimed while the
# caller waits); a delayed caller leaves them to the workers; the seeds shuffle the claim order.
SCHEDULES = [
    pytest.param((2, 0, False, 0), id="2t"),
    pytest.param((2, 40, False, 11), id="2t-slow-worker-shuffled"),
    pytest.param((2, 40, True, 12), id="2t-slow-caller-shuffled"),
    pytest.param((3, 15, False, 13), id="3t-slow-workers-shuffled"),
    pytest.param((8, 5, True, 14), id="8t-slow-caller-shuffled"),
]


def run_under(schedule, fn):
    """fn() with the thread count and interleaving of `schedule` (the pool used even on a busy
    machine); the count and the hooks are restored afterwards."""
    threads, delay_us, delay_caller, seed = schedule
    old = cg.get_num_threads()
    cg.set_num_threads(threads)
    _core.parallel_testing(
        delay_us=delay_us, shuffle_seed=seed, delay_caller=delay_caller, adaptive=False
    )
    try:
        return fn()
    finally:
        _core.parallel_testing()
        cg.set_num_threads(old)


def run_alone(fn):
    """fn() on one thread: the reference bits."""
    return run_under((1, 0, False, 0), fn)


def assert_same_bits(got, want, what: str) -> None:
    """Arrays (or nested lists/dicts/tuples of them, or numbers) equal bit for bit."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), what
        for k in want:
            assert_same_bits(got[k], want[k], f"{what}[{k!r}]")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_bits(g, w, f"{what}[{i}]")
    elif isinstance(want, np.ndarray):
        g = np.ascontiguousarray(got)
        w = np.ascontiguousarray(want)
        assert g.dtype == w.dtype and g.shape == w.shape, what
        same = g.view(np.uint8) == w.view(np.uint8)
        assert same.all(), f"{what}: not the same bits as on one thread"
    else:
        assert got == want or (got != got and want != want), f"{what}: {got!r} != {want!r}"


PYTHON_DIR = str(Path(cg.__file__).resolve().parent.parent)


def run_script(code: str, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter that imports this checkout's convergent; a hang (a
    deadlock) fails the test after `timeout` seconds instead of blocking the run."""
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = os.pathsep.join([PYTHON_DIR, *filter(None, [e.get("PYTHONPATH")])])
    try:
        res = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=e,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"no result within {timeout} s (a deadlock?)")
    assert res.returncode == 0, res.stderr[-3000:]
    return res
