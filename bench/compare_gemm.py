"""GEMM throughput (GFLOP/s) of convergent vs NumPy (OpenBLAS) vs torch, each in its own process.

Contenders run in separate subprocesses, alternated round by round (A B C A B C ...); each
reports its best time over several repetitions and the table shows the best over rounds and the
ratio of convergent to each peer measured in the same run. NumPy runs twice: with the
environment as set and with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed.

    python bench/compare_gemm.py [--threads 2] [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import (  # bench/ helper (scripts run from here)
    add_timing_args,
    best_call_time,
    print_table,
)

SIZES = [
    (128, 784, 256, "float32"),
    (128, 256, 128, "float32"),
    (256, 1024, 1024, "float32"),
    (1024, 1024, 1024, "float32"),
    (1024, 1024, 1024, "float64"),
]
CONTENDERS = ["convergent", "numpy", "numpy (env unset)", "torch"]


def _worker(name: str, m: int, k: int, n: int, dtype: str, threads: int, budget: float) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    if name == "convergent":
        import convergent as cg

        cg.set_num_threads(threads)

        def fn():
            cg._core.gemm(a, b, out)
    elif name.startswith("numpy"):

        def fn():
            np.matmul(a, b, out=out)
    else:
        import torch

        torch.set_num_threads(threads)
        ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)

        def fn():
            torch.matmul(ta, tb, out=to)

    return best_call_time(fn, budget, warmup=3)


def _run(name, size, threads, budget):
    m, k, n, dtype = size
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    if name == "numpy (env unset)":
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    args = [
        sys.executable,
        __file__,
        "--worker",
        name,
        *map(str, (m, k, n, dtype, threads, budget)),
    ]
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["seconds"]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        name, m, k, n, dtype, threads, budget = sys.argv[2:9]
        s = _worker(name, int(m), int(k), int(n), dtype, int(threads), float(budget))
        print(json.dumps({"seconds": s}))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(p)
    p.add_argument("--sizes", default="", help="indices into the size list, e.g. 0,1")
    args = p.parse_args()
    sizes = [SIZES[int(i)] for i in args.sizes.split(",")] if args.sizes else SIZES
    try:
        import torch  # noqa: F401

        names = CONTENDERS
    except ImportError:
        names = CONTENDERS[:-1]
    best: dict = {}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for size in sizes:
            for name in order:
                s = _run(name, size, args.threads, args.budget)
                best[size, name] = min(best.get((size, name), s), s)
    load = os.getloadavg()[0]
    header = ["M x K x N", "dtype"] + [f"{c} GFLOP/s" for c in names]
    header += [f"cg / {c}" for c in names[1:]]
    rows = []
    for size in sizes:
        m, k, n, dtype = size
        flops = 2.0 * m * k * n
        g = [flops / best[size, c] / 1e9 for c in names]
        rows.append([f"{m}x{k}x{n}", dtype] + [f"{x:.1f}" for x in g]
                    + [f"{g[0] / x:.2f}" for x in g[1:]])  # fmt: skip
    note = f"{args.threads} threads, best of {args.rounds} rounds, load average {load:.2f}"
    print_table(header, rows, note, args.markdown)


if __name__ == "__main__":
    main()
