"""BatchNorm (C++ kernel) against the NumPy reference and torch BatchNorm1d; Dropout; Residual."""

import convergent as cg
import numpy as np
import pytest
from _train_helpers import Linear, numeric_grads
from convergent import _core
from convergent import reference as ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
FEATURES = list(range(1, 34)) + [64, 65, 130]


def _data(n, c, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3 + rng.uniform(-2, 2, c)).astype(dtype)
    w = rng.uniform(0.5, 1.5, c).astype(dtype)
    b = rng.uniform(-1, 1, c).astype(dtype)
    return x, w, b


def _kernel(x, w, b, rm, rv, training, momentum=0.1, eps=1e-5):
    c = x.shape[1]
    y = np.empty_like(x)
    sm, si = np.empty(c), np.empty(c)
    _core.batchnorm_forward(x, w, b, y, sm, si, rm, rv, training, momentum, eps)
    return y, sm, si


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", cg.available_isas())
def test_forward_backward_match_reference(dtype, isa):
    old = cg.get_isa()
    cg.set_isa(isa)
    try:
        for c in FEATURES:
            for n in (2, 5, 40):
                x, w, b = _data(n, c, dtype, seed=c * 100 + n)
                rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
                rm2, rv2 = rm.copy(), rv.copy()
                y, sm, si = _kernel(x, w, b, rm, rv, True)
                y_ref, m_ref, i_ref = ref.batchnorm_forward(x, w, b, rm2, rv2, training=True)
                np.testing.assert_allclose(y, y_ref, **TOL[dtype])
                np.testing.assert_allclose(sm, m_ref, rtol=1e-12, atol=1e-12)
                np.testing.assert_allclose(si, i_ref, rtol=1e-12)
                np.testing.assert_allclose(rm, rm2, **TOL[dtype])
                np.testing.assert_allclose(rv, rv2, **TOL[dtype])
                dy = np.random.default_rng(n).standard_normal((n, c)).astype(dtype)
                for training in (True, False):
                    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
                    _core.batchnorm_backward(dy, x, w, sm, si, dx, dw, db, training)
                    want = ref.batchnorm_backward(dy, x, w, m_ref, i_ref, training=training)
                    scale = np.abs(dy).max() * np.abs(w).max() * si.max()
                    for got, exp in zip((dx, dw, db), want):
                        np.testing.assert_allclose(
                            got,
                            exp,
                            rtol=TOL[dtype]["rtol"] * 10,
                            atol=TOL[dtype]["atol"] * 10 * scale * n,
                        )
                # inference forward with the running statistics
                y_ev, _, _ = _kernel(x, w, b, rm, rv, False)
                y_ev_ref, _, _ = ref.batchnorm_forward(x, w, b, rm, rv, training=False)
                np.testing.assert_allclose(y_ev, y_ev_ref, **TOL[dtype])
    finally:
        cg.set_isa(old)


