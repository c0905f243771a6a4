"""Embedding: integer tokens to trainable vectors, with optional zero padding (mask_zero)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .base import Layer
from .init import initialize

__all__ = ["Embedding"]


class Embedding(Layer):
    r"""Lookup table ``out[..., :] = weight[x[...], :]`` (Bengio et al. 2003; torch.nn.Embedding,
    Keras Embedding).

    ``x``: integer tokens of shape ``(batch,)`` or ``(batch, time)``, each in
    ``[0, num_embeddings)`` (ValueError otherwise, nothing changed); output ``x.shape +
    (embedding_dim,)`` in the layer's dtype. ``weight`` is ``(num_embeddings, embedding_dim)``,
    drawn by ``init`` (default ``"uniform"``: U(-0.05, 0.05), Keras's default).

    Backward: ``dweight[i] = sum of dout at the positions holding token i`` (a deterministic
    scatter-add in C++: positions counting-sorted by token, each row summed in position order by
    one thread, so the same bits for any thread count and ISA). The tokens are not
    differentiable: :meth:`backward` returns None, so an Embedding is a model's first layer.

    ``mask_zero=True``: token 0 is padding. Its row is zero at initialization and gets no
    gradient (torch's ``padding_idx=0``), and each forward on ``(batch, time)`` tokens sets
    ``output_lengths`` to each sample's number of tokens before its first 0, which
    :class:`~convergent.nn.Sequential` hands to the later layers that accept lengths (the
    recurrent layers). Padding must be trailing: a sample with a non-zero token after a 0 (a
    zero in the middle, or left padding), or with no token at all (a 0 first), raises
    ValueError naming the sample. Token 0 then cannot stand for a real token: shift the
    vocabulary by one.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        mask_zero: bool = False,
        init: Any = "uniform",
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"mask_zero must be a bool, got {type(mask_zero).__name__}")
        if mask_zero and num_embeddings < 2:
            raise ValueError("mask_zero=True needs num_embeddings >= 2 (token 0 is padding)")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.mask_zero = bool(mask_zero)
        self.init, self.dtype, self.seed = init, dt, seed
        shape = (self.num_embeddings, self.embedding_dim)
        self._params["weight"] = np.zeros(shape, dt)
        self._grads["weight"] = np.zeros(shape, dt)
        self.reset_parameters(np.random.default_rng(seed))
        self._idx: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()
        #: Per-sample lengths derived by the last forward (mask_zero on (batch, time)), else None.
        self.output_lengths: np.ndarray | None = None

    @property
    def weight(self) -> np.ndarray:
        return self._params["weight"]

    def reset_parameters(self, rng: np.random.Generator) -> None:
        shape = (self.num_embeddings, self.embedding_dim)
        w = np.asarray(initialize(self.init, shape, rng, self.dtype))
        if w.shape != shape:
            raise ValueError(f"initializer returned shape {w.shape}; expected {shape}")
        self._params["weight"][...] = w
        if self.mask_zero:
            self._params["weight"][0] = 0

    def _tokens(self, x: Any) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray of integer tokens, got {type(x).__name__}")
        if x.dtype.kind not in "iu":
            raise TypeError(
                f"x must hold integer tokens, got dtype {x.dtype} (convert with x.astype(np.int64))"
            )
        if x.ndim not in (1, 2) or x.size == 0:
            raise ValueError(
                f"x must be a non-empty (batch,) or (batch, time) array, got {x.shape}"
            )
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= self.num_embeddings:
            bad = lo if lo < 0 else hi
            raise ValueError(f"x tokens must be in [0, {self.num_embeddings}), found {bad}")
        return np.ascontiguousarray(x, dtype=np.int64)

    def _derive_lengths(self, idx: np.ndarray) -> np.ndarray:
        nonzero = idx != 0
        first_zero = np.argmin(nonzero, axis=1)
        lengths = np.where(nonzero[np.arange(len(idx)), first_zero], idx.shape[1], first_zero)
        bad = np.flatnonzero((lengths == 0) | (np.count_nonzero(nonzero, axis=1) != lengths))
        if bad.size:
            i = int(bad[0])
            what = "no token (it starts with 0)" if lengths[i] == 0 else "a token after a 0"
            raise ValueError(
                f"x sample {i} has {what}; with mask_zero=True padding zeros must be trailing "
                "and every sample must hold at least one token"
            )
        return lengths.astype(np.int64)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        idx = self._tokens(x)
        lengths = self._derive_lengths(idx) if self.mask_zero and idx.ndim == 2 else None
        flat = idx.reshape(-1)
        out = np.empty((flat.size, self.embedding_dim), self.dtype)
        _core.embedding_forward(self.weight, flat, out)
        self._idx, self._shape, self.output_lengths = flat, idx.shape, lengths
        return out.reshape(*idx.shape, self.embedding_dim)

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> None:
        """Writes the weight gradient; returns None (integer tokens have no gradient)."""
        if self._idx is None:
            raise RuntimeError("backward called before forward")
        shape = (*self._shape, self.embedding_dim)
        if not isinstance(dout, np.ndarray) or dout.dtype != self.dtype:
            got = dout.dtype if isinstance(dout, np.ndarray) else type(dout).__name__
            raise TypeError(f"dout must be a {self.dtype} numpy.ndarray, got {got}")
        if dout.shape != shape:
            raise ValueError(f"dout has shape {dout.shape}; the output was {shape}")
        g = np.ascontiguousarray(dout).reshape(self._idx.size, self.embedding_dim)
        _core.embedding_backward(self._idx, g, self._grads["weight"], 0 if self.mask_zero else None)
        return None

    def get_config(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "mask_zero": self.mask_zero,
            "init": self.init,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }
