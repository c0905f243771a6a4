"""Scale-out on this machine: data-parallel training over MPI and a Dask grid search.

1. MPI: the benchmark MLP (784-256-128-10 ReLU, Adam lr 1e-3, 60 000 random float32 samples,
   global batch 256), one epoch per round, best round reported:
   - "1 proc x 2 thr": ``cg.fit`` in one process with convergent's 2 threads (fused C++ loop);
   - "1 proc x 1 thr": the same on one thread (the step compute of the scaling model);
   - "2 ranks x 1 thr": ``mpiexec -n 2 --bind-to none`` with ``cg.fit(..., comm=...)``, one
     thread per rank (the fused C++ loop, calling back for the sum of the gradient buffer
     through the node's shared memory), then with MPI's reductions (``SHARED_MEMORY`` off:
     groups started during the backward pass) and with one reduction after backward ("no
     overlap", ``DataParallel.FUSION_BYTES`` huge). Reported: the time per step spent in the
     reductions inside fit (it includes waiting for the other rank), the share of the gradient
     bytes whose reduction starts before backward ends, the shared-memory sum and the
     Allreduce of the whole buffer alone (after a Barrier, so no waiting), and the latency
     (8 bytes) and bandwidth (9.4 MB) of the scaling model.
2. Dask: GridSearchCV of 8 candidates (hidden (256,) and (512,) x learning_rate_init 1e-3,
   3e-3 x alpha 1e-4, 1e-3) x 3 folds of ``convergent.sklearn.MLPClassifier`` (60 epochs each)
   on digits: ``n_jobs=1`` with convergent's 2 threads vs ``joblib.parallel_backend("dask")``
   on ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` with the workers'
   statistical profiler off (``distributed.worker.profile.enabled``; cluster start-up reported
   apart, not in the ratio).

Each contender runs in its own process (MPI ranks in their own). The machine is shared: run it
when it is quiet, and compare rounds.

    python bench/compare_distributed.py                      # both parts
    python bench/compare_distributed.py --part mpi --rounds 3
    python bench/compare_distributed.py --part dask --rounds 3

As root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set here for
the mpiexec it starts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = (784, 256, 128, 10)
N, BATCH = 60_000, 256
HERE = os.path.abspath(__file__)


def data(n: int = N, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return X, y


def _model():
    import convergent as cg

    d = cg.nn.Dense
    model = cg.nn.Sequential(
        [d(784, 256, "relu", init="he_uniform"), d(256, 128, "relu", init="he_uniform"),
         d(128, 10)],
        seed=0,
    )  # fmt: skip
    return model, cg.optim.Adam(model.parameters(), lr=1e-3)


# ---- workers (each in its own process) ----------------------------------------------------
def work_fit(threads: int, rounds: int, mpi: bool, fusion_bytes: int | None = None,
             mpi_reduce: bool = False) -> dict:  # fmt: skip
    import convergent as cg

    cg.set_num_threads(threads)
    comm = None
    if mpi:
        from convergent import distributed

        comm = distributed.init()
        if fusion_bytes is not None:
            distributed.DataParallel.FUSION_BYTES = fusion_bytes
        if mpi_reduce:  # MPI's reductions even though the ranks share a node
            distributed.DataParallel.SHARED_MEMORY = False
    X, y = data()
    model, opt = _model()
    loss = cg.nn.SoftmaxCrossEntropy()
    kw = dict(batch_size=BATCH, progress=False, comm=comm)
    cg.fit(model, loss, opt, X[: 20 * BATCH], y[: 20 * BATCH], epochs=1, **kw)  # warm-up
    times, reduce_ms = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        h = cg.fit(model, loss, opt, X, y, epochs=1, **kw)
        times.append(time.perf_counter() - t0)
        if mpi:
            c = h.history and h.params["comm"]
            reduce_ms.append(c["allreduce_seconds"] / c["steps"] * 1e3)
    out = {"epoch": min(times), "steps": -(-N // BATCH)}
    if not mpi and threads == 1:
        out.update(_components(cg, model, opt, loss, X, y))
    if mpi:
        out["reduce_in_fit_ms"] = reduce_ms[int(np.argmin(times))]  # of the fastest epoch
        grads = model.gradients()
        off = np.cumsum([0] + [g.size for g in grads])
        groups = distributed._fusion_groups(model, off, 4, distributed.DataParallel.FUSION_BYTES)
        early = sum(b - a for k, (_, _, a, b) in (groups or {}).items() if k > 0)
        out["early_share"] = early / (int(off[-1]) + 2)
        if comm.size > 1:
            out.update(_allreduce_alone(comm, sum(p.size for p in model.parameters()) + 2))
        if comm.rank != 0:
            return {}
        out["size"] = comm.size
    return out


def _components(cg, model, opt, loss, X, y) -> dict:
    """The step's parts on this thread (fastest of 60 calls, ms): forward + backward at several
    batch sizes (fitted as ``f0 + f1 * rows``), the Adam step, and packing/unpacking the
    gradients into one buffer (what a rank adds to a step besides the Allreduce)."""

    def best(fn, reps=60):
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts) * 1e3

    def fwd_bwd(b):
        xb, yb = X[:b], y[:b]
        pred = model.forward(xb, True)
        loss.forward(pred, yb)
        model.backward(loss.backward(), need_input_grad=False)

    rows = [256, 128, 64, 32, 8, 4]
    fb = [best(lambda b=b: fwd_bwd(b)) for b in rows]
    f1, f0 = np.polyfit(rows, fb, 1)
    grads = model.gradients()
    buf = np.empty(sum(g.size for g in grads), np.float32)

    def pack():
        o = 0
        for g in grads:
            np.multiply(g, 0.5, out=buf[o : o + g.size].reshape(g.shape))
            o += g.size
        o = 0
        for g in grads:
            np.copyto(g, buf[o : o + g.size].reshape(g.shape))
            o += g.size

    return {"fwd_bwd_rows": rows, "fwd_bwd_ms": fb, "f0_ms": f0, "f1_ms": f1,
            "adam_ms": best(lambda: opt.step(grads)), "pack_ms": best(pack)}  # fmt: skip


def predict(c: dict, p: int, latency_s: float, bandwidth: float, grad_bytes: int,
            weak: bool = False) -> float:  # fmt: skip
    """Efficiency of p ranks against one process. Strong scaling (global batch BATCH):
    T1 / (p * Tp) with T1 = F(BATCH) + adam and Tp = F(BATCH / p) + adam + pack + ring, where
    F is forward + backward and ring = 2 (p - 1) / p * bytes / bandwidth + 2 (p - 1) * latency
    (the Allreduce, taken as not overlapped). Weak scaling (BATCH rows per rank, global batch
    p * BATCH): T1 / Tp with Tp = F(BATCH) + adam + pack + ring."""
    f = lambda rows: (c["f0_ms"] + c["f1_ms"] * rows) * 1e-3  # noqa: E731
    t1 = f(BATCH) + c["adam_ms"] * 1e-3
    ring = 2 * (p - 1) / p * grad_bytes / bandwidth + 2 * (p - 1) * latency_s
    tp = f(BATCH if weak else BATCH / p) + (c["adam_ms"] + c["pack_ms"]) * 1e-3 + ring
    return t1 / tp if weak else t1 / (p * tp)


#: (name, latency s, bandwidth B/s): the first is measured by this script; the others are
#: assumed, typical figures for the networks (not measured here).
NETWORKS = [("10 GbE (assumed 25 us, 1.1 GB/s)", 25e-6, 1.1e9),
            ("100 Gb/s InfiniBand (assumed 2 us, 11 GB/s)", 2e-6, 11e9)]  # fmt: skip


def _allreduce_alone(comm, grad_elems: int) -> dict:
    """Allreduce(SUM, float32) after a Barrier: fastest of 40 calls per size; the latency is the
    time for 8 bytes, the bandwidth ``bytes / (t - latency)`` at 10x the gradient's size."""
    from mpi4py import MPI

    sizes = [2, 1024, 16384, 65536, grad_elems, 4 * grad_elems, 10 * grad_elems]
    med = []
    for n in sizes:
        buf = np.ones(n, np.float32)
        ts = []
        for _ in range(40):
            comm.Barrier()
            t = MPI.Wtime()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            ts.append(MPI.Wtime() - t)
        med.append(min(ts))  # the least disturbed call (the machine is shared)
    latency = med[0]  # 8 bytes
    from convergent._shm_reduce import ShmReducer

    shm = ShmReducer(MPI, comm, grad_elems, np.dtype(np.float32))
    shm.buf[:] = 1.0
    ts = []
    for _ in range(40):
        comm.Barrier()
        t = MPI.Wtime()
        shm.allreduce()
        ts.append(MPI.Wtime() - t)
    shm.free()
    return {
        "shm_alone_ms": min(ts) * 1e3,
        "alone_ms": med[sizes.index(grad_elems)] * 1e3,
        "latency_us": latency * 1e6,
        "bandwidth_GBs": sizes[-1] * 4 / (med[-1] - latency) * 1e-9,
        "grad_bytes": grad_elems * 4,
        "sizes": sizes,
        "times_us": [t * 1e6 for t in med],
    }


