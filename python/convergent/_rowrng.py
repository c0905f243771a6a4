"""Random draws per global row, for data-parallel training (``convergent.distributed``).

A stochastic layer (Dropout, RReLU, GaussianNoise) fills an array of the batch's shape from its
Generator in row-major order. Under ``fit(..., comm=...)`` each rank holds only rows
``[start, start + m)`` of a global batch of ``total`` rows; :class:`RowWindowGenerator` makes the
layer's draws for those rows the very numbers the one-process run draws for them, and leaves
the generator where the one-process run leaves it (after the whole global batch). So a 2-rank
run with dropout equals the 1-process run, and checkpoints hold the same generator positions.

How: with a PCG64/PCG64DXSM bit generator and uniform draws (``random``), the rows before and
after the window are skipped with ``advance`` (float64 values take one 64-bit output each;
float32 values take 32-bit halves, the spare half kept as NumPy keeps it). Any other draw or bit
generator draws the whole global batch and keeps the window's rows (the same numbers, at the
cost of the other ranks' draws). The layers themselves are unchanged: the wrapper is a
``numpy.random.Generator`` on the same bit generator, given to them with ``set_rng`` for the
duration of the fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RowWindow", "RowWindowGenerator", "install", "uninstall"]


class RowWindow:
    """The rows this rank holds of the current global batch (set by the fit loop each step)."""

    def __init__(self) -> None:
        self.total = 0  # rows of the global batch; 0: no window (draw as usual)
        self.start = 0

    def set(self, total: int, start: int) -> None:
        self.total, self.start = int(total), int(start)


_ADVANCEABLE = (np.random.PCG64, np.random.PCG64DXSM)


def _skip32(bg: Any, k: int) -> None:
    """Skips ``k`` 32-bit outputs of a PCG64 stream (NumPy serves them as the low then the high
    half of a 64-bit output, keeping the high half in ``uinteger``)."""
    if k <= 0:
        return
    st = bg.state
    if st["has_uint32"]:
        k -= 1
        st["has_uint32"] = 0
        bg.state = st
    bg.advance(k // 2)  # also drops any kept half (there is none now)
    if k % 2:
        v = int(bg.random_raw())
        st = bg.state
        st["has_uint32"], st["uinteger"] = 1, v >> 32
        bg.state = st


def _skip64(bg: Any, k: int) -> None:
    """Skips ``k`` 64-bit outputs; the kept 32-bit half (unused by float64 draws) is kept."""
    if k <= 0:
        return
    st = bg.state
    bg.advance(k)
    after = bg.state
    after["has_uint32"], after["uinteger"] = st["has_uint32"], st["uinteger"]
    bg.state = after


class RowWindowGenerator(np.random.Generator):
    """A Generator on the same bit generator as the layer's own, whose ``random`` and
    ``standard_normal`` fill ``out`` (rows of the local batch) with the numbers the global batch
    draws for the window's rows. Other methods draw as usual."""

    def __init__(self, bit_generator: Any, window: RowWindow) -> None:
        super().__init__(bit_generator)
        self._window = window

    def _rows(self, out: Any) -> tuple[int, int, int] | None:
        w = self._window
        if w.total == 0 or not isinstance(out, np.ndarray) or out.ndim == 0:
            return None
        m = out.shape[0]
        per_row = out.size // m if m else 0
        return w.start * per_row, m * per_row, (w.total - w.start - m) * per_row

    def _whole(self, draw: Any, out: np.ndarray, dtype: Any) -> np.ndarray:
        w = self._window
        full = draw((w.total,) + out.shape[1:], dtype=dtype)
        out[...] = full[w.start : w.start + out.shape[0]]
        return out

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        rows = self._rows(out)
        if rows is None:
            return super().random(size, dtype=dtype, out=out)
        before, _, after = rows
        bg = self.bit_generator
        if isinstance(bg, _ADVANCEABLE) and np.dtype(dtype) in (np.float32, np.float64):
            skip = _skip32 if np.dtype(dtype) == np.float32 else _skip64
            skip(bg, before)
            super().random(dtype=dtype, out=out)
            skip(bg, after)
            return out
        return self._whole(lambda s, dtype: super(RowWindowGenerator, self).random(s, dtype), out,
                           dtype)  # fmt: skip

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        if self._rows(out) is None:
            return super().standard_normal(size, dtype=dtype, out=out)
        return self._whole(
            lambda s, dtype: super(RowWindowGenerator, self).standard_normal(s, dtype), out, dtype
        )


def _leaves(layer: Any) -> list[Any]:
    """The leaf layers of a model (through Sequential.layers and Residual's block/shortcut)."""
    inner = getattr(layer, "layers", None)
    if isinstance(inner, list):
        return [leaf for sub in inner for leaf in _leaves(sub)]
    parts = getattr(layer, "_layers", None)
    if callable(parts):
        return [leaf for sub in parts() for leaf in _leaves(sub)]
    return [layer]


def install(model: Any, window: RowWindow) -> list[tuple[Any, Any]]:
    """Gives every stochastic leaf layer (one holding a Generator as ``_rng``) a
    RowWindowGenerator on its bit generator; returns what :func:`uninstall` restores."""
    swapped = []
    for layer in _leaves(model):
        rng = getattr(layer, "_rng", None)
        if isinstance(rng, np.random.Generator) and not isinstance(rng, RowWindowGenerator):
            layer.set_rng(RowWindowGenerator(rng.bit_generator, window))
            swapped.append((layer, rng))
    return swapped


def uninstall(swapped: list[tuple[Any, Any]]) -> None:
    for layer, rng in swapped:
        layer.set_rng(rng)
