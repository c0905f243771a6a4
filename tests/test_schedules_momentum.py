"""Schedules that drive momentum (OneCycle, Cyclic with cycle_momentum) in cg.fit: the Python
loop sets each step's momentum or beta1 (torch's cycle_momentum convention), the fused C++ loop
(_core.train_steps with a momentums array) gives the same bits, history records "momentum",
and an optimizer without momentum or betas is refused as torch refuses it."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from convergent import _core, _fused

Dense = cg.nn.Dense
S = cg.schedules


@pytest.fixture
def count_calls(monkeypatch):
    calls = [0]
    raw = _core.train_steps

    def wrapped(*args, **kwargs):
        calls[0] += 1
        return raw(*args, **kwargs)

    monkeypatch.setattr(_core, "train_steps", wrapped)
    return calls


def _python_loop_only(monkeypatch):
    monkeypatch.setattr(_fused.FusedLoop, "plan", classmethod(lambda cls, *a, **k: None))


OPTIMIZERS = {
    "sgd-momentum": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd-nesterov": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "sgd-dampened": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.3),
    "sgd-no-momentum": lambda p: cg.optim.SGD(p, lr=0.05),
    "adam": lambda p: cg.optim.Adam(p, lr=1e-2, betas=(0.9, 0.99)),
    "amsgrad": lambda p: cg.optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: cg.optim.AdamW(p, lr=1e-2, weight_decay=0.05),
    "rmsprop-momentum": lambda p: cg.optim.RMSprop(p, lr=1e-3, momentum=0.5),
    "rmsprop-centered": lambda p: cg.optim.RMSprop(p, lr=1e-3, momentum=0.3, centered=True),
}

SCHEDULES = {
    "onecycle": lambda: S.OneCycle(0.05, 21, pct_start=0.3),
    "onecycle-3": lambda: S.OneCycle(0.05, 21, three_phase=True, anneal_strategy="linear"),
    "cyclic": lambda: S.Cyclic(0.001, 0.05, step_size_up=4, step_size_down=3),
    # momentum 0 at each peak: SGD's and RMSprop's buffers are left alone at those steps
    "cyclic-to-0": lambda: S.Cyclic(0.001, 0.05, step_size_up=3, base_momentum=0.0),
    "warmup-then-cycle": lambda: S.SequentialSchedule(
        [S.LinearSchedule(0.05, 0.2, 1.0, 4), S.Cyclic(0.001, 0.05, 5), S.Constant(0.01)], [5, 15]
    ),
}


def _data(dt, n=203, features=11, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(dt), rng.integers(0, classes, n)


def _train(opt_name, schedule, dt, epochs=3, **kw):
    X, y = _data(dt)
    model = cg.nn.Sequential([Dense(11, 9, "relu", dtype=dt), Dense(9, 4, dtype=dt)], seed=2)
    opt = OPTIMIZERS[opt_name](model.parameters())
    hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=epochs, batch_size=32,
                  schedule=schedule, seed=4, progress=False, **kw)  # fmt: skip
    return model, opt, hist


def _same(a, b):
    (ma, oa, ha), (mb, ob, hb) = a, b
    for (k, u), v in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert np.array_equal(u, v), k
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k, u in sa[i].items():
            v = sb[i][k]
            assert np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v, (i, k)
    assert oa.param_groups[0].keys() == ob.param_groups[0].keys()
    for k, u in oa.param_groups[0].items():
        if k != "params":
            assert u == ob.param_groups[0][k], k
    np.testing.assert_equal(ha.history, hb.history)


def _key(opt_name):
    return "betas" if opt_name in ("adam", "amsgrad", "adamw") else "momentum"


def _momentum_of(opt, key):
    g = opt.param_groups[0]
    return g["betas"][0] if key == "betas" else g["momentum"]


# nesterov refuses momentum 0: see test_nesterov_momentum_0_raises
CASES = [(o, s) for o in OPTIMIZERS for s in SCHEDULES if (o, s) != ("sgd-nesterov", "cyclic-to-0")]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name,sched", CASES)
def test_fused_is_the_python_loop(monkeypatch, count_calls, opt_name, sched, dt):
    fused = _train(opt_name, SCHEDULES[sched](), dt)
    assert count_calls[0] >= 3  # the fused loop ran
    h = fused[2].history
    calls = count_calls[0]
    _python_loop_only(monkeypatch)
    python = _train(opt_name, SCHEDULES[sched](), dt)
    assert count_calls[0] == calls  # the Python loop alone
    _same(fused, python)
    s, last = SCHEDULES[sched](), 3 * 7 - 1
    assert _momentum_of(fused[1], _key(opt_name)) == s.momentum(last)
    assert h["momentum"][-1] == s.momentum(last) and h["lr"][-1] == s(last)


@pytest.mark.parametrize("opt_name", ["sgd-momentum", "adam", "rmsprop-momentum"])
def test_one_fused_call_per_epoch(count_calls, opt_name):
    _train(opt_name, S.OneCycle(0.05, 21), np.float32)
    assert count_calls[0] == 3  # the first step of all in Python, then a run per epoch


class _Record(cg.callbacks.Callback):
    """Records the optimizer's lr and momentum at each batch end (the Python loop runs)."""

    def __init__(self, key):
        self.key, self.seen = key, []

    def on_batch_end(self, step, logs):
        opt = self.state.optimizer
        self.seen.append((step, opt.param_groups[0]["lr"], _momentum_of(opt, self.key)))


