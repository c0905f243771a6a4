"""Plain-NumPy reference of the losses (mean reduction): each returns ``(value, dpred)``.

Written independently of ``convergent.nn.losses``: log-probabilities come from
``np.logaddexp`` instead of the subtract-the-maximum form used by the layers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["binary_cross_entropy", "mse", "softmax_cross_entropy"]


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
