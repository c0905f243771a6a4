"""convergent.distributed without mpiexec: the per-row random draws, and bad ``comm``
arguments (one process; the MPI runs are in tests/test_distributed_mpi.py)."""

from __future__ import annotations

import sys

import convergent as cg
import numpy as np
import pytest
from convergent._rowrng import RowWindow, RowWindowGenerator, install, uninstall

BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox]


@pytest.mark.parametrize("bitgen", BIT_GENERATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["random", "standard_normal"])
def test_row_window_draws_the_global_rows(bitgen, dtype, method):
    """Every split of a global batch into windows gets the global batch's numbers for its rows
    and leaves the generator where the global draw leaves it (also with a kept 32-bit half)."""
    for total, per_row, pre in [(5, 3, 1), (7, 1, 0), (4, 5, 3), (9, 2, 2), (1, 7, 1)]:
        ref = np.random.Generator(bitgen(11))
        ref.random(pre, dtype=np.float32)  # an odd count leaves half of a 64-bit output kept
        start_state = ref.bit_generator.state
        full = getattr(ref, method)(out=np.empty((total, per_row), dtype), dtype=dtype)
        after = ref.random(3, dtype=np.float32)
        for cuts in ([0, total], [0, total // 2, total], [0, 1, total - 1, total]):
            for a, b in zip(cuts[:-1], cuts[1:]):
                if b <= a:
                    continue
                bg = bitgen(11)
                bg.state = start_state
                window = RowWindow()
                window.set(total, a)
                out = np.empty((b - a, per_row), dtype)
                getattr(RowWindowGenerator(bg, window), method)(out=out, dtype=dtype)
                np.testing.assert_array_equal(out, full[a:b])
                np.testing.assert_array_equal(
                    np.random.Generator(bg).random(3, dtype=np.float32), after
                )


def test_row_window_install_and_uninstall():
    model = cg.nn.Sequential(
        [cg.nn.Dense(3, 4), cg.nn.Dropout(0.5), cg.nn.Residual([cg.nn.RReLU()])], seed=1
    )
    before = [model.layers[1]._rng, model.layers[2].block.layers[0]._rng]
    window = RowWindow()
    swapped = install(model, window)
    assert [layer for layer, _ in swapped] == [model.layers[1], model.layers[2].block.layers[0]]
    assert all(isinstance(layer._rng, RowWindowGenerator) for layer, _ in swapped)
    x = np.ones((4, 3), np.float32)
    full = cg.nn.Sequential(
        [cg.nn.Dense(3, 4), cg.nn.Dropout(0.5), cg.nn.Residual([cg.nn.RReLU()])], seed=1
    ).forward(x, True)
    window.set(4, 1)
    np.testing.assert_array_equal(model.forward(x[1:3], True), full[1:3])
    uninstall(swapped)
    assert [model.layers[1]._rng, model.layers[2].block.layers[0]._rng] == before


def _fit(comm):
    model = cg.nn.Sequential([cg.nn.Dense(2, 2)])
    opt = cg.optim.SGD(model.parameters(), lr=0.1)
    X = np.zeros((4, 2), np.float32)
    w = model.parameters()[0].copy()
    with pytest.raises((TypeError, ImportError)) as info:
        cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, np.zeros(4, np.int64), comm=comm)
    np.testing.assert_array_equal(model.parameters()[0], w)
    return str(info.value)


def test_comm_without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert "pip install 'convergent[distributed]'" in _fit(object())
    from convergent import distributed

    with pytest.raises(ImportError, match="needs mpi4py"):
        distributed.init()


def test_comm_not_a_communicator():
    pytest.importorskip("mpi4py", reason="needs mpi4py: pip install 'convergent[distributed]'")
    assert "comm must be an mpi4py communicator" in _fit("COMM_WORLD")
