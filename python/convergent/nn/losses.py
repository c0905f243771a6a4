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
    ``F.cross_entropy`` / ``CrossEntropyLoss`` with mean reduction).

    ``pred``: logits of shape (batch, classes), or (batch, time, classes) for sequences (any
    number of leading axes; the classes are the last axis), float32/float64; ``target``: integer
    labels of shape ``pred.shape[:-1]`` in ``[0, classes)``. With ``log p = x - logsumexp(x)``
    (stable: the row maximum is subtracted before ``exp``) and the smoothed target distribution
    ``q = (1 - s) onehot(target) + s / classes`` (``s = label_smoothing``, Szegedy et al. 2016):
    ``L = -mean_positions sum_k q_k log p_k``, ``dpred = (softmax(x) - q) / positions``.

    ``ignore_index`` (an int or None): positions whose label equals it (padding of a sequence
    batch) count for nothing: the mean is over the other positions (torch's ``ignore_index``)
    and their gradient is 0. Labels outside ``[0, classes)`` other than ``ignore_index`` raise
    ValueError before anything is computed. A batch in which every position is ignored has loss
    0 and a zero gradient (torch returns NaN there).

    Classification loss: ``predict(pred)`` is ``argmax(pred, axis=-1)``; ``accuracy`` is the
    fraction of counted positions predicted right. ``batch_correct`` (used by ``fit``) is the
    number of correct rows for 2-D logits without ignored labels; otherwise it is that fraction
    times the batch size, so that ``fit``'s accuracy is the batch-size-weighted mean of the
    batches' accuracies over their counted positions.
    """

    is_classification = True

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int | None = None) -> None:
        if isinstance(label_smoothing, bool) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"label_smoothing must be a float, got {type(label_smoothing).__name__}"
            )
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
        if ignore_index is not None and not -(2**63) < int(ignore_index) < 2**63:
            raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def _labels(self, target: Any, pred: np.ndarray, check_range: bool = True) -> np.ndarray:
        """``target`` as C-contiguous int64 labels of shape ``pred.shape[:-1]``; the range
        [0, classes) (or ``ignore_index``) is checked here when ``check_range`` (else by the
        kernel, before it writes anything)."""
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(
                f"target must be integer class labels, got dtype {t.dtype} "
                f"(convert with target.astype(np.int64))"
            )
        if t.shape != pred.shape[:-1]:
            raise ValueError(
                f"target must have shape {pred.shape[:-1]} for pred {pred.shape}, got {t.shape}"
            )
        k, ign = pred.shape[-1], self.ignore_index
        if t.dtype.kind == "u" and t.size and int(t.max()) >= k:
            bad = t[t >= k] if ign is None else t[(t >= k) & (t != max(ign, 0))]
            if bad.size:
                raise ValueError(f"target labels must be in [0, {k}), found {bad.max()}")
        t = np.ascontiguousarray(t, dtype=np.int64)
        if check_range and t.size:
            out = (t < 0) | (t >= k)
            if ign is not None:
                out &= t != ign
            if out.any():
                raise ValueError(f"target labels must be in [0, {k}), found {t[out][0]}")
        return t

    @staticmethod
    def _check_logits(pred: Any) -> None:
        _check_pred(pred)
        if pred.ndim < 2:
            raise ValueError(
                "pred must be 2-D logits (batch, classes) or 3-D (batch, time, classes), got "
                f"shape {pred.shape}"
            )

    def forward(self, pred: np.ndarray, target: Any) -> float:
        """The loss; also keeps the gradient for ``backward`` and sets ``batch_correct``. One
        fused pass in C++ (``_core.softmax_xent``)."""
        self._check_logits(pred)
        labels = self._labels(target, pred, check_range=False)
        k = pred.shape[-1]
        x = np.ascontiguousarray(pred).reshape(-1, k)
        flat = labels.reshape(-1)
        d = np.empty(x.shape, x.dtype)
        value, correct = _core.softmax_xent(x, flat, d, self.label_smoothing, self.ignore_index)
        counted = flat.size
        if self.ignore_index is not None:
            counted -= int(np.count_nonzero(flat == self.ignore_index))
        self._d = d.reshape(pred.shape)
        if pred.ndim == 2 and counted == flat.size:
            self.batch_correct = int(correct)
        else:
            self.batch_correct = int(correct) * pred.shape[0] / counted if counted else 0.0
        return float(value)

    def backward(self) -> np.ndarray:
        return self._saved("_d").copy()

    def predict(self, pred: np.ndarray) -> np.ndarray:
        """Predicted class indices ``argmax(pred, axis=-1)``, shape ``pred.shape[:-1]``."""
        self._check_logits(pred)
        return np.argmax(pred, axis=-1)

    def accuracy(self, pred: np.ndarray, target: Any) -> float:
        """Fraction of the counted positions (label not ``ignore_index``) with
        ``argmax(pred) == target`` (0.0 when none counts)."""
        self._check_logits(pred)
        labels = self._labels(target, pred)
        hit = self.predict(pred) == labels
        if self.ignore_index is None:
            return float(np.mean(hit))
        keep = labels != self.ignore_index
        return float(np.count_nonzero(hit & keep) / max(int(np.count_nonzero(keep)), 1))

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"label_smoothing": self.label_smoothing}
        if self.ignore_index is not None:
            cfg["ignore_index"] = self.ignore_index
        return cfg


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
