"""Fully connected layer with the activation fused into the GEMM."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .base import Layer
from .init import initialize

__all__ = ["Dense"]

_ACTIVATIONS = (None, "linear", "relu", "leaky_relu", "sigmoid", "tanh")


def _nonneg(x: float, name: str) -> float:
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


class Dense(Layer):
    r"""Fully connected layer ``y = act(x @ weight + bias)``.

    ``x`` is ``(batch, in_features)`` or ``(..., in_features)`` (the leading dimensions are
    flattened into rows, as torch.nn.Linear; the activity penalty then divides by the rows).

    ``weight`` has shape ``(in_features, out_features)`` (the transpose of torch.nn.Linear's),
    ``bias`` ``(out_features,)``, zero-initialized. The forward pass is one GEMM with bias and
    activation fused into its store; the backward pass fuses the activation derivative (taken
    from the saved output) into the bias-gradient pass, then ``dW = x.T @ dy'`` and
    ``dx = dy' @ W.T`` (the latter skipped with ``backward(dout, need_input_grad=False)``).

    Activations: None/"linear", "relu", "leaky_relu" (``negative_slope`` >= 0), "sigmoid",
    "tanh". Regularization (Keras semantics, added by :meth:`penalty` and to the gradients by
    :meth:`backward`)::

        weight_l1 * sum|W| + weight_l2 * sum(W**2)
        + (activity_l1 * sum|y| + activity_l2 * sum(y**2)) / batch

    The activity term is on the layer's output, summed over the batch and divided by the batch
    size, as tf.keras does ("make activity regularization strength batch-agnostic").

    Buffers: in training mode (``forward(x, training=True)``) the returned output, and the
    ``dx`` returned by :meth:`backward`, are arrays owned by the layer and overwritten by the
    next call with the same batch size (no allocation per step); copy them to keep them. In
    inference mode the output is a fresh array. The input ``x`` is kept (by reference) for the
    backward pass: do not modify it in between.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | None = None,
        *,
        bias: bool = True,
        init: Any = "glorot_uniform",
        weight_l1: float = 0.0,
        weight_l2: float = 0.0,
        activity_l1: float = 0.0,
        activity_l2: float = 0.0,
        negative_slope: float = 0.01,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = activation
        self.use_bias = bool(bias)
        self.init = init
        self.weight_l1 = _nonneg(weight_l1, "weight_l1")
        self.weight_l2 = _nonneg(weight_l2, "weight_l2")
        self.activity_l1 = _nonneg(activity_l1, "activity_l1")
        self.activity_l2 = _nonneg(activity_l2, "activity_l2")
        self.negative_slope = _nonneg(negative_slope, "negative_slope")
        self.dtype = dt
        self.seed = seed
        shape = (self.in_features, self.out_features)
        self._params["weight"] = np.zeros(shape, dt)
        self._grads["weight"] = np.zeros(shape, dt)
        if self.use_bias:
            self._params["bias"] = np.zeros(self.out_features, dt)
            self._grads["bias"] = np.zeros(self.out_features, dt)
        self.reset_parameters(np.random.default_rng(seed))
        self._x: np.ndarray | None = None
        self._lead: tuple[int, ...] = ()
        self._y: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self._dyp: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._activity = 0.0
        # weight_l1*sum|W| + weight_l2*sum W^2 of the weights the last backward differentiated
        # (computed in its penalty pass, in float64): the weight part of penalty() without
        # another pass over W while W is unchanged.
        self.backward_weight_penalty = 0.0

    @property
    def weight(self) -> np.ndarray:
        return self._params["weight"]

    @property
    def bias(self) -> np.ndarray | None:
        return self._params.get("bias")

    def reset_parameters(self, rng: np.random.Generator) -> None:
        shape = (self.in_features, self.out_features)
        w = np.asarray(initialize(self.init, shape, rng, self.dtype))
        if w.shape != shape:
            raise ValueError(f"initializer returned shape {w.shape}; expected {shape}")
        self._params["weight"][...] = w
        if self.use_bias:
            self._params["bias"][...] = 0

    def _check_x(self, x: Any) -> None:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype}; the layer is {self.dtype} (no conversion)")
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {x.shape}; expected (..., {self.in_features})")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._check_x(x)
        lead = x.shape[:-1]
        if x.ndim != 2:  # (..., in_features): the leading dimensions are rows, as torch Linear
            x = x.reshape(-1, self.in_features)
        self._lead = lead
        shape = (x.shape[0], self.out_features)
        if not training:
            out = np.empty(shape, self.dtype)
        else:
            if self._out is None or self._out.shape != shape:
                self._out = np.empty(shape, self.dtype)
            out = self._out
        _core.dense_forward(x, self.weight, self.bias, out, self.activation, self.negative_slope)
        self._x, self._y = x, out
        self._activity = 0.0
        if self.activity_l1 or self.activity_l2:
            s1, s2 = _core.abs_sq_sums(out)  # in float64, without a float64 copy
            self._activity = (self.activity_l1 * s1 + self.activity_l2 * s2) / max(shape[0], 1)
        return out if len(lead) == 1 else out.reshape(*lead, self.out_features)

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if self._x is None or self._y is None:
            raise RuntimeError("backward called before forward")
        x, y = self._x, self._y
        nd = len(self._lead) > 1
        if nd:
            dout = dout.reshape(y.shape)
        if self._dyp is None or self._dyp.shape != y.shape:
            self._dyp = np.empty(y.shape, self.dtype)
        dx = None
        if need_input_grad:
            if self._dx is None or self._dx.shape != x.shape:
                self._dx = np.empty(x.shape, self.dtype)
            dx = self._dx
        self.backward_weight_penalty = _core.dense_backward(
            x, self.weight, y, dout, self._dyp, self._grads["weight"],
            self._grads.get("bias"), dx,
            activation=self.activation, negative_slope=self.negative_slope,
            activity_l1=self.activity_l1, activity_l2=self.activity_l2,
            weight_l1=self.weight_l1, weight_l2=self.weight_l2,
        )  # fmt: skip
        return dx.reshape(*self._lead, self.in_features) if nd and dx is not None else dx

    def penalty(self) -> float:
        total = self._activity if self._y is not None else 0.0
        if self.weight_l1 or self.weight_l2:
            s1, s2 = _core.abs_sq_sums(self.weight)
            total += self.weight_l1 * s1 + self.weight_l2 * s2
        return float(total)

    def get_config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "activation": self.activation,
            "bias": self.use_bias,
            "init": self.init,
            "weight_l1": self.weight_l1,
            "weight_l2": self.weight_l2,
            "activity_l1": self.activity_l1,
            "activity_l2": self.activity_l2,
            "negative_slope": self.negative_slope,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }
