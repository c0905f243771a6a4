"""Progress display of :func:`convergent.fit`: a tqdm bar per epoch, or one line per epoch."""

from __future__ import annotations

import sys
import time

__all__ = ["_Progress"]


class _Progress:
    def __init__(self, verbose: int, epochs: int, steps: int) -> None:
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.bar = None
        self.tqdm = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None
        self.every = max(1, steps // 20)

    def begin(self, epoch: int) -> None:
        self.t0 = time.perf_counter()
        if self.tqdm is not None:
            self.bar = self.tqdm(
                total=self.steps,
                desc=f"Epoch {epoch + 1}/{self.epochs}",
                unit="batch",
                leave=True,
                file=sys.stdout,
            )

    def batch(self, i: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if i % self.every == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def end(self, epoch: int, logs: dict[str, float], note: str) -> None:
        text = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            dt = time.perf_counter() - self.t0
            print(f"Epoch {epoch + 1}/{self.epochs} - {dt:.2f}s - {text}", flush=True)
        if note and self.verbose:
            print(note, flush=True)
