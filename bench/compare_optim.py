"""Optimizer step speed: convergent vs the NumPy reference vs torch.optim, measured in one run.

Each contender runs in its own subprocess (worker threads of different runtimes steal cores from
one another when they share a process); the contenders alternate round by round (A B C A B C)
and each cell keeps the best of its per-round medians. Every step reuses the same buffers.

    python bench/compare_optim.py                     # 1M and 16M float32 params, 3 rounds
    python bench/compare_optim.py --quick --markdown  # 1M only, 1 round, a markdown table

Effective bandwidth counts the bytes each step must move per element (float32): 12 for the
parameter (read and write) and the gradient (read), plus 8 per elementwise state buffer (read and
write): Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, Rprop and Schedule-Free AdamW 28; SGD with
momentum, Adagrad, RMSprop, ASGD and Lion 20; Adafactor on these 1-D tensors 20 (its unfactored
variance). torch has no Lion or Schedule-Free AdamW (n/a).

    python bench/compare_optim.py --muon              # Muon on the 784-256-128-10 MLP's matrices
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

OPTIMIZERS = {
    # name: (convergent/torch class, kwargs, bytes per element)
    "adam": ("Adam", {}, 28),
    "adamw": ("AdamW", {}, 28),
    "sgd": ("SGD", {"lr": 1e-3, "momentum": 0.9}, 20),
    "adagrad": ("Adagrad", {}, 20),
    "rmsprop": ("RMSprop", {}, 20),
    "nadam": ("NAdam", {}, 28),
    "radam": ("RAdam", {}, 28),
    "adamax": ("Adamax", {}, 28),
    "adadelta": ("Adadelta", {}, 28),
    "asgd": ("ASGD", {}, 20),
    "rprop": ("Rprop", {}, 28),
    "adafactor": ("Adafactor", {}, 20),
    "lion": ("Lion", {}, 20),
    "schedulefree_adamw": ("ScheduleFreeAdamW", {}, 28),
    "muon": ("Muon", {}, 20),  # only with --muon (2-D params); plus its Newton-Schulz GEMMs
}
# The numpy contender (the reference applied tensor by tensor) covers the first five.
NUMPY_OPTIMIZERS = ("Adam", "AdamW", "SGD", "Adagrad", "RMSprop")
MUON_SHAPES = ((784, 256), (256, 128), (128, 10))  # the weight matrices of the benchmark MLP
CONTENDERS = ("convergent", "numpy", "torch", "torch-foreach", "torch-fused")
LAYOUTS = {"flat": 1, "100": 100}


def _parse_size(s: str) -> int:
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
    return int(float(s[:-1] if s[-1] in "KM" else s) * mult)


def _fmt_size(n: int) -> str:
    return f"{n >> 20}M" if n % (1 << 20) == 0 else str(n)


# ---- worker: one contender, all cells, in this process ----------------------------------------
def _tensors(n: int, count: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [n // count] * count
    sizes[-1] += n - sum(sizes)
    params = [rng.standard_normal(k, dtype=np.float32) for k in sizes]
    grads = [rng.standard_normal(k, dtype=np.float32) * np.float32(1e-2) for k in sizes]
    return params, grads


def _numpy_stepper(cls: str, kw: dict, params, grads):
    import numpy as np

    if cls not in NUMPY_OPTIMIZERS:
        raise ValueError(f"no NumPy reference stepper for {cls} in this benchmark")
    from convergent import reference as ref

    zeros = [np.zeros_like(p) for p in params]
    st = {"t": 0, "a": zeros, "b": [np.zeros_like(p) for p in params]}
    lr = kw.get("lr")

    def step():
        st["t"] += 1
        t = st["t"]
        for i, (p, g) in enumerate(zip(params, grads)):
            a, b = st["a"][i], st["b"][i]
            if cls in ("Adam", "AdamW"):
                ref.adam_step(
                    p,
                    g,
                    a,
                    b,
                    None,
                    step=t,
                    lr=1e-3,
                    weight_decay=1e-2 * (cls == "AdamW"),
                    decoupled=cls == "AdamW",
                )
            elif cls == "SGD":
                ref.sgd_step(p, g, a, first_step=t == 1, lr=lr, momentum=kw["momentum"])
            elif cls == "Adagrad":
                ref.adagrad_step(p, g, a, step=t, lr=1e-2)
            else:
                ref.rmsprop_step(p, g, a, None, None, lr=1e-2)

    return step


def _stepper(contender: str, cls: str, kw: dict, params, grads, threads: int):
    if contender == "convergent":
        import convergent as cg

        cg.set_num_threads(threads)
        opt = getattr(cg.optim, cls)(params, **kw)
        return lambda: opt.step(grads)
    if contender == "numpy":
        return _numpy_stepper(cls, kw, params, grads)
    import torch

    torch.set_num_threads(threads)
    tparams = [torch.from_numpy(p) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    extra = {"torch": {}, "torch-foreach": {"foreach": True}, "torch-fused": {"fused": True}}
    if not hasattr(torch.optim, cls):
        raise ValueError(f"torch.optim has no {cls}")
    opt = getattr(torch.optim, cls)(tparams, **kw, **extra[contender])
    return opt.step


def _time(step, min_repeats: int, min_time: float, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < min_time and len(times) < 200):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _muon_tensors(seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) * np.float32(0.05) for s in MUON_SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) * np.float32(1e-2) for s in MUON_SHAPES]
    return params, grads


def worker(contender: str, cells: list, threads: int, min_repeats: int, min_time: float) -> dict:
    out = {}
    for opt_name, n, layout in cells:
        cls, kw, _ = OPTIMIZERS[opt_name]
        if layout == "mlp":
            params, grads = _muon_tensors(seed=0)
        else:
            params, grads = _tensors(n, LAYOUTS[layout], seed=0)
        key = f"{opt_name}|{n}|{layout}"
        try:
            step = _stepper(contender, cls, kw, params, grads, threads)
            step()  # a contender that rejects the configuration fails here
        except (RuntimeError, ValueError, TypeError, NotImplementedError, AttributeError) as e:
            # e.g. torch has no fused RMSprop
            out[key] = {"error": str(e).splitlines()[0][:80]}
            continue
        out[key] = {"s": _time(step, min_repeats, min_time, warmup=2)}
    return out


def _versions(threads: int) -> dict:
    import convergent as cg
    import numpy as np

    info = {
        "convergent": cg.__version__,
        "numpy": np.__version__,
        "isa": cg.get_isa(),
        "isas": cg.available_isas(),
        "cg_threads": threads,
        "python": platform.python_version(),
    }
    try:
        import torch

        torch.set_num_threads(threads)
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    return info


# ---- driver ------------------------------------------------------------------------------------
def _run_worker(contender, cells, args) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        contender,
        "--cells",
        json.dumps(cells),
        "--threads",
        str(args.threads),
        "--min-repeats",
        str(args.min_repeats),
        "--min-time",
        str(args.min_time),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        print(f"[{contender}] failed:\n{r.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _table(cells, best, contenders, markdown: bool) -> str:
    peers = [c for c in contenders if c != "convergent"]
    head = ["optimizer", "params", "tensors", "convergent ms", "GB/s"]
    head += [f"{c} ms" for c in peers] + [f"vs {c}" for c in peers]
    rows = []
    for opt_name, n, layout in cells:
        key = f"{opt_name}|{n}|{layout}"
        bytes_ = OPTIMIZERS[opt_name][2] * n
        ours = best.get("convergent", {}).get(key)
        tensors = "MLP" if layout == "mlp" else str(LAYOUTS[layout])
        row = [OPTIMIZERS[opt_name][0], _fmt_size(n), tensors]
        row += [f"{ours * 1e3:.2f}", f"{bytes_ / ours / 1e9:.1f}"] if ours else ["-", "-"]
        times = [best.get(c, {}).get(key) for c in peers]
        row += [f"{t * 1e3:.2f}" if t else "n/a" for t in times]
        row += [f"{t / ours:.2f}x" if t and ours else "n/a" for t in times]
        rows.append(row)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,16M", help="total float32 params, e.g. 1M,16M")
    ap.add_argument("--optimizers", default=",".join(o for o in OPTIMIZERS if o != "muon"))
    ap.add_argument("--layouts", default="flat,100", help="flat (one tensor) and/or 100")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per cell and round")
    ap.add_argument("--quick", action="store_true", help="1M only, 1 round, short timings")
    ap.add_argument("--muon", action="store_true", help="Muon on the 784-256-128-10 MLP matrices")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--cells", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        res = worker(
            args.worker, json.loads(args.cells), args.threads, args.min_repeats, args.min_time
        )
        print(json.dumps(res))
        return
    if args.quick:
        args.sizes, args.rounds, args.min_repeats, args.min_time = "1M", 1, 3, 0.1
    sizes = [_parse_size(s) for s in args.sizes.split(",")]
    opts = [o.strip().lower() for o in args.optimizers.split(",")]
    layouts = [x.strip() for x in args.layouts.split(",")]
    cells = [(o, n, lay) for o in opts for n in sizes for lay in layouts]
    if args.muon:
        cells = [("muon", sum(a * b for a, b in MUON_SHAPES), "mlp")]
    info = _versions(args.threads)
    contenders = [c.strip() for c in args.contenders.split(",")]
    if info["torch"] is None:
        contenders = [c for c in contenders if not c.startswith("torch")]
    load = os.getloadavg()
    print(
        f"convergent {info['convergent']} (ISA {info['isa']}, available {info['isas']}), "
        f"numpy {info['numpy']}, torch {info['torch']}, python {info['python']}"
    )
    print(
        f"threads: convergent {args.threads}, torch {info.get('torch_threads')}; "
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}"
    )
    print(
        f"rounds {args.rounds}, each cell: median of >= {args.min_repeats} steps "
        f"(>= {args.min_time}s) after 2 warm-up steps; best of the rounds",
        flush=True,
    )
    best: dict[str, dict[str, float]] = {c: {} for c in contenders}
    errors: dict[str, str] = {}
    for r in range(args.rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]
        for c in order:
            t0 = time.perf_counter()
            res = _run_worker(c, cells, args)
            for key, v in res.items():
                if "s" in v:
                    prev = best[c].get(key)
                    best[c][key] = v["s"] if prev is None else min(prev, v["s"])
                else:
                    errors[f"{c} {key.split('|')[0]}"] = v["error"]
            print(f"  round {r + 1}: {c} done in {time.perf_counter() - t0:.1f}s", flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(_table(cells, best, contenders, args.markdown))
    print("\nvs X = X's time / convergent's time (> 1: convergent is faster); GB/s = effective")
    for k, e in sorted(errors.items()):
        print(f"  n/a {k}: {e}")


if __name__ == "__main__":
    main()