@pytest.mark.parametrize("opt_name", ["sgd-momentum", "adam", "adamw", "rmsprop-momentum"])
def test_python_loop_sets_each_steps_momentum(opt_name):
    s = S.OneCycle(0.05, 14)
    rec = _Record(_key(opt_name))
    _, opt, hist = _train(opt_name, s, np.float64, epochs=2, callbacks=[rec])
    assert [t for t, _, _ in rec.seen] == list(range(14))
    for t, lr, m in rec.seen:
        assert lr == s(t) and m == s.momentum(t)
    if _key(opt_name) == "betas":  # beta2 kept, a tuple as torch leaves it
        assert opt.param_groups[0]["betas"] == (s.momentum(13), opt.defaults["betas"][1])
    assert hist.history["momentum"] == [s.momentum(6), s.momentum(13)]
    assert list(hist.history) == ["loss", "accuracy", "lr", "momentum", "skipped_steps"]


def test_resumed_fit_continues_the_momentum_cycle(monkeypatch):
    """initial_epoch=k starts the schedule at step k * steps_per_epoch, momentum included."""
    s = S.OneCycle(0.05, 21)
    whole = _train("sgd-momentum", s, np.float64, epochs=3)
    X, y = _data(np.float64)
    f64 = np.float64
    model = cg.nn.Sequential([Dense(11, 9, "relu", dtype=f64), Dense(9, 4, dtype=f64)], seed=2)
    opt = OPTIMIZERS["sgd-momentum"](model.parameters())
    loss = cg.nn.SoftmaxCrossEntropy()
    cg.fit(model, loss, opt, X, y, epochs=1, batch_size=32, schedule=s, seed=4, progress=False)
    hist = cg.fit(model, loss, opt, X, y, epochs=3, batch_size=32, schedule=s, seed=4,
                  progress=False, initial_epoch=1)  # fmt: skip
    assert hist.history["momentum"] == whole[2].history["momentum"][1:]
    for u, v in zip(model.parameters(), whole[0].parameters()):
        assert np.array_equal(u, v)


def test_sgd_without_momentum_gets_one_as_in_torch(monkeypatch):
    """torch's cycle_momentum sets SGD's momentum even when it was 0 (SGD has the key), and
    the momentum buffer starts at the first step with a momentum."""
    fused = _train("sgd-no-momentum", S.OneCycle(0.05, 21), np.float32)
    assert all("momentum_buffer" in st for st in fused[1].state.values())
    _python_loop_only(monkeypatch)
    _same(fused, _train("sgd-no-momentum", S.OneCycle(0.05, 21), np.float32))


def test_optimizer_without_momentum_is_refused():
    X, y = _data(np.float32)
    model = cg.nn.Sequential([Dense(11, 4)], seed=2)
    opt = cg.optim.Adagrad(model.parameters(), lr=0.05)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=1,
               schedule=S.Cyclic(0.01, 0.1), progress=False)  # fmt: skip
    assert all(np.array_equal(p, q) for p, q in zip(model.parameters(), before))
    assert opt.state == {}
    # lr only: fine
    hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=1, progress=False,
                  schedule=S.Cyclic(0.01, 0.1, cycle_momentum=False))  # fmt: skip
    assert "momentum" not in hist.history


