"""The scikit-learn estimators through ONNX: convergent.onnx.export of a fitted MLPClassifier
/ MLPRegressor, and skl2onnx.to_onnx of a Pipeline(StandardScaler, estimator) with the
converter that importing convergent.onnx registers; onnxruntime gives predict and
predict_proba."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _onnx_helpers import assert_close, onnx, run_ort

pytest.importorskip("sklearn")
from convergent.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

# short fits: the models need not converge to be exported
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(rng, n_classes, labels=None):
    X = rng.standard_normal((120, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, 0, -2, 1]
    y = (X[:, 0] + X[:, 3] > 0).astype(int) + (n_classes > 2) * (X[:, 1] > 5)
    if labels is not None:
        y = np.asarray(labels)[y]
    return X, y


@pytest.mark.parametrize("labels", [None, ["cat", "dog", "owl"], [3, 7]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_export(rng, tmp_path, labels, dtype):
    n_classes = 2 if labels is None or len(labels) == 2 else 3
    X, y = _data(rng, n_classes, labels)
    est = MLPClassifier((12,), max_iter=30, random_state=0, dtype=dtype).fit(X, y)
    X = X.astype(dtype)
    proto = cg.onnx.export(est, tmp_path / "clf.onnx")
    onnx.checker.check_model(proto, full_check=True)
    label, proba = run_ort(proto, {"X": X})
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    np.testing.assert_array_equal(label, est.predict(X))
    assert_close(proba, est.predict_proba(X))


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_export(rng, tmp_path, n_outputs):
    X, _ = _data(rng, 2)
    y = X[:, :n_outputs] * 2 + 1
    est = MLPRegressor((10,), max_iter=30, random_state=0).fit(
        X, y.ravel() if n_outputs == 1 else y
    )
    X = X.astype(np.float32)
    (pred,) = run_ort(cg.onnx.export(est, tmp_path / "reg.onnx"), {"X": X})
    assert pred.shape == (len(X), n_outputs)
    assert_close(pred, est.predict(X).reshape(len(X), n_outputs))


def test_multilabel_export(rng, tmp_path):
    X, _ = _data(rng, 2)
    Y = np.stack([X[:, 0] > 0, X[:, 3] > -2, X[:, 1] > 5], axis=1).astype(int)
    est = MLPClassifier((8,), max_iter=30, random_state=0).fit(X, Y)
    X = X.astype(np.float32)
    label, proba = run_ort(cg.onnx.export(est, tmp_path / "ml.onnx"), {"X": X})
    np.testing.assert_array_equal(label, est.predict(X))
    assert_close(proba, est.predict_proba(X))


def test_unfitted_estimator(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        cg.onnx.export(MLPClassifier(), tmp_path / "x.onnx")


@pytest.mark.parametrize("labels", [None, ["cat", "dog", "owl"]])
def test_skl2onnx_pipeline(rng, labels):
    skl2onnx = pytest.importorskip("skl2onnx")
    import convergent.onnx  # noqa: F401  (registers the converters)

    X, y = _data(rng, 3, labels)
    X = X.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=40, random_state=1))
    pipe.fit(X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    onnx.checker.check_model(proto, full_check=True)
    label, proba = run_ort(proto, {proto.graph.input[0].name: X})
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert_close(proba, pipe.predict_proba(X))
    # the default: probabilities as a list of {class: probability} (ZipMap), as sklearn's MLP
    label, probs = run_ort(skl2onnx.to_onnx(pipe, X[:1]), {proto.graph.input[0].name: X[:3]})
    assert list(probs[0]) == list(pipe.classes_)
    # nocl: the label is the index of the class
    nocl = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False, "nocl": True})
    label, _ = run_ort(nocl, {proto.graph.input[0].name: X})
    np.testing.assert_array_equal(pipe.classes_[label], pipe.predict(X))


def test_skl2onnx_regressor_pipeline(rng):
    skl2onnx = pytest.importorskip("skl2onnx")
    import convergent.onnx  # noqa: F401

    X, _ = _data(rng, 2)
    X = X.astype(np.float32)
    y = X[:, 0] * 3 - X[:, 1]
    pipe = make_pipeline(StandardScaler(), MLPRegressor((10,), max_iter=40, random_state=0))
    pipe.fit(X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1])
    (pred,) = run_ort(proto, {proto.graph.input[0].name: X})
    assert_close(pred.ravel(), pipe.predict(X))


def test_estimator_with_batch_norm_and_dropout(rng, tmp_path):
    X, y = _data(rng, 3)
    est = MLPClassifier((12, 8), batch_norm=True, dropout=0.2, max_iter=20, random_state=0)
    est.fit(X, y)
    X = X.astype(np.float32)
    label, proba = run_ort(cg.onnx.export(est, tmp_path / "bn.onnx"), {"X": X})
    np.testing.assert_array_equal(label, est.predict(X))
    assert_close(proba, est.predict_proba(X))
