"""Dense(784 -> 256, relu) forward + backward: convergent vs torch (Linear + ReLU, autograd) vs the
NumPy reference, each contender in its own process, alternated, best over rounds.

One step is forward on a (batch, 784) input, then backward of a given output gradient computing
the weight, bias and input gradients (torch: x.requires_grad, grads reset to None each step as
``zero_grad`` does).

    python bench/compare_dense.py [--threads 2] [--rounds 3] [--markdown]
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

BATCHES = [32, 128, 512]
IN, OUT = 784, 256
CONTENDERS = ["convergent", "torch", "numpy reference"]


def _step_fn(name: str, batch: int, threads: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, IN)).astype(np.float32)
    dout = rng.standard_normal((batch, OUT)).astype(np.float32)
    if name == "convergent":
        import convergent as cg

        cg.set_num_threads(threads)
        layer = cg.nn.Dense(IN, OUT, "relu", seed=0)

        def step():
            layer.forward(x, training=True)
            layer.backward(dout)

        return step
    if name == "torch":
        import torch

        torch.set_num_threads(threads)
        lin = torch.nn.Linear(IN, OUT)
        tx = torch.from_numpy(x).requires_grad_(True)
        td = torch.from_numpy(dout)

        def step():
            lin.weight.grad = lin.bias.grad = tx.grad = None
            torch.relu(lin(tx)).backward(td)

        return step
    from convergent import reference as ref

    w = (rng.standard_normal((IN, OUT)) * 0.05).astype(np.float32)
    b = np.zeros(OUT, np.float32)

    def step():
        y = ref.dense_forward(x, w, b, "relu")
        ref.dense_backward(x, w, y, dout, "relu")

    return step


def _worker(name: str, batch: int, threads: int, budget: float) -> float:
    fn = _step_fn(name, batch, threads)
    return best_call_time(fn, budget, warmup=5)


def _run(name, batch, threads, budget):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    args = [sys.executable, __file__, "--worker", name, str(batch), str(threads), str(budget)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["seconds"]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        name, batch, threads, budget = sys.argv[2:6]
        print(json.dumps({"seconds": _worker(name, int(batch), int(threads), float(budget))}))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(p)
    p.add_argument("--batches", default="", help="comma-separated batch sizes (default 32,128,512)")
    args = p.parse_args()
    batches = [int(b) for b in args.batches.split(",")] if args.batches else BATCHES
    try:
        import torch  # noqa: F401

        names = CONTENDERS
    except ImportError:
        names = [c for c in CONTENDERS if c != "torch"]
    best: dict = {}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for batch in batches:
            for name in order:
                s = _run(name, batch, args.threads, args.budget)
                best[batch, name] = min(best.get((batch, name), s), s)
    load = os.getloadavg()[0]
    header = ["batch"] + [f"{c} (us/step)" for c in names]
    header += [f"{c} / cg (speedup)" for c in names[1:]]
    rows = []
    for batch in batches:
        t = [best[batch, c] * 1e6 for c in names]
        rows.append([str(batch)] + [f"{x:.0f}" for x in t] + [f"{x / t[0]:.2f}" for x in t[1:]])
    note = (
        f"Dense({IN}->{OUT}, relu) float32 forward+backward, {args.threads} threads, "
        f"best of {args.rounds} rounds, load average {load:.2f}"
    )
    print_table(header, rows, note, args.markdown)


if __name__ == "__main__":
    main()
