"""One training epoch end to end: convergent vs torch eager vs scikit-learn.

MLP 784 -> 256 -> 128 -> 10 (ReLU), softmax cross-entropy, Adam(lr=1e-3), 60 000 random float32
samples (seeded), batch sizes 32/128/512. Each contender runs in its own subprocess (worker
threads of different runtimes must not share a process), rounds alternate, the best time per
contender is reported. Also prints the GEMM-bound time: the epoch's GEMM FLOPs divided by
convergent's own GEMM speed at the layer shapes, measured in the same run.

    python bench/compare_epoch.py [--batches 32,128,512] [--rounds 3] [--threads 2]
    python bench/compare_epoch.py --profile 128     # cProfile of convergent's fit loop

scikit-learn uses NumPy's BLAS: it is run with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as set and
with both unset ("sklearn-noenv").
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


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return X, y


def gemm_flops(n: int) -> float:
    """FLOPs of one epoch's GEMMs: forward and weight gradient in every layer, input gradient in
    all but the first (fit skips it)."""
    layers = list(zip(SIZES[:-1], SIZES[1:]))
    f = sum(2.0 * n * i * o for i, o in layers)
    return 3 * f - 2.0 * n * layers[0][0] * layers[0][1]


# ---- workers (each in its own process) ----------------------------------------------------
def work_convergent(batch: int, n: int, threads: int, profile: bool = False) -> float:
    import convergent as cg

    cg.set_num_threads(threads)
    X, y = data(n)
    d = cg.nn.Dense
    model = cg.nn.Sequential(
        [
            d(784, 256, "relu", init="he_uniform"),
            d(256, 128, "relu", init="he_uniform"),
            d(128, 10),
        ],
        seed=0,
    )
    opt = cg.optim.Adam(model.parameters(), lr=1e-3)
    loss = cg.nn.SoftmaxCrossEntropy()
    cg.fit(
        model,
        loss,
        opt,
        X[: 20 * batch],
        y[: 20 * batch],
        epochs=1,
        batch_size=batch,
        progress=False,
    )
    t0 = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
    cg.fit(model, loss, opt, X, y, epochs=1, batch_size=batch, progress=False)
    dt = time.perf_counter() - t0
    if profile:
        pr.disable()
        pstats.Stats(pr, stream=sys.stderr).sort_stats("tottime").print_stats(18)
    return dt


def work_torch(batch: int, n: int, threads: int, fused: bool) -> float:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y = data(n)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if fused else None)
    lossf = nn.CrossEntropyLoss()

    def epoch(rows: int) -> None:
        perm = torch.randperm(rows)
        for s in range(0, rows, batch):
            idx = perm[s : s + batch]
            opt.zero_grad(set_to_none=True)
            out = lossf(model(Xt[idx]), yt[idx])
            out.backward()
            opt.step()

    epoch(20 * batch)
    t0 = time.perf_counter()
    epoch(n)
    return time.perf_counter() - t0


def work_sklearn(batch: int, n: int, threads: int) -> float:
    import warnings

    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    X, y = data(n)
    clf = MLPClassifier(
        hidden_layer_sizes=SIZES[1:-1],
        solver="adam",
        batch_size=batch,
        learning_rate_init=1e-3,
        max_iter=1,
        alpha=0.0,
        shuffle=True,
        random_state=0,
    )
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch, this process only
        t0 = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - t0


def work_gemm(batch: int, threads: int) -> dict:
    """Best GFLOP/s of convergent's GEMM at each shape of the epoch."""
    import convergent as cg
    from convergent import _core

    cg.set_num_threads(threads)
    rng = np.random.default_rng(0)
    out = {}
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        x = rng.standard_normal((batch, i), dtype=np.float32)
        w = rng.standard_normal((i, o), dtype=np.float32)
        dy = rng.standard_normal((batch, o), dtype=np.float32)
        cases = {
            f"fwd {batch}x{i}x{o}": (x, w, np.empty((batch, o), np.float32), {}),
            f"dW {i}x{batch}x{o}": (x, dy, np.empty((i, o), np.float32), {"trans_a": True}),
            f"dX {batch}x{o}x{i}": (dy, w, np.empty((batch, i), np.float32), {"trans_b": True}),
        }
        for name, (a, b, c, kw) in cases.items():
            reps = max(3, int(2e8 / (2.0 * batch * i * o)))
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(reps):
                    _core.gemm(a, b, c, **kw)
                best = min(best, (time.perf_counter() - t0) / reps)
            out[name] = 2.0 * batch * i * o / best / 1e9
    return out


