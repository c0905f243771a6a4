"""The ``convergent`` command line: ``info``, ``demo`` and ``bench``."""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from . import __version__, _core

#: The comparison runners ``convergent bench`` knows, in the order it runs them.
BENCHMARKS = {
    "optim": "compare_optim.py",
    "gemm": "compare_gemm.py",
    "dense": "compare_dense.py",
    "epoch": "compare_epoch.py",
    "sklearn": "compare_sklearn.py",
    "conv": "compare_conv.py",
}


def _info(_: argparse.Namespace) -> int:
    print(f"convergent {__version__}")
    print(f"python     {platform.python_version()} ({platform.machine()})")
    print(f"isa        {_core.get_isa()} (available: {', '.join(_core.available_isas())})")
    print(f"threads    {_core.get_num_threads()}")
    print(f"openmp     {'yes' if _core.have_openmp() else 'no'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401

        if not args.no_progress:
            import tqdm  # noqa: F401
    except ImportError as exc:
        print(f"convergent demo needs {exc.name}: pip install 'convergent[demo]'", file=sys.stderr)
        return 2
    names = [o.strip().lower() for o in args.optimizers.split(",") if o.strip()]
    previous = _core.get_num_threads()
    if args.threads is not None:
        _core.set_num_threads(args.threads)
    if args.model == "cnn":
        from . import demo_cnn as demo  # the same optimizers on a small residual CNN
    elif args.model == "rnn":
        from . import demo_rnn as demo  # the same optimizers on a bidirectional GRU
    try:
        demo.run(
            names,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            output=args.output,
            progress=not args.no_progress,
        )
    except (ValueError, OSError) as exc:  # bad optimizer names, an unwritable --output
        print(f"convergent demo: {exc}", file=sys.stderr)
        return 2
    finally:
        _core.set_num_threads(previous)
    return 0


# ---- bench --------------------------------------------------------------------------------------
def find_bench_dir(explicit: str | None = None) -> Path | None:
    """The repository's bench/ directory: ``--bench-dir``, ``$CONVERGENT_BENCH_DIR``, or the
    first ``bench/`` holding a compare_*.py found walking up from the current directory and from
    this package's source location (bench/ is not part of the installed package)."""
    for cand in (explicit, os.environ.get("CONVERGENT_BENCH_DIR")):
        if cand:
            return Path(cand) if Path(cand).is_dir() else None
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            b = d / "bench"
            if b.is_dir() and any(b.glob("compare_*.py")):
                return b
    return None


_RATIO = re.compile(r"^(\d+(?:\.\d+)?)x?$")
# Ratio columns (above 1: convergent is faster): "vs torch", "cg / numpy" (a throughput ratio),
# "torch / cg (speedup)" (a time ratio).
_RATIO_HEADS = (re.compile(r"^vs (.+)$"), re.compile(r"^cg / (.+)$"),
                re.compile(r"^(.+?) / cg\b.*$"))  # fmt: skip
_FASTER = re.compile(r"^\s*(\S+)\s+[\d.]+\s+convergent is (\d+(?:\.\d+)?)x faster")
#: Short-run arguments for runners that have no ``--quick`` (used when their --help lists them).
QUICK_FALLBACK = {
    "gemm": ["--rounds", "1", "--budget", "0.2"],
    "dense": ["--rounds", "1", "--budget", "0.2"],
    "epoch": ["--rounds", "1", "--batches", "128"],
}


def _peer(cell: str) -> str | None:
    for pat in _RATIO_HEADS:
        m = pat.match(cell)
        if m:
            return m.group(1)
    return None


def parse_ratios(text: str, bench: str) -> list[tuple[str, str, str, str]]:
    """(benchmark, case, peer, ratio) from a runner's plain-text output. Two forms: a table
    whose header row has ratio columns (``vs <peer>``, ``cg / <peer>``, ``<peer> / cg ...``,
    each read as "above 1: convergent is faster") holding numbers, optionally suffixed ``x``
    (columns separated by two or more spaces; the case is the cells before the first column
    naming convergent); or, under a ``<case>:`` line, lines ``<peer> <seconds> convergent is
    <number>x faster``."""
    rows: list[tuple[str, str, str, str]] = []
    header: list[str] | None = None
    header_peers: list[str | None] = []
    section = ""
    for line in text.splitlines():
        m = _FASTER.match(line)
        if m:
            rows.append((bench, section, m.group(1), f"{m.group(2)}x"))
            continue
        if line.rstrip().endswith(":") and not line.startswith(" "):
            section = line.strip()[:-1]
        cells = [c.strip() for c in re.split(r"\s{2,}", line.strip()) if c.strip()]
        peers = [_peer(c) for c in cells]
        if len(cells) > 1 and any(peers):
            header, header_peers = cells, peers
            continue
        if header is None or len(cells) != len(header):
            header = None if not cells else header
            continue
        first = next((i for i, h in enumerate(header) if "convergent" in h), 1) or 1
        case = " ".join(cells[:first])
        for peer, c in zip(header_peers, cells):
            m = _RATIO.match(c)
            if peer and m:
                rows.append((bench, case, peer, f"{m.group(1)}x"))
    return rows


def _quick_args(name: str, script: Path) -> list[str]:
    """``--quick`` when the runner has it, else its QUICK_FALLBACK arguments if it takes them."""
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                       check=False)  # fmt: skip
    if "--quick" in r.stdout:
        return ["--quick"]
    extra = QUICK_FALLBACK.get(name, [])
    return extra if all(a in r.stdout for a in extra if a.startswith("--")) else []


