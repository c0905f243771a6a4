"""The fused training loop with NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop, Lion and
Schedule-Free AdamW against the Python loop.

Tolerance zero, as in test_fused.py: the weights, every state buffer and per-parameter scalar
(NAdam's mu_product, ASGD's eta and mu, Schedule-Free's lr_max and weight_sum), the param
groups and the history must be the same bits with the fused loop as with it switched off; and
the fused loop must have run.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from convergent import _core, _fused
from test_fused import _data, _loop_args, _python_loop_only, _same, _with
from test_fused import count_calls as _count_calls  # noqa: F401  (the fixture)

Dense = cg.nn.Dense
optim = cg.optim


@pytest.fixture(name="count_calls")
def _calls(_count_calls):  # noqa: F811  (the imported fixture, by name)
    """test_fused's count_calls: the number of _core.train_steps calls so far (a list)."""
    return _count_calls


OPTIMIZERS = {
    "nadam": lambda p: optim.NAdam(p, lr=1e-2),
    "nadam-l2": lambda p: optim.NAdam(p, lr=1e-2, weight_decay=0.01, momentum_decay=0.01),
    "nadam-decoupled-max": lambda p: optim.NAdam(
        p, lr=1e-3, weight_decay=0.05, decoupled_weight_decay=True, maximize=True
    ),
    "radam": lambda p: optim.RAdam(p, lr=1e-2),
    "radam-decoupled": lambda p: optim.RAdam(
        p, lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True
    ),
    "radam-l2-max": lambda p: optim.RAdam(p, lr=1e-3, weight_decay=0.01, maximize=True),
    "adamax": lambda p: optim.Adamax(p, lr=1e-2),
    "adamax-wd-max": lambda p: optim.Adamax(
        p, lr=1e-3, betas=(0.8, 0.99), weight_decay=0.01, maximize=True
    ),
    "adadelta": lambda p: optim.Adadelta(p),
    "adadelta-wd-max": lambda p: optim.Adadelta(
        p, lr=0.5, rho=0.95, weight_decay=1e-3, maximize=True
    ),
    "asgd": lambda p: optim.ASGD(p, lr=0.05),
    "asgd-t0-wd": lambda p: optim.ASGD(p, lr=0.05, lambd=1e-3, alpha=0.5, t0=5, weight_decay=1e-3),
    "asgd-max": lambda p: optim.ASGD(p, lr=1e-3, t0=3, maximize=True),
    "rprop": lambda p: optim.Rprop(p),
    "rprop-max": lambda p: optim.Rprop(
        p, lr=1e-3, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0), maximize=True
    ),
    "lion": lambda p: optim.Lion(p, lr=1e-3),
    "lion-wd-max": lambda p: optim.Lion(
        p, lr=1e-4, betas=(0.8, 0.95), weight_decay=0.1, maximize=True
    ),
    "schedulefree": lambda p: optim.ScheduleFreeAdamW(p, lr=1e-2),
    "schedulefree-warmup": lambda p: optim.ScheduleFreeAdamW(
        p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.01, warmup_steps=5, r=0.5
    ),
}
#: One configuration per optimizer, for the heavier tests.
KINDS = ["nadam", "radam-decoupled", "adamax", "adadelta", "asgd-t0-wd", "rprop", "lion",
         "schedulefree-warmup"]  # fmt: skip
#: The scalars each optimizer keeps per parameter besides its buffers.
SCALARS = {"nadam": ("mu_product",), "asgd": ("eta", "mu"),
           "schedulefree": ("lr_max", "weight_sum")}  # fmt: skip


def _model(dt, features=11):
    layers = [Dense(features, 9, "relu", dtype=dt), Dense(9, 7, "tanh", dtype=dt),
              Dense(7, 4, None, dtype=dt)]  # fmt: skip
    return cg.nn.Sequential(layers, seed=1)


def _train(name, dt, X, y, epochs=3, batch_size=32, state=None, **kw):
    model = _model(dt, X.shape[1])
    opt = OPTIMIZERS[name](model.parameters())
    if state is not None:
        model.load_state_dict(state[0])
        opt.load_state_dict(state[1])
    hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=epochs,
                  batch_size=batch_size, seed=5, progress=False, **kw)  # fmt: skip
    return model, opt, hist


def _same_all(a, b, name):
    """_same (weights, state buffers and scalars, history) and the same param groups; and the
    optimizer's scalars are in every parameter's state (so they were compared)."""
    _same(a, b)
    ga, gb = a[1].state_dict()["param_groups"], b[1].state_dict()["param_groups"]
    assert ga == gb
    keys = SCALARS.get(name.split("-")[0], ())
    for st in a[1].state.values():
        assert all(isinstance(st[k], float) for k in keys), st.keys()


