"""The training loop's kernels: fused softmax cross-entropy (value, gradient, correct count), the
non-finite scan of the gradient guard and the gradient clips, against the reference on every
ISA, at 1 and 2 threads, with bad input.

Tolerances against the float64 reference: loss rtol 1e-12 (float64) / 1e-5 (float32); gradient
(entries are probabilities / n) atol 1e-12 / n (float64) and 1e-6 / n (float32). The correct
count is exact (np.argmax semantics: the first maximum, the first NaN).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from convergent import _core
from convergent.reference import losses as ref
from convergent.reference import optim as ref_optim

TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-12)}
# Class counts 1..2x the widest vector (16 floats) and beyond; row counts around the 256-row
# blocks of the driver.
KS = list(range(1, 34)) + [100]


def _case(rng, n, k, dtype, scale=4.0):
    x = (scale * rng.standard_normal((n, k))).astype(dtype)
    t = rng.integers(0, k, n)
    return x, t


def _check(x, t, smoothing):
    d = np.full_like(x, np.nan)
    loss, correct = _core.softmax_xent(x, t, d, smoothing)
    rloss, rd = ref.softmax_cross_entropy(x.astype(np.float64), t, smoothing)
    rtol, gtol = TOL[x.dtype.type]
    assert loss == pytest.approx(rloss, rel=rtol, abs=1e-300)
    # gradient entries are probabilities / n: their scale is 1/n
    np.testing.assert_allclose(d, rd, rtol=0, atol=gtol / len(x))
    assert correct == int(np.sum(np.argmax(x, axis=1) == t))
    return loss, d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_softmax_xent_matches_reference(isa, dtype, smoothing, rng):
    for k in KS:
        for n in (1, 3, 17):
            _check(*_case(rng, n, k, dtype), smoothing)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_xent_threads_bit_identical(isa, threads, dtype, rng):
    x, t = _case(rng, 1031, 10, dtype)  # several 256-row blocks, the last one partial
    threads(1)
    one = _check(x, t, 0.05)
    threads(2)
    two = _check(x, t, 0.05)
    assert one[0] == two[0] and np.array_equal(one[1], two[1])


def test_softmax_xent_extreme_logits_and_ties(isa):
    x = np.array([[1e30, -1e30, 0.0], [-1e4, -1e4, -1e4], [5.0, 5.0, 1.0]], np.float32)
    t = np.array([0, 2, 1])
    d = np.empty_like(x)
    loss, correct = _core.softmax_xent(x, t, d)
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert correct == 1  # row 0; rows 1 and 2 tie, and argmax takes the first index
    _check(x.astype(np.float64), t, 0.0)


def test_softmax_xent_nan_propagates(isa):
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    d = np.empty_like(x)
    loss, correct = _core.softmax_xent(x, np.array([1, 2]), d)
    assert np.isnan(loss) and np.all(np.isnan(d[0])) and np.all(np.isfinite(d[1]))
    assert correct == 2  # np.argmax picks the NaN of row 0


def test_softmax_xent_bad_input_writes_nothing():
    x = np.zeros((3, 4), np.float32)
    t = np.array([0, 1, 2])
    d = np.full_like(x, 7.0)
    cases = [
        ((x, np.array([0, 1, 4]), d), ValueError, r"target labels must be in \[0, 4\), found 4"),
        ((x, np.array([0, -1, 2]), d), ValueError, "found -1"),
        ((x, t.astype(np.int32), d), TypeError, "labels.*int64"),
        ((x, t[:2], d), ValueError, "labels has shape"),
        ((x, t, d.astype(np.float64)), TypeError, "dlogits"),
        ((x, t, d[:, :3]), ValueError, "dlogits"),
        ((x, t, x), ValueError, "dlogits must not share memory with logits"),
        ((x.reshape(-1), t, d), ValueError, "logits must be 2-dimensional"),
        ((x[:0], t[:0], d[:0]), ValueError, "at least one row"),
        ((x.astype(np.int64), t, d), TypeError, "logits"),
        ((x.T, t, d), ValueError, "logits"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            _core.softmax_xent(*args)
        assert np.all(d == 7.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        _core.softmax_xent(x, t, d, 1.5)
    assert np.all(d == 7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite(isa, threads, dtype):
    for nt in (1, 2):
        threads(nt)
        for n in list(range(0, 70)) + [100_003]:
            a = np.ones(n, dtype)
            assert _core.all_finite([a, a[: n // 2]])
            for bad in (np.nan, np.inf, -np.inf):
                for pos in {0, n // 2, n - 1} if n else ():
                    b = a.copy()
                    b[pos] = bad
                    assert not _core.all_finite([a, b]), (n, pos, bad)
    assert _core.all_finite([np.full(5, np.finfo(dtype).max, dtype)])
    assert _core.all_finite([])


def test_all_finite_bad_input():
    with pytest.raises(TypeError, match=r"arrays\[1\]"):
        _core.all_finite([np.ones(3), np.ones(3, np.int64)])
    with pytest.raises(ValueError, match=r"arrays\[0\] must be C-contiguous"):
        _core.all_finite([np.ones((3, 3))[:, 0]])
    with pytest.raises(TypeError, match="arrays"):
        _core.all_finite(np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_clip_matches_reference(isa, threads, dtype, rng):
    """The gradient clips' kernel against convergent.reference.optim.scale_clip: exact (the same
    two IEEE operations per element in the array's dtype), NaN kept, the same bits at 1 and 2
    threads; sizes 1..2x the widest vector and beyond, and several 32k-element work items."""
    for nt in (1, 2):
        threads(nt)
        for n in list(range(1, 40)) + [1000, 100_003]:
            g = (3 * rng.standard_normal(n)).astype(dtype)
            g[rng.integers(0, n, max(1, n // 50))] = np.nan
            for scale, bound in ((0.3, 1.2), (1.0, np.inf), (0.7, np.inf), (1.0, 0.5), (0.0, 1.0)):
                got, want = g.copy(), g.copy()
                _core.scale_clip(got, scale, bound)
                ref_optim.scale_clip(want, scale, bound)
                np.testing.assert_array_equal(got, want)
    g = np.array([1.0, -1.0, 3.0, np.nan, -0.0], dtype)
    _core.scale_clip(g, 1.0, np.inf)  # the identity
    np.testing.assert_array_equal(g, np.array([1.0, -1.0, 3.0, np.nan, -0.0], dtype))
    assert np.signbit(g[-1])


def test_scale_clip_bad_input_writes_nothing():
    g = np.ones(5, np.float32)
    cases = [
        ((np.ones(5, np.int64), 1.0, 1.0), TypeError, "g"),
        ((np.ones((4, 4), np.float32)[:, 0], 1.0, 1.0), ValueError, "g must be C-contiguous"),
        ((g, np.nan, 1.0), ValueError, "scale"),
        ((g, -1.0, 1.0), ValueError, "scale"),
        ((g, 1.0, 0.0), ValueError, "bound"),
        ((g, 1.0, np.nan), ValueError, "bound"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            _core.scale_clip(*args)
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="g"):
        _core.scale_clip(ro, 0.5, 1.0)
    assert np.all(g == 1) and np.all(ro == 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clips", [(0.5, None), (None, 0.01), (0.5, 0.01), (1e9, None)])
def test_guard_and_clips_match_reference(isa, dtype, clips, rng):
    """fit's guard and clips (convergent._guard, the kernels the C++ loop calls) against
    convergent.reference.optim.clip_gradients: the norm is summed in float64 in another order,
    so the scaled gradients agree to a few ulps."""
    from convergent._guard import _finite_and_clip

    grads = [(5 * rng.standard_normal(s)).astype(dtype) for s in ((13, 7), (7,), (40_000,))]
    mine, want = [g.copy() for g in grads], [g.copy() for g in grads]
    assert _finite_and_clip(mine, *clips) and ref_optim.clip_gradients(want, *clips)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for a, b in zip(mine, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    bad = [g.copy() for g in grads]
    bad[1][3] = np.inf
    before = [g.copy() for g in bad]
    assert not _finite_and_clip(bad, *clips) and not ref_optim.clip_gradients(
        [g.copy() for g in before], *clips
    )
    for a, b in zip(bad, before):
        np.testing.assert_array_equal(a, b)  # a refused step changes nothing


def test_scalar_isa_subprocess():
    """CONVERGENT_ISA=scalar picks the portable kernels at import; they match the reference."""
    code = (
        "import numpy as np, convergent as cg\n"
        "from convergent import _core\n"
        "from convergent.reference.losses import softmax_cross_entropy as ref\n"
        "assert cg.get_isa() == 'scalar'\n"
        "rng = np.random.default_rng(1)\n"
        "for k in range(1, 20):\n"
        "    x = rng.standard_normal((9, k)); t = rng.integers(0, k, 9)\n"
        "    d = np.empty_like(x); loss, c = _core.softmax_xent(x, t, d, 0.1)\n"
        "    rl, rd = ref(x, t, 0.1)\n"
        "    assert abs(loss - rl) <= 1e-12 * abs(rl) and np.allclose(d, rd, rtol=0, atol=1e-15)\n"
        "    assert c == int((x.argmax(1) == t).sum())\n"
        "assert not _core.all_finite([np.array([1.0, np.inf])])\n"
        "assert _core.abs_sq_sums(np.arange(-5.0, 5.0, dtype=np.float32)) == (25.0, 85.0)\n"
        "from convergent.reference.optim import scale_clip\n"
        "g = rng.standard_normal(37); want = scale_clip(g.copy(), 0.3, 0.2)\n"
        "_core.scale_clip(g, 0.3, 0.2); assert np.array_equal(g, want)\n"
    )
    env = {**os.environ, "CONVERGENT_ISA": "scalar"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_take_rows_matches_numpy(threads, dtype, rng):
    for nt in (1, 2):
        threads(nt)
        for shape in [(1,), (7,), (50, 1), (300, 13), (1000, 784), (40, 3, 5)]:
            src = (100 * rng.standard_normal(shape)).astype(dtype)
            for m in (0, 1, 5, 64, 257):
                idx = rng.integers(0, shape[0], m)
                out = np.empty((m,) + shape[1:], dtype)
                _core.take_rows(src, idx, out)
                assert np.array_equal(out, src[idx])


def test_take_rows_bad_input_writes_nothing():
    src = np.arange(12.0).reshape(4, 3)
    out = np.full((2, 3), -1.0)
    cases = [
        ((src, np.array([0, 4]), out), ValueError, r"index must be in \[0, 4\), found 4"),
        ((src, np.array([-1, 0]), out), ValueError, "found -1"),
        ((src, np.array([0, 1], np.int32), out), TypeError, "index.*int64"),
        ((src, np.array([0, 1, 2]), out), ValueError, "out has shape"),
        ((src, np.array([0, 1]), out.astype(np.float32)), TypeError, "out has dtype"),
        ((src[:, :2], np.array([0, 1]), out), ValueError, "src must be C-contiguous"),
        ((src.astype(object), np.array([0, 1]), out), TypeError, "src.*numeric"),
        ((src, np.array([0, 1]), src[:2]), ValueError, "out must not share memory with src"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            _core.take_rows(*args)
        assert np.all(out == -1.0)
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        _core.take_rows(src, np.array([0, 1]), ro)


def test_loss_counts_correct_rows_like_accuracy(rng):
    import convergent as cg

    sce = cg.nn.SoftmaxCrossEntropy(0.1)
    for dtype in (np.float32, np.float64):
        x, t = _case(rng, 200, 7, dtype)
        x[:5] = 0.0  # ties: argmax takes the first index
        sce.forward(x, t.astype(np.int32))
        assert sce.batch_correct == round(sce.accuracy(x, t) * len(t))
    assert cg.nn.MSELoss().batch_correct is None


def test_fit_accuracy_uses_the_counts(rng):
    import convergent as cg

    X = rng.standard_normal((300, 6))
    y = (X[:, 0] > 0).astype(np.int64)
    model = cg.nn.Sequential([cg.nn.Dense(6, 2, dtype=np.float64)], seed=0)
    hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), cg.optim.SGD(model.parameters(), lr=0.0),
                  X, y, epochs=1, batch_size=64, progress=False)  # fmt: skip
    pred = model.forward(X, False).argmax(axis=1)
    assert hist.history["accuracy"][0] == pytest.approx(np.mean(pred == y), abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_sq_sums(isa, threads, dtype, rng):
    """Penalty values accumulated in float64: rtol 1e-10 against NumPy's float64 sums, and the
    same bits at 1 and 2 threads."""
    for n in list(range(0, 40)) + [100_003, 300_000]:
        x = (3 * rng.standard_normal(n)).astype(dtype)
        res = []
        for nt in (1, 2):
            threads(nt)
            res.append(_core.abs_sq_sums(x))
        assert res[0] == res[1]
        x64 = x.astype(np.float64)
        assert res[0][0] == pytest.approx(np.abs(x64).sum(), rel=1e-10, abs=1e-300)
        assert res[0][1] == pytest.approx(np.square(x64).sum(), rel=1e-10, abs=1e-300)
    two_d = rng.standard_normal((7, 9)).astype(dtype)
    assert _core.abs_sq_sums(two_d)[1] == pytest.approx(np.square(two_d.astype(np.float64)).sum())


def test_abs_sq_sums_bad_input():
    with pytest.raises(TypeError, match="x"):
        _core.abs_sq_sums(np.ones(3, np.int64))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        _core.abs_sq_sums(np.ones((3, 3))[:, 0])
    with pytest.raises(TypeError, match="x"):
        _core.abs_sq_sums([1.0, 2.0])
