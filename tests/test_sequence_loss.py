"""SoftmaxCrossEntropy over (batch, time, classes) logits with (batch, time) labels and
ignore_index (the C++ kernel against the reference and torch 2.13.0's CrossEntropyLoss), MSE on
sequences, accuracy over counted positions, and bad labels that raise and write nothing.

Tolerances: float64 loss rtol 1e-12 and gradient atol 1e-12 / counted; float32 loss rtol 1e-5
and gradient atol 1e-6 / counted (the kernel's float32 exp against the float64 reference)."""

import os
import subprocess
import sys

import convergent as cg
import numpy as np
import pytest
from convergent import _core
from convergent._fused import FusedLoop
from convergent.reference import losses as ref

TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-12)}
KS = list(range(1, 34)) + [100]


def _case(rng, b, t, k, dtype, ignore=-100, frac=0.3):
    x = (3.0 * rng.standard_normal((b, t, k))).astype(dtype)
    y = rng.integers(0, k, (b, t))
    y[rng.random((b, t)) < frac] = ignore
    return x, y


def _check(loss, x, y):
    value = loss.forward(x, y)
    d = loss.backward()
    rv, rd = ref.sequence_softmax_cross_entropy(
        x.astype(np.float64), y, loss.ignore_index, loss.label_smoothing
    )
    rtol, gtol = TOL[x.dtype.type]
    counted = max(int(np.count_nonzero(y != loss.ignore_index)), 1)
    assert value == pytest.approx(rv, rel=rtol, abs=1e-300)
    assert d.shape == x.shape and d.dtype == x.dtype
    np.testing.assert_allclose(d, rd, rtol=0, atol=gtol / counted)
    return value, d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sequence_xent_matches_reference(isa, dtype, smoothing, rng):
    for ignore in (-100, 0):
        loss = cg.nn.SoftmaxCrossEntropy(smoothing, ignore_index=ignore)
        for k in KS:
            if ignore >= k:
                continue
            _check(loss, *_case(rng, int(rng.integers(1, 5)), int(rng.integers(1, 9)), k, dtype,
                                ignore))  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_bit_identical(isa, threads, dtype, rng):
    x, y = _case(rng, 40, 30, 7, dtype)  # 1200 positions: several 256-row blocks
    loss = cg.nn.SoftmaxCrossEntropy(ignore_index=-100)
    threads(1)
    v1, d1 = _check(loss, x, y)
    threads(2)
    v2, d2 = _check(loss, x, y)
    assert v1 == v2 and np.array_equal(d1, d2)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_matches_torch(smoothing):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, y = _case(rng, 5, 11, 6, np.float64)
    for ignore in (-100, 2):
        y2 = np.where(y == -100, ignore, y)
        loss = cg.nn.SoftmaxCrossEntropy(smoothing, ignore_index=ignore)
        value = loss.forward(x, y2)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        crit = torch.nn.CrossEntropyLoss(ignore_index=ignore, label_smoothing=smoothing)
        tv = crit(tx.reshape(-1, 6), torch.from_numpy(y2).reshape(-1))
        tv.backward()
        assert value == pytest.approx(tv.item(), rel=1e-12)
        np.testing.assert_allclose(loss.backward(), tx.grad.numpy(), rtol=0, atol=1e-15)


def test_2d_without_ignore_unchanged_and_2d_with_ignore(rng):
    x = rng.standard_normal((9, 4))
    y = rng.integers(0, 4, 9)
    plain = cg.nn.SoftmaxCrossEntropy()
    value = plain.forward(x, y)
    rv, rd = ref.softmax_cross_entropy(x, y)
    assert value == pytest.approx(rv, rel=1e-12)
    assert isinstance(plain.batch_correct, int)
    y2 = y.copy()
    y2[:3] = -1
    ign = cg.nn.SoftmaxCrossEntropy(ignore_index=-1)
    v2 = ign.forward(x, y2)
    rv2, _ = ref.softmax_cross_entropy(x[3:], y[3:])
    assert v2 == pytest.approx(rv2, rel=1e-12)
    assert np.all(ign.backward()[:3] == 0)
    acc = np.mean(np.argmax(x[3:], 1) == y[3:])
    assert ign.accuracy(x, y2) == pytest.approx(acc)
    assert ign.batch_correct == pytest.approx(acc * 9)


def test_all_positions_ignored_gives_zero():
    loss = cg.nn.SoftmaxCrossEntropy(ignore_index=-100)
    x = np.ones((2, 3, 4))
    assert loss.forward(x, np.full((2, 3), -100)) == 0.0
    assert np.all(loss.backward() == 0)
    assert loss.accuracy(x, np.full((2, 3), -100)) == 0.0


def test_sequence_accuracy_and_predict(rng):
    x, y = _case(rng, 6, 5, 3, np.float64)
    loss = cg.nn.SoftmaxCrossEntropy(ignore_index=-100)
    keep = y != -100
    hit = (np.argmax(x, -1) == y) & keep
    assert loss.predict(x).shape == (6, 5)
    assert loss.accuracy(x, y) == pytest.approx(hit.sum() / keep.sum())
    loss.forward(x, y)
    assert loss.batch_correct == pytest.approx(6 * hit.sum() / keep.sum())


