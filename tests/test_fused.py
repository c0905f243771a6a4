"""The fused training loop (_core.train_steps, convergent/_fused.py) against the Python loop.

fit and the estimators hand runs of steps to C++ when the model is a Sequential of Dense layers,
the loss SoftmaxCrossEntropy and the optimizer SGD, Adam, AdamW, Adagrad or RMSprop. The C++
loop calls the same drivers with the same arguments in the same order, so the tolerance is zero:
weights, optimizer state and every reported number must be the same bits as with the fused loop
switched off.
"""

from __future__ import annotations

import warnings

import convergent as cg
import numpy as np
import pytest
from convergent import _core, _fused

Dense = cg.nn.Dense


@pytest.fixture
def count_calls(monkeypatch):
    """The number of _core.train_steps calls made so far (a list holding one int)."""
    calls = [0]
    raw = _core.train_steps

    def wrapped(*args, **kwargs):
        calls[0] += 1
        return raw(*args, **kwargs)

    monkeypatch.setattr(_core, "train_steps", wrapped)
    return calls


def _python_loop_only(monkeypatch):
    monkeypatch.setattr(_fused.FusedLoop, "plan", classmethod(lambda cls, *a, **k: None))


def _data(dt, n=203, features=11, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(dt)
    y = rng.integers(0, classes, n)
    return X, y


CONFIGS = {
    "relu-tanh": dict(acts=["relu", "tanh"], bias=True, opt="Adam", pen={}, smoothing=0.0),
    "penalties": dict(
        acts=["leaky_relu", "sigmoid"],
        bias=True,
        opt="Adam",
        pen=dict(weight_l1=1e-3, weight_l2=2e-3, activity_l1=1e-4, activity_l2=3e-4),
        smoothing=0.1,
    ),
    "no-bias-amsgrad": dict(acts=[None, "relu"], bias=False, opt="amsgrad", pen={}, smoothing=0),
    "adamw": dict(acts=["relu"], bias=True, opt="AdamW", pen=dict(weight_l2=1e-3), smoothing=0),
    "sgd": dict(acts=["relu"], bias=True, opt="sgd", pen={}, smoothing=0),
    "nesterov": dict(
        acts=["tanh"], bias=True, opt="nesterov", pen=dict(weight_l2=1e-3), smoothing=0
    ),
    "dampened": dict(acts=["relu"], bias=False, opt="dampened", pen={}, smoothing=0),
    "adagrad": dict(acts=["relu"], bias=True, opt="adagrad", pen={}, smoothing=0),
    "rmsprop": dict(acts=["relu"], bias=True, opt="rmsprop", pen={}, smoothing=0),
    "rmsprop-centered": dict(acts=["tanh"], bias=True, opt="centered", pen={}, smoothing=0.05),
}

OPTIMIZERS = {
    "Adam": lambda p: cg.optim.Adam(p, lr=1e-2),
    "amsgrad": lambda p: cg.optim.Adam(p, lr=1e-2, amsgrad=True, maximize=False),
    "AdamW": lambda p: cg.optim.AdamW(p, lr=1e-2, weight_decay=0.05),
    "sgd": lambda p: cg.optim.SGD(p, lr=0.1),
    "nesterov": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "dampened": lambda p: cg.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.5),
    "adagrad": lambda p: cg.optim.Adagrad(
        p, lr=0.05, lr_decay=0.01, weight_decay=1e-3, initial_accumulator_value=0.1
    ),
    "rmsprop": lambda p: cg.optim.RMSprop(p, lr=1e-3),
    "centered": lambda p: cg.optim.RMSprop(p, lr=1e-3, centered=True, momentum=0.5),
}


