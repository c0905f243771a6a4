"""Lion and Schedule-Free AdamW, bad input: a TypeError/ValueError naming the argument (a
RuntimeError for a Schedule-Free step in eval mode), and nothing written anywhere.

As in test_optim_bad_input: two param groups with state from earlier steps; every case
snapshots params, state and groups, makes the bad call and checks every bit is unchanged.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bad_grads_rejected,
    assert_bad_group_values_rejected,
    assert_bits_equal,
    assert_rejected,
    assert_step_rejected,
    setup,
)
from convergent import _core

NAMES = ("Lion", "ScheduleFreeAdamW")
OPTS = {
    "Lion": dict(lr=1e-2, weight_decay=0.1),
    "ScheduleFreeAdamW": dict(lr=0.05, weight_decay=0.1, warmup_steps=2, r=0.5),
}
NAN, INF = float("nan"), float("inf")
BAD_HYPER = {
    "Lion": [("lr", -1.0), ("lr", NAN), ("lr", INF), ("weight_decay", -0.1),
             ("weight_decay", NAN), ("betas", (1.0, 0.99)), ("betas", (0.9, 1.0)),
             ("betas", (-0.1, 0.9)), ("betas", (0.9, NAN)), ("betas", 0.9)],
    "ScheduleFreeAdamW": [("lr", -1.0), ("lr", NAN), ("lr", -INF), ("eps", -1e-8),
                          ("eps", NAN), ("weight_decay", -0.1), ("weight_decay", INF),
                          ("betas", (0.0, 0.999)), ("betas", (1.0, 0.999)),
                          ("betas", (0.9, 1.0)), ("betas", (0.9, -0.5)), ("betas", (NAN, 0.9)),
                          ("betas", (0.9,)), ("warmup_steps", -1), ("r", -0.5), ("r", NAN),
                          ("weight_lr_power", -1.0), ("weight_lr_power", INF)],
}  # fmt: skip


def _setup(name, dtype=np.float64, one_group=False):
    return setup(name, OPTS[name], dtype, one_group)


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_bad_grads_change_nothing(name, dtype, one_group):
    assert_bad_grads_rejected(*_setup(name, dtype, one_group))


@pytest.mark.parametrize("name", NAMES)
def test_read_only_param_changes_nothing(name):
    rng, params, opt = _setup(name)
    params[2].setflags(write=False)
    assert_step_rejected(rng, params, opt, ValueError, "read-only")
    if name == "ScheduleFreeAdamW":  # the switch validates both groups before moving either
        assert_rejected(params, opt, opt.eval, ValueError, "read-only")
        assert all(g["train_mode"] for g in opt.param_groups)


@pytest.mark.parametrize("name", NAMES)
def test_bad_state_buffer_changes_nothing(name):
    rng, params, opt = _setup(name)
    for key in [k for k, v in opt.state[2].items() if isinstance(v, np.ndarray)]:
        for bad, exc in [
            (opt.state[2][key].astype(np.float32), TypeError),
            (np.zeros(params[2].size + 1), ValueError),
            (np.zeros(2 * params[2].size)[::2], ValueError),
        ]:
            good = opt.state[2][key]
            opt.state[2][key] = bad
            assert_step_rejected(rng, params, opt, exc)
            if key == "z":
                assert_rejected(params, opt, opt.eval, exc, "zs")
            opt.state[2][key] = good


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameters_in_constructor(name):
    for key, value in BAD_HYPER[name]:
        with pytest.raises(ValueError, match=key):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameter_set_between_steps_changes_nothing(name):
    """A bad value in the 2nd group is rejected before the 1st group is updated."""
    assert_bad_group_values_rejected(lambda: _setup(name), BAD_HYPER[name], group=1)


@pytest.mark.parametrize("name", NAMES)
def test_non_numeric_hyperparameter_is_named(name):
    for bad in ["0.1", None, [0.1], True]:
        with pytest.raises(TypeError, match="lr"):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], "lr": bad})
        rng, params, opt = _setup(name)
        opt.param_groups[1]["lr"] = bad
        assert_step_rejected(rng, params, opt, TypeError, "lr")


def test_schedulefree_warmup_steps_must_be_an_int_and_train_mode_a_bool():
    for bad in [2.5, 2.0, "3"]:
        with pytest.raises(TypeError, match="warmup_steps"):
            cg.optim.ScheduleFreeAdamW([np.ones(3)], warmup_steps=bad)
    rng, params, opt = _setup("ScheduleFreeAdamW")
    opt.param_groups[1]["train_mode"] = "yes"
    assert_step_rejected(rng, params, opt, TypeError, "train_mode")


def test_schedulefree_step_in_eval_mode_changes_nothing():
    rng, params, opt = _setup("ScheduleFreeAdamW")
    opt.eval()
    opt.param_groups[0]["train_mode"] = True  # one group back in train mode is not enough
    assert_step_rejected(rng, params, opt, RuntimeError, "param group 1")


# ---- the bindings directly: every argument is named, nothing is written ----------------------
def _sf_args():
    rng = np.random.default_rng(1)
    p = [rng.standard_normal(k) for k in (4, 9)]
    return dict(
        params=p,
        grads=[rng.standard_normal(x.shape) for x in p],
        zs=[x.copy() for x in p],
        exp_avg_sqs=[np.zeros_like(x) for x in p],
        steps=[1, 1],
        lr_maxs=[-1.0, -1.0],
        weight_sums=[0.0, 0.0],
    )


@pytest.mark.parametrize(
    ("arg", "bad", "exc"),
    [
        ("params", lambda a: [a[0], a[1].astype(np.float32)], TypeError),
        ("grads", lambda a: [a[0]], ValueError),
        ("zs", lambda a: [a[0], a[1][:3]], ValueError),
        ("exp_avg_sqs", lambda a: None, TypeError),
        ("steps", lambda a: [1, 0], ValueError),
        ("lr_maxs", lambda a: [-1.0, "x"], TypeError),
        ("lr_maxs", lambda a: [-1.0, NAN], ValueError),
        ("lr_maxs", lambda a: [-2.0, -1.0], ValueError),
        ("weight_sums", lambda a: [0.0, -1e-3], ValueError),
        ("weight_sums", lambda a: [0.0], ValueError),
    ],
)
def test_core_schedulefree_names_the_argument(arg, bad, exc):
    args = _sf_args()
    before = {k: [x.copy() for x in v] for k, v in args.items() if isinstance(v[0], np.ndarray)}
    args[arg] = bad(args[arg])
    hyper = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0,
                 r=0.0, weight_lr_power=2.0)  # fmt: skip
    with pytest.raises(exc, match=arg):
        _core.schedulefree_adamw_step(**args, **hyper)
    for k in before:
        if k != arg:
            for a, b in zip(args[k], before[k]):
                assert_bits_equal(a, b, k)


def test_core_switch_and_lion_name_the_argument():
    p, z = [np.ones(4), np.ones(5)], [np.zeros(4), np.zeros(6)]
    with pytest.raises(ValueError, match=r"zs\[1\]"):
        _core.schedulefree_switch(p, z, 0.9, True)
    assert all(np.all(x == 1.0) for x in p)
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        _core.schedulefree_switch(p, [np.zeros(4), np.zeros(5)], 0.0, True)
    with pytest.raises(ValueError, match="exp_avgs"):
        _core.lion_step(p, [np.ones(4), np.ones(5)], [np.zeros(4)], 0.1, 0.9, 0.99, 0.0, False)
    assert all(np.all(x == 1.0) for x in p)
