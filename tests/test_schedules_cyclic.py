"""OneCycle, Cyclic, LinearSchedule and SequentialSchedule against torch.optim.lr_scheduler 2.13
(a real torch optimizer stepped by the torch scheduler: group["lr"] and the momentum or beta1 it
holds at each of 2000 steps), CosineDecayRestarts and PolynomialDecay against the Keras formulas
written out here, and the argument checks.

OneCycleLR and CyclicLR compute each step in closed form, so the values are the same bits.
LinearLR steps recursively (each lr a multiple of the previous one) and SequentialLR's
schedulers inside it (ExponentialLR, StepLR) too, so those agree to a few ulps; the tolerance
1e-12 (absolute, the rates are <= 0.3) leaves room for that rounding and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from convergent import schedules as S

torch = pytest.importorskip("torch", reason="the reference values come from torch.optim")
L = torch.optim.lr_scheduler

N = 2000


def _torch_values(make_opt, make_sched, n=N):
    """(lr, momentum or beta1) the torch optimizer holds at steps 0 .. n-1."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = make_opt([p])
    sched = make_sched(opt)
    out = []
    for k in range(n):
        g = opt.param_groups[0]
        out.append((g["lr"], g["betas"][0] if "betas" in g else g.get("momentum")))
        p.grad = torch.ones_like(p)
        opt.step()
        if k + 1 < n:
            sched.step()
    return out


def _sgd(ps):
    return torch.optim.SGD(ps, lr=0.1, momentum=0.9)


def _adam(ps):
    return torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.99))


def _rmsprop(ps):
    return torch.optim.RMSprop(ps, lr=0.1, momentum=0.5)


OPTS = {"sgd": _sgd, "adam": _adam, "rmsprop": _rmsprop}


def _compare(ours, ref, *, exact, momentum=True):
    lr = np.array([ours(k) for k in range(len(ref))])
    want = np.array([a for a, _ in ref])
    if exact:
        assert np.array_equal(lr, want)
    else:
        np.testing.assert_allclose(lr, want, rtol=0, atol=1e-12)
    if momentum:
        m = np.array([ours.momentum(k) for k in range(len(ref))])
        want_m = np.array([b for _, b in ref])
        if exact:
            assert np.array_equal(m, want_m)
        else:
            np.testing.assert_allclose(m, want_m, rtol=0, atol=1e-12)


ONECYCLE = {
    "defaults": {},
    "three-phase": dict(three_phase=True),
    "linear": dict(anneal_strategy="linear"),
    "linear-three": dict(anneal_strategy="linear", three_phase=True, pct_start=0.25),
    "momentum-range": dict(base_momentum=0.7, max_momentum=0.9, div_factor=10.0),
    "final-div": dict(final_div_factor=100.0, pct_start=0.45),
    "pct-0": dict(pct_start=0.0),
    "pct-1": dict(pct_start=1.0),
}


@pytest.mark.parametrize("opt", list(OPTS))
@pytest.mark.parametrize("case", list(ONECYCLE))
def test_onecycle_is_torch(opt, case):
    kw = ONECYCLE[case]
    ref = _torch_values(OPTS[opt], lambda o: L.OneCycleLR(o, 0.3, total_steps=N, **kw))
    _compare(S.OneCycle(0.3, N, **kw), ref, exact=True)
    if case == "pct-1":  # a last phase of zero steps: torch divides by zero at step N
        with pytest.raises(ValueError, match="zero steps"):
            S.OneCycle(0.3, N, **kw)(N)


def test_onecycle_short_and_last_step():
    for total in (2, 3, 7, 11):
        ref = _torch_values(_sgd, lambda o, t=total: L.OneCycleLR(o, 0.1, total_steps=t), total)
        _compare(S.OneCycle(0.1, total), ref, exact=True)
    s = S.OneCycle(0.1, 100)
    assert s(99) == pytest.approx(0.1 / 25 / 1e4, rel=1e-12)  # min_lr at the last step
    assert s(0) == pytest.approx(0.1 / 25, rel=1e-14) and s.momentum(0) == pytest.approx(0.95)
    s(100)  # torch still computes step total_steps (its scheduler's last call)
    with pytest.raises(ValueError, match="past total_steps"):
        s(101)
    with pytest.raises(ValueError, match="past total_steps"):
        s.momentum(101)


def test_onecycle_without_momentum():
    s = S.OneCycle(0.1, 50, cycle_momentum=False)
    assert not s.drives_momentum and s.momentum(3) is None
    ref = _torch_values(
        lambda ps: torch.optim.Adagrad(ps, lr=0.1),
        lambda o: L.OneCycleLR(o, 0.1, total_steps=50, cycle_momentum=False),
        50,
    )
    _compare(s, ref, exact=True, momentum=False)


