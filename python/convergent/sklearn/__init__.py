"""scikit-learn estimators on convergent's layers and optimizers: ``MLPClassifier`` and
``MLPRegressor``, drop-in replacements for ``sklearn.neural_network``'s (same parameters, defaults,
loss, stopping rules and fitted attributes), plus more optimizers, dropout and batch norm.

Needs scikit-learn (``pip install convergent[demo]`` or ``pip install scikit-learn``).
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "convergent.sklearn needs scikit-learn (>= 1.6): pip install scikit-learn"
    ) from exc

from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