def _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls, **kw):
    fused = _train(name, dt, X, y, **kw)
    assert count_calls[0] == calls  # the fused loop ran
    with monkeypatch.context() as m:
        _python_loop_only(m)
        python = _train(name, dt, X, y, **kw)
    assert count_calls[0] == calls
    _same_all(fused, python, name)
    return fused


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_fused_is_the_python_loop(monkeypatch, count_calls, name, dt):
    X, y = _data(dt)
    # one call per epoch (the first step of all in Python); 7 batches, the last partial
    _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls=3)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", KINDS)
def test_fit_fused_every_isa_and_thread_count(monkeypatch, count_calls, isa, threads, name, dt):
    X, y = _data(dt, n=300, features=40)
    runs = []
    for t in (1, 2):
        threads(t)
        runs.append(_train(name, dt, X, y, batch_size=64))
    assert count_calls[0] == 6
    _python_loop_only(monkeypatch)
    runs.append(_train(name, dt, X, y, batch_size=64))
    _same_all(runs[0], runs[1], name)
    _same_all(runs[0], runs[2], name)


LR_SCHEDULES = {
    "cosine-warmup": lambda: cg.schedules.CosineDecay(0.01, 21, warmup_steps=5),
    "step": lambda: cg.schedules.StepDecay(0.01, step_size=4, gamma=0.5),
}


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("sched", list(LR_SCHEDULES))
@pytest.mark.parametrize("name", KINDS)
def test_fit_fused_with_schedule_is_the_python_loop(monkeypatch, count_calls, name, sched, dt):
    X, y = _data(dt)
    fused = _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls=3,
                              schedule=LR_SCHEDULES[sched]())  # fmt: skip
    # the group holds the schedule's last learning rate
    assert fused[1].param_groups[0]["lr"] == float(LR_SCHEDULES[sched]()(20))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["nadam", "radam", "adamax", "lion", "schedulefree"])
def test_fit_fused_with_momentum_schedule_drives_beta1(monkeypatch, count_calls, name, dt):
    X, y = _data(dt)

    def one_cycle():
        return cg.schedules.OneCycle(0.01, 21, base_momentum=0.8, max_momentum=0.9)

    fused = _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls=3,
                              schedule=one_cycle())  # fmt: skip
    # beta1 followed the schedule: the group holds its last momentum
    assert fused[1].param_groups[0]["betas"][0] == float(one_cycle().momentum(20))


@pytest.mark.parametrize("name", ["adadelta", "asgd", "rprop"])
def test_fit_momentum_schedule_without_beta1(monkeypatch, count_calls, name):
    """Adadelta, ASGD and Rprop have neither momentum nor betas: fit refuses a schedule that
    drives momentum (as torch's OneCycleLR does), and runs one that does not, fused."""
    X, y = _data(np.float32)
    with pytest.raises(ValueError, match="momentum"):
        _train(name, np.float32, X, y, schedule=cg.schedules.OneCycle(0.01, 21))
    assert count_calls[0] == 0
    sched = cg.schedules.OneCycle(0.01, 21, cycle_momentum=False)
    _fused_and_python(monkeypatch, count_calls, name, np.float32, X, y, calls=3, schedule=sched)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", KINDS)
def test_fit_fused_with_clipping_is_the_python_loop(monkeypatch, count_calls, name, dt):
    X, y = _data(dt)
    X[[5, 100]] = np.nan  # the guard skips the steps of their batches
    kw = dict(clip_grad_norm=0.05, clip_grad_value=0.002)
    fused = _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls=3, **kw)
    # the steps with a NaN row were skipped (one or two per epoch, as the shuffle puts them)
    assert 3 * 5 <= fused[1].state[0]["step"] <= 3 * 6
    free = _train(name, dt, X, y)
    same = all(np.array_equal(u, v) for u, v in zip(fused[0].parameters(), free[0].parameters()))
    # the clips acted, except on Rprop, which uses the gradients' signs only
    assert same == name.startswith("rprop")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", KINDS)
def test_fit_fused_resumed_from_state_dict(monkeypatch, count_calls, name, dt):
    X, y = _data(dt)
    model, opt, _ = _train(name, dt, X, y, epochs=2)
    saved = (model.state_dict(), opt.state_dict())
    count_calls[0] = 0
    # every state is steady: each epoch is one fused call from its first step
    resumed = _fused_and_python(monkeypatch, count_calls, name, dt, X, y, calls=2, epochs=2,
                                state=saved)  # fmt: skip
    assert resumed[1].state[0]["step"] == 4 * 7
    # loading copied the state: the saved one is untouched by the resumed runs
    assert saved[1]["state"][0]["step"] == 2 * 7


