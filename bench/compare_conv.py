"""A small CNN's training step: convergent (NHWC) vs torch eager (NCHW, its default oneDNN path),
each contender in its own process, alternated, best over rounds; plus convergent's per-layer
times and the Conv2D(32->64) forward against convergent's own GEMM at the same shape.

The model (issue 13): 28x28x1 input, Conv2D(1->32, 3, "same", relu), MaxPool2D(2),
Conv2D(32->64, 3, "same", relu), MaxPool2D(2), Flatten, Dense(3136->10), softmax cross-entropy,
Adam. One step = forward, loss, backward (no input gradient for the first layer), Adam update, on
random float32 data. GFLOP/s count 2 flops per multiply-add of the convolutions and the Dense
layer: forward F, backward 2F (weights and inputs; the first conv has no input gradient).

    python bench/compare_conv.py [--threads 2] [--rounds 3] [--budget 1.0] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import add_timing_args, best_call_time, convergent_step, print_table

BATCHES = [64, 8]
CONTENDERS = ["convergent", "torch"]


def _flops(batch: int) -> dict[str, float]:
    """Forward flops per layer."""
    return {
        "conv1": 2.0 * batch * 28 * 28 * 32 * 9 * 1,
        "conv2": 2.0 * batch * 14 * 14 * 64 * 9 * 32,
        "dense": 2.0 * batch * 3136 * 10,
    }


def _step_flops(batch: int) -> float:
    f = _flops(batch)
    return 3 * sum(f.values()) - f["conv1"]  # the first conv has no input gradient


def _data(batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def _cg_model():
    import convergent as cg

    nn = cg.nn
    return nn.Sequential(
        [nn.Conv2D(1, 32, 3, padding="same", activation="relu"), nn.MaxPool2D(2),
         nn.Conv2D(32, 64, 3, padding="same", activation="relu"), nn.MaxPool2D(2),
         nn.Flatten(), nn.Dense(3136, 10)],
        seed=0,
    )  # fmt: skip


def _step_fn(name: str, batch: int, threads: int):
    x, y = _data(batch)
    if name == "convergent":
        import convergent as cg

        cg.set_num_threads(threads)
        return convergent_step(_cg_model(), cg.nn.SoftmaxCrossEntropy(), x, y)
    import torch

    torch.set_num_threads(threads)
    tn = torch.nn
    model = tn.Sequential(
        tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
        tn.Conv2d(32, 64, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
        tn.Flatten(), tn.Linear(3136, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    ty = torch.from_numpy(y)
    ce = tn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        ce(model(tx), ty).backward()
        opt.step()

    return step


def _layer_times(batch: int, threads: int, budget: float) -> dict[str, float]:
    """convergent's forward and backward time of each layer, and its GEMM at the
    Conv2D(32->64) shape (M = batch*14*14, K = 9*32, N = 64, bias and relu fused)."""
    import convergent as cg
    import numpy as np

    cg.set_num_threads(threads)
    model = _cg_model()
    x, _ = _data(batch)
    ins = []
    for layer in model.layers:
        ins.append(x)
        x = layer.forward(x, training=True).copy()
    out: dict[str, float] = {}
    names = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense"]
    for name, layer, xi in zip(names, model.layers, ins):
        y = layer.forward(xi, training=True)
        dout = np.ones_like(y)
        out[f"{name} fwd"] = best_call_time(lambda: layer.forward(xi, training=True), budget)  # noqa: B023
        first = name == "conv1"
        kw = {"need_input_grad": False} if first else {}
        out[f"{name} bwd"] = best_call_time(lambda: layer.backward(dout, **kw), budget)  # noqa: B023
    rng = np.random.default_rng(1)
    m, k, n = batch * 14 * 14, 9 * 32, 64
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    bias = np.zeros(n, np.float32)
    out["gemm"] = best_call_time(
        lambda: cg._core.gemm(a, b, c, bias=bias, activation="relu"), budget
    )
    return out


def _run(mode, name, batch, threads, budget):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    args = [sys.executable, __file__, "--worker", mode, name, str(batch), str(threads), str(budget)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def _worker(mode, name, batch, threads, budget):
    if mode == "layers":
        return _layer_times(batch, threads, budget)
    return {"seconds": best_call_time(_step_fn(name, batch, threads), budget, warmup=5)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        mode, name, batch, threads, budget = sys.argv[2:7]
        print(json.dumps(_worker(mode, name, int(batch), int(threads), float(budget))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(p)
    p.add_argument("--batches", default="", help="comma-separated batch sizes (default 64,8)")
    args = p.parse_args()
    batches = [int(b) for b in args.batches.split(",")] if args.batches else BATCHES
    try:
        import torch  # noqa: F401

        names = CONTENDERS
    except ImportError:
        names = ["convergent"]
    best: dict = {}
    layers: dict = {}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for batch in batches:
            for name in order:
                s = _run("step", name, batch, args.threads, args.budget)["seconds"]
                best[batch, name] = min(best.get((batch, name), s), s)
            lt = _run("layers", "convergent", batch, args.threads, args.budget)
            for k, v in lt.items():
                layers[batch, k] = min(layers.get((batch, k), v), v)
    load = os.getloadavg()[0]
    header = ["batch"] + [f"{c} (ms/step)" for c in names] + [f"{c} GFLOP/s" for c in names]
    header += [f"{c} / cg (speedup)" for c in names[1:]]
    rows = []
    for batch in batches:
        t = [best[batch, c] for c in names]
        gf = [_step_flops(batch) / s / 1e9 for s in t]
        rows.append([str(batch)] + [f"{s * 1e3:.2f}" for s in t] + [f"{g:.1f}" for g in gf]
                    + [f"{s / t[0]:.2f}" for s in t[1:]])  # fmt: skip
    note = (
        "CNN training step (28x28x1, conv32-pool-conv64-pool-dense10, Adam) float32, "
        f"{args.threads} threads, best of {args.rounds} rounds, load average {load:.2f}"
    )
    print_table(header, rows, note, args.markdown)
    print()
    lheader = ["batch", "layer", "forward (us)", "fwd GFLOP/s", "backward (us)", "bwd GFLOP/s"]
    lrows = []
    for batch in batches:
        f = _flops(batch)
        for name in ["conv1", "pool1", "conv2", "pool2", "flatten", "dense"]:
            tf, tb = layers[batch, f"{name} fwd"], layers[batch, f"{name} bwd"]
            fl = f.get(name)
            bfl = None if fl is None else (fl if name == "conv1" else 2 * fl)
            lrows.append([str(batch), name, f"{tf * 1e6:.0f}",
                          "-" if fl is None else f"{fl / tf / 1e9:.1f}", f"{tb * 1e6:.0f}",
                          "-" if bfl is None else f"{bfl / tb / 1e9:.1f}"])  # fmt: skip
    print_table(lheader, lrows, "convergent per layer (training mode)", args.markdown)
    print()
    gheader = ["batch", "conv2 fwd GFLOP/s", "GEMM GFLOP/s (M=N*196, K=288, N=64)", "conv / GEMM"]
    grows = []
    for batch in batches:
        fl = _flops(batch)["conv2"]
        cv, gm = fl / layers[batch, "conv2 fwd"] / 1e9, fl / layers[batch, "gemm"] / 1e9
        grows.append([str(batch), f"{cv:.1f}", f"{gm:.1f}", f"{cv / gm:.2f}"])
    print_table(gheader, grows, "Conv2D(32->64) forward vs convergent's GEMM", args.markdown)


if __name__ == "__main__":
    main()