def _train(cfg, dt, X, y, shuffle, batch_size):
    sizes = [X.shape[1], 9, 7][: len(cfg["acts"]) + 1]
    layers = [
        Dense(a, b, act, bias=cfg["bias"], dtype=dt, negative_slope=0.2, **cfg["pen"])
        for a, b, act in zip(sizes, sizes[1:], cfg["acts"])
    ]
    layers.append(Dense(sizes[-1], 4, None, bias=cfg["bias"], dtype=dt))
    model = cg.nn.Sequential(layers, seed=1)
    opt = OPTIMIZERS[cfg["opt"]](model.parameters())
    loss = cg.nn.SoftmaxCrossEntropy(label_smoothing=cfg["smoothing"])
    hist = cg.fit(model, loss, opt, X, y, epochs=3, batch_size=batch_size, shuffle=shuffle,
                  seed=5, progress=False)  # fmt: skip
    return model, opt, hist


def _same(a, b):
    (ma, oa, ha), (mb, ob, hb) = a, b
    for (k, u), v in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert np.array_equal(u, v), k
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for k, u in sa[i].items():
            v = sb[i][k]
            assert np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v, (i, k)
    np.testing.assert_equal(ha.history, hb.history)  # NaN losses compare equal here


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_fused_is_the_python_loop(monkeypatch, count_calls, name, dt, shuffle):
    X, y = _data(dt)
    fused = _train(CONFIGS[name], dt, X, y, shuffle, batch_size=32)  # 7 batches, last partial
    assert count_calls[0] == 3  # one call per epoch (the first step of all in Python)
    _python_loop_only(monkeypatch)
    python = _train(CONFIGS[name], dt, X, y, shuffle, batch_size=32)
    assert count_calls[0] == 3
    _same(fused, python)


@pytest.mark.parametrize("name", ["penalties", "nesterov", "adagrad", "rmsprop-centered"])
def test_fit_fused_every_isa_and_thread_count(monkeypatch, isa, threads, name):
    X, y = _data(np.float32, n=300, features=40)
    cfg = CONFIGS[name]
    runs = []
    for t in (1, 2):
        threads(t)
        runs.append(_train(cfg, np.float32, X, y, True, batch_size=64))
    _python_loop_only(monkeypatch)
    runs.append(_train(cfg, np.float32, X, y, True, batch_size=64))
    _same(runs[0], runs[1])
    _same(runs[0], runs[2])


def test_fit_fused_guard_skips_the_same_steps(monkeypatch, count_calls):
    X, y = _data(np.float32)
    X[[5, 100]] = np.nan  # two batches of every epoch get non-finite gradients
    fused = _train(CONFIGS["relu-tanh"], np.float32, X, y, True, batch_size=32)
    assert count_calls[0] > 0
    assert sum(fused[2].history["skipped_steps"]) > 0
    _python_loop_only(monkeypatch)
    _same(fused, _train(CONFIGS["relu-tanh"], np.float32, X, y, True, batch_size=32))


def test_progress_bar_runs_of_steps(monkeypatch, count_calls):
    pytest.importorskip("tqdm")
    X, y = _data(np.float32, n=640)
    model = cg.nn.Sequential([Dense(11, 8, "relu"), Dense(8, 4)], seed=0)
    opt = cg.optim.Adam(model.parameters())
    cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=1, batch_size=8, verbose=1)
    assert count_calls[0] > 1  # runs of steps between bar updates, not one call per epoch


class _BatchEnd(cg.callbacks.Callback):
    """A callback that runs after every step keeps fit in the Python loop."""

    def on_batch_end(self, step, logs):
        pass


class _SubclassedAdam(cg.optim.Adam):
    """A user's subclass may change the step: it is not handed to the C++ loop."""


