"""Export to and import from ONNX (the ``onnx`` extra: ``pip install convergent[onnx]``).

``export(model, path, input_shape=None, opset=17)`` writes a ``Sequential`` (or a fitted
``convergent.sklearn`` estimator) with standard ONNX operators; ``load(path)`` builds a
``Sequential`` from an ONNX graph of those operators (ours, or e.g. torch's). Importing this
module registers convergent's estimators with skl2onnx when skl2onnx is installed, so that
``skl2onnx.to_onnx(pipeline, X)`` converts pipelines that end in one of them.
"""

from __future__ import annotations

try:
    import onnx  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "convergent.onnx needs the onnx package: pip install convergent[onnx]"
    ) from exc

from ._export import build_model, export
from ._load import load
from ._sklearn import register_skl2onnx

__all__ = ["build_model", "export", "load", "register_skl2onnx"]

register_skl2onnx()
