"""2-D convolution over NHWC images: an implicit GEMM with the activation fused into its store."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from ..reference.conv import same_padding
from .base import Layer
from .dense import _ACTIVATIONS, _nonneg
from .init import initialize

__all__ = ["Conv2D", "check_images", "pair"]


def pair(v: Any, name: str, minimum: int) -> tuple[int, int]:
    """``(v, v)`` for an int, the pair itself for a pair of ints; each ``>= minimum``."""
    items = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    if (
        not isinstance(items, (tuple, list))
        or len(items) != 2
        or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in items)
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
    if any(i < minimum for i in items):
        raise ValueError(f"{name} must be >= {minimum}, got {v!r}")
    return int(items[0]), int(items[1])


def check_images(x: Any, dtype: np.dtype | None, channels: int | None, name: str = "x") -> None:
    """TypeError/ValueError naming ``x`` unless it is a 4-D (n, h, w, c) array of ``dtype``
    (float32/float64 when None) with ``channels`` channels (any when None)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype}; the layer is {dtype} (no conversion)")
    if dtype is None and x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (batch, height, width, channels), got {x.shape}")
    if channels is not None and x.shape[3] != channels:
        raise ValueError(f"{name} has {x.shape[3]} channels (shape {x.shape}); expected {channels}")


class Conv2D(Layer):
    r"""2-D convolution (cross-correlation, as torch.nn.Conv2d) over NHWC images.

    ``x`` is ``(batch, height, width, in_channels)``; ``weight`` is ``(kh, kw, in_channels //
    groups, out_channels)`` (torch's ``weight.permute(2, 3, 1, 0)``), ``bias`` ``(out_channels,)``
    zero-initialized. ``y = act(conv(x, weight) + bias)`` with the formula of
    :func:`convergent.reference.conv2d_forward`.

    ``kernel_size``, ``stride`` and ``dilation``: an int or a (y, x) pair. ``padding``: an int or
    a pair (zeros on both sides), ``"valid"`` (none) or ``"same"`` (Keras's: ``ceil(size /
    stride)`` outputs, the odd pixel padded at the bottom/right; any stride). ``groups`` splits the
    channels into independent convolutions (``groups == in_channels``: depthwise).

    The forward pass is an implicit GEMM (patches packed straight into the GEMM's panels; a 1x1
    stride-1 convolution is the plain GEMM on x) with bias and activation fused into its store.
    The backward pass fuses the activation derivative into the bias-gradient pass, then
    ``dW = patches^T @ dy'`` and ``dx = col2im(dy' @ W^T)`` (skipped with
    ``backward(dout, need_input_grad=False)``), deterministic at any thread count.

    Regularization as :class:`Dense` (the activity term summed over the output and divided by
    the batch size). ``init`` names draw the weight with ``fan_in = kh*kw*in_channels/groups``
    and ``fan_out = kh*kw*out_channels`` (torch's and Keras's fans); a callable gets the weight's
    shape. Buffers: as :class:`Dense` (training outputs and ``dx`` are reused arrays).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        *,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        activation: str | None = None,
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
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups ({groups}) must divide in_channels ({in_channels}) and "
                f"out_channels ({out_channels})"
            )
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"padding must be an int, a pair, 'valid' or 'same'; got {padding!r}"
                )
            self.padding: Any = padding
        else:
            self.padding = pair(padding, "padding", 0)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups = int(groups)
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
        shape = self.weight_shape
        self._params["weight"] = np.zeros(shape, dt)
        self._grads["weight"] = np.zeros(shape, dt)
        if self.use_bias:
            self._params["bias"] = np.zeros(self.out_channels, dt)
            self._grads["bias"] = np.zeros(self.out_channels, dt)
        self.reset_parameters(np.random.default_rng(seed))
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self._pads: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._out: np.ndarray | None = None
        self._dyp: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._activity = 0.0
        self.backward_weight_penalty = 0.0

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        kh, kw = self.kernel_size
        return (kh, kw, self.in_channels // self.groups, self.out_channels)

    @property
    def weight(self) -> np.ndarray:
        return self._params["weight"]

    @property
    def bias(self) -> np.ndarray | None:
        return self._params.get("bias")

    def reset_parameters(self, rng: np.random.Generator) -> None:
        kh, kw, cin, cout = shape = self.weight_shape
        if isinstance(self.init, str):  # drawn in the (in, out, *field) layout of the fans
            w = initialize(self.init, (cin, cout, kh, kw), rng, self.dtype).transpose(2, 3, 0, 1)
        else:
            w = np.asarray(initialize(self.init, shape, rng, self.dtype))
        self._params["weight"][...] = w
        if self.use_bias:
            self._params["bias"][...] = 0

    def paddings(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` zero padding for an input of this size."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
            return (*same_padding(height, kh, sh, dh), *same_padding(width, kw, sw, dw))
        ph, pw = self.padding
        return (ph, ph, pw, pw)

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, h, w, _ = x_shape
        t, b, lf, r = self.paddings(h, w)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        oh = (h + t + b - dh * (kh - 1) - 1) // sh + 1
        ow = (w + lf + r - dw * (kw - 1) - 1) // sw + 1
        if h + t + b < dh * (kh - 1) + 1 or w + lf + r < dw * (kw - 1) + 1:
            raise ValueError(
                f"x has shape {x_shape}: the kernel {self.kernel_size} (dilation "
                f"{self.dilation}) is larger than the padded input"
            )
        return (n, oh, ow, self.out_channels)

    def _kw(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self._pads, "dilation": self.dilation,
                "groups": self.groups}  # fmt: skip

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, self.dtype, self.in_channels)
        shape = self.output_shape(x.shape)
        if not training:
            out = np.empty(shape, self.dtype)
        else:
            if self._out is None or self._out.shape != shape:
                self._out = np.empty(shape, self.dtype)
            out = self._out
        self._pads = self.paddings(x.shape[1], x.shape[2])
        _core.conv2d_forward(x, self.weight, self.bias, out, activation=self.activation,
                             negative_slope=self.negative_slope, **self._kw())  # fmt: skip
        self._x, self._y = x, out
        self._activity = 0.0
        if self.activity_l1 or self.activity_l2:
            s1, s2 = _core.abs_sq_sums(out)
            self._activity = (self.activity_l1 * s1 + self.activity_l2 * s2) / max(shape[0], 1)
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if self._x is None or self._y is None:
            raise RuntimeError("backward called before forward")
        x, y = self._x, self._y
        if self._dyp is None or self._dyp.shape != y.shape:
            self._dyp = np.empty(y.shape, self.dtype)
        dx = None
        if need_input_grad:
            if self._dx is None or self._dx.shape != x.shape:
                self._dx = np.empty(x.shape, self.dtype)
            dx = self._dx
        self.backward_weight_penalty = _core.conv2d_backward(
            x, self.weight, y, dout, self._dyp, self._grads["weight"], self._grads.get("bias"),
            dx, activation=self.activation, negative_slope=self.negative_slope,
            activity_l1=self.activity_l1, activity_l2=self.activity_l2,
            weight_l1=self.weight_l1, weight_l2=self.weight_l2, **self._kw(),
        )  # fmt: skip
        return dx

    def penalty(self) -> float:
        total = self._activity if self._y is not None else 0.0
        if self.weight_l1 or self.weight_l2:
            s1, s2 = _core.abs_sq_sums(self.weight)
            total += self.weight_l1 * s1 + self.weight_l2 * s2
        return float(total)

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
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