def _grid(n_jobs: int | None):
    from convergent.sklearn import MLPClassifier
    from sklearn.model_selection import GridSearchCV

    est = MLPClassifier(max_iter=60, n_iter_no_change=1000, tol=0.0, random_state=0)
    grid = {"hidden_layer_sizes": [(256,), (512,)], "learning_rate_init": [1e-3, 3e-3],
            "alpha": [1e-4, 1e-3]}  # fmt: skip
    return GridSearchCV(est, grid, cv=3, n_jobs=n_jobs)  # n_jobs=1 would bypass the backend


def _warm_up() -> None:
    import warnings

    from convergent.sklearn import MLPClassifier
    from sklearn.model_selection import GridSearchCV  # noqa: F401

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier((4,), max_iter=2).fit(rng.standard_normal((20, 3)), np.arange(20) % 2)


def work_dask(use_dask: bool, threads: int = 2) -> dict:
    import warnings

    import convergent as cg
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    search = _grid(None if use_dask else 1)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 60 epochs by design
        if not use_dask:
            cg.set_num_threads(threads)
            t0 = time.perf_counter()
            search.fit(X, y)
            out["search"] = time.perf_counter() - t0
        else:
            import dask
            import joblib
            from distributed import Client, LocalCluster

            t0 = time.perf_counter()
            # the workers' statistical profiler samples every thread's stack every 10 ms: off,
            # as for any CPU-bound search (5-10% of this one's time)
            with (
                dask.config.set({"distributed.worker.profile.enabled": False}),
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cl,
                Client(cl) as client,
            ):
                client.run(_warm_up)  # imports in the workers: a one-time cost, like start-up
                out["startup"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                with joblib.parallel_backend("dask"):
                    search.fit(X, y)
                out["search"] = time.perf_counter() - t0
    out["best"] = float(search.best_score_)
    return out


# ---- runner -------------------------------------------------------------------------------
def _run(cmd: list[str], mpi: int = 0) -> dict:
    # yield_when_idle: a rank waiting in the Allreduce gives its core away instead of spinning
    # (on a shared machine the spinning rank slows the one it waits for)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1")  # fmt: skip
    if mpi:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec, "-n", str(mpi), "--oversubscribe", "--bind-to", "none"] + cmd
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def run_mpi(rounds: int) -> None:
    me = [sys.executable, HERE, "--worker"]
    r = ["--rounds", str(rounds)]
    single2 = _run(me + ["fit", "--threads", "2"] + r)
    single1 = _run(me + ["fit", "--threads", "1"] + r)
    rank1 = _run(me + ["mpi", "--threads", "1"] + r, mpi=1)
    ranks = _run(me + ["mpi", "--threads", "1"] + r, mpi=2)
    ranks_mpi = _run(me + ["mpi", "--threads", "1", "--mpi-reduce"] + r, mpi=2)
    serial_reduce = _run(
        me + ["mpi", "--threads", "1", "--mpi-reduce", "--fusion-bytes", str(1 << 40)] + r, mpi=2
    )
    steps = ranks["steps"]
    lines = [
        f"MPI, benchmark MLP {'-'.join(map(str, SIZES))}, Adam, {N} samples, global batch "
        f"{BATCH} ({steps} steps), best of {rounds} epochs:",
        f"  1 proc x 2 thr : {single2['epoch']:.3f} s/epoch",
        f"  1 proc x 1 thr : {single1['epoch']:.3f} s/epoch "
        f"({single1['epoch'] / steps * 1e3:.3f} ms/step)",
        f"  1 rank x 1 thr : {rank1['epoch']:.3f} s/epoch (comm of size 1: the fused loop with "
        "its Allreduce, no partner)",
        f"  2 ranks x 1 thr: {ranks['epoch']:.3f} s/epoch = "
        f"{ranks['epoch'] / single2['epoch']:.2f}x the 1 proc x 2 thr time (sums through the "
        "node's shared memory)",
        f"  2 ranks x 1 thr, MPI's reductions: {ranks_mpi['epoch']:.3f} s/epoch overlapped, "
        f"{serial_reduce['epoch']:.3f} s/epoch without overlap",
        f"  reducing per step inside fit (incl. waiting for the other rank): shared memory "
        f"{ranks['reduce_in_fit_ms']:.3f} ms; MPI {ranks_mpi['reduce_in_fit_ms']:.3f} ms "
        f"overlapped ({ranks_mpi['early_share']:.1%} of the bytes started during backward), "
        f"{serial_reduce['reduce_in_fit_ms']:.3f} ms without; the whole buffer "
        f"({ranks['grad_bytes']} B) alone after a Barrier: shared memory "
        f"{ranks['shm_alone_ms']:.3f} ms, Allreduce {ranks['alone_ms']:.3f} ms",
        f"  Allreduce here (shared memory, 2 ranks): latency {ranks['latency_us']:.1f} us, "
        f"bandwidth {ranks['bandwidth_GBs']:.2f} GB/s; bytes: us = "
        + ", ".join(f"{4 * n}: {t:.1f}" for n, t in zip(ranks["sizes"], ranks["times_us"])),
    ]
    c, gb = single1, ranks["grad_bytes"]
    nets = [("shared memory here (measured)", ranks["latency_us"] * 1e-6,
             ranks["bandwidth_GBs"] * 1e9)] + NETWORKS  # fmt: skip
    lines += [
        f"  step parts on 1 thread (ms): forward+backward {c['f0_ms']:.3f} + {c['f1_ms']:.5f} x "
        f"rows (measured {dict(zip(c['fwd_bwd_rows'], [round(v, 3) for v in c['fwd_bwd_ms']]))})"
        f", Adam step {c['adam_ms']:.3f}, gradient pack/unpack {c['pack_ms']:.3f}",
        "  predicted efficiency (ring Allreduce, one rank x 1 thread per node):",
    ]
    for name, lat, bw in nets:
        for weak in (False, True):
            eff = [predict(c, p, lat, bw, gb, weak) for p in (2, 8, 64)]
            kind = "256 rows per rank" if weak else "global batch 256"
            lines.append(
                f"    {name}, {kind}: "
                + ", ".join(f"{p} nodes {e:.2f}" for p, e in zip((2, 8, 64), eff))
            )
    print("\n".join(lines), flush=True)


