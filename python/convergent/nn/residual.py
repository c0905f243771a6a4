"""Residual connection: y = x + block(x)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer
from .sequential import Sequential, _accepts_need_input_grad, build_layer, layer_spec

__all__ = ["Residual"]


class Residual(Layer):
    """``y = x + block(x)`` (He et al., 2016); ``dx = dout + block.backward(dout)``.

    ``block`` is a Layer, a list of layers (wrapped in ``Sequential(seed=None)``) or a layer spec.
    Its output must have the input's shape. The parameters, gradients and buffers are the block's.
    """

    def __init__(self, block: Any) -> None:
        super().__init__()
        if isinstance(block, (list, tuple)):
            block = Sequential(list(block), seed=None)
        self.block: Layer = build_layer(block)
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        out = self.block.forward(x, training)
        if out.shape != x.shape:
            raise ValueError(
                f"the residual block maps shape {x.shape} to {out.shape}; it must keep the shape"
            )
        if not training:
            return x + out
        y = self._y
        if y is None or y.shape != out.shape or y.dtype != out.dtype:
            y = self._y = np.empty_like(out)
        np.add(x, out, out=y)
        return y

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad and _accepts_need_input_grad(self.block):
            self.block.backward(dout, need_input_grad=False)
            return None
        return dout + self.block.backward(dout)

    def parameters(self) -> list[np.ndarray]:
        return self.block.parameters()

    def gradients(self) -> list[np.ndarray]:
        return self.block.gradients()

    def named_parameters(self) -> dict[str, np.ndarray]:
        return self.block.named_parameters()

    def buffers(self) -> dict[str, np.ndarray]:
        return self.block.buffers()

    def penalty(self) -> float:
        return self.block.penalty()

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self.block.reset_parameters(rng)

    def set_rng(self, rng: np.random.Generator) -> None:
        self.block.set_rng(rng)

    def get_config(self) -> dict[str, Any]:
        return {"block": layer_spec(self.block)}

    def __repr__(self) -> str:
        return f"Residual({self.block!r})"
