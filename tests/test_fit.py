"""The fit loop: determinism, resume from checkpoints, the non-finite guard, clipping,
schedules, validation, penalties, progress output, History.plot."""

import convergent as cg
import numpy as np
import pytest
from _train_helpers import MSE, Linear, SoftmaxCE, Tanh, blobs
from convergent.callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau


def _model(seed=0, dropout=0.1, l2=0.0):
    return cg.nn.Sequential(
        [
            Linear(4, 16, l2=l2),
            cg.nn.BatchNorm(16, dtype=np.float64),
            Tanh(),
            cg.nn.Dropout(dropout),
            Linear(16, 3),
        ],
        seed=seed,
    )


def _fit(model=None, epochs=3, **kw):
    X, y = blobs()
    model = model or _model()
    opt = kw.pop("opt", None) or cg.optim.Adam(model.parameters(), lr=0.01)
    kw.setdefault("progress", False)
    kw.setdefault("batch_size", 32)
    h = cg.fit(model, SoftmaxCE(), opt, X, y, epochs=epochs, **kw)
    return model, opt, h


def _bits(model):
    return [v.tobytes() for v in model.state_dict().values()]


def test_same_seed_same_bits_and_learns():
    m1, _, h1 = _fit(seed=5, validation_split=0.2)
    m2, _, h2 = _fit(seed=5, validation_split=0.2)
    assert _bits(m1) == _bits(m2) and h1.history == h2.history
    m3, _, h3 = _fit(seed=6, validation_split=0.2)
    assert _bits(m3) != _bits(m1)
    assert h1.history["accuracy"][-1] > 0.9 and h1.history["val_accuracy"][-1] > 0.9
    assert h1.history["loss"][-1] < h1.history["loss"][0]
    assert set(h1.history) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "skipped_steps",
    }
    assert h1.epoch == [0, 1, 2]


def test_one_and_two_threads_same_bits():
    old = cg.get_num_threads()
    try:
        cg.set_num_threads(1)
        a, _, ha = _fit()
        cg.set_num_threads(2)
        b, _, hb = _fit()
    finally:
        cg.set_num_threads(old)
    assert _bits(a) == _bits(b) and ha.history == hb.history


def test_checkpoint_resume_is_bit_exact(tmp_path):
    sched = cg.schedules.ExponentialDecay(0.02, decay_steps=5, decay_rate=0.9)
    common = dict(seed=3, validation_split=0.2, schedule=sched)
    full, _, hfull = _fit(_model(1), epochs=4, **common)
    path = tmp_path / "ckpt-{epoch}.npz"
    part, _, _ = _fit(_model(1), epochs=2, callbacks=[ModelCheckpoint(path)], **common)
    ckpt = cg.train.load_checkpoint(tmp_path / "ckpt-2.npz")
    assert ckpt.epoch == 2 and isinstance(ckpt.optimizer, cg.optim.Adam)
    assert ckpt.fit_state["global_step"] == 2 * ckpt.fit_state["params"]["steps_per_epoch"]
    assert _bits(ckpt.model) == _bits(part)
    resumed, _, hres = _fit(ckpt.model, epochs=4, opt=ckpt.optimizer, initial_epoch=2, **common)
    assert _bits(resumed) == _bits(full)
    assert hres.epoch == [2, 3]
    for k, v in hres.history.items():
        assert v == hfull.history[k][2:], k


def test_save_best_only(tmp_path):
    cb = ModelCheckpoint(tmp_path / "best.npz", monitor="val_accuracy", save_best_only=True)
    _fit(epochs=2, validation_split=0.2, callbacks=[cb])
    assert (tmp_path / "best.npz").exists() and cb.last_path.endswith("best.npz")


