"""Plain-NumPy reference of the embedding layer (Bengio et al., "A Neural Probabilistic Language
Model", JMLR 2003: each token index selects one row of a trainable table), and of the lengths
that ``Embedding(mask_zero=True)`` derives from zero-padded token sequences."""

from __future__ import annotations

import numpy as np

__all__ = ["embedding_backward", "embedding_forward", "mask_zero_lengths"]


def embedding_forward(weight, indices):
    """``out[..., :] = weight[indices[...], :]``: shape ``indices.shape + (dim,)``."""
    return weight[indices]


def embedding_backward(weight_shape, indices, dout, padding_idx=None):
    """Weight gradient of the lookup: ``dW[i] = sum_{p: indices[p] == i} dout[p]``, the
    positions added in increasing order starting from 0 (``np.add.at``), and ``dW[padding_idx]
    = 0`` (the padding row learns nothing, as torch's ``padding_idx``)."""
    dw = np.zeros(weight_shape, dout.dtype)
    flat = indices.reshape(-1)
    np.add.at(dw, flat, dout.reshape(flat.size, weight_shape[1]))
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw


def mask_zero_lengths(tokens):
    """Per-sample lengths of zero-padded token rows (batch, time): the number of tokens before
    the first 0 (time when there is none). A sample is valid only when its padding is trailing
    (no non-zero token after a 0) and it has at least one token; returns ``(lengths, valid)``."""
    tokens = np.asarray(tokens)
    nonzero = tokens != 0
    lengths = np.where(nonzero.all(axis=1), tokens.shape[1], np.argmin(nonzero, axis=1))
    valid = (nonzero.sum(axis=1) == lengths) & (lengths >= 1)
    return lengths.astype(np.int64), valid