def test_nesterov_momentum_0_raises(monkeypatch):
    """A momentum the optimizer rejects (nesterov needs momentum > 0) raises at that step in
    both loops, with the same steps taken before it."""

    def attempt():
        X, y = _data(np.float32)
        model = cg.nn.Sequential([Dense(11, 9, "relu"), Dense(9, 4)], seed=2)
        opt = OPTIMIZERS["sgd-nesterov"](model.parameters())
        sched = S.Cyclic(0.001, 0.05, step_size_up=10, base_momentum=0.0)
        with pytest.raises(ValueError, match="nesterov"):
            cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=32,
                   schedule=sched, seed=4, progress=False)  # fmt: skip
        assert opt.param_groups[0]["momentum"] == 0.0  # set for step 10, which raised
        return model, opt

    fm, fo = attempt()
    _python_loop_only(monkeypatch)
    pm, po = attempt()
    for u, v in zip(fm.parameters(), pm.parameters()):
        assert np.array_equal(u, v)
    for i, st in po.state.items():
        assert np.array_equal(st["momentum_buffer"], fo.state[i]["momentum_buffer"])


def test_train_steps_momentums_are_validated_and_change_nothing():
    rng = np.random.default_rng(3)
    n, batch, dt = 50, 16, np.float32
    X = rng.standard_normal((n, 6)).astype(dt)
    y = rng.integers(0, 3, n).astype(np.int64)
    d1, d2 = Dense(6, 5, "relu", dtype=dt), Dense(5, 3, dtype=dt)

    def layer(d, first):
        return (
            d.weight, d.bias, d.activation, d.negative_slope, 0.0, 0.0, 0.0, 0.0,
            np.zeros((batch, d.out_features), dt), np.zeros((batch, d.out_features), dt),
            None if first else np.zeros((batch, d.in_features), dt),
            d.gradients()[0], d.gradients()[1],
        )  # fmt: skip

    params = d1.parameters() + d2.parameters()
    zeros = [np.zeros_like(p) for p in params]
    adam = dict(optimizer="adam", hyper=(1e-2, 0.9, 0.999, 1e-8, 0.0, False, False, False),
                states=[zeros, [np.zeros_like(p) for p in params], None])  # fmt: skip
    sgd0 = dict(optimizer="sgd", hyper=(0.1, 0.0, 0.0, 0.0, False, False),
                states=[None, None, None])  # fmt: skip
    rms0 = dict(optimizer="rmsprop", hyper=(1e-3, 0.99, 1e-8, 0.0, 0.0, False, False),
                states=[[np.zeros_like(p) for p in params], None, None])  # fmt: skip
    adagrad = dict(optimizer="adagrad", hyper=(0.1, 0.0, 0.0, 1e-10, False),
                   states=[[np.zeros_like(p) for p in params], None, None])  # fmt: skip
    nesterov = dict(optimizer="sgd", hyper=(0.1, 0.9, 0.0, 0.0, True, False),
                    states=[zeros, None, None])  # fmt: skip
    base = dict(x=X, y=y, order=rng.permutation(n), batch=batch,
                xbuf=np.zeros((2 * batch, 6), dt), ybuf=np.zeros(2 * batch, np.int64),
                dlogits=np.zeros((batch, 3), dt), layers=[layer(d1, True), layer(d2, False)],
                label_smoothing=0.0, guard=True, penalty_after_backward=False, steps=[1] * 4,
                first=0, count=2)  # fmt: skip
    bad = [
        (adam, np.full(3, 0.9), ValueError, "momentums"),  # one per step: count is 2
        (adam, np.array([0.9, 1.0]), ValueError, r"momentums\[1\].*betas\[0\]"),
        (adam, np.array([0.9, -0.1]), ValueError, r"momentums\[1\]"),
        (adam, np.array([np.nan, 0.9]), ValueError, r"momentums\[0\]"),
        (adam, np.array([0.9, 0.9], np.float32), TypeError, "momentums"),
        (adam, [0.9, 0.9], TypeError, "momentums"),
        (sgd0, np.array([0.0, 0.5]), ValueError, r"momentums\[1\].*states\[0\]"),
        (rms0, np.array([0.5, 0.5]), ValueError, r"momentums\[0\].*states\[2\]"),
        (adagrad, np.array([0.5, 0.5]), ValueError, "adagrad has no momentum"),
        (nesterov, np.array([0.9, 0.0]), ValueError, r"momentums\[1\].*nesterov"),
    ]
    for opt, moms, exc, msg in bad:
        before = [p.copy() for p in params] + [z.copy() for z in zeros]
        with pytest.raises(exc, match=msg):
            _core.train_steps(**base, **opt, momentums=moms)
        for p, q in zip(params + zeros, before):
            assert np.array_equal(p, q), msg
    # the same calls with good values run: momentums 0 leave SGD's buffers unused
    for opt, moms in [(adam, [0.9, 0.5]), (sgd0, [0.0, 0.0]), (rms0, [0.0, 0.0]),
                      (nesterov, [0.9, 0.8])]:  # fmt: skip
        _, _, applied, _ = _core.train_steps(**base, **opt, momentums=np.array(moms))
        assert applied.all()