def test_mse_on_sequences(rng):
    pred = rng.standard_normal((4, 6, 3))
    target = rng.standard_normal((4, 6, 3))
    loss = cg.nn.MSELoss()
    rv, rd = ref.mse(pred, target)
    assert loss.forward(pred, target) == pytest.approx(rv, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), rd, rtol=1e-12)


def test_bad_labels_raise_and_write_nothing(rng):
    loss = cg.nn.SoftmaxCrossEntropy(ignore_index=-100)
    x = rng.standard_normal((2, 3, 4))
    for bad, found in ((4, "found 4"), (-1, "found -1"), (-99, "found -99")):
        y = np.zeros((2, 3), np.int64)
        y[1, 2] = bad
        with pytest.raises(ValueError, match=rf"\[0, 4\).*{found}"):
            loss.forward(x, y)
        with pytest.raises(ValueError, match=found):
            loss.accuracy(x, y)
    with pytest.raises(ValueError, match="shape"):
        loss.forward(x, np.zeros((2, 4), np.int64))
    with pytest.raises(TypeError, match="integer"):
        loss.forward(x, np.zeros((2, 3)))
    d = np.full((3, 4), 9.0)
    with pytest.raises(ValueError, match="ignore_index -100, found 7"):
        _core.softmax_xent(x[0], np.array([0, 7, -100]), d, 0.0, -100)
    assert np.all(d == 9.0)
    with pytest.raises(TypeError, match="ignore_index"):
        _core.softmax_xent(x[0], np.array([0, 1, 2]), d, 0.0, 1.5)
    for bad, err in ((1.5, TypeError), (True, TypeError), (2**63, ValueError)):
        with pytest.raises(err, match="ignore_index"):
            cg.nn.SoftmaxCrossEntropy(ignore_index=bad)
    unsigned = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    assert cg.nn.SoftmaxCrossEntropy(ignore_index=3).forward(x, unsigned) > 0
    with pytest.raises(ValueError, match="found 9"):
        cg.nn.SoftmaxCrossEntropy(ignore_index=3).forward(x, unsigned * 3)


def test_fused_loop_not_planned_with_ignore_index(rng):
    model = cg.nn.Sequential([cg.nn.Dense(4, 3)], seed=0)
    X = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    opt = cg.optim.SGD(model.parameters(), lr=0.1)
    assert FusedLoop.plan(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, 8) is not None
    ign = cg.nn.SoftmaxCrossEntropy(ignore_index=0)
    assert FusedLoop.plan(model, ign, opt, X, y, 8) is None
    hist = cg.fit(model, ign, opt, X, y, epochs=2, batch_size=8, progress=False)
    assert 0.0 <= hist.history["accuracy"][-1] <= 1.0
    assert repr(ign) == "SoftmaxCrossEntropy(label_smoothing=0.0, ignore_index=0)"


def test_scalar_isa_subprocess():
    """CONVERGENT_ISA=scalar picks the portable kernels at import; they match the reference."""
    code = (
        "import numpy as np, convergent as cg\n"
        "from convergent.reference import losses as ref\n"
        "assert cg.get_isa() == 'scalar'\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((3, 50, 19)); y = rng.integers(0, 19, (3, 50))\n"
        "y[:, 40:] = -1\n"
        "loss = cg.nn.SoftmaxCrossEntropy(0.1, ignore_index=-1)\n"
        "v = loss.forward(x, y); rv, rd = ref.sequence_softmax_cross_entropy(x, y, -1, 0.1)\n"
        "assert abs(v - rv) <= 1e-12 * abs(rv)\n"
        "assert np.abs(loss.backward() - rd).max() <= 1e-14\n"
    )
    env = {**os.environ, "CONVERGENT_ISA": "scalar"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_dense_per_step_head_with_ignored_positions_gradcheck(rng):
    """A Dense layer applied at every step of (batch, time, features) under the sequence loss:
    each step equals the 2-D layer on that step's rows, and the gradients pass gradcheck."""
    model = cg.nn.Sequential(
        [cg.nn.Dense(3, 4, "tanh", dtype=np.float64), cg.nn.Dense(4, 5, dtype=np.float64)],
        seed=0,
    )
    x = rng.standard_normal((3, 6, 3))
    y = rng.integers(0, 5, (3, 6))
    y[0, 4:] = y[2, 1:] = -100
    out = model.forward(x)
    for t in range(6):
        np.testing.assert_allclose(
            out[:, t], model.forward(np.ascontiguousarray(x[:, t])), rtol=1e-13, atol=1e-15
        )
    loss = cg.nn.SoftmaxCrossEntropy(ignore_index=-100)
    assert cg.gradcheck(model, loss, x, y).passed
    loss.forward(model.forward(x), y)
    dx = model.backward(loss.backward())
    assert np.all(dx[0, 4:] == 0) and np.all(dx[2, 1:] == 0)
