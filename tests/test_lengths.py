"""Per-sample lengths of padded sequences: Sequential hands them (given, or derived by
Embedding(mask_zero=True)) to the layers that accept them; fit shuffles and slices them with the
rows (checked step by step against a hand-written loop); gradcheck passes them; bad lengths
raise. The recurrent layers' own handling is tested with them (tests/test_rnn*); the last test
here runs an LSTM through the plumbing once the layer exists."""

import convergent as cg
import numpy as np
import pytest
from convergent.nn import Layer
from convergent.nn.lengths import check_lengths


class MaskedMean(Layer):
    """(batch, time, features) -> (batch, features): the mean over each sample's valid steps
    (all steps without lengths). A test double that accepts lengths, as the recurrent layers."""

    accepts_lengths = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, training=False, lengths=None):
        t = x.shape[1]
        lengths = np.full(len(x), t) if lengths is None else lengths
        self.seen.append(np.array(lengths))
        mask = (np.arange(t)[None, :] < lengths[:, None])[..., None] / lengths[:, None, None]
        self._mask = mask.astype(x.dtype)
        return np.sum(x * self._mask, axis=1)

    def backward(self, dout):
        return (dout[:, None, :] * self._mask).astype(dout.dtype)

    def get_config(self):
        return {}


def _padded(rng, n, t, f, dtype=np.float64):
    lengths = rng.integers(1, t + 1, n)
    x = rng.standard_normal((n, t, f)).astype(dtype)
    x[np.arange(t)[None, :] >= lengths[:, None]] = 0
    return x, lengths


def test_sequential_passes_given_lengths(rng):
    mean = MaskedMean()
    model = cg.nn.Sequential([cg.nn.Dense(3, 4, dtype=np.float64), mean], seed=0)
    x, lengths = _padded(rng, 5, 6, 3)
    out = model.forward(x, lengths=lengths)
    assert np.array_equal(mean.seen[-1], lengths)
    h = x @ model.layers[0].weight
    want = np.stack([h[i, : lengths[i]].mean(0) for i in range(5)])
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert np.array_equal(model.output_lengths, lengths)
    model.forward(x)
    assert np.array_equal(mean.seen[-1], np.full(5, 6)) and model.output_lengths is None


def test_embedding_mask_zero_derives_lengths_for_later_layers(rng):
    mean = MaskedMean()
    model = cg.nn.Sequential([cg.nn.Embedding(10, 4, mask_zero=True), mean, cg.nn.Dense(4, 2)])
    tokens = np.array([[3, 4, 0, 0], [5, 6, 7, 8], [9, 0, 0, 0]])
    model.forward(tokens)
    assert np.array_equal(mean.seen[-1], [2, 4, 1])
    # derived lengths replace given ones for the layers after the Embedding
    model.forward(tokens, lengths=np.array([4, 4, 4]))
    assert np.array_equal(mean.seen[-1], [2, 4, 1])


def test_bad_lengths_raise(rng):
    model = cg.nn.Sequential([MaskedMean()])
    x, _ = _padded(rng, 3, 5, 2)
    cases = [
        (np.array([1, 2]), ValueError, r"shape \(3,\)"),
        (np.array([0, 2, 3]), ValueError, ">= 1"),
        (np.array([1, 6, 3]), ValueError, "<= the sequence length 5"),
        (np.array([1.0, 2.0, 3.0]), TypeError, "integers"),
        ([1, 2, 3], TypeError, "numpy"),
    ]
    for lengths, err, match in cases:
        with pytest.raises(err, match=match):
            model.forward(x, lengths=lengths)
    with pytest.raises(TypeError, match="no layer of the model accepts lengths"):
        cg.nn.Sequential([cg.nn.Dense(2, 2, dtype=np.float64)]).forward(x, lengths=np.ones(3, int))
    assert check_lengths(np.array([2, 1], np.int32), 2, 3).dtype == np.int64


def test_gradcheck_with_lengths(rng):
    model = cg.nn.Sequential(
        [cg.nn.Dense(3, 4, "tanh", dtype=np.float64), MaskedMean(),
         cg.nn.Dense(4, 2, dtype=np.float64)], seed=1,
    )  # fmt: skip
    x, lengths = _padded(rng, 4, 5, 3)
    y = rng.standard_normal((4, 2))
    report = cg.gradcheck(model, cg.nn.MSELoss(), x, y, lengths=lengths)
    assert report.passed
    model.forward(x, lengths=lengths)
    dx = model.backward(np.ones((4, 2)))
    assert np.all(dx[np.arange(5)[None, :] >= lengths[:, None]] == 0)


