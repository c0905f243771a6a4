"""Residual connection: y = block(x) + x, or + shortcut(x) with a projection."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer
from .sequential import Sequential, _accepts_need_input_grad, build_layer, layer_spec

__all__ = ["Residual"]


class Residual(Layer):
    """``y = block(x) + shortcut(x)`` (He et al., 2016), ``shortcut`` the identity by default;
    ``dx = block.backward(dout) + shortcut.backward(dout)`` (``dout`` for the identity).

    ``block`` (and ``shortcut``, e.g. a 1x1 stride-2 Conv2D projection when the block changes
    the shape) is a Layer, a list of layers (wrapped in ``Sequential(seed=None)``) or a layer
    spec. Both outputs must have the same shape (without a shortcut, the input's). Parameters,
    gradients and buffers are the block's (same names) followed by the shortcut's (names
    prefixed ``shortcut.``).
    """

    def __init__(self, block: Any, shortcut: Any = None) -> None:
        super().__init__()
        self.block: Layer = _as_layer(block)
        self.shortcut: Layer | None = None if shortcut is None else _as_layer(shortcut)
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        out = self.block.forward(x, training)
        skip = x if self.shortcut is None else self.shortcut.forward(x, training)
        if out.shape != skip.shape:
            want = (
                "it must keep the shape"
                if self.shortcut is None
                else (f"the shortcut maps it to {skip.shape}; the shapes must match")
            )
            raise ValueError(f"the residual block maps shape {x.shape} to {out.shape}; {want}")
        if not training:
            return skip + out
        y = self._y
        if y is None or y.shape != out.shape or y.dtype != out.dtype:
            y = self._y = np.empty_like(out)
        np.add(skip, out, out=y)
        return y

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        sc = self.shortcut
        if (
            not need_input_grad
            and _accepts_need_input_grad(self.block)
            and (sc is None or _accepts_need_input_grad(sc))
        ):
            self.block.backward(dout, need_input_grad=False)
            if sc is not None:
                sc.backward(dout, need_input_grad=False)
            return None
        dblock = self.block.backward(dout)
        return dout + dblock if sc is None else sc.backward(dout) + dblock

    def _layers(self) -> list[Layer]:
        return [self.block] if self.shortcut is None else [self.block, self.shortcut]

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self._layers() for p in layer.parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [g for layer in self._layers() for g in layer.gradients()]

    def named_parameters(self) -> dict[str, np.ndarray]:
        out = self.block.named_parameters()
        if self.shortcut is not None:
            out.update({f"shortcut.{k}": v for k, v in self.shortcut.named_parameters().items()})
        return out

    def buffers(self) -> dict[str, np.ndarray]:
        out = self.block.buffers()
        if self.shortcut is not None:
            out.update({f"shortcut.{k}": v for k, v in self.shortcut.buffers().items()})
        return out

    def penalty(self) -> float:
        return float(sum(layer.penalty() for layer in self._layers()))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        for layer in self._layers():
            layer.reset_parameters(rng)

    def set_rng(self, rng: np.random.Generator) -> None:
        for layer in self._layers():
            layer.set_rng(rng)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"block": layer_spec(self.block)}
        if self.shortcut is not None:
            cfg["shortcut"] = layer_spec(self.shortcut)
        return cfg

    def __repr__(self) -> str:
        if self.shortcut is None:
            return f"Residual({self.block!r})"
        return f"Residual({self.block!r}, shortcut={self.shortcut!r})"


def _as_layer(block: Any) -> Layer:
    if isinstance(block, (list, tuple)):
        block = Sequential(list(block), seed=None)
    return build_layer(block)
