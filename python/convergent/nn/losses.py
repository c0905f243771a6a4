"""Losses with mean reduction: ``value = loss.forward(pred, target)``, ``dpred = loss.backward()``.

``forward`` returns a Python float (reduced in float64) and saves what ``backward`` needs;
``backward()`` returns a new array ``d value / d pred`` of ``pred``'s shape and dtype.

Accuracy: every loss has a boolean ``is_classification``. For classification losses
(``SoftmaxCrossEntropy``, ``BinaryCrossEntropy``) ``loss.predict(pred)`` turns model outputs into
labels comparable with the targets and ``loss.accuracy(pred, target)`` returns the fraction of
correct predictions; a training loop reports an "accuracy" metric only when
``loss.is_classification`` is true. ``MSELoss`` is a regression loss: its ``predict`` and
``accuracy`` raise ``TypeError``. ``SoftmaxCrossEntropy.forward`` also counts the rows whose argmax
is the target (``loss.batch_correct``) in the same C++ pass, so ``fit`` needs no second pass for
its accuracy metric; losses that do not count leave ``batch_correct`` None.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .activations import sigmoid

__all__ = ["BinaryCrossEntropy", "Loss", "MSELoss", "SoftmaxCrossEntropy"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_pred(pred: Any) -> None:
    if not isinstance(pred, np.ndarray):
        raise TypeError(f"pred must be a NumPy array, got {type(pred).__name__}")
    if pred.dtype not in _FLOATS:
        raise TypeError(f"pred must be float32 or float64, got {pred.dtype}")
    if pred.size == 0:
        raise ValueError(f"pred must not be empty, got shape {pred.shape}")


def _real_target(target: Any, pred: np.ndarray) -> np.ndarray:
    """``target`` as an array of ``pred``'s dtype and exact shape (read only, may be a copy)."""
    t = np.asarray(target)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"target must be a real-valued array, got dtype {t.dtype}")
    if t.shape != pred.shape:
        hint = ""
        if t.ndim == 1 and pred.shape == (t.shape[0], 1):
            hint = " (use target.reshape(-1, 1))"
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {t.shape}{hint}")
    return t.astype(pred.dtype, copy=False)