def test_non_finite_guard_leaves_weights_untouched(capsys):
    X, y = blobs(n=64)
    X[5, 0] = np.nan  # poisons the first batch only (no shuffle)
    model = cg.nn.Sequential([Linear(4, 3)], seed=0)
    opt = cg.optim.SGD(model.parameters(), lr=0.1)
    before = [p.copy() for p in model.parameters()]
    h = cg.fit(
        model,
        SoftmaxCE(),
        opt,
        X[:32],
        y[:32],
        epochs=2,
        batch_size=32,
        shuffle=False,
        progress=False,
    )
    assert h.history["skipped_steps"] == [1, 1]
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)
    assert opt.state == {}
    h = cg.fit(model, SoftmaxCE(), opt, X, y, epochs=1, batch_size=32, shuffle=False, verbose=2)
    assert h.history["skipped_steps"] == [1]
    assert "skipped 1 step(s) with non-finite gradients" in capsys.readouterr().out
    assert not np.array_equal(model.parameters()[0], before[0])


class _Record(Callback):
    def __init__(self):
        self.lrs, self.steps = [], []

    def on_batch_end(self, step, logs=None):
        self.steps.append(step)
        self.lrs.append(self.optimizer.param_groups[0]["lr"])


def test_schedule_sets_lr_before_every_step():
    sched = cg.schedules.StepDecay(0.1, step_size=4, gamma=0.5)
    rec = _Record()
    _, _, h = _fit(epochs=2, schedule=sched, callbacks=[rec], opt=None)
    steps = 10  # 300 rows / 32
    assert rec.steps == list(range(2 * steps))
    assert rec.lrs == [sched(t) for t in range(2 * steps)]
    assert h.history["lr"] == [sched(steps - 1), sched(2 * steps - 1)]
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        _fit(schedule=sched, callbacks=[ReduceLROnPlateau()])


def _one_step_grads(model, loss, X, y):
    pred = model.forward(X, True)
    loss.forward(pred, y)
    model.backward(loss.backward())
    return [g.copy() for g in model.gradients()]


@pytest.mark.parametrize("mode", ["norm", "value", "both"])
def test_gradient_clipping(mode):
    X, y = blobs(n=40)
    X *= 50
    kw = {
        "norm": dict(clip_grad_norm=0.5),
        "value": dict(clip_grad_value=0.01),
        "both": dict(clip_grad_norm=0.5, clip_grad_value=0.01),
    }[mode]
    model = cg.nn.Sequential([Linear(4, 3)], seed=2)
    w0 = [p.copy() for p in model.parameters()]
    grads = _one_step_grads(cg.nn.Sequential([Linear(4, 3)], seed=2), SoftmaxCE(), X, y)
    if "clip_grad_norm" in kw:
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        assert norm > 0.5
        grads = [g * (0.5 / (norm + 1e-6)) for g in grads]
    if "clip_grad_value" in kw:
        grads = [np.clip(g, -0.01, 0.01) for g in grads]
    opt = cg.optim.SGD(model.parameters(), lr=1.0)
    cg.fit(
        model, SoftmaxCE(), opt, X, y, epochs=1, batch_size=40, shuffle=False, progress=False, **kw
    )
    for p, p0, g in zip(model.parameters(), w0, grads):
        np.testing.assert_allclose(p, p0 - g, rtol=1e-12, atol=1e-15)


def test_validation_split_is_the_last_fraction_and_penalty_counts():
    X, y = blobs(n=100)
    model = cg.nn.Sequential([Linear(4, 3, l2=0.3)], seed=0)
    opt = cg.optim.SGD(model.parameters(), lr=0.0)  # the weights stay put
    h = cg.fit(
        model, SoftmaxCE(), opt, X, y, epochs=1, batch_size=7, validation_split=0.25, progress=False
    )
    loss = SoftmaxCE()
    pen = model.penalty()
    assert pen > 0
    want_val = loss.forward(model.forward(X[75:]), y[75:]) + pen
    want_train = loss.forward(model.forward(X[:75]), y[:75]) + pen
    assert h.history["val_loss"][0] == pytest.approx(want_val, rel=1e-12)
    assert h.history["loss"][0] == pytest.approx(want_train, rel=1e-12)
    assert h.history["val_accuracy"][0] == pytest.approx(
        loss.accuracy(model.forward(X[75:]), y[75:])
    )


