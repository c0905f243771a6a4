"""NAdam, RAdam and Adamax bad input: a TypeError/ValueError naming the argument, nothing written.

Every case snapshots all params and all optimizer state (two param groups or one, state created
by earlier steps, NAdam's mu_product included), makes the bad call and checks that every bit is
unchanged. The snapshot/compare helpers and the bad-gradient catalogue are the ones of
test_optim_bad_input.py.
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
    assert_unchanged,
    good_grads,
    setup,
    snapshot,
)
from adam_family_cases import NAMES
from convergent import _core

OPTS = {
    "NAdam": dict(lr=1e-2, weight_decay=0.1),
    "RAdam": dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
    "Adamax": dict(lr=1e-2, weight_decay=0.1),
}


def _setup(name, dtype=np.float64, one_group=False):
    return setup(name, OPTS[name], dtype, one_group)


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_bad_grads_change_nothing(name, dtype, one_group):
    assert assert_bad_grads_rejected(*_setup(name, dtype, one_group)) > 10


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_read_only_or_non_contiguous_param_changes_nothing(name, one_group):
    rng, params, opt = _setup(name, one_group=one_group)
    params[2].setflags(write=False)
    assert_step_rejected(rng, params, opt, ValueError, "read-only")


@pytest.mark.parametrize("name", NAMES)
def test_bad_state_buffer_changes_nothing(name):
    """A state buffer replaced by hand with the wrong dtype/shape/layout/writeability is caught
    before any write (the fast single-group path and the two-group path)."""
    for one_group in (False, True):
        rng, params, opt = _setup(name, one_group=one_group)
        for key in [k for k, v in opt.state[2].items() if isinstance(v, np.ndarray)]:
            ro = opt.state[2][key].copy()
            ro.setflags(write=False)
            for bad, exc, frag in [
                (opt.state[2][key].astype(np.float32), TypeError, "dtype"),
                (np.zeros(params[2].size + 1), ValueError, "shape"),
                (np.zeros(2 * params[2].size)[::2], ValueError, "contiguous"),
                (ro, ValueError, "read-only"),
            ]:
                assert_bad_buffer_rejected(rng, params, opt, key, bad, exc, frag)


BAD_HYPER = [
    ("lr", -1.0),
    ("lr", float("nan")),
    ("lr", float("inf")),
    ("eps", -1e-8),
    ("eps", float("nan")),
    ("weight_decay", -0.1),
    ("weight_decay", float("nan")),
    ("betas", (1.0, 0.999)),
    ("betas", (0.9, 1.0)),
    ("betas", (-0.1, 0.9)),
    ("betas", (0.9, float("nan"))),
    ("betas", (float("inf"), 0.9)),
    ("betas", 0.9),
    ("betas", (0.9, 0.99, 0.9)),
]


def _cases(name):
    extra = [("momentum_decay", -1e-3), ("momentum_decay", float("nan"))]
    return BAD_HYPER + (extra if name == "NAdam" else [])


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameters_in_constructor(name):
    for key, value in _cases(name):
        with pytest.raises(ValueError, match=key):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameter_set_between_steps_changes_nothing(name, one_group):
    """A bad value in the last group is rejected before any group is updated; a changed value
    is re-validated after good steps."""
    assert_bad_group_values_rejected(lambda: _setup(name, one_group=one_group), _cases(name))


@pytest.mark.parametrize("name", NAMES)
def test_non_numeric_hyperparameter_is_named(name):
    for key in ("lr", "eps", "betas"):
        for bad in ["0.1", None, [0.1], True]:
            value = (0.9, bad) if key == "betas" else bad
            with pytest.raises(TypeError, match=key):
                getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})
            rng, params, opt = _setup(name)
            opt.param_groups[1][key] = value
            assert_step_rejected(rng, params, opt, TypeError, key)


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.25, float("inf")])
def test_nadam_bad_mu_product_from_state_dict_changes_nothing(bad, one_group):
    """load_state_dict keeps scalars as given; a mu_product outside [0, 1] is refused by the
    step (naming mu_products) before anything, step counts included, changes."""
    rng, params, opt = _setup("NAdam", one_group=one_group)
    sd = opt.state_dict()
    sd["state"][2]["mu_product"] = bad
    opt.load_state_dict(sd)
    snap = snapshot(params, opt)
    with pytest.raises(ValueError, match=r"mu_products\[\d\]"):
        opt.step(good_grads(rng, params))
    assert opt.state[2]["mu_product"] is bad  # kept as loaded (NaN != NaN: compared apart)
    opt.state[2]["mu_product"] = snap[1][2]["mu_product"] = 0.0
    assert_unchanged(params, opt, snap)


# ---- the bindings directly: every argument is named, nothing is written ------------------------
def _core_call(name, args, **hyper):
    base = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, maximize=False)
    if name != "adamax":
        base["decoupled"] = False
    if name == "nadam":
        base["momentum_decay"] = 4e-3
    getattr(_core, f"{name}_step")(**args, **{**base, **hyper})


def _core_args(name, dtype=np.float64, n=(4, 9)):
    rng = np.random.default_rng(1)
    second = "exp_infs" if name == "adamax" else "exp_avg_sqs"
    args = {
        "params": [rng.standard_normal(k).astype(dtype) for k in n],
        "grads": [rng.standard_normal(k).astype(dtype) for k in n],
        "exp_avgs": [rng.standard_normal(k).astype(dtype) for k in n],
        second: [rng.standard_normal(k).astype(dtype) ** 2 for k in n],
        "steps": [1, 3],
    }
    if name == "nadam":
        args["mu_products"] = np.array([1.0, 0.5])
    return args


def _bad_core_cases(name):
    second = "exp_infs" if name == "adamax" else "exp_avg_sqs"
    cases = [
        ("params", lambda a: [a[0], a[1].astype(np.float32)], TypeError),
        ("params", lambda a: [a[0], np.ones(18)[::2]], ValueError),
        ("grads", lambda a: [a[0]], ValueError),
        ("grads", lambda a: [a[0], a[1][:3].copy()], ValueError),
        ("exp_avgs", lambda a: [a[0], a[1][:3].copy()], ValueError),
        ("exp_avgs", lambda a: [a[0], np.ones(9, np.int64)], TypeError),
        (second, lambda a: None, TypeError),
        (second, lambda a: [a[0], np.ones(18)[::2]], ValueError),
        ("steps", lambda a: [1, 0], ValueError),
        ("steps", lambda a: [1, 2.0], TypeError),
        ("steps", lambda a: [1], ValueError),
    ]
    if name == "nadam":
        cases += [
            ("mu_products", lambda a: a.astype(np.float32), TypeError),
            ("mu_products", lambda a: a[:1].copy(), ValueError),
            ("mu_products", lambda a: np.array([1.0, np.nan]), ValueError),
            ("mu_products", lambda a: np.array([1.0, 1.0 + 1e-12]), ValueError),
            ("mu_products", lambda a: [1.0, 0.5], TypeError),
            ("mu_products", lambda a: np.ones(4)[::2], ValueError),
        ]
    return cases


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("name", ["nadam", "radam", "adamax"])
def test_core_step_names_the_argument(name):
    cases = _bad_core_cases(name)
    if name == "nadam":
        cases.append(("mu_products", _read_only, ValueError))
    for arg, bad, exc in cases:
        args = _core_args(name)
        before = {k: [np.copy(x) for x in v] for k, v in args.items() if k != "steps"}
        args[arg] = bad(args[arg])
        with pytest.raises(exc, match=arg):
            _core_call(name, args)
        for k, arrays in before.items():
            if k != arg:  # every argument but the replaced one
                for a, b in zip(args[k], arrays):
                    assert_bits_equal(a, b, f"{arg}: {k}")


@pytest.mark.parametrize("name", ["nadam", "radam", "adamax"])
def test_core_step_bad_hyperparameter_names_it(name):
    for key, value in [("lr", -1.0), ("lr", float("nan")), ("beta1", 1.0), ("beta2", -0.5)]:
        args = _core_args(name)
        before = {k: [np.copy(x) for x in v] for k, v in args.items() if k != "steps"}
        label = {"beta1": "betas[0]", "beta2": "betas[1]"}.get(key, key)
        with pytest.raises(ValueError, match=label.replace("[", r"\[")):
            _core_call(name, args, **{key: value})
        for k, arrays in before.items():
            for a, b in zip(args[k], arrays):
                assert_bits_equal(a, b, f"{key}: {k}")


def test_core_nadam_dry_run_writes_nothing_and_step_advances_mu_products():
    args = _core_args("nadam")
    before = {k: [np.copy(x) for x in v] for k, v in args.items() if k != "steps"}
    _core_call("nadam", args, dry_run=True)
    for k, arrays in before.items():
        for a, b in zip(args[k], arrays):
            assert_bits_equal(a, b, f"dry run: {k}")
    _core_call("nadam", args)
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** (1 * 4e-3))
    mu3 = 0.9 * (1 - 0.5 * 0.96 ** (3 * 4e-3))
    assert args["mu_products"].tolist() == [1.0 * mu1, 0.5 * mu3]