class Loss:
    """Base class. Subclasses set ``is_classification`` and implement ``forward``/``backward``."""

    #: True if ``predict``/``accuracy`` give class predictions (the "accuracy" metric applies).
    is_classification: bool = False
    #: Rows of the last ``forward`` whose prediction was right, when the loss counts them in
    #: ``forward`` (a training loop then skips ``accuracy``); None otherwise.
    batch_correct: int | None = None

    def forward(self, pred: np.ndarray, target: Any) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, pred: np.ndarray, target: Any) -> float:
        return self.forward(pred, target)

    def predict(self, pred: np.ndarray) -> np.ndarray:
        """Class labels predicted from model outputs (classification losses only)."""
        raise TypeError(
            f"{type(self).__name__} is not a classification loss: it has no class predictions "
            f"(check loss.is_classification)"
        )

    def accuracy(self, pred: np.ndarray, target: Any) -> float:
        """Fraction of rows whose predicted label equals the target (classification only)."""
        raise TypeError(
            f"{type(self).__name__} is not a classification loss: accuracy is undefined "
            f"(check loss.is_classification)"
        )

    def _saved(self, key: str) -> Any:
        value = getattr(self, key, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MSELoss(Loss):
    """Mean squared error over all elements: ``L = mean((pred - target)²)``,
    ``dpred = 2 (pred - target) / pred.size``. ``target`` must have ``pred``'s shape (no
    broadcasting). Regression loss: ``is_classification`` is False."""

    is_classification = False

    def forward(self, pred: np.ndarray, target: Any) -> float:
        _check_pred(pred)
        diff = np.subtract(pred, _real_target(target, pred))
        self._diff = diff
        return float(np.mean(np.square(diff), dtype=np.float64))

    def backward(self) -> np.ndarray:
        diff = self._saved("_diff")
        return diff * diff.dtype.type(2.0 / diff.size)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of the softmax of logits against integer class labels (torch
    ``F.cross_entropy`` with mean reduction).

    ``pred``: logits of shape (batch, classes), float32/float64; ``target``: integer labels of
    shape (batch,) in ``[0, classes)``. With ``log p = x - logsumexp(x)`` (stable: the row maximum
    is subtracted before ``exp``) and the smoothed target distribution
    ``q = (1 - s) onehot(target) + s / classes`` (``s = label_smoothing``, Szegedy et al. 2016):
    ``L = -mean_rows sum_k q_k log p_k``, ``dpred = (softmax(x) - q) / batch``.

    Classification loss: ``predict(pred)`` is ``argmax(pred, axis=1)``.
    """

    is_classification = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if isinstance(label_smoothing, bool) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"label_smoothing must be a float, got {type(label_smoothing).__name__}"
            )
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    @staticmethod
    def _labels(target: Any, pred: np.ndarray, check_range: bool = True) -> np.ndarray:
        """``target`` as C-contiguous int64 labels of shape (batch,); the range [0, classes) is
        checked here when ``check_range`` (else by the kernel, before it writes anything)."""
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(
                f"target must be integer class labels, got dtype {t.dtype} "
                f"(convert with target.astype(np.int64))"
            )
        if t.shape != (pred.shape[0],):
            raise ValueError(
                f"target must have shape ({pred.shape[0]},) for pred {pred.shape}, got {t.shape}"
            )
        if t.dtype.kind == "u" and t.size and int(t.max()) >= pred.shape[1]:
            raise ValueError(f"target labels must be in [0, {pred.shape[1]}), found {t.max()}")
        t = np.ascontiguousarray(t, dtype=np.int64)
        if check_range and t.size:
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= pred.shape[1]:
                bad = lo if lo < 0 else hi
                raise ValueError(f"target labels must be in [0, {pred.shape[1]}), found {bad}")
        return t

    @staticmethod
    def _check_logits(pred: Any) -> None:
        _check_pred(pred)
        if pred.ndim != 2:
            raise ValueError(f"pred must be 2-D logits (batch, classes), got shape {pred.shape}")

    def forward(self, pred: np.ndarray, target: Any) -> float:
        """The loss; also keeps the gradient for ``backward`` and sets ``batch_correct`` (rows
        whose argmax is the target). One fused pass in C++ (``_core.softmax_xent``)."""
        self._check_logits(pred)
        labels = self._labels(target, pred, check_range=False)
        x = np.ascontiguousarray(pred)
        d = np.empty(x.shape, x.dtype)
        value, correct = _core.softmax_xent(x, labels, d, self.label_smoothing)
        self._d, self.batch_correct = d, int(correct)
        return float(value)

    def backward(self) -> np.ndarray:
        return self._saved("_d").copy()

    def predict(self, pred: np.ndarray) -> np.ndarray:
        """Predicted class indices ``argmax(pred, axis=1)``, shape (batch,)."""
        self._check_logits(pred)
        return np.argmax(pred, axis=1)

    def accuracy(self, pred: np.ndarray, target: Any) -> float:
        """Fraction of rows with ``argmax(pred) == target``."""
        self._check_logits(pred)
        labels = self._labels(target, pred)
        return float(np.mean(self.predict(pred) == labels))

    def get_config(self) -> dict[str, Any]:
        return {"label_smoothing": self.label_smoothing}


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy from logits (torch ``BCEWithLogitsLoss``, mean reduction).

    ``pred``: logits ``x`` of any shape; ``target``: probabilities ``t`` in [0, 1] of the same
    shape. Per element, in the overflow-free form ``max(x, 0) - x t + log1p(exp(-|x|))``
    (= ``-t log sigmoid(x) - (1-t) log(1 - sigmoid(x))``); ``dpred = (sigmoid(x) - t) / size``.

    Classification loss: ``predict(pred)`` is ``(pred > 0)`` as int64 0/1 labels (probability
    above 1/2); ``accuracy`` compares them with ``target >= 0.5``.
    """

    is_classification = True

    def forward(self, pred: np.ndarray, target: Any) -> float:
        _check_pred(pred)
        t = _real_target(target, pred)
        if not np.all((t >= 0) & (t <= 1)):
            raise ValueError("target must hold probabilities in [0, 1]")
        e = np.exp(-np.abs(pred))
        per = np.maximum(pred, 0) - pred * t + np.log1p(e)
        value = float(np.mean(per, dtype=np.float64))
        d = sigmoid(pred, out=per)
        d -= t
        self._d = d
        return value

    def backward(self) -> np.ndarray:
        d = self._saved("_d")
        return d * d.dtype.type(1.0 / d.size)

    def predict(self, pred: np.ndarray) -> np.ndarray:
        """0/1 labels ``(pred > 0)`` of ``pred``'s shape (sigmoid(pred) > 1/2)."""
        _check_pred(pred)
        return (pred > 0).astype(np.int64)

    def accuracy(self, pred: np.ndarray, target: Any) -> float:
        """Fraction of elements with ``(pred > 0) == (target >= 0.5)``."""
        t = _real_target(target, pred)
        return float(np.mean(self.predict(pred) == (t >= 0.5)))