def test_regression_has_no_accuracy_and_validation_data_wins():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = X @ rng.standard_normal((4, 2))
    model = cg.nn.Sequential([Linear(4, 2)], seed=0)
    h = cg.fit(
        model,
        MSE(),
        cg.optim.Adam(model.parameters(), lr=0.05),
        X,
        y,
        epochs=30,
        batch_size=10,
        validation_data=(X[:10], y[:10]),
        validation_split=0.5,
        progress=False,
    )
    assert "accuracy" not in h.history and "val_accuracy" not in h.history
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]


def test_early_stopping_in_fit_restores_best():
    X, y = blobs()
    model = _model()
    es = EarlyStopping(monitor="loss", patience=0, min_delta=10.0, restore_best_weights=True)
    h = cg.fit(
        model,
        SoftmaxCE(),
        cg.optim.Adam(model.parameters(), lr=0.01),
        X,
        y,
        epochs=5,
        progress=False,
        callbacks=[es],
    )
    assert len(h.epoch) == 2 and es.stopped_epoch == 1 and es.best_epoch == 0
    with pytest.raises(ValueError, match="val_loss"):
        _fit(callbacks=[EarlyStopping()])  # no validation data


def test_progress_output(capsys):
    _fit(epochs=1, progress=False)
    assert capsys.readouterr().out == ""
    _fit(epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out
    pytest.importorskip("tqdm")
    _fit(epochs=1, progress=True)
    captured = capsys.readouterr()
    assert "Epoch 1/1" in captured.out + captured.err


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib")
    _, _, h = _fit(epochs=2, validation_split=0.2)
    h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kw, exc",
    [
        (dict(batch_size=0), ValueError),
        (dict(epochs=-1), ValueError),
        (dict(validation_split=1.0), ValueError),
        (dict(clip_grad_norm=0.0), ValueError),
        (dict(clip_grad_value=float("inf")), ValueError),
        (dict(schedule=0.1), TypeError),
        (dict(validation_data=np.zeros(3)), TypeError),
        (dict(seed=-1), ValueError),
    ],
)
def test_bad_arguments(kw, exc):
    with pytest.raises(exc):
        _fit(**kw)
    X, y = blobs()
    m = _model()
    with pytest.raises(ValueError, match="rows"):
        cg.fit(m, SoftmaxCE(), cg.optim.SGD(m.parameters()), X, y[:10], progress=False)


def test_checkpoint_path_template_and_custom_optimizer(tmp_path):
    cb = ModelCheckpoint(tmp_path / "e{epoch:02d}-{loss:.2f}.npz", monitor="loss")
    model, opt, h = _fit(epochs=2, callbacks=[cb])
    assert cb.last_path == str(tmp_path / f"e02-{h.history['loss'][-1]:.2f}.npz")

    class MyOpt:  # not a convergent.optim class: the state comes back raw
        def __init__(self, params):
            self.param_groups = [{"params": params, "lr": 0.1}]

        def step(self, grads):
            for p, g in zip(self.param_groups[0]["params"], grads):
                p -= 0.1 * g

        def state_dict(self):
            return {"state": {0: {"step": 3, "buf": np.arange(3.0)}}, "note": ("a", 1)}

    cg.train.save_checkpoint(tmp_path / "c.npz", model, MyOpt(model.parameters()), 7)
    ck = cg.train.load_checkpoint(tmp_path / "c.npz")
    assert ck.optimizer is None and ck.epoch == 7 and ck.fit_state == {}
    assert ck.optimizer_state["note"] == ("a", 1)
    np.testing.assert_array_equal(ck.optimizer_state["state"][0]["buf"], np.arange(3.0))


def test_loading_the_wrong_file_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a convergent"):
        cg.nn.load(tmp_path / "plain.npz")
    model = _model()
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="checkpoint"):
        cg.train.load_checkpoint(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="Sequential"):
        cg.train.save_checkpoint(tmp_path / "x.npz", Linear(2, 2), None, 0)
