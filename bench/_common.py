"""Shared by the comparison runners: per-call timing and table printing (text or markdown)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_call_time(fn: Callable[[], object], budget: float, warmup: int = 3) -> float:
    """The fastest single call of ``fn`` within ``budget`` seconds, after ``warmup`` calls.

    Each call is timed on its own and the minimum kept: on a shared machine most batches of
    calls include a preemption, single calls mostly do not."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    end = time.perf_counter() + budget
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def print_table(header: list[str], rows: list[list[str]], note: str, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\n{note}")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print(note)


def add_timing_args(p) -> None:
    """The options of the per-call runners (GEMM, Dense): threads, rounds, budget, markdown."""
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget", type=float, default=0.5, help="seconds per measurement")
    p.add_argument("--markdown", action="store_true")


def convergent_step(model, loss, x, y) -> Callable[[], None]:
    """One timed training step of a convergent model on ``(x, y)``: forward, ``loss``, backward
    (no input gradient) and an Adam(lr=1e-3) step (the per-step runners' convergent side)."""
    import convergent as cg

    opt = cg.optim.Adam(model.parameters(), lr=1e-3)
    grads = model.gradients()

    def step() -> None:
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward(), need_input_grad=False)
        opt.step(grads)

    return step
