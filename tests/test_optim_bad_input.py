"""Bad input: a TypeError/ValueError naming the argument, and nothing written anywhere.

Every case snapshots all params and all optimizer state (two param groups, state already
created by earlier steps), makes the bad call, and checks that every bit is unchanged.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bad_buffer_rejected,
    assert_bad_grads_rejected,
    assert_bad_group_values_rejected,
    assert_bits_equal,
    assert_step_rejected,
    good_grads,
    setup,
)
from convergent import _core
from optim_cases import OPTIMIZERS

OPTS = {
    "SGD": dict(lr=0.05, momentum=0.9),
    "Adam": dict(lr=1e-2, amsgrad=True),
    "AdamW": dict(lr=1e-2),
    "Adagrad": dict(lr=0.1),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True),
}


def _setup(name, dtype=np.float64, one_group=False):
    return setup(name, OPTS[name], dtype, one_group)


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_grads_change_nothing(name, dtype, one_group):
    assert_bad_grads_rejected(*_setup(name, dtype, one_group))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_param_changes_nothing(name):
    for mutate, exc, frag in [
        (lambda p: p.setflags(write=False), ValueError, "read-only"),
    ]:
        rng, params, opt = _setup(name)
        mutate(params[2])
        assert_step_rejected(rng, params, opt, exc, frag)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_read_only_grad_is_accepted(name):
    rng, params, opt = _setup(name)
    grads = good_grads(rng, params)
    for g in grads:
        g.flags.writeable = False
    opt.step(grads)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_state_buffer_changes_nothing(name):
    """A state buffer replaced by hand with the wrong dtype/shape is caught before any write."""
    rng, params, opt = _setup(name)
    key = next((k for k, v in opt.state[2].items() if isinstance(v, np.ndarray)), None)
    if key is None:
        pytest.skip("no state buffer")
    for bad, exc in [
        (opt.state[2][key].astype(np.float32), TypeError),
        (np.zeros(params[2].size + 1), ValueError),
        (np.zeros(2 * params[2].size)[::2], ValueError),
    ]:
        assert_bad_buffer_rejected(rng, params, opt, key, bad, exc)


BAD_HYPER = {
    "lr": [-1.0, float("nan"), float("inf"), -float("inf")],
    "eps": [-1e-8, float("nan")],
    "weight_decay": [-0.1, float("nan")],
}
BAD_SPECIFIC = {
    "SGD": [("momentum", -0.5), ("momentum", float("nan")), ("dampening", float("inf"))],
    "Adam": [
        ("betas", (1.0, 0.999)),
        ("betas", (0.9, 1.0)),
        ("betas", (-0.1, 0.9)),
        ("betas", (0.9, float("nan"))),
        ("betas", 0.9),
    ],
    "Adagrad": [
        ("lr_decay", -1.0),
        ("initial_accumulator_value", -1.0),
        ("initial_accumulator_value", float("nan")),
    ],
    "RMSprop": [("alpha", -0.1), ("alpha", 1.5), ("momentum", -1.0)],
}
BAD_SPECIFIC["AdamW"] = BAD_SPECIFIC["Adam"]


def _hyper_cases(name):
    cases = [(k, v) for k, vs in BAD_HYPER.items() for v in vs]
    if name == "SGD":
        cases = [c for c in cases if c[0] != "eps"]
    return cases + BAD_SPECIFIC[name]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_hyperparameters_in_constructor(name):
    for key, value in _hyper_cases(name):
        p = np.ones(3)
        with pytest.raises(ValueError, match=key):
            getattr(cg.optim, name)([p], **{**OPTS[name], key: value})


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov"):
        cg.optim.SGD([np.ones(3)], nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        cg.optim.SGD([np.ones(3)], momentum=0.9, dampening=0.1, nesterov=True)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_hyperparameter_set_between_steps_changes_nothing(name):
    """A bad value in the 2nd group is rejected before the 1st group is updated."""
    assert_bad_group_values_rejected(lambda: _setup(name), _hyper_cases(name), group=1)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_hyperparameters_revalidated_after_good_steps(name):
    """Steps skip re-validating a group whose values did not change; any change is checked."""
    for key, value in _hyper_cases(name):
        rng, params, opt = _setup(name)
        opt.step(good_grads(rng, params))
        opt.step(good_grads(rng, params))
        opt.param_groups[0][key] = value
        assert_step_rejected(rng, params, opt, ValueError, key)


def test_betas_list_mutated_in_place_is_revalidated():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5)
    opt = cg.optim.Adam([p], betas=[0.9, 0.999])
    opt.step([rng.standard_normal(5)])
    opt.param_groups[0]["betas"][1] = 1.5
    before = p.copy()
    with pytest.raises(ValueError, match="beta"):
        opt.step([rng.standard_normal(5)])
    assert np.array_equal(p, before)


@pytest.mark.parametrize("bad", [np.ones(3, np.int32), np.ones(3, np.float16), np.ones(3, complex)])
def test_bad_param_dtype_in_constructor(bad):
    with pytest.raises(TypeError, match="params"):
        cg.optim.Adam([bad])


def test_bad_params_in_constructor():
    with pytest.raises(TypeError, match="params"):
        cg.optim.SGD([[1.0, 2.0]])
    with pytest.raises(ValueError, match="C-contiguous"):
        cg.optim.SGD([np.ones(6)[::2]])
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        cg.optim.SGD([ro])
    with pytest.raises(TypeError, match="dtype"):
        cg.optim.SGD([np.ones(3, np.float32), np.ones(3)])
    with pytest.raises(ValueError, match="params"):
        cg.optim.SGD([])
    p = np.ones(3)
    with pytest.raises(ValueError, match="more than one"):
        cg.optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="unknown"):
        cg.optim.SGD([{"params": [p], "betas": (0.9, 0.9)}])


# ---- the binding directly: every list argument is named, nothing is written -----------------
def _core_args(dtype=np.float64, n=(4, 9)):
    rng = np.random.default_rng(1)
    return (
        [rng.standard_normal(k).astype(dtype) for k in n],
        [rng.standard_normal(k).astype(dtype) for k in n],
        [rng.standard_normal(k).astype(dtype) ** 2 for k in n],
    )


@pytest.mark.parametrize(
    ("arg", "bad", "exc"),
    [
        ("params", lambda a: [a[0], a[1].astype(np.float32)], TypeError),
        ("grads", lambda a: [a[0]], ValueError),
        ("exp_avgs", lambda a: [a[0], a[1][:3]], ValueError),
        ("exp_avg_sqs", lambda a: None, TypeError),
        ("max_exp_avg_sqs", lambda a: [a[0], a[1].astype(np.float32)], TypeError),
        ("steps", lambda a: [1, 0], ValueError),
        ("steps", lambda a: [1, 2.0], TypeError),
        ("steps", lambda a: [1], ValueError),
    ],
)
def test_core_adam_names_the_argument(arg, bad, exc):
    p, g, s = _core_args()
    m = [x.copy() for x in s]
    v = [x.copy() for x in s]
    vm = [x.copy() for x in s]
    args = dict(params=p, grads=g, exp_avgs=m, exp_avg_sqs=v, max_exp_avg_sqs=vm, steps=[1, 1])
    before = {k: [np.copy(x) for x in val] for k, val in args.items() if k != "steps"}
    args[arg] = bad(args[arg])
    with pytest.raises(exc, match=arg):
        _core.adam_step(
            **args,
            lr=1e-2,
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            weight_decay=0.0,
            amsgrad=True,
            maximize=False,
            decoupled=False,
        )
    for k, arrays in before.items():
        for a, b in zip((p, g, m, v, vm)[list(before).index(k)], arrays):
            assert_bits_equal(a, b, k)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_non_numeric_hyperparameter_is_named(name):
    key = "betas" if name in ("Adam", "AdamW") else "lr"
    for bad in ["0.1", None, [0.1], True]:
        value = (0.9, bad) if key == "betas" else bad
        with pytest.raises(TypeError, match=key):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})
        rng, params, opt = _setup(name)
        opt.param_groups[1]["lr"] = bad
        assert_step_rejected(rng, params, opt, TypeError, "lr")


def test_load_state_dict_rejects_huge_step():
    p = np.ones(3)
    opt = cg.optim.Adam([p])
    opt.step([np.ones(3)])
    sd = opt.state_dict()
    sd["state"][0]["step"] = 2**70
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 1
