"""Recurrent layers: SimpleRNN (Elman), LSTM and GRU, batch first, with torch's semantics.

Inputs are ``(batch, steps, input_size)`` arrays. ``return_sequences=True`` returns every step's
output ``(batch, steps, dirs*hidden_size)``; otherwise the last valid step's ``(batch,
dirs*hidden_size)``, where the reverse direction contributes its state after reading step 0.

Weights are stored in the (in, out) orientation, gate blocks in torch's order (LSTM i, f, g, o;
GRU r, z, n; see :mod:`convergent.reference.rnn` for the formulas)::

    weight_ih (input_size, G*hidden)   weight_hh (hidden, G*hidden)   bias_ih, bias_hh (G*hidden,)

followed, when ``bidirectional``, by the same four of the reverse direction (``weight_ih_reverse``,
...). :meth:`load_torch_state_dict` copies the weights of a torch ``nn.RNN``/``nn.LSTM``/``nn.GRU``.

Variable lengths: ``forward(x, training, lengths=...)`` with ``lengths`` an integer array of shape
``(batch,)``, each in ``[1, steps]``. A row of length L runs steps 0..L-1 (the reverse direction
L-1..0); outputs at its padded steps are 0 and those steps affect no output, state or gradient
(their ``dx`` is 0), exactly as torch's ``pack_padded_sequence``. ``backward`` uses the lengths
of the last forward pass.

Initial states: ``forward(..., initial_state=h0)`` (``(h0, c0)`` for the LSTM), each
``(batch, dirs*hidden)`` with the forward direction's first, instead of zeros; ``backward`` then
fills :attr:`initial_state_grad`. The final states of the last forward pass are in
:attr:`final_state`.

The forward pass runs in C++: the input projections of all steps as one GEMM, per step one
recurrent GEMM and a fused gate kernel; backward through time fuses the gate derivatives and
accumulates the weight gradients as single GEMMs over all steps. The two directions run on two
threads when two are allowed; the results are the same bits for any thread count.

Buffers: in training mode the returned output and the ``dx`` of :meth:`backward` are arrays owned
by the layer, overwritten by the next call of the same shape (copy them to keep them). The input
``x`` is kept by reference for the backward pass: do not modify it in between.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .. import _core
from .base import Layer
from .init import initialize
from .lengths import check_lengths

__all__ = ["GRU", "LSTM", "SimpleRNN"]

_BASE = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _positive_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{name} must be >= 1, got {v}")
    return int(v)


def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor
        v = v.detach().cpu().numpy()
    return np.asarray(v)


class _Recurrent(Layer):
    """Common part of SimpleRNN, LSTM and GRU (see the module docstring)."""

    accepts_lengths: ClassVar[bool] = True
    _gates: ClassVar[int] = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        return_sequences: bool = False,
        bidirectional: bool = False,
        dtype: Any = np.float32,
        init: Any = "torch",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        self.dtype = dt
        self.return_sequences = bool(return_sequences)
        self.bidirectional = bool(bidirectional)
        self.init = init
        self.seed = seed
        gh = self._gates * self.hidden_size
        shapes = ((self.input_size, gh), (self.hidden_size, gh), (gh,), (gh,))
        for suffix in ("", "_reverse") if self.bidirectional else ("",):
            for name, shape in zip(_BASE, shapes):
                self._params[name + suffix] = np.zeros(shape, dt)
                self._grads[name + suffix] = np.zeros(shape, dt)
        self._ws = _core.RnnWorkspace()
        self._x: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self._hn: np.ndarray | None = None
        self._cn: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._has_h0 = False
        self._dh0: np.ndarray | None = None
        self._dc0: np.ndarray | None = None
        self.reset_parameters(np.random.default_rng(seed))

    def __getstate__(self) -> dict[str, Any]:
        # the compiled workspace and the last pass's buffers are not copied (copy.deepcopy)
        state = self.__dict__.copy()
        for key in ("_ws", "_x", "_out", "_hn", "_cn", "_dx", "_dh0", "_dc0"):
            state[key] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._ws = _core.RnnWorkspace()

    # ---- configuration ----------------------------------------------------------------------
    @property
    def _cell(self) -> str:
        raise NotImplementedError

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.directions * self.hidden_size

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """torch's default (``init="torch"``): every parameter from U(-k, k), k = 1/sqrt(hidden),
        drawn in parameter order. Any other initializer name of :mod:`convergent.nn.init` is
        applied to each weight matrix, with zero biases."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self._params.items():
            if self.init == "torch":
                p[...] = rng.uniform(-k, k, size=p.shape)
            elif name.startswith("bias"):
                p[...] = 0
            else:
                w = np.asarray(initialize(self.init, p.shape, rng, self.dtype))
                if w.shape != p.shape:
                    raise ValueError(f"initializer returned shape {w.shape}; expected {p.shape}")
                p[...] = w

    def get_config(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "return_sequences": self.return_sequences,
            "bidirectional": self.bidirectional,
            "dtype": self.dtype.name,
            "init": self.init,
            "seed": self.seed,
        }

    def load_torch_state_dict(self, state_dict: dict[str, Any], layer: int = 0) -> None:
        """Copies layer ``layer`` of a torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` state dict
        (``weight_ih_l{layer}`` ..., ``*_reverse`` when bidirectional), transposing the weights
        to the (in, out) orientation. Checks every shape before copying anything."""
        new = {}
        for name, p in self._params.items():
            base, rev = (
                (name[: -len("_reverse")], True) if name.endswith("_reverse") else (name, False)
            )
            key = f"{base}_l{layer}" + ("_reverse" if rev else "")
            if key not in state_dict:
                raise KeyError(f"state_dict has no {key!r}")
            v = _to_numpy(state_dict[key])
            if base.startswith("weight"):
                v = v.T
            if v.shape != p.shape:
                raise ValueError(
                    f"{key} has shape {v.shape[::-1] if base.startswith('weight') else v.shape}; "
                    f"the layer needs {p.shape[::-1] if base.startswith('weight') else p.shape}"
                )
            new[name] = v
        for name, v in new.items():
            self._params[name][...] = v

    # ---- computation ------------------------------------------------------------------------
    def _check_x(self, x: Any) -> None:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype}; the layer is {self.dtype} (no conversion)")
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x has shape {x.shape}; expected (batch, steps, {self.input_size})")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x has shape {x.shape}; batch and steps must be >= 1")

    def _check_initial_state(self, state: Any, batch: int) -> tuple[Any, Any]:
        if state is None:
            return None, None
        lstm = self._cell == "lstm"
        if lstm and not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError("initial_state of an LSTM must be a tuple (h0, c0)")
        h0, c0 = state if lstm else (state, None)
        for name, a in (("h0", h0), ("c0", c0)) if lstm else (("h0", h0),):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"initial_state {name} must be a numpy.ndarray")
            if a.dtype != self.dtype:
                raise TypeError(
                    f"initial_state {name} has dtype {a.dtype}; the layer is {self.dtype}"
                )
            if a.shape != (batch, self.output_size):
                raise ValueError(
                    f"initial_state {name} has shape {a.shape}; "
                    f"expected ({batch}, {self.output_size})"
                )
        return h0, c0

    def forward(
        self,
        x: np.ndarray,
        training: bool = False,
        lengths: np.ndarray | None = None,
        initial_state: Any = None,
    ) -> np.ndarray:
        """Runs the layer over x (batch, steps, input_size). ``initial_state``: None (zeros), or
        the initial states ``(batch, dirs*hidden)`` (forward direction first) as ``h0``, or
        ``(h0, c0)`` for the LSTM; their gradients are then in :attr:`initial_state_grad` after
        :meth:`backward`."""
        self._check_x(x)
        batch, steps, _ = x.shape
        lens = None if lengths is None else check_lengths(lengths, batch, steps)
        h0, c0 = self._check_initial_state(initial_state, batch)
        hshape = (batch, self.output_size)
        yshape = (batch, steps, self.output_size)
        reuse = training
        hn = self._hn if reuse and self._hn is not None and self._hn.shape == hshape else None
        hn = np.empty(hshape, self.dtype) if hn is None else hn
        cn = None
        if self._cell == "lstm":
            cn = self._cn if reuse and self._cn is not None and self._cn.shape == hshape else None
            cn = np.empty(hshape, self.dtype) if cn is None else cn
        y = None
        if self.return_sequences:
            y = self._out if reuse and self._out is not None and self._out.shape == yshape else None
            y = np.empty(yshape, self.dtype) if y is None else y
        _core.rnn_forward(self._ws, self._cell, x, lens, self.parameters(), y, hn, cn, h0, c0)
        self._x, self._hn, self._cn = x, hn, cn
        self._has_h0 = h0 is not None
        self._dh0 = self._dc0 = None
        if y is not None:
            self._out = y
        return y if y is not None else hn

    @property
    def final_state(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(h_n, c_n)`` of the last forward pass, each ``(batch, dirs*hidden)`` (the forward
        direction's state after each row's last step, then the reverse direction's after step
        0); ``c_n`` is None except for the LSTM."""
        if self._hn is None:
            raise RuntimeError("final_state read before forward")
        return self._hn, self._cn

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if self._x is None or not self._ws.has_forward:
            raise RuntimeError("backward called before forward")
        x = self._x
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"dout must be a numpy.ndarray, got {type(dout).__name__}")
        if dout.dtype != self.dtype:
            raise TypeError(f"dout has dtype {dout.dtype}; the layer is {self.dtype}")
        dout = np.ascontiguousarray(dout)
        dx = None
        if need_input_grad:
            if self._dx is None or self._dx.shape != x.shape:
                self._dx = np.empty(x.shape, self.dtype)
            dx = self._dx
        dh0 = dc0 = None
        if self._has_h0:
            dh0 = np.empty((x.shape[0], self.output_size), self.dtype)
            dc0 = np.empty_like(dh0) if self._cell == "lstm" else None
        _core.rnn_backward(self._ws, x, self.parameters(), dout, dx, self.gradients(), dh0, dc0)
        self._dh0, self._dc0 = dh0, dc0
        return dx

    @property
    def initial_state_grad(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(dh0, dc0)``: the gradients of the ``initial_state`` given to the last forward pass,
        set by :meth:`backward` (``dc0`` None except for the LSTM)."""
        if self._dh0 is None:
            raise RuntimeError(
                "no initial-state gradient: pass initial_state to forward, then backward"
            )
        return self._dh0, self._dc0


class SimpleRNN(_Recurrent):
    """Elman recurrent layer, ``h_t = act(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)`` with
    ``nonlinearity`` "tanh" (default) or "relu", as torch.nn.RNN (batch_first=True)."""

    def __init__(
        self, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh", **kwargs: Any
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, **kwargs)

    @property
    def _cell(self) -> str:
        return self.nonlinearity

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


class LSTM(_Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber 1997, forget gate of Gers et al.
    2000) as torch.nn.LSTM (batch_first=True): gates i, f, g, o."""

    _gates = 4

    @property
    def _cell(self) -> str:
        return "lstm"


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014) as torch.nn.GRU (batch_first=True): gates r, z, n,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h = (1 - z) * n + z * h_prev``."""

    _gates = 3

    @property
    def _cell(self) -> str:
        return "gru"