def test_matches_torch_batchnorm1d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    bn = cg.nn.BatchNorm(7, eps=1e-3, momentum=0.2, dtype=np.float64)
    tb = torch.nn.BatchNorm1d(7, eps=1e-3, momentum=0.2, dtype=torch.float64)
    for step in range(3):
        x = rng.standard_normal((11, 7)) * 2 + 1
        dy = rng.standard_normal((11, 7))
        y = bn.forward(x, training=True)
        dx = bn.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        tb.train()
        yt = tb(xt)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.gradients()[0], tb.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(bn.gradients()[1], tb.bias.grad.numpy(), rtol=1e-10)
        tb.weight.grad = tb.bias.grad = None
        b = bn.buffers()
        np.testing.assert_allclose(b["running_mean"], tb.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(b["running_var"], tb.running_var.numpy(), rtol=1e-12)
        assert int(b["num_batches_tracked"]) == int(tb.num_batches_tracked) == step + 1
    tb.eval()
    x = rng.standard_normal((5, 7))
    np.testing.assert_allclose(bn.forward(x), tb(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_cumulative_average_when_momentum_is_none():
    bn = cg.nn.BatchNorm(3, momentum=None, dtype=np.float64)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((6, 3)) for _ in range(4)]
    for x in xs:
        bn.forward(x, training=True)
    want = np.mean([x.mean(axis=0) for x in xs], axis=0)
    np.testing.assert_allclose(bn.buffers()["running_mean"], want, rtol=1e-12)
    np.testing.assert_allclose(
        bn.buffers()["running_var"],
        np.mean([x.var(axis=0, ddof=1) for x in xs], axis=0),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bit_identical(dtype):
    if not cg.have_openmp():
        pytest.skip("built without OpenMP")
    x, w, b = _data(300, 203, dtype)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    outs = []
    old = cg.get_num_threads()
    try:
        for t in (1, 2):
            cg.set_num_threads(t)
            rm, rv = np.zeros(203, dtype), np.ones(203, dtype)
            y, sm, si = _kernel(x, w, b, rm, rv, True)
            dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
            _core.batchnorm_backward(dy, x, w, sm, si, dx, dw, db, True)
            outs.append([a.tobytes() for a in (y, sm, si, rm, rv, dx, dw, db)])
    finally:
        cg.set_num_threads(old)
    assert outs[0] == outs[1]


def test_layer_gradcheck_float64():
    rng = np.random.default_rng(3)
    bn = cg.nn.BatchNorm(4, dtype=np.float64)
    bn.parameters()[0][...] = rng.uniform(0.5, 2, 4)
    bn.parameters()[1][...] = rng.uniform(-1, 1, 4)
    x = rng.standard_normal((6, 4))
    r = rng.standard_normal((6, 4))

    def f():
        return float(np.sum(bn.forward(x, training=True) * r))

    f()
    dx = bn.backward(r).copy()
    grads = [g.copy() for g in bn.gradients()]
    num = numeric_grads(f, [x] + bn.parameters())
    np.testing.assert_allclose(dx, num[0], rtol=1e-6, atol=1e-8)
    for g, ng in zip(grads, num[1:]):
        np.testing.assert_allclose(g, ng, rtol=1e-6, atol=1e-8)


def test_layer_eval_mode_and_skipped_input_grad():
    bn = cg.nn.BatchNorm(3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(bn.forward(x), (x - 0) / np.sqrt(1 + 1e-5))  # fresh running stats
    assert int(bn.buffers()["num_batches_tracked"]) == 0
    bn.forward(x, training=True)
    assert bn.backward(np.ones_like(x), need_input_grad=False) is None
    np.testing.assert_allclose(bn.gradients()[1], [5, 5, 5])


def test_bad_inputs_leave_state_untouched():
    bn = cg.nn.BatchNorm(4)
    before = {k: v.copy() for k, v in bn.buffers().items()}
    with pytest.raises(TypeError, match="dtype"):
        bn.forward(np.zeros((3, 4)), training=True)
    with pytest.raises(ValueError, match="shape"):
        bn.forward(np.zeros((3, 5), np.float32), training=True)
    with pytest.raises(ValueError, match="2 rows"):
        bn.forward(np.zeros((1, 4), np.float32), training=True)
    for k, v in bn.buffers().items():
        np.testing.assert_array_equal(v, before[k])
    x, w, b = _data(3, 4, np.float32)
    y = np.empty_like(x)
    sm, si = np.empty(4), np.empty(4)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match="y has shape"):
        _core.batchnorm_forward(
            x, w, b, np.empty((3, 5), np.float32), sm, si, rm, rv, True, 0.1, 1e-5
        )
    with pytest.raises(TypeError, match="save_mean"):
        _core.batchnorm_forward(x, w, b, y, sm.astype(np.float32), si, rm, rv, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="eps"):
        _core.batchnorm_forward(x, w, b, y, sm, si, rm, rv, True, 0.1, 0.0)
    with pytest.raises(ValueError, match="momentum"):
        _core.batchnorm_forward(x, w, b, y, sm, si, rm, rv, True, 1.5, 1e-5)
    ro = rm.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.batchnorm_forward(x, w, b, y, sm, si, ro, rv, True, 0.1, 1e-5)
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)
    for bad in [
        dict(num_features=0),
        dict(num_features=2.0),
        dict(num_features=3, eps=0),
        dict(num_features=3, momentum=2.0),
        dict(num_features=3, dtype=np.int32),
    ]:
        with pytest.raises((TypeError, ValueError)):
            cg.nn.BatchNorm(**bad)


# ---- Dropout --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_reference(dtype):
    d = cg.nn.Dropout(0.3)
    d.set_rng(np.random.default_rng(7))
    x = np.random.default_rng(0).standard_normal((33, 17)).astype(dtype)
    y = d.forward(x, training=True)
    u = np.random.default_rng(7).random(x.shape, dtype=dtype)
    y_ref, mask = ref.dropout_forward(x, u, 0.3)
    np.testing.assert_array_equal(y, y_ref)
    dout = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(d.backward(dout), dout * mask)
    kept = (y != 0).mean()
    assert 0.6 < kept < 0.8
    assert d.forward(x) is x and d.backward(dout) is dout  # identity in inference


def test_dropout_validation_and_p_zero():
    for p in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError):
            cg.nn.Dropout(p)
    with pytest.raises(TypeError):
        cg.nn.Dropout("0.5")
    x = np.ones((4, 4), np.float32)
    assert cg.nn.Dropout(0.0).forward(x, training=True) is x


# ---- Residual -------------------------------------------------------------------------------
def test_residual_forward_backward_and_params():
    block = Linear(5, 5)
    r = cg.nn.Residual(block)
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(r.forward(x, True), x + block.forward(x))
    assert r.parameters() == block.parameters() or all(
        a is b for a, b in zip(r.parameters(), block.parameters())
    )
    g = np.random.default_rng(1).standard_normal((4, 5))

    def f():
        return float(np.sum(r.forward(x) * g))

    f()
    dx = r.backward(g).copy()
    grads = [a.copy() for a in r.gradients()]
    num = numeric_grads(f, [x] + r.parameters())
    np.testing.assert_allclose(dx, num[0], rtol=1e-7, atol=1e-9)
    for a, b in zip(grads, num[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="keep the shape"):
        cg.nn.Residual(Linear(5, 3)).forward(x)
    nested = cg.nn.Residual([Linear(5, 5), cg.nn.BatchNorm(5, dtype=np.float64)])
    assert len(nested.parameters()) == 4 and set(nested.buffers()) == {
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    }


# ---- cg.gradcheck on the layers ----------------------------------------------------------------
needs_gradcheck = pytest.mark.skipif(
    not hasattr(cg, "gradcheck") or not hasattr(cg.nn, "MSELoss"),
    reason="needs cg.gradcheck and cg.nn.MSELoss",
)


@needs_gradcheck
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batchnorm_dropout_residual(training):
    rng = np.random.default_rng(0)
    model = cg.nn.Sequential(
        [
            Linear(5, 6),
            cg.nn.BatchNorm(6, dtype=np.float64),
            cg.nn.Dropout(0.25),
            cg.nn.Residual([Linear(6, 6), cg.nn.BatchNorm(6, dtype=np.float64)]),
            Linear(6, 3),
        ],
        seed=1,
    )
    model.forward(rng.standard_normal((9, 5)), training=True)  # non-trivial running stats
    X, y = rng.standard_normal((9, 5)), rng.standard_normal((9, 3))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    report = cg.gradcheck(model, cg.nn.MSELoss(), X, y, training=training, max_checks=None)
    assert report.passed
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # buffers restored