@pytest.mark.parametrize("name", ["nadam", "asgd-t0-wd"])
def test_fit_fused_state_without_scalars(monkeypatch, count_calls, name):
    """A state without NAdam's mu_product or ASGD's eta and mu (as torch 1.x left them): the
    first step runs in Python, which sets them (to its defaults), and the rest fused."""
    X, y = _data(np.float64)
    model, opt, _ = _train(name, np.float64, X, y, epochs=1)
    saved = (model.state_dict(), opt.state_dict())
    for st in saved[1]["state"].values():
        for k in SCALARS[name.split("-")[0]]:
            del st[k]
    count_calls[0] = 0
    _fused_and_python(monkeypatch, count_calls, name, np.float64, X, y, calls=2, epochs=2,
                      state=saved)  # fmt: skip


def test_schedulefree_in_eval_mode_is_not_fused():
    X, y = _data(np.float32)
    model = _model(np.float32)
    opt = optim.ScheduleFreeAdamW(model.parameters(), lr=1e-2)
    cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=1, batch_size=32,
           progress=False)  # fmt: skip
    assert not opt.param_groups[0]["train_mode"]  # fit left it in eval mode
    loop = _fused.FusedLoop.plan(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, 32)
    before = [p.copy() for p in model.parameters()]
    assert loop.run(None, 0, 3) is None
    assert all(np.array_equal(p, q) for p, q in zip(model.parameters(), before))
    opt.train()
    assert loop.run(None, 0, 3) is not None


# ---- _core.train_steps: the new kinds' arguments, validated before any step --------------------
def _kind_args(kind):
    """_loop_args (two Dense layers, float32, four tensors) with optimizer `kind`: its hyper,
    its state buffers and its per-tensor scalars."""
    args, params = _loop_args()
    args["layers"] = [tuple(x) for x in args["layers"]]
    args["steps"] = [3] * 4
    zeros = [np.zeros_like(p) for p in params]
    ones = [np.ones_like(p) * 1e-2 for p in params]
    hyper, states, scalars = {
        "nadam": ((1e-2, 0.9, 0.999, 1e-8, 0.0, 4e-3, False, False), (zeros, ones),
                  np.full((1, 4), 0.7)),
        "radam": ((1e-2, 0.9, 0.999, 1e-8, 0.0, False, False), (zeros, ones), None),
        "adamax": ((1e-2, 0.9, 0.999, 1e-8, 0.0, False), (zeros, ones), None),
        "adadelta": ((1.0, 0.9, 1e-6, 0.0, False), (zeros, ones), None),
        "asgd": ((1e-2, 1e-4, 0.75, 1e6, 0.0, False), (zeros, None), np.full((2, 4), 0.01)),
        "rprop": ((1e-2, 0.5, 1.2, 1e-6, 50.0, False), (zeros, ones), None),
        "lion": ((1e-4, 0.9, 0.99, 0.0, False), (zeros, None), None),
        "schedulefree": ((2.5e-3, 0.9, 0.999, 1e-8, 0.0, 0, 0.0, 2.0), (zeros, ones),
                         np.array([[1e-3] * 4, [0.5] * 4])),
    }[kind]  # fmt: skip
    args.update(optimizer=kind, hyper=hyper, states=[*states, None])
    if scalars is not None:
        args["scalars"] = scalars
    return args, params


NEW_KINDS = ["nadam", "radam", "adamax", "adadelta", "asgd", "rprop", "lion", "schedulefree"]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_train_steps_new_kinds_run(kind):
    args, params = _kind_args(kind)
    before = [p.copy() for p in params]
    scalars = args.get("scalars")
    old = None if scalars is None else scalars.copy()
    _, _, applied, _ = _core.train_steps(**args)
    assert applied.all()
    assert all(not np.array_equal(p, q) for p, q in zip(params, before))
    if scalars is not None:  # advanced in place
        assert not np.array_equal(scalars, old)


def _snapshot(args, params):
    arrays = list(params) + [a for s in args["states"] if s for a in s]
    if args.get("scalars") is not None:
        arrays.append(args["scalars"])
    return arrays, [a.copy() for a in arrays]


