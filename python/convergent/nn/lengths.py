"""Per-sample lengths of padded sequence batches, carried through models, ``fit`` and
``gradcheck``.

A batch of sequences of different lengths is stored padded to a common length ``T`` as a
``(batch, T, ...)`` array (time steps after a sample's length are padding, at the end), with an
int64 array ``lengths`` of shape ``(batch,)`` holding each sample's number of valid steps,
``1 <= lengths[i] <= T``. Layers that understand lengths declare the class attribute
``accepts_lengths = True`` and take ``forward(x, training=False, lengths=None)`` (the recurrent
layers): their outputs at padded steps are 0, their last-step output is each sample's last
valid step, and padded steps contribute nothing to any gradient. Other layers work position by
position (Dense on ``(batch, time, features)``) or do not look at time, and ignore lengths.

Where lengths come from:

- explicitly: ``model.forward(x, training, lengths=...)``, ``cg.fit(..., lengths=...)`` (sliced
  and shuffled with the rows of ``X``), ``cg.gradcheck(..., lengths=...)``;
- derived by a layer: ``Embedding(mask_zero=True)`` sets ``output_lengths`` after each forward
  (the number of tokens before the first 0); ``Sequential`` hands the lengths a layer derived to
  the later layers that accept them (they replace lengths given to ``forward``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["accepts_lengths", "check_lengths", "forward_with_lengths", "takes_tokens"]


def accepts_lengths(model: Any) -> bool:
    """Whether ``model.forward`` takes ``lengths=`` (the class attribute ``accepts_lengths``)."""
    return bool(getattr(model, "accepts_lengths", False))


def check_lengths(lengths: Any, batch: int, time: int | None = None, name: str = "lengths"):
    """``lengths`` as a C-contiguous int64 array of shape (batch,) with every value in
    ``[1, time]`` (``[1, inf)`` when time is None); TypeError/ValueError naming ``name``."""
    if not isinstance(lengths, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of integers, got {type(lengths).__name__}")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one per sample), got {lengths.shape}")
    if batch:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1:
            raise ValueError(f"{name} must be >= 1, found {lo}")
        if time is not None and hi > time:
            raise ValueError(f"{name} must be <= the sequence length {time}, found {hi}")
    return np.ascontiguousarray(lengths, dtype=np.int64)


def forward_with_lengths(model: Any, x: np.ndarray, training: bool, lengths: Any) -> np.ndarray:
    """``model.forward(x, training)``, with ``lengths=`` when lengths is not None (TypeError if
    the model does not accept lengths)."""
    if lengths is None:
        return model.forward(x, training)
    if not accepts_lengths(model):
        raise TypeError(
            f"{type(model).__name__} does not accept lengths (no accepts_lengths attribute); "
            "use a Sequential or a recurrent layer"
        )
    return model.forward(x, training, lengths=lengths)


def takes_tokens(model: Any) -> bool:
    """Whether the model's input is integer tokens (its first layer, through nested
    ``layers``, is an ``Embedding``): ``fit`` then keeps integer inputs as they are instead of
    converting them to the parameters' dtype."""
    from .embedding import Embedding

    while not isinstance(model, Embedding):
        layers = getattr(model, "layers", None)
        if not layers:
            return False
        model = layers[0]
    return True
