"""Run by tests/test_distributed_mpi.py under ``mpiexec -n 2``: data-parallel fits and bad
inputs; rank 0 writes what the test checks to the .npz given as argv[1] (JSON in "meta").

Each scenario's model, data and fit arguments come from tests/_dist_problem.py, which the test
also uses for the one-process runs it compares with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _dist_problem as P  # noqa: E402
import convergent as cg  # noqa: E402
from convergent import distributed  # noqa: E402


def _same(a, b) -> bool:
    """Nested state (an optimizer's state_dict): equal, arrays bit for bit."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def main(out_path: str, ckpt_dir: str) -> None:
    comm = distributed.init()
    rank = comm.rank
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"size": comm.size}

    # 1. the reference problem (dropout, partial last batch, validation, LR on plateau)
    model, loss, opt, fit_kw = P.problem(seed=rank)  # rank 1's seed differs: rank 0's is broadcast
    DP = distributed.DataParallel
    DP.SHARED_MEMORY = False  # MPI's reductions: Iallreduce per group, Allreduce for the last
    DP.FUSION_BYTES = 0  # one overlapped reduction per layer
    hist = cg.fit(model, loss, opt, **fit_kw, callbacks=P.callbacks(), comm=comm)
    DP.FUSION_BYTES = 1 << 30  # below: one reduction after backward
    meta["histories"] = comm.allgather(hist.history)
    meta["checksums"] = distributed.checksums(comm, model)
    for i, p in enumerate(model.parameters()):
        arrays[f"run1/{i}"] = p.copy()

    # 2. the same run again (same world size, other reduction groups): the same bits
    model2, loss2, opt2, _ = P.problem(seed=0)
    cg.fit(model2, loss2, opt2, **fit_kw, callbacks=P.callbacks(), comm=comm)
    meta["repeat_equal"] = comm.allgather(
        all(np.array_equal(a, b) for a, b in zip(model.parameters(), model2.parameters()))
    )
    DP.SHARED_MEMORY = True  # from here: the sums through the node's shared memory
    model2s, loss2s, opt2s, _ = P.problem(seed=0)
    h2s = cg.fit(model2s, loss2s, opt2s, **fit_kw, callbacks=P.callbacks(), comm=comm)
    meta["shm_equal"] = comm.allgather(
        all(np.array_equal(a, b) for a, b in zip(model.parameters(), model2s.parameters()))
        and h2s.params["comm"]["sums"] == "shared memory"
    )
    # rank 1 cannot map the shared memory: both ranks fall back to MPI's reductions, and no
    # file is left in /dev/shm
    from convergent import _shm_reduce

    class _NoMap:
        @staticmethod
        def mmap(*args, **kwargs):
            raise OSError("mapping refused (test)")

    real_mmap = _shm_reduce.mmap
    if rank == 1:
        _shm_reduce.mmap = _NoMap
    try:
        model2f, loss2f, opt2f, _ = P.problem(seed=0)
        h2f = cg.fit(model2f, loss2f, opt2f, **fit_kw, callbacks=P.callbacks(), comm=comm)
    finally:
        _shm_reduce.mmap = real_mmap
    meta["shm_fallback_equal"] = comm.allgather(
        all(np.array_equal(a, b) for a, b in zip(model.parameters(), model2f.parameters()))
        and h2f.params["comm"]["sums"] == "mpi"
    )
    comm.Barrier()
    meta["shm_files_left"] = [f for f in os.listdir(_shm_reduce.SHM_DIR) if "convergent" in f]

    # 3. checkpoints (rank 0 writes them) and a resume from epoch 2, read by every rank
    model3, loss3, opt3, _ = P.problem(seed=0)
    ckpt = cg.callbacks.ModelCheckpoint(os.path.join(ckpt_dir, "ckpt-{epoch}.npz"))
    cg.fit(model3, loss3, opt3, **fit_kw, callbacks=[ckpt], comm=comm)
    meta["ckpt_paths"] = comm.allgather(ckpt.last_path)
    comm.Barrier()  # the files are written
    ck = cg.train.load_checkpoint(os.path.join(ckpt_dir, "ckpt-2.npz"))
    cg.fit(ck.model, P.loss(), ck.optimizer, **fit_kw, initial_epoch=ck.epoch, comm=comm)
    meta["resume_equal"] = comm.allgather(
        all(np.array_equal(a, b) for a, b in zip(model3.parameters(), ck.model.parameters()))
    )

    # 4. other random layers: GaussianNoise and RReLU
    nz_model, nz_loss, nz_opt, nz_kw = P.noise_problem(seed=rank)
    cg.fit(nz_model, nz_loss, nz_opt, **nz_kw, comm=comm)
    for i, p in enumerate(nz_model.parameters()):
        arrays[f"noise/{i}"] = p.copy()

    # 5. the example, 2 epochs
    meta["example_val_accuracy"] = None
    if importlib.util.find_spec("sklearn") is not None:  # the example loads sklearn's digits
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples"))
        import distributed_mlp

        h = distributed_mlp.main(["--epochs", "2", "--ckpt", os.path.join(ckpt_dir, "example")])
        meta["example_val_accuracy"] = comm.allgather(h.history["val_accuracy"][-1])

    # 6. BatchNorm + GaussianNoise in float32: parameters and buffers identical on the ranks
    bn_model, bn_loss, bn_opt, bn_kw = P.batchnorm_problem(seed=rank)
    cg.fit(bn_model, bn_loss, bn_opt, **bn_kw, comm=comm)
    meta["bn_checksums"] = distributed.checksums(comm, bn_model)
    rm = bn_model.buffers()
    meta["bn_buffer_sums"] = comm.allgather(
        float(sum(np.sum(v, dtype=np.float64) for v in rm.values()))
    )

    # 7. the fused C++ loop under comm (Dense layers only): the same bits as the Python loop
    #    (forced by a batch callback), float64 and float32; the fused loop is counted
    from convergent import _core

    calls = []
    train_steps = _core.train_steps

    def counted(*args, **kwargs):
        calls.append(kwargs.get("comm") is not None)
        return train_steps(*args, **kwargs)

    _core.train_steps = counted
    try:
        for dt, shm in ((np.float64, True), (np.float32, True), (np.float32, False)):
            DP.SHARED_MEMORY = shm
            tag = np.dtype(dt).name + ("" if shm else "/mpi")
            fused = {}
            for how, cbs in (("fused", []), ("python", [P.EveryBatch()])):
                m, lo, op, kw = P.fused_problem(dt, seed=rank)
                calls.clear()
                h = cg.fit(m, lo, op, **kw, callbacks=cbs, comm=comm)
                meta[f"fused_calls/{tag}/{how}"] = sum(calls)
                fused[how] = (m, h.history, op.state_dict())
                if how == "fused" and dt is np.float64:
                    for i, p in enumerate(m.parameters()):
                        arrays[f"fused/{i}"] = p.copy()
                    meta["fused_history"] = h.history
            (mf, hf, sf), (mp, hp, sp) = fused["fused"], fused["python"]
            pairs = list(zip(mf.parameters(), mp.parameters()))
            pairs += list(zip(mf.gradients(), mp.gradients()))
            same = all(np.array_equal(a, b) for a, b in pairs) and _same(sf, sp)
            meta[f"fused_equal/{tag}"] = comm.allgather(same and hf == hp)
            meta[f"fused_checksums/{tag}"] = distributed.checksums(comm, mf)
    finally:
        _core.train_steps = train_steps
        DP.SHARED_MEMORY = True

    # 8. bad inputs: the same ValueError on every rank, no hang
    errors = {}
    for name, make in P.bad_inputs(rank).items():
        m, lo, op, kw = make()
        try:
            cg.fit(m, lo, op, **kw, comm=comm)
            errors[name] = None
        except (ValueError, TypeError) as e:
            errors[name] = f"{type(e).__name__}: {e}"
    meta["errors"] = comm.allgather(errors)

    if rank == 0:
        np.savez(out_path, meta=np.array(json.dumps(meta)), **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