CYCLIC = {
    "triangular": dict(step_size_up=70),
    "asymmetric": dict(step_size_up=70, step_size_down=30),
    "triangular2": dict(step_size_up=50, step_size_down=90, mode="triangular2"),
    "exp_range": dict(step_size_up=40, mode="exp_range", gamma=0.999),
    "down-0": dict(step_size_up=33, step_size_down=0),
    "momentum": dict(step_size_up=25, base_momentum=0.0, max_momentum=0.95),
    "defaults": {},
}


@pytest.mark.parametrize("opt", list(OPTS))
@pytest.mark.parametrize("case", list(CYCLIC))
def test_cyclic_is_torch(opt, case):
    kw = CYCLIC[case]
    ref = _torch_values(OPTS[opt], lambda o: L.CyclicLR(o, 0.01, 0.1, **kw))
    _compare(S.Cyclic(0.01, 0.1, **kw), ref, exact=True)


def test_cyclic_momentum_is_inverse_to_lr():
    s = S.Cyclic(0.01, 0.1, step_size_up=10)
    assert s(0) == 0.01 and s.momentum(0) == 0.9
    assert s(10) == pytest.approx(0.1) and s.momentum(10) == pytest.approx(0.8)
    assert s(20) == pytest.approx(0.01) and s.momentum(20) == pytest.approx(0.9)
    assert not S.Cyclic(0.01, 0.1, cycle_momentum=False).drives_momentum


@pytest.mark.parametrize(
    "start,end,total", [(1 / 3, 1.0, 5), (0.2, 0.9, 700), (1.0, 0.0, 1500), (0.05, 0.5, 1)]
)
def test_linear_schedule_is_torch(start, end, total):
    ref = _torch_values(_sgd, lambda o: L.LinearLR(o, start, end, total_iters=total))
    s = S.LinearSchedule(0.1, start, end, total)
    assert not s.drives_momentum
    _compare(s, ref, exact=False, momentum=False)  # torch steps recursively: a few ulps
    assert s(total + 5) == s(total) == pytest.approx(0.1 * end, rel=1e-15)


def test_linear_schedule_defaults_are_torchs():
    ref = _torch_values(_sgd, lambda o: L.LinearLR(o), 20)
    _compare(S.LinearSchedule(0.1), ref, exact=False, momentum=False)


def test_sequential_is_torch():
    ref = _torch_values(
        _sgd,
        lambda o: L.SequentialLR(
            o,
            [L.LinearLR(o, 0.1, total_iters=50), L.ExponentialLR(o, 0.998), L.StepLR(o, 100, 0.5)],
            [60, 900],
        ),
    )
    s = S.SequentialSchedule(
        [
            S.LinearSchedule(0.1, 0.1, 1.0, 50),
            S.ExponentialDecay(0.1, 1, 0.998),
            S.StepDecay(0.1, 100, 0.5),
        ],
        [60, 900],
    )
    assert not s.drives_momentum and s.momentum(5) is None
    _compare(s, ref, exact=False, momentum=False)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_sequential_with_a_momentum_cycle_is_torch(opt):
    """Warmup, a cyclic phase that drives momentum, then a step decay: torch sets the momentum
    when the cyclic scheduler is built (its step-0 value), cycles it, and leaves the last."""
    ref = _torch_values(
        OPTS[opt],
        lambda o: L.SequentialLR(
            o,
            [
                L.LinearLR(o, 0.1, total_iters=50),
                L.CyclicLR(o, 0.01, 0.1, 40, 15),
                L.StepLR(o, 100),
            ],
            [60, 917],
        ),
    )
    s = S.SequentialSchedule(
        [S.LinearSchedule(0.1, 0.1, 1.0, 50), S.Cyclic(0.01, 0.1, 40, 15), S.StepDecay(0.1, 100)],
        [60, 917],
    )
    assert s.drives_momentum
    _compare(s, ref, exact=False)
    assert s.momentum(0) == 0.9 and s.momentum(1999) == s.momentum(916)


def test_sequential_momentum_between_two_cycles():
    a, b = S.Cyclic(0.01, 0.1, 10), S.OneCycle(0.1, 30)
    s = S.SequentialSchedule([S.Constant(0.05), a, S.Constant(0.01), b], [5, 25, 40])
    assert [s.momentum(t) for t in (0, 4)] == [a.momentum(0)] * 2
    assert s.momentum(7) == a.momentum(2) and s.momentum(45) == b.momentum(5)
    assert s.momentum(30) == a.momentum(19)  # the last value the cyclic segment set
    assert s(3) == 0.05 and s(25) == 0.01 and s(40) == b(0)


