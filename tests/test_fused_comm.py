"""The fused loop's data-parallel steps (``_core.train_steps(..., comm=...)``) without MPI.

``comm = (rank, size, buf, launch, hook)``: the loop runs this rank's rows of each batch, packs
the gradients times the rank's share and the weighted loss and correct count into ``buf``, and
calls ``hook`` to start, progress and wait for the sums (``convergent.distributed`` passes
mpi4py's ``Iallreduce``/``Testall``/``Waitall``). Here the hooks are plain Python: one rank of
one, and two ranks as two threads of this process summing through a barrier. The runs under
``mpiexec`` are in tests/test_distributed_mpi.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from convergent import _core
from test_fused import _loop_args, _with


def _comm_buffer(params, dt):
    return np.zeros(sum(p.size for p in params) + 2, dt)


def _run(args):
    return _core.train_steps(**_with(args, layers=[tuple(x) for x in args["layers"]]))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize(
    "launch, events", [([-1, 0], [0, -1, -2]), ([0, -1], [0, -2]), ([1, 0], [0, 1, -2])]
)
def test_one_rank_is_the_run_without_comm(dt, launch, events):
    """A world of one: the same bits as without comm (share 1, the sum of one), the hook told
    to start, progress and wait as launch says, and the reduced gradients left in the layers."""
    ref_args, ref_params = _loop_args(dt)
    ref = _run(ref_args)
    args, params = _loop_args(dt)
    seen = []
    buf = _comm_buffer(params, dt)
    out = _run(_with(args, comm=(0, 1, buf, np.array(launch, np.int64),
                                 lambda e: seen.append(e) or True)))  # fmt: skip
    # the loss went through buf: rounded to its dtype, as the Python loop's under comm
    assert np.array_equal(ref[0].astype(dt), out[0]) and out[0].dtype == np.float64
    for a, b in zip(ref[1:], out[1:]):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for p, q in zip(ref_params, params):
        assert np.array_equal(p, q)
    assert seen == events * args["count"]
    grads = [g for layer in args["layers"] for g in layer[11:13]]
    assert np.array_equal(np.concatenate([g.ravel() for g in grads]), buf[:-2])
    assert buf[-2] == np.asarray(ref[0], dt)[-1] and buf[-1] == ref[1][-1]


def _two_ranks(dt, count, order=True):
    """Two ranks as two threads: each trains its shard of every batch; the hooks sum the two
    buffers at hook(-2). Returns each rank's (outputs, parameters)."""
    barrier = threading.Barrier(2)
    bufs, results, errors = [], [None, None], []
    runs = [_loop_args(dt) for _ in range(2)]
    for _, params in runs:
        bufs.append(_comm_buffer(params, dt))

    def hook(rank):
        def h(event):
            if event == -2:
                barrier.wait()
                total = bufs[0] + bufs[1]
                barrier.wait()
                bufs[rank][:] = total
            return True

        return h

    def rank_main(rank):
        args, params = runs[rank]
        try:
            comm = (rank, 2, bufs[rank], np.array([-1, 0], np.int64), hook(rank))
            if not order:
                args = _with(args, order=None)
            results[rank] = (_run(_with(args, count=count, comm=comm)), params)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("order", [True, False])
@pytest.mark.parametrize("dt, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_two_ranks_equal_one_process(dt, rtol, order):
    """50 rows in batches of 16 (the last one of 2 split 1 + 1), shuffled or in storage order:
    both ranks end with the same bits, which equal the one-process run up to the gradient
    summation order."""
    count = 4
    (out0, p0), (out1, p1) = _two_ranks(dt, count, order)
    for a, b in zip(p0, p1):
        assert np.array_equal(a, b)
    for a, b in zip(out0[:3], out1[:3]):
        assert np.array_equal(a, b)  # the reduced losses and counts
    args, params = _loop_args(dt)
    ref = _run(_with(args, count=count, order=args["order"] if order else None))
    for p, q in zip(params, p0):
        np.testing.assert_allclose(q, p, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(out0[0], ref[0], rtol=max(rtol, 1e-6))
    assert np.array_equal(out0[1], ref[1]) and out0[2].all()


def test_a_hook_that_stops_ends_the_run_before_its_step():
    """hook returning False at step 2: steps 0 and 1 are returned and applied (as a run of 2),
    step 2 changes no parameter."""
    args, params = _loop_args(np.float64)
    calls = []

    def hook(event):
        calls.append(event)
        return len(calls) <= 3 * 2  # 3 events a step: step 2's first one stops

    buf = _comm_buffer(params, np.float64)
    out = _run(_with(args, count=4, comm=(0, 1, buf, np.array([-1, 0], np.int64), hook)))
    assert [len(a) for a in out[:3]] == [2, 2, 2]
    ref_args, ref_params = _loop_args(np.float64)
    ref = _run(_with(ref_args, count=2))
    for p, q in zip(ref_params, params):
        assert np.array_equal(p, q)
    assert np.array_equal(ref[0], out[0])


def test_a_hook_that_raises_raises_from_the_call():
    args, params = _loop_args(np.float64)
    before = [p.copy() for p in params]

    def hook(event):
        raise KeyError("no network")

    buf = _comm_buffer(params, np.float64)
    with pytest.raises(KeyError, match="no network"):
        _run(_with(args, comm=(0, 1, buf, np.array([-1, 0], np.int64), hook)))
    for p, q in zip(params, before):  # stopped in step 0, before its update
        assert np.array_equal(p, q)


def test_bad_comm_changes_nothing():
    args, params = _loop_args(np.float32)
    buf = _comm_buffer(params, np.float32)
    launch = np.array([-1, 0], np.int64)
    ok = lambda e: True  # noqa: E731
    bad = [
        ([0, 1, buf, launch, ok], TypeError),  # not a tuple
        ((0, 1, buf, launch), TypeError),
        ((0.0, 1, buf, launch, ok), TypeError),
        ((1, 1, buf, launch, ok), ValueError),  # rank outside [0, size)
        ((0, 0, buf, launch, ok), ValueError),
        ((0, 17, buf, launch, ok), ValueError),  # batch 16 < 17 ranks
        ((0, 3, buf, launch, ok), ValueError),  # the last batch of 2 rows for 3 ranks
        ((0, 1, buf[:-1], launch, ok), ValueError),
        ((0, 1, buf.astype(np.float64), launch, ok), TypeError),
        ((0, 1, buf, launch[:1], ok), ValueError),
        ((0, 1, buf, np.array([-2, 0], np.int64), ok), ValueError),
        ((0, 1, buf, launch, "hook"), TypeError),
        ((0, 1, params[0], launch, ok), ValueError),  # overlaps a parameter (wrong size too)
    ]
    for comm, exc in bad:
        before = [p.copy() for p in params]
        with pytest.raises(exc):
            _run(_with(args, comm=comm))
        for p, q in zip(params, before):
            assert np.array_equal(p, q), comm
    with pytest.raises(ValueError, match="penalty_after_backward"):
        _run(_with(args, penalty_after_backward=True, comm=(0, 1, buf, launch, ok)))
