"""Learning-rate schedules against hand-written closed forms (Keras formulas)."""

import math

import convergent as cg
import pytest
from convergent import schedules as S

STEPS = list(range(0, 60)) + [99, 100, 101, 250, 999, 1000, 1001, 12345]


def test_constant():
    s = S.Constant(0.05)
    assert all(s(t) == 0.05 for t in STEPS)


def test_step_decay():
    s = S.StepDecay(0.1, step_size=7, gamma=0.5)
    for t in STEPS:
        assert s(t) == pytest.approx(0.1 * 0.5 ** math.floor(t / 7), rel=1e-15)
    assert s(6) == 0.1 and s(7) == 0.05


def test_piecewise_constant_keras_boundaries():
    s = S.PiecewiseConstant([10, 20], [1.0, 0.5, 0.1])
    expect = {0: 1.0, 9: 1.0, 10: 1.0, 11: 0.5, 20: 0.5, 21: 0.1, 1000: 0.1}
    for t, v in expect.items():
        assert s(t) == v, t


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = S.ExponentialDecay(0.1, decay_steps=13, decay_rate=0.96, staircase=staircase)
    for t in STEPS:
        p = (t // 13) if staircase else t / 13
        assert s(t) == pytest.approx(0.1 * 0.96**p, rel=1e-14)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    s = S.InverseTimeDecay(0.2, decay_steps=5, decay_rate=0.5, staircase=staircase)
    for t in STEPS:
        p = (t // 5) if staircase else t / 5
        assert s(t) == pytest.approx(0.2 / (1 + 0.5 * p), rel=1e-14)


def _cos(t, n, alpha, start):
    t = min(t, n)
    return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t / n)) + alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_cosine_decay(alpha):
    s = S.CosineDecay(0.3, decay_steps=100, alpha=alpha)
    for t in STEPS:
        assert s(t) == pytest.approx(_cos(t, 100, alpha, 0.3), rel=1e-13, abs=1e-16)
    assert s(0) == pytest.approx(0.3) and s(100) == pytest.approx(0.3 * alpha, abs=1e-16)
    # warmup_steps alone does nothing (Keras): warmup needs warmup_target
    assert S.CosineDecay(0.3, 100, alpha, warmup_steps=10)(5) == s(5)


def test_cosine_decay_with_warmup():
    s = S.CosineDecay(0.0, decay_steps=50, alpha=0.05, warmup_steps=10, warmup_target=0.4)
    for t in STEPS:
        want = 0.4 * t / 10 if t < 10 else _cos(t - 10, 50, 0.05, 0.4)
        assert s(t) == pytest.approx(want, rel=1e-13, abs=1e-16), t
    assert s(10) == pytest.approx(0.4)


def test_linear_warmup_wraps_any_schedule():
    inner = S.ExponentialDecay(0.1, 10, 0.5)
    s = S.LinearWarmup(inner, warmup_steps=8, start_lr=0.02)
    for t in STEPS:
        want = 0.02 + (0.1 - 0.02) * t / 8 if t < 8 else 0.1 * 0.5 ** ((t - 8) / 10)
        assert s(t) == pytest.approx(want, rel=1e-14)
    plain = S.LinearWarmup(lambda t: 1.0, warmup_steps=0)
    assert plain(0) == 1.0
    assert s.get_config()["schedule"]["type"] == "ExponentialDecay"


def test_get_config_round_trips():
    for s in [
        S.Constant(0.1),
        S.StepDecay(0.1, 3, 0.5),
        S.PiecewiseConstant([1], [0.1, 0.01]),
        S.ExponentialDecay(0.1, 4, 0.9, True),
        S.InverseTimeDecay(0.1, 4, 0.9),
        S.CosineDecay(0.1, 10, 0.1, 2, 0.2),
    ]:
        again = type(s)(**s.get_config())
        assert [again(t) for t in STEPS] == [s(t) for t in STEPS]
        assert type(s).__name__ in repr(s)


@pytest.mark.parametrize(
    "make, exc",
    [
        (lambda: S.StepDecay(0.1, 0), ValueError),
        (lambda: S.StepDecay(0.1, 2.5), TypeError),
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), ValueError),
        (lambda: S.ExponentialDecay(-0.1, 10, 0.5), ValueError),
        (lambda: S.ExponentialDecay(float("nan"), 10, 0.5), ValueError),
        (lambda: S.InverseTimeDecay(0.1, 10, -1.0), ValueError),
        (lambda: S.CosineDecay(0.1, 0), ValueError),
        (lambda: S.CosineDecay(0.1, 10, alpha=1.5), ValueError),
        (lambda: S.PiecewiseConstant([5, 5], [1, 2, 3]), ValueError),
        (lambda: S.PiecewiseConstant([5], [1]), ValueError),
        (lambda: S.PiecewiseConstant("ab", [1, 2, 3]), TypeError),
        (lambda: S.LinearWarmup(3.0, 5), TypeError),
        (lambda: S.Constant("x"), TypeError),
    ],
)
def test_bad_arguments(make, exc):
    with pytest.raises(exc):
        make()


def test_negative_step_rejected():
    with pytest.raises(ValueError, match="step"):
        S.Constant(0.1)(-1)


def test_exported():
    assert cg.schedules.ExponentialDecay is S.ExponentialDecay