def _bench(args: argparse.Namespace) -> int:
    bench_dir = find_bench_dir(args.bench_dir)
    if bench_dir is None:
        print(
            "convergent bench: no bench/ directory found; run it from the repository or pass "
            "--bench-dir (bench/ is not installed with the package)",
            file=sys.stderr,
        )
        return 2
    wanted = list(BENCHMARKS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [w for w in wanted if w not in BENCHMARKS]
    if unknown:
        print(
            f"convergent bench: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    summary: list[tuple[str, str, str, str]] = []
    for name in wanted:
        script = bench_dir / BENCHMARKS[name]
        if not script.is_file():
            print(f"== {name}: {script.name} not present, skipped\n")
            continue
        cmd = [sys.executable, str(script)]
        if args.quick:
            cmd += _quick_args(name, script)
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        print(r.stdout, end="" if r.stdout.endswith("\n") else "\n")
        if r.returncode != 0:
            print(f"[{name} failed with exit code {r.returncode}]\n{r.stderr[-2000:]}")
        summary += parse_ratios(r.stdout, name)
        print(flush=True)
    if summary:
        print("Summary: time of the peer / time of convergent (> 1: convergent is faster)")
        head = ("benchmark", "case", "peer", "ratio")
        widths = [max(len(r[i]) for r in [head, *summary]) for i in range(4)]
        for r in [head, *summary]:
            print(
                "  ".join(
                    c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
                )
            )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convergent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"convergent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, ISA, threads, OpenMP").set_defaults(func=_info)

    from .demo import DEFAULT, OPTIMIZERS

    d = sub.add_parser("demo", help="compare the optimizers on digits and on Rosenbrock")
    d.add_argument(
        "--epochs", type=_positive_int, default=30, help="epochs per optimizer (default 30)"
    )
    d.add_argument(
        "--batch-size", type=_positive_int, default=64, help="mini-batch size (default 64)"
    )
    d.add_argument("--output", default="convergence.png", help="figure file (default %(default)s)")
    d.add_argument(
        "--optimizers",
        default=",".join(DEFAULT),
        help=f"comma-separated, from: {','.join(OPTIMIZERS)} (default: %(default)s)",
    )
    d.add_argument("--seed", type=int, default=0, help="data split and initial weights")
    d.add_argument(
        "--model",
        choices=("mlp", "cnn", "rnn"),
        default="mlp",
        help="digits model: an MLP, a residual CNN, or a bidirectional GRU reading the rows "
        "(default mlp)",
    )
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.add_argument("--threads", type=_positive_int, help="worker threads (default: the library's)")
    d.set_defaults(func=_demo)

    b = sub.add_parser("bench", help="run the comparison runners in the repository's bench/")
    b.add_argument("--quick", action="store_true", help="short runs (passed to each runner)")
    b.add_argument("--only", help=f"comma-separated subset of: {','.join(BENCHMARKS)}")
    b.add_argument("--bench-dir", help="the bench/ directory (default: found from the cwd)")
    b.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
