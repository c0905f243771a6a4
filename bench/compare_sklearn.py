"""MLPClassifier speed: convergent.sklearn vs sklearn.neural_network, one epoch, same settings.

MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1) on random float32 data
(60 000 x 784, 10 classes, seeded): both fit one epoch of Adam with sklearn's defaults otherwise.
Each contender runs in its own subprocess (worker threads of different runtimes steal cores from
one another when they share a process); the contenders alternate (A B A B ...) and each keeps the
best of its rounds. The time covers ``fit`` only (data generation excluded). When
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set, scikit-learn also runs without them
("sklearn-noenv"), since they change NumPy's BLAS.

    python bench/compare_sklearn.py            # 3 rounds
    python bench/compare_sklearn.py --quick    # 1 round, 20 000 rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings


def worker(contender: str, n: int, d: int, classes: int, batch: int, threads: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, classes, n)
    if contender == "convergent":
        import convergent as cg
        from convergent.sklearn import MLPClassifier

        cg.set_num_threads(threads)
    else:
        from sklearn.neural_network import MLPClassifier  # "sklearn" and "sklearn-noenv"
    from sklearn.exceptions import ConvergenceWarning

    clf = MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=batch, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - t0
    return {"s": seconds, "loss": float(clf.loss_)}


_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _run(contender: str, args) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        contender,
        "--n",
        str(args.n),
        "--threads",
        str(args.threads),
    ]
    env = dict(
        os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads)
    )
    if contender == "sklearn-noenv":  # NumPy's BLAS without this machine's OpenBLAS tuning
        for key in _BLAS_ENV:
            env.pop(key, None)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        print(f"[{contender}] failed:\n{r.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000, help="rows (default 60000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 round, 20 000 rows")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, 784, 10, 128, args.threads)))
        return
    if args.quick:
        args.n, args.rounds = 20000, 1
    import convergent as cg
    import numpy as np
    import sklearn

    load = os.getloadavg()
    print(
        f"convergent {cg.__version__} (ISA {cg.get_isa()}), scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, python {platform.python_version()}; threads {args.threads}"
    )
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; "
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"MLPClassifier((256, 128)), Adam, batch 128, 1 epoch on {args.n} x 784 float32, "
        f"10 classes; best of {args.rounds} round(s), contenders alternating",
        flush=True,
    )
    best: dict[str, dict] = {}
    contenders: tuple[str, ...] = ("convergent", "sklearn")
    if any(k in os.environ for k in _BLAS_ENV):
        contenders += ("sklearn-noenv",)
    for r in range(args.rounds):
        for c in contenders if r % 2 == 0 else contenders[::-1]:
            res = _run(c, args)
            if res and (c not in best or res["s"] < best[c]["s"]):
                best[c] = res
            if res:
                print(f"  round {r + 1}: {c} {res['s']:.2f}s (loss {res['loss']:.4f})", flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    peers = [c for c in contenders[1:] if c in best]
    ours = best.get("convergent", {}).get("s")
    head = ["case", "convergent s"] + [f"{c} s" for c in peers] + [f"vs {c}" for c in peers]
    row = [f"MLP 256-128 {args.n}x784 b128", f"{ours:.2f}" if ours else "n/a"]
    row += [f"{best[c]['s']:.2f}" for c in peers]
    row += [f"{best[c]['s'] / ours:.2f}x" if ours else "n/a" for c in peers]
    widths = [max(len(a), len(b)) for a, b in zip(head, row)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print("\nvs sklearn = sklearn's time / convergent's time (> 1: convergent is faster)")


if __name__ == "__main__":
    main()
