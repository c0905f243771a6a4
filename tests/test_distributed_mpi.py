"""Data-parallel training over MPI: tests/_mpi_worker.py runs under ``mpiexec -n 2`` (one
launch, about 3 s) and its results are checked here against one-process fits of the same
problems (tests/_dist_problem.py).

Skipped when mpi4py or mpiexec is missing (``pip install 'convergent[distributed]'``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import convergent as cg
import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="needs mpi4py: pip install 'convergent[distributed]'")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _dist_problem as P  # noqa: E402


def _mpiexec() -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def mpi_results(tmp_path_factory):
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("needs mpiexec (pip install 'convergent[distributed]' brings Open MPI)")
    tmp = tmp_path_factory.mktemp("mpi")
    out, ckpt = tmp / "out.npz", tmp / "ckpt"
    ckpt.mkdir()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_mpi_yield_when_idle="1",
               OMP_NUM_THREADS="1")  # fmt: skip
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(cg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    cmd = [mpiexec, "-n", "2", "--oversubscribe", sys.executable,
           os.path.join(HERE, "_mpi_worker.py"), str(out), str(ckpt)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = np.load(out)
    return json.loads(str(data["meta"])), data, ckpt


def test_two_ranks_equal_one_process(mpi_results):
    """2 ranks vs 1 process, float64, dropout, partial last batch, validation, LR on plateau:
    only the gradient summation order differs (two partial sums instead of one)."""
    meta, data, _ = mpi_results
    model, loss, opt, kw = P.problem(seed=0)
    hist = cg.fit(model, loss, opt, **kw, callbacks=P.callbacks())
    for i, p in enumerate(model.parameters()):
        np.testing.assert_allclose(data[f"run1/{i}"], p, rtol=1e-9, atol=1e-12)
    h2 = meta["histories"][0]
    assert set(h2) == set(hist.history)
    for k, v in hist.history.items():
        np.testing.assert_allclose(h2[k], v, rtol=1e-9, err_msg=k)
    assert h2["lr"] == [0.01, 0.01, 0.005, 0.0025]  # the plateau callback acted on both


def test_random_layers_draw_per_global_row(mpi_results):
    """GaussianNoise and RReLU: the 2-rank run equals the 1-process run (float64)."""
    _, data, _ = mpi_results
    model, loss, opt, kw = P.noise_problem(seed=0)
    cg.fit(model, loss, opt, **kw)
    for i, p in enumerate(model.parameters()):
        np.testing.assert_allclose(data[f"noise/{i}"], p, rtol=1e-9, atol=1e-12)


def test_example_runs(mpi_results):
    meta, _, ckpt = mpi_results
    acc = meta["example_val_accuracy"]
    if acc is None:
        pytest.skip("the example needs scikit-learn (its digits data)")
    assert acc[0] == acc[1] and acc[0] > 0.8
    assert os.listdir(os.path.join(ckpt, "example")) == ["last.npz"]


def test_ranks_stay_identical_and_repeat_bitwise(mpi_results):
    meta, _, _ = mpi_results
    assert meta["checksums"][0] == meta["checksums"][1]
    assert meta["histories"][0] == meta["histories"][1]  # callbacks saw the same logs
    assert meta["repeat_equal"] == [True, True]
    assert meta["shm_equal"] == [True, True]  # shared memory = Allreduce: s_0 + s_1 either way
    assert meta["shm_fallback_equal"] == [True, True]  # one rank unable to map: MPI on both
    assert meta["shm_files_left"] == []
    assert meta["bn_checksums"][0] == meta["bn_checksums"][1]  # BatchNorm + noise, float32
    assert meta["bn_buffer_sums"][0] == meta["bn_buffer_sums"][1]


def test_checkpoints_on_rank_zero_and_resume_exact(mpi_results):
    meta, _, ckpt = mpi_results
    assert meta["ckpt_paths"][0].endswith("ckpt-4.npz") and meta["ckpt_paths"][1] is None
    assert sorted(f for f in os.listdir(ckpt) if f.startswith("ckpt")) == [
        f"ckpt-{e}.npz" for e in range(1, 5)
    ]
    assert meta["resume_equal"] == [True, True]


def test_fused_loop_under_comm(mpi_results):
    """A model of Dense layers trains in the fused C++ loop under comm, with the same bits as
    the Python step loop (float64 and float32: schedule, clipping, penalties, a last batch split
    5 + 6; sums through the shared memory, and in float32 through MPI's reductions too) and the
    same parameters on both ranks; and it equals the one-process run (float64, rtol 1e-9: only
    the gradient summation order differs)."""
    meta, data, _ = mpi_results
    for tag in ("float64", "float32", "float32/mpi"):
        assert meta[f"fused_calls/{tag}/fused"] > 0  # the C++ loop ran, with comm
        assert meta[f"fused_calls/{tag}/python"] == 0
        assert meta[f"fused_equal/{tag}"] == [True, True]
        assert meta[f"fused_checksums/{tag}"][0] == meta[f"fused_checksums/{tag}"][1]
    model, loss, opt, kw = P.fused_problem(np.float64, seed=0)
    hist = cg.fit(model, loss, opt, **kw)
    for i, p in enumerate(model.parameters()):
        np.testing.assert_allclose(data[f"fused/{i}"], p, rtol=1e-9, atol=1e-12)
    for k, v in hist.history.items():
        np.testing.assert_allclose(meta["fused_history"][k], v, rtol=1e-9, err_msg=k)


@pytest.mark.parametrize(
    "name, words",
    [
        ("seed", "seed: not the same on every rank (rank 0: 3; rank 1: 4)"),
        ("rows", "X: not the same on every rank"),
        ("params", "parameter count: not the same on every rank (rank 0: 259; rank 1: 275)"),
        ("batch", "batch_size=1 is smaller than the 2 ranks"),
        ("last_batch", "the last batch has 1 rows"),
    ],
)
def test_bad_input_same_error_on_every_rank(mpi_results, name, words):
    meta, _, _ = mpi_results
    errs = [e[name] for e in meta["errors"]]
    assert errs[0] is not None and errs[0].startswith("ValueError") and words in errs[0], errs
    assert errs[0] == errs[1]
