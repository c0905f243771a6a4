"""Losses vs the reference, vs finite differences, vs torch; dtypes, edge cases, bad input.

Tolerances: float64 rtol 1e-12 against the reference (same math, different formulation);
float32 values rtol 1e-5 and gradients rtol 1e-5/atol 1e-7 against the float64 reference.
"""

import convergent as cg
import numpy as np
import pytest
from convergent.nn import BinaryCrossEntropy, MSELoss, SoftmaxCrossEntropy
from convergent.reference import losses as ref
from hypothesis import given, settings
from hypothesis import strategies as st

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-7}, np.float64: {"rtol": 1e-12, "atol": 1e-15}}


def _data(kind, n, k, dtype, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    pred = (scale * rng.standard_normal((n, k))).astype(dtype)
    if kind == "sce":
        target = rng.integers(0, k, size=n)
    elif kind == "bce":
        target = rng.random((n, k))
        target[: n // 2] = np.round(target[: n // 2])
    else:
        target = rng.standard_normal((n, k))
    return pred, target


def _pair(kind, smoothing=0.0):
    if kind == "mse":
        return MSELoss(), ref.mse
    if kind == "bce":
        return BinaryCrossEntropy(), ref.binary_cross_entropy
    return SoftmaxCrossEntropy(smoothing), lambda p, t: ref.softmax_cross_entropy(p, t, smoothing)


CASES = [("mse", 0.0), ("bce", 0.0), ("sce", 0.0), ("sce", 0.1)]


@pytest.mark.parametrize("kind,smoothing", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,k", [(1, 1), (1, 5), (7, 3), (33, 17), (64, 10)])
def test_matches_reference(kind, smoothing, dtype, n, k):
    loss, reference = _pair(kind, smoothing)
    pred, target = _data(kind, n, k, dtype)
    value = loss.forward(pred, target)
    grad = loss.backward()
    assert isinstance(value, float)
    assert grad.dtype == dtype and grad.shape == pred.shape
    rvalue, rgrad = reference(pred.astype(np.float64), target)
    assert value == pytest.approx(rvalue, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])
    np.testing.assert_allclose(grad, rgrad, **TOL[dtype])


@pytest.mark.parametrize("kind,smoothing", CASES)
def test_reference_and_layer_vs_finite_differences(kind, smoothing):
    loss, reference = _pair(kind, smoothing)
    pred, target = _data(kind, 4, 3, np.float64, seed=3, scale=1.0)
    loss.forward(pred, target)
    grad = loss.backward()
    eps = 1e-6
    num = np.empty_like(pred)
    for i in np.ndindex(pred.shape):
        p = pred.copy()
        p[i] += eps
        up = reference(p, target)[0]
        p[i] -= 2 * eps
        num[i] = (up - reference(p, target)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(reference(pred, target)[1], num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind,smoothing", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch(kind, smoothing, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    loss, _ = _pair(kind, smoothing)
    pred, target = _data(kind, 9, 4, dtype, seed=5)
    value = loss.forward(pred, target)
    grad = loss.backward()
    tp = torch.tensor(pred.astype(np.float64), requires_grad=True)
    if kind == "mse":
        tv = F.mse_loss(tp, torch.tensor(target))
    elif kind == "bce":
        tv = F.binary_cross_entropy_with_logits(tp, torch.tensor(target))
    else:
        tv = F.cross_entropy(tp, torch.tensor(target), label_smoothing=smoothing)
    tv.backward()
    assert value == pytest.approx(tv.item(), rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])
    np.testing.assert_allclose(grad, tp.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_no_overflow(dtype):
    big = np.array([[1e30, -1e30, 0.0], [-1e4, 1e4, 3.0], [50.0, 50.0, -50.0]], dtype=dtype)
    sce = SoftmaxCrossEntropy()
    labels = np.array([0, 1, 2])
    value = sce.forward(big, labels)
    grad = sce.backward()
    # rows 0 and 1 are confident and right (loss 0); row 2: -log(e^-100 / 2) = 100 + log 2
    assert value == pytest.approx((100 + np.log(2)) / 3, rel=1e-5)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[:2], 0.0, atol=1e-30)
    np.testing.assert_allclose(grad[2], [1 / 6, 1 / 6, -1 / 3], rtol=1e-5)

    bce = BinaryCrossEntropy()
    x = np.array([1e30, -1e30, 1e4, -1e4, 800.0, -800.0], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    value = bce.forward(x, t)
    grad = bce.backward()
    assert value == pytest.approx((1e4 + 1e4 + 800.0) / 6, rel=1e-6)
    np.testing.assert_allclose(grad, np.array([0, 0, 1, -1, 0, -1]) / 6, atol=1e-12)

    smooth = SoftmaxCrossEntropy(0.2)
    assert np.isfinite(smooth.forward(big[1:], labels[1:]))
    assert np.all(np.isfinite(smooth.backward()))


def test_bce_soft_targets_minimum():
    # the loss is minimal (gradient zero) where sigmoid(x) = t
    t = np.array([0.2, 0.5, 0.9])
    x = np.log(t / (1 - t))
    bce = BinaryCrossEntropy()
    bce.forward(x, t)
    np.testing.assert_allclose(bce.backward(), 0.0, atol=1e-16)


def test_backward_returns_new_arrays_and_keeps_inputs():
    pred, target = _data("sce", 5, 3, np.float64)
    before = pred.copy()
    loss = SoftmaxCrossEntropy()
    loss.forward(pred, target)
    g1 = loss.backward()
    g2 = loss.backward()
    assert g1 is not g2 and np.array_equal(g1, g2)
    assert np.array_equal(pred, before)


@pytest.mark.parametrize("loss", [MSELoss(), SoftmaxCrossEntropy(), BinaryCrossEntropy()])
def test_backward_before_forward(loss):
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()


def test_predict_and_accuracy():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    sce = SoftmaxCrossEntropy()
    assert sce.is_classification
    assert np.array_equal(sce.predict(logits), [0, 1, 2, 0])
    assert sce.accuracy(logits, np.array([0, 1, 0, 0])) == 0.75

    bce = BinaryCrossEntropy()
    assert bce.is_classification
    x = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    assert np.array_equal(bce.predict(x), [[1], [0], [1], [0]])
    assert bce.accuracy(x, np.array([[1.0], [0.0], [0.0], [0.2]])) == 0.75

    mse = MSELoss()
    assert not mse.is_classification
    with pytest.raises(TypeError, match="not a classification loss"):
        mse.predict(x)
    with pytest.raises(TypeError, match="not a classification loss"):
        mse.accuracy(x, x)


def test_bad_inputs():
    sce = SoftmaxCrossEntropy()
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match="target.*\\[0, 4\\).*found 4"):
        sce.forward(logits, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="target.*found -1"):
        sce.forward(logits, np.array([0, -1, 2]))
    with pytest.raises(TypeError, match="target.*integer"):
        sce.forward(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="target.*shape"):
        sce.forward(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="target.*shape"):
        sce.forward(logits, np.array([[0], [1], [2]]))
    with pytest.raises(ValueError, match="pred.*2-D"):
        sce.forward(np.zeros(4), np.array([0]))
    with pytest.raises(TypeError, match="pred"):
        sce.forward(logits.astype(np.int64), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="pred"):
        sce.forward(logits.tolist(), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="pred.*empty"):
        sce.forward(np.zeros((0, 4)), np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxCrossEntropy(1.5)
    with pytest.raises(TypeError, match="label_smoothing"):
        SoftmaxCrossEntropy("0.1")

    mse = MSELoss()
    with pytest.raises(ValueError, match="target.*reshape"):
        mse.forward(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(TypeError, match="target"):
        mse.forward(np.zeros((3, 1)), np.array([["a"], ["b"], ["c"]]))

    bce = BinaryCrossEntropy()
    with pytest.raises(ValueError, match="target.*\\[0, 1\\]"):
        bce.forward(np.zeros(3), np.array([0.0, 1.5, 0.0]))
    with pytest.raises(ValueError, match="target.*\\[0, 1\\]"):
        bce.forward(np.zeros(3), np.array([0.0, np.nan, 0.0]))


def test_failed_forward_keeps_previous_state():
    sce = SoftmaxCrossEntropy()
    pred, target = _data("sce", 4, 3, np.float64)
    sce.forward(pred, target)
    g = sce.backward()
    with pytest.raises(ValueError):
        sce.forward(pred, np.array([0, 1, 2, 9]))
    assert np.array_equal(sce.backward(), g)


def test_exports_and_repr():
    assert cg.nn.SoftmaxCrossEntropy is SoftmaxCrossEntropy
    assert repr(SoftmaxCrossEntropy(0.1)) == "SoftmaxCrossEntropy(label_smoothing=0.1)"
    assert repr(MSELoss()) == "MSELoss()"
    assert SoftmaxCrossEntropy(**SoftmaxCrossEntropy(0.2).get_config()).label_smoothing == 0.2


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 9),
    k=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
    smoothing=st.sampled_from([0.0, 0.05, 1.0]),
    scale=st.sampled_from([0.1, 3.0, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_reference(n, k, dtype, smoothing, scale, seed):
    for kind in ("mse", "bce", "sce"):
        loss, reference = _pair(kind, smoothing)
        pred, target = _data(kind, n, k, dtype, seed=seed, scale=scale)
        value = loss.forward(pred, target)
        rvalue, rgrad = reference(pred.astype(np.float64), target)
        assert value == pytest.approx(rvalue, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])
        np.testing.assert_allclose(loss.backward(), rgrad, **TOL[dtype])
