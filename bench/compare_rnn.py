"""A recurrent training step: convergent's LSTM/GRU vs torch 2.x nn.LSTM/nn.GRU (batch_first), each
contender in its own process, alternated, best over rounds.

One step (issue 14): forward over the sequence (batch, steps, input) float32, a Dense head
(dirs*hidden -> 1) on the last step's output, MSE against random targets, backpropagation
through time (no input gradient), Adam. GFLOP/s count 2 flops per multiply-add of the GEMMs:
forward 2*B*T*G*H*(D + H) per direction, backward twice that without the input gradient
(2*B*T*G*H*D), the gate arithmetic and the head not counted.

    python bench/compare_rnn.py [--threads 2] [--rounds 3] [--budget 1.0] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import add_timing_args, best_call_time, convergent_step, print_table

# (cell, steps, batch, input, hidden, bidirectional)
CASES = [
    ("lstm", 50, 32, 32, 128, False),
    ("gru", 50, 32, 32, 128, False),
    ("lstm", 100, 64, 64, 256, False),
    ("gru", 100, 64, 64, 256, False),
    ("lstm", 50, 32, 32, 128, True),
    ("gru", 50, 32, 32, 128, True),
]
CONTENDERS = ["convergent", "torch"]
GATES = {"lstm": 4, "gru": 3}


def _step_flops(cell: str, t: int, b: int, d: int, h: int, bi: bool) -> float:
    gh = GATES[cell] * h
    fwd = 2.0 * b * t * gh * (d + h)
    bwd = 2 * fwd - 2.0 * b * t * gh * d
    return (fwd + bwd) * (2 if bi else 1)


def _data(t: int, b: int, d: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, t, d)).astype(np.float32)
    y = rng.standard_normal((b, 1)).astype(np.float32)
    return x, y


def _step_fn(name: str, case, threads: int):
    cell, t, b, d, h, bi = case
    x, y = _data(t, b, d)
    dirs = 2 if bi else 1
    if name == "convergent":
        import convergent as cg

        cg.set_num_threads(threads)
        layer = {"lstm": cg.nn.LSTM, "gru": cg.nn.GRU}[cell](d, h, bidirectional=bi)
        model = cg.nn.Sequential([layer, cg.nn.Dense(dirs * h, 1)], seed=0)
        return convergent_step(model, cg.nn.MSELoss(), x, y)
    import torch

    torch.set_num_threads(threads)
    tn = torch.nn
    rnn = {"lstm": tn.LSTM, "gru": tn.GRU}[cell](d, h, batch_first=True, bidirectional=bi)
    head = tn.Linear(dirs * h, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    mse = tn.MSELoss()

    def step():
        opt.zero_grad()
        out = rnn(tx)[1]
        hn = out[0] if cell == "lstm" else out
        last = hn.transpose(0, 1).reshape(b, dirs * h)  # forward state after T-1, reverse after 0
        mse(head(last), ty).backward()
        opt.step()

    return step


def _run(name, case, threads, budget):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    args = [sys.executable, __file__, "--worker", name, json.dumps(case), str(threads), str(budget)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["seconds"]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        name, case, threads, budget = sys.argv[2:6]
        fn = _step_fn(name, tuple(json.loads(case)), int(threads))
        print(json.dumps({"seconds": best_call_time(fn, float(budget), warmup=3)}))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(p)
    p.add_argument("--cases", default="", help="comma-separated case indices (default all)")
    args = p.parse_args()
    cases = [CASES[int(i)] for i in args.cases.split(",")] if args.cases else CASES
    try:
        import torch  # noqa: F401

        names = CONTENDERS
    except ImportError:
        names = ["convergent"]
    best: dict = {}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for case in cases:
            for name in order:
                s = _run(name, case, args.threads, args.budget)
                best[case, name] = min(best.get((case, name), s), s)
    load = os.getloadavg()[0]
    header = ["cell", "T", "B", "D", "H", "bidir"] + [f"{c} (ms)" for c in names]
    header += [f"{c} GFLOP/s" for c in names] + [f"{c} / cg (speedup)" for c in names[1:]]
    rows = []
    for case in cases:
        cell, t, b, d, h, bi = case
        ts = [best[case, c] for c in names]
        fl = _step_flops(*case)
        rows.append([cell, str(t), str(b), str(d), str(h), "yes" if bi else "no"]
                    + [f"{s * 1e3:.2f}" for s in ts] + [f"{fl / s / 1e9:.1f}" for s in ts]
                    + [f"{s / ts[0]:.2f}" for s in ts[1:]])  # fmt: skip
    note = (
        "RNN training step (recurrent layer, Dense head on the last step, MSE, BPTT, Adam) "
        f"float32, {args.threads} threads, best of {args.rounds} rounds, "
        f"load average {load:.2f}"
    )
    print_table(header, rows, note, args.markdown)


if __name__ == "__main__":
    main()