# ---- driver -------------------------------------------------------------------------------
def run(args: list[str], env: dict | None = None) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batches", default="32,128,512")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--only", default="convergent,torch,torch-fused,sklearn,sklearn-noenv")
    p.add_argument("--profile", type=int, default=0, help="profile convergent at this batch")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        w, b, n, t = a.worker, a.batch, a.samples, a.threads
        if w == "convergent":
            r = {"time": work_convergent(b, n, t)}
        elif w in ("torch", "torch-fused"):
            r = {"time": work_torch(b, n, t, fused=w == "torch-fused")}
        elif w.startswith("sklearn"):
            r = {"time": work_sklearn(b, n, t)}
        else:
            r = {"gflops": work_gemm(b, t)}
        print(json.dumps(r))
        return
    if a.profile:
        work_convergent(a.profile, a.samples, a.threads, profile=True)
        return
    noenv = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    who = a.only.split(",")
    print(
        f"one epoch, {a.samples} samples, MLP {'-'.join(map(str, SIZES))}, Adam, "
        f"{a.threads} threads, best of {a.rounds} alternating rounds (seconds)"
    )
    for b in (int(s) for s in a.batches.split(",")):
        best: dict[str, float] = {}
        for _ in range(a.rounds):
            for w in who:
                env = noenv if w == "sklearn-noenv" else None
                r = run(
                    [
                        "--worker",
                        w,
                        "--batch",
                        str(b),
                        "--samples",
                        str(a.samples),
                        "--threads",
                        str(a.threads),
                    ],
                    env,
                )
                if "error" in r:
                    print(f"  {w} batch {b}: {r['error']}")
                    who = [x for x in who if x != w]
                    continue
                best[w] = min(best.get(w, float("inf")), r["time"])
        g = run(["--worker", "gemm", "--batch", str(b), "--threads", str(a.threads)])
        print(f"\nbatch {b}:")
        cg_t = best.get("convergent")
        for w, t in best.items():
            ratio = f"  convergent is {t / cg_t:.2f}x faster" if cg_t and w != "convergent" else ""
            print(f"  {w:14s} {t:8.3f}{ratio}")
        if "gflops" in g and cg_t:
            gf = g["gflops"]
            bound = sum(2.0 * a.samples * _dims(k) / (v * 1e9) for k, v in gf.items())
            total = gemm_flops(a.samples)
            print(
                "  GEMM GFLOP/s at the layer shapes: "
                + ", ".join(f"{k}: {v:.1f}" for k, v in gf.items())
            )
            print(
                f"  GEMM-bound time {bound:.3f} s ({total / 1e9:.1f} GFLOP at the per-shape "
                f"speeds; {total / max(gf.values()) / 1e9:.3f} s at the best one); "
                f"convergent at {cg_t / bound:.2f}x that bound"
            )


def _dims(name: str) -> float:
    """i * o of a gemm case name (per sample), 0 for the skipped first-layer dX."""
    kind, shape = name.split()
    m, k, n = (int(s) for s in shape.split("x"))
    if kind == "dX" and n == SIZES[0]:
        return 0.0
    prod = m * k * n
    return prod / (k if kind == "dW" else m)


if __name__ == "__main__":
    main()