@pytest.mark.parametrize(
    "change",
    ["dropout", "subclass", "two-groups", "mse", "float-labels", "batch-callback"],
)
def test_other_trainings_use_the_python_loop(count_calls, change):
    X, y = _data(np.float32)
    layers = [Dense(11, 8, "relu"), Dense(8, 4)]
    if change == "dropout":
        layers.insert(1, cg.nn.Dropout(0.1))
    model = cg.nn.Sequential(layers, seed=0)
    params = model.parameters()
    opt = {
        "subclass": lambda: _SubclassedAdam(params),
        "two-groups": lambda: cg.optim.Adam([{"params": params[:2]}, {"params": params[2:]}]),
    }.get(change, lambda: cg.optim.Adam(params))()
    loss = cg.nn.MSELoss() if change in ("mse", "float-labels") else cg.nn.SoftmaxCrossEntropy()
    target = np.eye(4, dtype=np.float32)[y] if change in ("mse", "float-labels") else y
    kw = {"callbacks": [_BatchEnd()]} if change == "batch-callback" else {}
    cg.fit(model, loss, opt, X, target, epochs=2, batch_size=32, progress=False, **kw)
    assert count_calls[0] == 0


def _train_scheduled(opt_name, schedule, dt=np.float32, epochs=3):
    X, y = _data(dt)
    model = cg.nn.Sequential([Dense(11, 9, "relu", dtype=dt), Dense(9, 4, dtype=dt)], seed=2)
    opt = OPTIMIZERS[opt_name](model.parameters())
    hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=epochs, batch_size=32,
                  schedule=schedule, seed=4, progress=False)  # fmt: skip
    return model, opt, hist


SCHEDULES = {
    "cosine-warmup": lambda: cg.schedules.CosineDecay(0.05, 21, warmup_steps=5),
    "step": lambda: cg.schedules.StepDecay(0.05, step_size=4, gamma=0.5),
    "exp-staircase": lambda: cg.schedules.ExponentialDecay(0.05, 3, 0.7, staircase=True),
}


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", ["Adam", "AdamW", "nesterov", "adagrad", "centered"])
@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_fit_fused_with_schedule_is_the_python_loop(monkeypatch, count_calls, opt_name, sched, dt):
    fused = _train_scheduled(opt_name, SCHEDULES[sched](), dt)
    assert count_calls[0] == 3  # the schedule no longer sends fit to the Python loop
    assert len(set(fused[2].history["lr"])) > 1
    _python_loop_only(monkeypatch)
    python = _train_scheduled(opt_name, SCHEDULES[sched](), dt)
    _same(fused, python)
    assert fused[1].param_groups[0]["lr"] == python[1].param_groups[0]["lr"]


CLIPS = {
    "norm": dict(clip_grad_norm=0.05),
    "value": dict(clip_grad_value=0.002),
    "both": dict(clip_grad_norm=0.05, clip_grad_value=0.002),
    "norm-loose": dict(clip_grad_norm=1e6),  # never scales
}


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("nan_rows", [False, True])
def test_fit_fused_with_clipping_is_the_python_loop(monkeypatch, count_calls, clip, dt, nan_rows):
    def train(clip=clip):
        X, y = _data(dt)
        if nan_rows:
            X[[5, 100]] = np.nan  # the guard (or the norm) skips two steps per epoch
        model = cg.nn.Sequential([Dense(11, 9, "relu", dtype=dt), Dense(9, 4, dtype=dt)], seed=2)
        opt = cg.optim.Adam(model.parameters(), lr=1e-2)
        hist = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=32,
                      seed=4, progress=False, **(CLIPS[clip] if clip else {}))  # fmt: skip
        return model, opt, hist

    fused = train()
    assert count_calls[0] == 3
    assert (sum(fused[2].history["skipped_steps"]) > 0) == nan_rows
    unclipped = train(clip=False)
    same = all(
        np.array_equal(u, v) for u, v in zip(fused[0].parameters(), unclipped[0].parameters())
    )
    assert same == (clip == "norm-loose")  # the clips did act (and a loose norm clip did not)
    _python_loop_only(monkeypatch)
    _same(fused, train())


class _Bad:
    """A schedule that fails at one step: returns a negative rate, or raises."""

    def __init__(self, at, kind):
        self.at, self.kind, self.calls = at, kind, []

    def __call__(self, step):
        self.calls.append(step)
        if step == self.at:
            if self.kind == "raise":
                raise RuntimeError("no rate for this step")
            return -1.0 if self.kind == "negative" else float("nan")
        return 0.01