# name: (class name in cg.optim and torch.optim, the same keyword arguments for both)
TORCH_OPTS = {
    "sgd": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd-nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adam": ("Adam", dict(lr=1e-2)),
    "adamw": ("AdamW", dict(lr=1e-2)),
    "rmsprop": ("RMSprop", dict(lr=1e-2, momentum=0.5)),
}

TORCH_SCHEDULES = {
    "onecycle": ("OneCycle", "OneCycleLR", (0.05,), dict(total_steps=30)),
    "cyclic": ("Cyclic", "CyclicLR", (0.005, 0.05, 4, 3), {}),
}


@pytest.mark.parametrize("opt_name", list(TORCH_OPTS))
@pytest.mark.parametrize("sched", list(TORCH_SCHEDULES))
def test_fit_with_momentum_cycle_is_torch(opt_name, sched):
    """30 float64 steps of a two-layer network: cg.fit with the schedule against a torch loop
    with the torch scheduler (weights and every state buffer, rtol 1e-10)."""
    torch = pytest.importorskip("torch", reason="the reference trajectory comes from torch")
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    f64 = np.float64
    model = cg.nn.Sequential([Dense(5, 8, "tanh", dtype=f64), Dense(8, 3, dtype=f64)], seed=3)
    tparams = [torch.tensor(p.T.copy() if p.ndim == 2 else p.copy(), requires_grad=True)
               for p in model.parameters()]  # fmt: skip
    name, kw = TORCH_OPTS[opt_name]
    opt, topt = (
        getattr(cg.optim, name)(model.parameters(), **kw),
        getattr(torch.optim, name)(tparams, **kw),
    )
    ours, theirs, args, skw = TORCH_SCHEDULES[sched]
    tsched = getattr(torch.optim.lr_scheduler, theirs)(topt, *args, **skw)
    schedule = getattr(S, ours)(*args, *skw.values())
    cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=5, batch_size=10,
           shuffle=False, schedule=schedule, progress=False)  # fmt: skip
    w1, b1, w2, b2 = tparams
    tx, ty = torch.from_numpy(X), torch.from_numpy(y)
    for step in range(30):
        i = step % 6 * 10
        topt.zero_grad()
        logits = torch.tanh(tx[i : i + 10] @ w1.T + b1) @ w2.T + b2
        torch.nn.functional.cross_entropy(logits, ty[i : i + 10]).backward()
        topt.step()
        if step < 29:  # the values of the last step stay in the group, as in fit
            tsched.step()
    for i, (p, t) in enumerate(zip(model.parameters(), tparams)):
        np.testing.assert_allclose(p, t.detach().numpy().T, rtol=1e-10, atol=1e-13)
        tstate = topt.state[t]
        for k, v in opt.state[i].items():
            if isinstance(v, np.ndarray):
                np.testing.assert_allclose(v, tstate[k].numpy().T, rtol=1e-10, atol=1e-13)
    tgroup = topt.param_groups[0]
    want = tgroup["betas"][0] if _key(opt_name) == "betas" else tgroup["momentum"]
    assert _momentum_of(opt, _key(opt_name)) == want
    assert opt.param_groups[0]["lr"] == tgroup["lr"]


def test_history_plot_has_a_momentum_panel(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="History.plot draws with matplotlib")
    from matplotlib.figure import Figure

    titles = []
    raw = Figure.savefig

    def savefig(fig, *args, **kwargs):
        titles.extend(ax.get_title() for ax in fig.axes)
        return raw(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    _, _, hist = _train("adam", S.OneCycle(0.05, 14), np.float32, epochs=2)
    hist.plot(tmp_path / "curves.png")
    assert titles == ["loss", "accuracy", "learning rate", "momentum"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