def _manual_fit(model, loss, opt, X, y, lengths, epochs, bs, seed):
    losses = []
    for e in range(epochs):
        order = np.random.default_rng([seed, e]).permutation(len(X))
        total = 0.0
        for s in range(0, len(X), bs):
            idx = order[s : s + bs]
            pred = model.forward(X[idx], True, lengths=lengths[idx])
            total += loss.forward(pred, y[idx]) * len(idx)
            model.backward(loss.backward())
            opt.step(model.gradients())
        losses.append(total / len(X))
    return losses


def _model():
    return cg.nn.Sequential(
        [cg.nn.Dense(3, 8, "tanh", dtype=np.float64), MaskedMean(),
         cg.nn.Dense(8, 3, dtype=np.float64)], seed=2,
    )  # fmt: skip


def test_fit_shuffles_and_slices_lengths_with_the_rows(rng):
    X, lengths = _padded(rng, 37, 6, 3)
    y = rng.integers(0, 3, 37)
    a, b = _model(), _model()
    loss = cg.nn.SoftmaxCrossEntropy()
    oa, ob = cg.optim.Adam(a.parameters(), lr=0.01), cg.optim.Adam(b.parameters(), lr=0.01)
    hist = cg.fit(a, loss, oa, X, y, epochs=3, batch_size=8, lengths=lengths, progress=False)
    want = _manual_fit(b, loss, ob, X, y, lengths, 3, 8, 0)
    np.testing.assert_allclose(hist.history["loss"], want, rtol=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p, q)


def test_fit_validation_with_lengths(rng):
    X, lengths = _padded(rng, 30, 5, 3)
    y = rng.integers(0, 3, 30)
    loss = cg.nn.SoftmaxCrossEntropy()
    m = _model()
    opt = cg.optim.Adam(m.parameters(), lr=0.01)
    h = cg.fit(m, loss, opt, X, y, epochs=1, lengths=lengths, validation_split=0.2,
               progress=False)  # fmt: skip
    ref = loss.forward(m.forward(X[24:], lengths=lengths[24:]), y[24:])
    assert h.history["val_loss"][0] == pytest.approx(ref, rel=1e-12)
    h = cg.fit(m, loss, opt, X, y, epochs=1, lengths=lengths, progress=False,
               validation_data=(X[:5], y[:5], lengths[:5]))  # fmt: skip
    ref = loss.forward(m.forward(X[:5], lengths=lengths[:5]), y[:5])
    assert h.history["val_loss"][0] == pytest.approx(ref, rel=1e-12)
    with pytest.raises(TypeError, match="lengths_val"):
        cg.fit(m, loss, opt, X, y, lengths=lengths, validation_data=(X, y), progress=False)
    with pytest.raises(ValueError, match="lengths"):
        cg.fit(m, loss, opt, X, y, lengths=lengths[:5], progress=False)
    with pytest.raises(TypeError, match="does not accept lengths"):
        cg.fit(cg.nn.Dense(3, 3, dtype=np.float64), loss, opt, X[:, 0], y,
               lengths=np.ones(30, int), progress=False)  # fmt: skip


def test_fit_embedding_mask_zero_learns_without_lengths(rng):
    # label = whether token 1 occurs in the sequence: a mean over the valid steps finds it
    n, t = 200, 7
    lengths = rng.integers(1, t + 1, n)
    tokens = rng.integers(2, 6, (n, t))
    has = rng.random(n) < 0.5
    tokens[has, 0] = 1
    tokens[np.arange(t)[None, :] >= lengths[:, None]] = 0
    model = cg.nn.Sequential([cg.nn.Embedding(6, 8, mask_zero=True, init="normal"),
                              MaskedMean(), cg.nn.Dense(8, 2)], seed=0)  # fmt: skip
    loss = cg.nn.SoftmaxCrossEntropy()
    opt = cg.optim.Adam(model.parameters(), lr=0.05)
    h = cg.fit(model, loss, opt, tokens, has.astype(int), epochs=30, batch_size=32,
               progress=False)  # fmt: skip
    assert h.history["accuracy"][-1] > 0.95
    assert np.all(model.layers[0].weight[0] == 0)  # the padding row never moved


def test_lstm_through_the_plumbing_matches_truncated_samples(rng):
    if not hasattr(cg.nn, "LSTM"):
        pytest.skip("cg.nn.LSTM is not in this build yet (recurrent layers merge separately)")
    lstm = cg.nn.LSTM(3, 5, return_sequences=False, dtype=np.float64)
    model = cg.nn.Sequential([lstm, cg.nn.Dense(5, 2, dtype=np.float64)], seed=0)
    x, lengths = _padded(rng, 4, 6, 3)
    out = model.forward(x, lengths=lengths)
    for i in range(4):
        alone = model.forward(x[i : i + 1, : lengths[i]])
        np.testing.assert_allclose(out[i], alone[0], rtol=1e-12, atol=1e-14)
    y = rng.standard_normal((4, 2))
    assert cg.gradcheck(model, cg.nn.MSELoss(), x, y, lengths=lengths).passed