@pytest.mark.parametrize("kind", ["negative", "nan", "raise"])
def test_fit_fused_schedule_failing_mid_run_stops_where_python_does(monkeypatch, kind):
    def attempt():
        X, y = _data(np.float32)
        model = cg.nn.Sequential([Dense(11, 9, "relu"), Dense(9, 4)], seed=2)
        opt = cg.optim.Adam(model.parameters())
        bad = _Bad(12, kind)
        with pytest.raises((ValueError, RuntimeError)) as e:
            cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=32,
                   schedule=bad, seed=4, progress=False)  # fmt: skip
        return model, opt, type(e.value), bad.calls

    fm, fo, fe, fcalls = attempt()
    _python_loop_only(monkeypatch)
    pm, po, pe, pcalls = attempt()
    assert fe is pe and max(fcalls) == max(pcalls) == 12  # no step past the failing one
    for u, v in zip(fm.parameters(), pm.parameters()):
        assert np.array_equal(u, v)
    for i, st in po.state.items():
        for k, v in st.items():
            u = fo.state[i][k]
            assert np.array_equal(u, v) if isinstance(v, np.ndarray) else u == v


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_estimator_fused_is_the_python_loop(monkeypatch, count_calls, solver, shuffle, alpha):
    from convergent.sklearn import MLPClassifier

    X, y = _data(np.float32, n=250)
    kw = dict(hidden_layer_sizes=(12, 9), batch_size=32, max_iter=3, random_state=0)
    kw.update(solver=solver, shuffle=shuffle, alpha=alpha, learning_rate="invscaling")
    warnings.simplefilter("ignore")
    a = MLPClassifier(**kw).fit(X, y)
    assert count_calls[0] == 6  # per epoch: the full batches, then the partial one
    _python_loop_only(monkeypatch)
    b = MLPClassifier(**kw).fit(X, y)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(u, v)
    assert a.loss_curve_ == b.loss_curve_


def _loop_args(dt=np.float32, n=50, batch=16):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 6)).astype(dt)
    y = rng.integers(0, 3, n).astype(np.int64)
    d1, d2 = Dense(6, 5, "relu", dtype=dt, seed=1), Dense(5, 3, dtype=dt, seed=2)

    def layer(d, first):
        return [
            d.weight, d.bias, d.activation, d.negative_slope, 0.0, 0.0, 0.0, 0.0,
            np.zeros((batch, d.out_features), dt), np.zeros((batch, d.out_features), dt),
            None if first else np.zeros((batch, d.in_features), dt),
            d.gradients()[0], d.gradients()[1],
        ]  # fmt: skip

    params = d1.parameters() + d2.parameters()
    args = dict(
        x=X, y=y, order=rng.permutation(n), batch=batch,
        xbuf=np.zeros((2 * batch, 6), dt), ybuf=np.zeros(2 * batch, np.int64),
        dlogits=np.zeros((batch, 3), dt), layers=[layer(d1, True), layer(d2, False)],
        label_smoothing=0.0, guard=True, penalty_after_backward=False,
        optimizer="adam", hyper=(1e-2, 0.9, 0.999, 1e-8, 0.0, False, False, False),
        states=[[np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], None],
        steps=[0] * 4, first=0, count=2,
    )  # fmt: skip
    return args, params


def _with(args, **changes):
    out = dict(args)
    out.update(changes)
    return out


def _layer_with(args, i, j, value):
    layers = [list(x) for x in args["layers"]]
    layers[i][j] = value
    return tuple(tuple(x) for x in layers)


def test_train_steps_runs_and_counts():
    args, params = _loop_args()
    before = [p.copy() for p in params]
    losses, correct, applied, penalties = _core.train_steps(
        **_with(args, layers=[tuple(x) for x in args["layers"]])
    )
    assert losses.shape == (2,) and np.all(np.isfinite(losses)) and applied.all()
    assert correct.dtype == np.int64 and len(penalties) == 2
    assert all(not np.array_equal(p, q) for p, q in zip(params, before))