def _keras_restarts(lr0, d, t_mul, m_mul, alpha, step):
    """keras.optimizers.schedules.CosineDecayRestarts.__call__, float64."""
    frac = np.float64(step) / d
    if t_mul == 1.0:
        i = np.floor(frac)
        frac = frac - i
    else:
        i = np.floor(np.log(1.0 - frac * (1.0 - t_mul)) / np.log(t_mul))
        sum_r = (1.0 - np.power(t_mul, i)) / (1.0 - t_mul)
        frac = (frac - sum_r) / np.power(t_mul, i)
    cosine = 0.5 * np.power(m_mul, i) * (1.0 + np.cos(np.pi * frac))
    return lr0 * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize(
    "kw",
    [
        dict(first_decay_steps=100),
        dict(first_decay_steps=37, t_mul=1.0, m_mul=0.8, alpha=0.1),
        dict(first_decay_steps=10, t_mul=1.5, m_mul=0.9),
        dict(first_decay_steps=7, t_mul=3.0, alpha=0.05),
    ],
)
def test_cosine_decay_restarts_is_keras(kw):
    d = kw["first_decay_steps"]
    args = (kw.get("t_mul", 2.0), kw.get("m_mul", 1.0), kw.get("alpha", 0.0))
    s = S.CosineDecayRestarts(0.2, **kw)
    got = np.array([s(t) for t in range(N)])
    want = np.array([_keras_restarts(0.2, d, *args, t) for t in range(N)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert s(0) == 0.2


def test_cosine_decay_restarts_periods():
    s = S.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    assert s(10) == pytest.approx(0.5) and s(30) == pytest.approx(0.25)  # restarts at 10, 30
    assert s(5) == pytest.approx(0.5) and s(20) == pytest.approx(0.25)  # half way down
    assert s(9) < s(10)


def _keras_poly(lr0, d, end, power, cycle, step):
    """keras.optimizers.schedules.PolynomialDecay.__call__, float64."""
    s, ds = np.float64(step), np.float64(d)
    if cycle:
        ds = ds * (1.0 if step == 0 else np.ceil(s / d))
    else:
        s = np.minimum(s, ds)
    return (lr0 - end) * np.power(1 - s / ds, power) + end


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power,end", [(1.0, 1e-4), (2.0, 0.0), (0.5, 0.01), (3.0, 0.3)])
def test_polynomial_decay_is_keras(cycle, power, end):
    s = S.PolynomialDecay(0.1, 150, end_lr=end, power=power, cycle=cycle)
    got = np.array([s(t) for t in range(N)])
    want = np.array([_keras_poly(0.1, 150, end, power, cycle, t) for t in range(N)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert s(0) == 0.1
    assert (s(N) == end) != cycle  # without cycle: end_lr after decay_steps


BAD = [
    (S.OneCycle, (0.1, 0), {}, ValueError, "total_steps"),
    (S.OneCycle, (0.1, 10.0), {}, TypeError, "total_steps"),
    (S.OneCycle, (-0.1, 10), {}, ValueError, "max_lr"),
    (S.OneCycle, ("0.1", 10), {}, TypeError, "max_lr"),
    (S.OneCycle, (0.1, 10), dict(pct_start=1.5), ValueError, "pct_start"),
    (S.OneCycle, (0.1, 10), dict(pct_start=0.1), ValueError, "pct_start"),  # 0-step phase
    (S.OneCycle, (0.1, 10), dict(anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (S.OneCycle, (0.1, 10), dict(anneal_strategy=1), TypeError, "anneal_strategy"),
    (S.OneCycle, (0.1, 10), dict(div_factor=0.0), ValueError, "div_factor"),
    (S.OneCycle, (0.1, 10), dict(final_div_factor=-1.0), ValueError, "final_div_factor"),
    (S.OneCycle, (0.1, 10), dict(base_momentum=float("nan")), ValueError, "base_momentum"),
    (S.OneCycle, (0.1, 10), dict(max_momentum=-0.5), ValueError, "max_momentum"),
    (S.Cyclic, (0.01, 0.1), dict(step_size_up=0), ValueError, "step_size_up"),
    (S.Cyclic, (0.01, 0.1), dict(step_size_down=-1), ValueError, "step_size_down"),
    (S.Cyclic, (0.01, 0.1), dict(mode="cosine"), ValueError, "mode"),
    (S.Cyclic, (0.01, 0.1), dict(gamma=0.0), ValueError, "gamma"),
    (S.Cyclic, (-0.01, 0.1), {}, ValueError, "base_lr"),
    (S.Cyclic, (0.01, float("inf")), {}, ValueError, "max_lr"),
    (S.Cyclic, (0.01, 0.1), dict(base_momentum=None), TypeError, "base_momentum"),
    (S.CosineDecayRestarts, (0.1, 0), {}, ValueError, "first_decay_steps"),
    (S.CosineDecayRestarts, (0.1, 10), dict(t_mul=0.5), ValueError, "t_mul"),
    (S.CosineDecayRestarts, (0.1, 10), dict(m_mul=-1.0), ValueError, "m_mul"),
    (S.CosineDecayRestarts, (0.1, 10), dict(alpha=2.0), ValueError, "alpha"),
    (S.PolynomialDecay, (0.1, 0), {}, ValueError, "decay_steps"),
    (S.PolynomialDecay, (0.1, 10), dict(power=-1.0), ValueError, "power"),
    (S.PolynomialDecay, (0.1, 10), dict(end_lr=-1.0), ValueError, "end_lr"),
    (S.LinearSchedule, (0.1,), dict(start_factor=0.0), ValueError, "start_factor"),
    (S.LinearSchedule, (0.1,), dict(start_factor=1.5), ValueError, "start_factor"),
    (S.LinearSchedule, (0.1,), dict(end_factor=1.5), ValueError, "end_factor"),
    (S.LinearSchedule, (0.1,), dict(total_steps=0), ValueError, "total_steps"),
    (S.SequentialSchedule, ([S.Constant(0.1)], [5]), {}, ValueError, "boundaries"),
    (S.SequentialSchedule, ([], []), {}, ValueError, "schedules"),
    (S.SequentialSchedule, ([S.Constant(0.1), 0.5], [5]), {}, TypeError, r"schedules\[1\]"),
    (S.SequentialSchedule, ([S.Constant(0.1)] * 3, [5, 5]), {}, ValueError, "boundaries"),
    (S.SequentialSchedule, ([S.Constant(0.1)] * 2, [0]), {}, ValueError, r"boundaries\[0\]"),
    (S.SequentialSchedule, (S.Constant(0.1), [5]), {}, TypeError, "schedules"),
]


@pytest.mark.parametrize("cls,args,kw,exc,name", BAD)
def test_bad_arguments_name_the_argument(cls, args, kw, exc, name):
    with pytest.raises(exc, match=name):
        cls(*args, **kw)


@pytest.mark.parametrize(
    "s",
    [
        S.OneCycle(0.1, 100),
        S.Cyclic(0.01, 0.1, 10),
        S.CosineDecayRestarts(0.1, 10),
        S.PolynomialDecay(0.1, 10),
        S.LinearSchedule(0.1),
        S.SequentialSchedule([S.LinearSchedule(0.1), S.OneCycle(0.1, 100)], [5]),
        S.LinearWarmup(S.OneCycle(0.1, 100), 5),
    ],
)
def test_negative_step_config_and_repr(s):
    with pytest.raises(ValueError, match="step"):
        s(-1)
    with pytest.raises(ValueError, match="step"):
        s.momentum(-1)
    cfg = s.get_config()
    assert repr(s).startswith(type(s).__name__ + "(")
    if isinstance(s, (S.SequentialSchedule, S.LinearWarmup)):  # wrapped: type and config
        inner = cfg["schedules"][-1] if "schedules" in cfg else cfg["schedule"]
        assert inner == {"type": "OneCycle", "config": S.OneCycle(0.1, 100).get_config()}
        return
    again = type(s)(**cfg)  # the config rebuilds the schedule
    assert [again(t) for t in range(20)] == [s(t) for t in range(20)]
    assert [again.momentum(t) for t in range(20)] == [s.momentum(t) for t in range(20)]


def test_linear_warmup_passes_momentum_on():
    inner = S.OneCycle(0.1, 100)
    w = S.LinearWarmup(inner, 10, start_lr=0.0)
    assert w.drives_momentum
    assert [w.momentum(t) for t in range(10)] == [inner.momentum(0)] * 10
    assert w.momentum(17) == inner.momentum(7) and w(17) == inner(7)
    assert not S.LinearWarmup(S.Constant(0.1), 3).drives_momentum
    assert math.isclose(w(5), 0.5 * inner(0))