BAD = [
    ("nadam", dict(scalars=None), ValueError, "scalars"),
    ("nadam", dict(scalars=np.full((2, 4), 0.5)), ValueError, "scalars"),
    ("nadam", dict(scalars=np.full((1, 3), 0.5)), ValueError, "scalars"),
    ("nadam", dict(scalars=np.full((1, 4), 0.5, np.float32)), TypeError, "scalars"),
    ("nadam", dict(scalars=[[0.5] * 4]), TypeError, "scalars"),
    ("nadam", dict(scalars=np.array([[0.5, 0.5, 1.5, 0.5]])), ValueError, r"scalars\[0\]\[2\]"),
    ("nadam", dict(scalars=np.array([[0.5, np.nan, 0.5, 0.5]])), ValueError, "mu_product"),
    ("nadam", dict(hyper=(1e-2, 1.0, 0.999, 1e-8, 0.0, 4e-3, False, False)), ValueError, "beta"),
    ("nadam", dict(hyper=(1e-2, 0.9, 0.999, 1e-8, 0.0, -1.0, False, False)), ValueError,
     "momentum_decay"),
    ("radam", dict(scalars=np.zeros((1, 4))), ValueError, "scalars must be None"),
    ("radam", dict(hyper=(-1e-2, 0.9, 0.999, 1e-8, 0.0, False, False)), ValueError, "lr"),
    ("radam", dict(hyper=(1e-2, 0.9, 0.999, 1e-8, 0.0, False)), ValueError, "7 items"),
    ("adamax", dict(hyper=(1e-2, 0.9, 0.999, np.nan, 0.0, False)), ValueError, "eps"),
    ("adamax", dict(states=[None, None, None]), ValueError, r"states\[0\]"),
    ("adadelta", dict(hyper=(1.0, 1.5, 1e-6, 0.0, False)), ValueError, "rho"),
    ("asgd", dict(scalars=np.array([[0.01] * 4, [0.01, -1.0, 0.01, 0.01]])), ValueError,
     r"scalars\[1\]\[1\].*mu"),
    ("asgd", dict(scalars=np.array([[0.01, 0.01, np.inf, 0.01], [1.0] * 4])), ValueError,
     r"scalars\[0\]\[2\].*eta"),
    ("asgd", dict(momentums=np.array([0.9, 0.9])), ValueError, "asgd has no momentum"),
    ("asgd", dict(hyper=(1e-2, 1e-4, 0.75, np.inf, 0.0, False)), ValueError, "t0"),
    ("rprop", dict(hyper=(1e-2, 0.5, 0.9, 1e-6, 50.0, False)), ValueError, "etas"),
    ("rprop", dict(hyper=(1e-2, 0.5, 1.2, 1.0, 0.5, False)), ValueError, "step_sizes"),
    ("rprop", dict(momentums=np.array([0.9, 0.9])), ValueError, "rprop has no momentum"),
    ("lion", dict(hyper=(1e-4, 0.9, 1.5, 0.0, False)), ValueError, r"betas\[1\]"),
    ("lion", dict(momentums=np.array([0.9, 1.1])), ValueError, r"momentums\[1\].*betas\[0\]"),
    ("lion", dict(states=[None, None, None]), ValueError, r"states\[0\]"),
    ("schedulefree", dict(hyper=(2.5e-3, 0.9, 0.999, 1e-8, 0.0, -1, 0.0, 2.0)), ValueError,
     "warmup_steps"),
    ("schedulefree", dict(hyper=(2.5e-3, 0.9, 0.999, 1e-8, 0.0, True, 0.0, 2.0)), TypeError,
     "warmup_steps"),
    ("schedulefree", dict(hyper=(2.5e-3, 0.0, 0.999, 1e-8, 0.0, 0, 0.0, 2.0)), ValueError,
     r"betas\[0\]"),
    ("schedulefree", dict(scalars=np.array([[-2.0] * 4, [0.5] * 4])), ValueError, "lr_max"),
    ("schedulefree", dict(scalars=np.array([[1e-3] * 4, [0.5, 0.5, 0.5, -0.1]])), ValueError,
     "weight_sum"),
]  # fmt: skip


@pytest.mark.parametrize("kind, change, exc, msg", BAD)
def test_train_steps_new_kinds_bad_input_changes_nothing(kind, change, exc, msg):
    args, params = _kind_args(kind)
    arrays, before = _snapshot(args, params)
    with pytest.raises(exc, match=msg):
        _core.train_steps(**_with(args, **change))
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["nadam", "asgd", "schedulefree"])
def test_train_steps_scalars_read_only_or_overlapping(kind):
    args, params = _kind_args(kind)
    arrays, before = _snapshot(args, params)
    ro = args["scalars"].copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="scalars"):
        _core.train_steps(**_with(args, scalars=ro))
    strided = np.zeros((args["scalars"].shape[0], 8))[:, ::2]
    strided[:] = args["scalars"]
    with pytest.raises(ValueError, match="scalars"):
        _core.train_steps(**_with(args, scalars=strided))
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b)
