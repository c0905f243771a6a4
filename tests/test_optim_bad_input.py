"""Bad input: a TypeError/ValueError naming the argument, and nothing written anywhere.

Every case snapshots all params and all optimizer state (two param groups, state already
created by earlier steps), makes the bad call, and checks that every bit is unchanged.
"""

from __future__ import annotations

import copy

import convergent as cg
import numpy as np
import pytest
from convergent import _core
from optim_cases import OPTIMIZERS, assert_bits_equal, assert_state_equal, make_grads, make_params

OPTS = {
    "SGD": dict(lr=0.05, momentum=0.9),
    "Adam": dict(lr=1e-2, amsgrad=True),
    "AdamW": dict(lr=1e-2),
    "Adagrad": dict(lr=0.1),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True),
}
SHAPES = [(5,), (2, 3), (40,)]  # group 0: params 0, 1; group 1: param 2


def _setup(name, dtype=np.float64, one_group=False):
    rng = np.random.default_rng(0)
    params = make_params(rng, SHAPES, dtype)
    groups = [{"params": params}] if one_group else [{"params": params[:2]}, {"params": params[2:]}]
    opt = getattr(cg.optim, name)(groups, **OPTS[name])
    for t in range(2):
        opt.step(make_grads(rng, params, t))
    return rng, params, opt


def _snapshot(params, opt):
    return (
        [p.copy() for p in params],
        copy.deepcopy(opt.state),
        [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups],
    )


def _assert_unchanged(params, opt, snap):
    ps, state, groups = snap
    for i, (p, q) in enumerate(zip(params, ps)):
        assert_bits_equal(p, q, f"param {i}")
    assert_state_equal(opt.state, state, "state")
    now = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    assert now == groups


def _good(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _bad_grads(rng, params):
    """(description, grads, exception, message fragment) with the 2nd group's grad bad in most."""
    g = _good(rng, params)
    last = params[2]
    cases = []

    def with_last(x):
        return [g[0], g[1], x]

    cases.append(("int grad", with_last(np.ones(last.shape, np.int64)), TypeError, "grads"))
    cases.append(("float16 grad", with_last(np.ones(last.shape, np.float16)), TypeError, "grads"))
    other = np.float32 if last.dtype == np.float64 else np.float64
    cases.append(("mixed dtype", with_last(g[2].astype(other)), TypeError, "grads"))
    cases.append(
        ("non-contiguous", with_last(np.ones(2 * last.size, last.dtype)[::2]), ValueError, "grads")
    )
    cases.append(("fortran", [g[0], np.asfortranarray(g[1]), g[2]], ValueError, "grads"))
    cases.append(("shape", with_last(np.ones(last.size + 1, last.dtype)), ValueError, "grads"))
    cases.append(("shape 2-D", [g[0], g[1].reshape(3, 2), g[2]], ValueError, "grads"))
    cases.append(("smaller", with_last(np.ones(3, last.dtype)), ValueError, "grads"))
    raw = np.zeros(last.size * last.itemsize + 1, np.uint8)
    unaligned = raw[1:].view(last.dtype)
    cases.append(("unaligned", with_last(unaligned), ValueError, "grads"))
    cases.append(("list grad", with_last(g[2].tolist()), TypeError, "grads"))
    cases.append(("scalar grad", with_last(1.0), TypeError, "grads"))
    cases.append(("too few", g[:2], ValueError, "grads"))
    cases.append(("too many", [*g, g[2]], ValueError, "grads"))
    cases.append(("array not list", g[2], TypeError, "grads"))
    cases.append(("string", "abc", TypeError, "grads"))
    return cases


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_grads_change_nothing(name, dtype, one_group):
    rng, params, opt = _setup(name, dtype, one_group)
    for _what, grads, exc, frag in _bad_grads(rng, params):
        snap = _snapshot(params, opt)
        with pytest.raises(exc, match=frag):
            opt.step(grads)
        _assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bad_param_changes_nothing(name):
    for mutate, exc, frag in [
        (lambda p: p.setflags(write=False), ValueError, "read-only"),
    ]:
        rng, params, opt = _setup(name)
        mutate(params[2])
        snap = _snapshot(params, opt)
        with pytest.raises(exc, match=frag):
            opt.step(_good(rng, params))
        _assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_read_only_grad_is_accepted(name):
    rng, params, opt = _setup(name)
    grads = _good(rng, params)
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
        good = opt.state[2][key]
        opt.state[2][key] = bad
        snap = _snapshot(params, opt)
        with pytest.raises(exc):
            opt.step(_good(rng, params))
        _assert_unchanged(params, opt, snap)
        opt.state[2][key] = good


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
    for key, value in _hyper_cases(name):
        rng, params, opt = _setup(name)
        opt.param_groups[1][key] = value
        snap = _snapshot(params, opt)
        with pytest.raises(ValueError, match=key):
            opt.step(_good(rng, params))
        _assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_hyperparameters_revalidated_after_good_steps(name):
    """Steps skip re-validating a group whose values did not change; any change is checked."""
    for key, value in _hyper_cases(name):
        rng, params, opt = _setup(name)
        opt.step(_good(rng, params))
        opt.step(_good(rng, params))
        opt.param_groups[0][key] = value
        snap = _snapshot(params, opt)
        with pytest.raises(ValueError, match=key):
            opt.step(_good(rng, params))
        _assert_unchanged(params, opt, snap)


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
        snap = _snapshot(params, opt)
        with pytest.raises(TypeError, match="lr"):
            opt.step(_good(rng, params))
        _assert_unchanged(params, opt, snap)


def test_load_state_dict_rejects_huge_step():
    p = np.ones(3)
    opt = cg.optim.Adam([p])
    opt.step([np.ones(3)])
    sd = opt.state_dict()
    sd["state"][0]["step"] = 2**70
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 1
