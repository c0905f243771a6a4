"""Training beside a busy process: convergent vs torch at 1 and 2 threads, quiet and loaded.

The epoch slice of the benchmark MLP (784 -> 256 -> 128 -> 10, ReLU, softmax cross-entropy,
Adam(lr=1e-3), 12 800 random float32 samples, seeded) at batch 128 and batch 32 with `cg.fit`
against a torch eager loop, and the scikit-learn estimator's one-epoch fit
(`convergent.sklearn.MLPClassifier(max_iter=1)` against scikit-learn's own `MLPClassifier`,
whose BLAS threads are set with threadpoolctl). Every case runs at 1 and 2 threads:

- quiet: nothing else started by this script (check `uptime`: other processes count);
- loaded: beside `--busy` Python processes running `while True: pass` that this script starts
  (and stops) itself.

Each timed run is its own subprocess (one warm-up fit of 20 batches, then the timed epoch); the
runs alternate contender by contender and thread count by thread count, round after round; the
table gives the best and the median of `--rounds` runs, and "2t/1t", the 2-thread median over the
1-thread median of the same contender under the same load.

    python bench/compare_contention.py                        # the whole table (3-15 min)
    python bench/compare_contention.py --rounds 5 --cases b128
    python bench/compare_contention.py --pythonpath /path/to/other/tree/python   # another build
    python bench/compare_contention.py --baseline /path/to/main/python   # + "convergent@base"
    python bench/compare_contention.py --markdown             # the table as markdown
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from compare_epoch import (  # the same data, model and loops as the epoch benchmark
    SIZES,
    data,
    work_convergent,
    work_torch,
)

CASES = {  # name: (contenders, batch)
    "b128": (("convergent", "torch"), 128),
    "b32": (("convergent", "torch"), 32),
    "sklearn": (("convergent-est", "sklearn-est"), 200),
}


# ---- workers (each in its own process) ----------------------------------------------------
def work_estimator(which: str, n: int, threads: int) -> float:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = data(n)
    kw = {
        "hidden_layer_sizes": SIZES[1:-1],
        "max_iter": 1,
        "random_state": 0,
    }
    if which == "convergent-est":
        import convergent as cg
        from convergent.sklearn import MLPClassifier

        cg.set_num_threads(threads)
        clf = MLPClassifier(**kw)
        limit = None
    else:
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        clf = MLPClassifier(**kw)
        limit = threadpool_limits(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch, this process only
        clf.set_params(max_iter=1).fit(X[:4000], y[:4000])  # warm-up
        t0 = time.perf_counter()
        clf.fit(X, y)
        dt = time.perf_counter() - t0
    if limit is not None:
        limit.restore_original_limits()
    return dt


# ---- driver -------------------------------------------------------------------------------
def run(args: list[str], env: dict, timeout: float) -> dict:
    env = dict(env)
    for i, a in enumerate(args):  # "convergent@base": the --baseline build
        if a.endswith("@base"):
            args = [*args[:i], a[: -len("@base")], *args[i + 1 :]]
            env["PYTHONPATH"] = os.pathsep.join(
                [env["CG_BASELINE"], *filter(None, [env.get("PYTHONPATH")])]
            )
    try:
        res = subprocess.run(
            [sys.executable, __file__, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def start_busy(count: int) -> list[subprocess.Popen]:
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    time.sleep(0.5)  # let the scheduler see them
    return procs


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def measure(a, env: dict, loaded: bool) -> dict:
    """{(case, contender, threads): [seconds per round]} for one load condition."""
    times: dict[tuple, list[float]] = {}
    busy = start_busy(a.busy) if loaded else []
    try:
        order = [
            (c, w, t) for c in a.cases.split(",") for w in contenders(a, c) for t in (1, a.threads)
        ]
        for r in range(a.rounds):
            for case, w, t in order if r % 2 == 0 else order[::-1]:
                batch = CASES[case][1]
                args = ["--worker", w, "--batch", str(batch), "--samples", str(a.samples)]
                res = run([*args, "--threads", str(t)], env, a.timeout)
                if "error" in res:
                    print(f"  {case} {w} {t}t: {res['error']}", file=sys.stderr)
                    continue
                times.setdefault((case, w, t), []).append(res["time"])
    finally:
        stop_busy(busy)
    return times


def contenders(a, case: str) -> list[str]:
    ws = list(CASES[case][0])
    if a.baseline:
        ws.insert(1, ws[0] + "@base")
    return [w for w in ws if w.split("@")[0] not in a.skip.split(",")]


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", default="b128,b32,sklearn", help="b128, b32, sklearn")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="the multi-threaded count")
    p.add_argument("--busy", type=int, default=1, help="busy processes in the loaded runs")
    p.add_argument("--samples", type=int, default=12800)
    p.add_argument("--modes", default="quiet,loaded")
    p.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    p.add_argument(
        "--pythonpath",
        help="put this directory first on PYTHONPATH (default: this checkout's python/ when it "
        "holds a built _core, else the installed package)",
    )
    p.add_argument("--baseline", help="also run convergent with this directory on PYTHONPATH")
    p.add_argument("--skip", default="", help="contenders left out, e.g. torch,sklearn-est")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        w, b, n, t = a.worker, a.batch, a.samples, a.threads
        if w == "convergent":
            dt = work_convergent(b, n, t)
        elif w == "torch":
            dt = work_torch(b, n, t, fused=False)
        else:
            dt = work_estimator(w, n, t)
        print(json.dumps({"time": dt}))
        return
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(k, None)  # the workers set their own thread counts
    tree = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python")
    if not a.pythonpath and any(
        f.startswith("_core") for f in os.listdir(os.path.join(tree, "convergent"))
    ):
        a.pythonpath = os.path.normpath(tree)  # this checkout's build (devbuild.sh's symlink)
    if a.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([a.pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    if a.baseline:
        env["CG_BASELINE"] = os.path.abspath(a.baseline)
    which = run(["--worker", "convergent", "--batch", "128", "--samples", "2560"], env, 120)
    print(
        f"MLP {'-'.join(map(str, SIZES))}, Adam, {a.samples} samples, one epoch; "
        f"best / median of {a.rounds} alternating runs (ms); loaded = beside {a.busy} "
        f"`while True: pass` process(es); load average before: {loadavg()}"
        + (f"; PYTHONPATH={a.pythonpath}" if a.pythonpath else "")
        + (f"; @base: {a.baseline}" if a.baseline else "")
        + ("" if "time" in which else f"; convergent failed: {which['error']}")
    )
    results = {m: measure(a, env, m == "loaded") for m in a.modes.split(",")}
    print(f"load average after: {loadavg()}")
    rows = []
    for case in a.cases.split(","):
        batch = CASES[case][1]
        for w in contenders(a, case):
            row = [case if case != "sklearn" else "estimator", str(batch), w]
            for m in results:
                med = {}
                for t in (1, a.threads):
                    ts = results[m].get((case, w, t))
                    if ts:
                        med[t] = statistics.median(ts)
                        row.append(f"{min(ts) * 1e3:.0f} / {med[t] * 1e3:.0f}")
                    else:
                        row.append("-")
                ratio = med[a.threads] / med[1] if len(med) == 2 else None
                row.append(f"{ratio:.2f}x" if ratio else "-")
            rows.append(row)
    head = ["case", "batch", "contender"]
    for m in results:
        head += [f"{m} 1t", f"{m} {a.threads}t", f"{m} {a.threads}t/1t"]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for row in [head, *rows]:
            print(
                "  ".join(
                    c.rjust(wd) if i >= 3 else c.ljust(wd)
                    for i, (c, wd) in enumerate(zip(row, widths))
                )
            )


if __name__ == "__main__":
    main()
