"""Plain-NumPy reference of the losses (mean reduction): each returns ``(value, dpred)``.

Written independently of ``convergent.nn.losses``: log-probabilities come from
``np.logaddexp`` instead of the subtract-the-maximum form used by the layers.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "binary_cross_entropy",
    "mse",
    "sequence_softmax_cross_entropy",
    "softmax_cross_entropy",
]


def mse(pred, target):
    """Mean squared error over all n elements.

    ``L = (1/n) sum (p - t)²``, ``dL/dp = 2 (p - t) / n``.
    """
    diff = pred - target
    return float(np.sum(diff * diff) / diff.size), 2.0 * diff / diff.size


def softmax_cross_entropy(logits, labels, label_smoothing=0.0):
    """Cross-entropy of softmax(logits) against integer labels, mean over the batch.

    ``log p_ik = x_ik - log sum_j exp(x_ij)``; ``q_i = (1 - s) onehot(labels_i) + s / K``
    (label smoothing s, Szegedy et al. 2016, torch ``F.cross_entropy`` convention);
    ``L = -(1/N) sum_i sum_k q_ik log p_ik``; ``dL/dx = (p - q) / N``.
    """
    n, k = logits.shape
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    q = np.full((n, k), label_smoothing / k)
    q[np.arange(n), labels] += 1.0 - label_smoothing
    loss = -np.sum(np.where(q > 0, q * logp, 0.0)) / n
    return float(loss), (np.exp(logp) - q) / n


def binary_cross_entropy(logits, target):
    """Binary cross-entropy from logits, mean over all n elements.

    ``log sigmoid(x) = -log(1 + exp(-x))``; ``L = -(1/n) sum t log sigmoid(x) + (1 - t)
    log sigmoid(-x)``; ``dL/dx = (sigmoid(x) - t) / n``.
    """
    log_sig = -np.logaddexp(0.0, -logits)
    log_sig_neg = -np.logaddexp(0.0, logits)
    loss = -np.sum(target * log_sig + (1.0 - target) * log_sig_neg) / logits.size
    return float(loss), (np.exp(log_sig) - target) / logits.size


def sequence_softmax_cross_entropy(logits, labels, ignore_index=None, label_smoothing=0.0):
    """Cross-entropy over the positions of sequence logits (..., K) with integer labels (...),
    averaged over the positions whose label is not ``ignore_index`` (torch ``CrossEntropyLoss``
    with ``ignore_index``, ``reduction="mean"``; with label smoothing the smoothed term is
    averaged over the same positions).

    With the c counted positions: ``L = (1/c) sum_{counted i} -sum_k q_ik log p_ik``;
    ``dL/dx_i = (p_i - q_i) / c`` on counted positions, 0 on ignored ones. When no position
    counts (c = 0) this returns ``L = 0`` and a zero gradient (torch gives NaN).
    """
    k = logits.shape[-1]
    x = logits.reshape(-1, k)
    t = np.asarray(labels).reshape(-1)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    grad = np.zeros_like(x)
    c = int(keep.sum())
    if c == 0:
        return 0.0, grad.reshape(logits.shape)
    value, g = softmax_cross_entropy(x[keep], t[keep], label_smoothing)
    grad[keep] = g
    return value, grad.reshape(logits.shape)