def test_train_steps_bad_input_changes_nothing():
    args, params = _loop_args()
    args["layers"] = [tuple(x) for x in args["layers"]]
    f64 = np.zeros((50, 6))
    bad = [
        (dict(x=f64), TypeError),
        (dict(y=args["y"] + 5), ValueError),
        (dict(y=args["y"].astype(np.int32)), TypeError),
        (dict(order=args["order"] + 1), ValueError),
        (dict(order=args["order"][:10]), ValueError),
        (dict(batch=0), ValueError),
        (dict(first=3, count=2), ValueError),
        (dict(xbuf=np.zeros((15, 6), np.float32)), ValueError),
        (dict(xbuf=np.zeros((16, 6), np.float32)), ValueError),  # one batch; two are needed
        (dict(ybuf=np.zeros(16, np.int64)), ValueError),
        (dict(dlogits=np.zeros((16, 4), np.float32)), ValueError),
        (dict(xbuf=args["x"][:32]), ValueError),  # overlaps x
        (dict(layers=_layer_with(args, 1, 0, np.zeros((4, 3), np.float32))), ValueError),
        (dict(layers=_layer_with(args, 0, 2, "softmax")), ValueError),
        (dict(layers=_layer_with(args, 0, 4, -1.0)), ValueError),
        (dict(layers=_layer_with(args, 0, 11, args["layers"][0][8])), ValueError),
        (dict(layers=_layer_with(args, 0, 12, None)), ValueError),
        (dict(layers=[]), ValueError),
        (dict(states=[args["states"][0][:3], args["states"][1], None]), ValueError),
        (dict(steps=[0, 0, 0, "1"]), TypeError),
        (dict(hyper=(-1.0, 0.9, 0.999, 1e-8, 0.0, False, False, False)), ValueError),
        (dict(hyper=(1e-2, 0.9)), ValueError),
        (dict(hyper=[1e-2, 0.9, 0.999, 1e-8, 0.0, False, False, False]), TypeError),
        (dict(optimizer="lbfgs"), ValueError),
        (dict(states=[args["states"][0], None, None]), ValueError),
        (dict(states=[*args["states"][:2], args["states"][0]]), ValueError),
        (dict(optimizer="sgd", hyper=(0.1, 0.9, 0.0, 0.0, False, False)), ValueError),
        (dict(label_smoothing=2.0), ValueError),
        (dict(lrs=np.full(3, 1e-3)), ValueError),  # one per step: count is 2
        (dict(lrs=np.array([1e-3, np.nan])), ValueError),
        (dict(lrs=np.array([1e-3, -1e-3])), ValueError),
        (dict(lrs=np.array([1e-3, 1e-3], np.float32)), TypeError),
        (dict(lrs=[1e-3, 1e-3]), TypeError),
        (dict(clip_norm=-1.0), ValueError),
        (dict(clip_value=float("nan")), ValueError),
        (dict(clip_norm=float("inf")), ValueError),
    ]
    for change, exc in bad:
        before = [p.copy() for p in params]
        with pytest.raises(exc):
            _core.train_steps(**_with(args, **change))
        for p, q in zip(params, before):
            assert np.array_equal(p, q), change


def test_runs_are_capped_and_give_the_same_bits(monkeypatch, count_calls):
    X, y = _data(np.float32)
    monkeypatch.setattr(_fused.FusedLoop, "MAX_STEPS", 2)
    fused = _train(CONFIGS["relu-tanh"], np.float32, X, y, True, batch_size=32)
    assert count_calls[0] == 3 + 4 + 4  # 7 batches per epoch, the first step of all in Python
    _python_loop_only(monkeypatch)
    _same(fused, _train(CONFIGS["relu-tanh"], np.float32, X, y, True, batch_size=32))