def run_dask(rounds: int) -> None:
    me = [sys.executable, HERE, "--worker"]
    runs: dict[str, list[dict]] = {"serial": [], "serial1": [], "dask": []}
    for _ in range(rounds):  # alternating contenders, each run its own process
        runs["serial"].append(_run(me + ["dask-serial", "--threads", "2"]))
        runs["dask"].append(_run(me + ["dask"]))
        runs["serial1"].append(_run(me + ["dask-serial", "--threads", "1"]))
    serial, serial1, dask = (min(runs[k], key=lambda r: r["search"]) for k in runs)
    lines = [
        "Dask, GridSearchCV 8 candidates x 3 folds, MLPClassifier 60 epochs, digits, best of "
        f"{rounds}:",
        f"  n_jobs=1, convergent 2 threads : {serial['search']:.2f} s (best {serial['best']:.4f})",
        f"  n_jobs=1, convergent 1 thread  : {serial1['search']:.2f} s",
        f"  dask, 2 workers x 1 thread     : {dask['search']:.2f} s (best {dask['best']:.4f}) = "
        f"{dask['search'] / serial['search']:.2f}x the 2-thread n_jobs=1 time "
        f"({dask['search'] / serial1['search']:.2f}x the 1-thread one); cluster start-up "
        f"{dask['startup']:.1f} s with the workers' imports (not included)",
        "  all runs (s): "
        + "; ".join(f"{k} " + " ".join(f"{r['search']:.2f}" for r in v) for k, v in runs.items()),
    ]
    print("\n".join(lines), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["mpi", "dask", "all"], default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fusion-bytes", type=int, default=None)
    ap.add_argument("--mpi-reduce", action="store_true")
    ap.add_argument("--worker", choices=["fit", "mpi", "dask-serial", "dask"])
    args = ap.parse_args()
    if args.worker in ("fit", "mpi"):
        out = work_fit(args.threads, args.rounds, args.worker == "mpi", args.fusion_bytes,
                       args.mpi_reduce)  # fmt: skip
        if out:
            print(json.dumps(out), flush=True)
        return
    if args.worker:
        print(json.dumps(work_dask(args.worker == "dask", args.threads)), flush=True)
        return
    if args.part in ("mpi", "all"):
        run_mpi(args.rounds)
    if args.part in ("dask", "all"):
        run_dask(args.rounds)


if __name__ == "__main__":
    main()
