"""Adadelta, ASGD and Rprop bad input: a TypeError/ValueError naming the argument, and nothing
written anywhere (every param and all optimizer state, eta and mu included, compared bit for bit
with a snapshot taken before the bad call)."""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bad_buffer_rejected,
    assert_bad_grads_rejected,
    assert_bad_group_values_rejected,
    assert_step_rejected,
    assert_unchanged,
    good_grads,
    setup,
    snapshot,
)
from classic_cases import NAMES, make_grads
from convergent import _core

OPTS = {
    "Adadelta": dict(lr=0.5, weight_decay=0.1),
    "ASGD": dict(lr=0.05, t0=1.0),  # mu != 1 after two steps
    "Rprop": dict(lr=0.01),
}
NAN, INF = float("nan"), float("inf")
BAD_HYPER = {
    "Adadelta": [
        ("lr", -1.0),
        ("lr", NAN),
        ("lr", INF),
        ("rho", -0.1),
        ("rho", 1.5),
        ("rho", NAN),
        ("eps", -1e-6),
        ("eps", NAN),
        ("weight_decay", -0.1),
        ("weight_decay", INF),
    ],
    "ASGD": [
        ("lr", -1.0),
        ("lr", NAN),
        ("lambd", -1e-4),
        ("lambd", INF),
        ("alpha", -0.5),
        ("alpha", NAN),
        ("t0", NAN),
        ("t0", -INF),
        ("weight_decay", -0.1),
    ],
    "Rprop": [
        ("lr", -1.0),
        ("lr", NAN),
        ("etas", (1.5, 2.0)),
        ("etas", (0.0, 1.2)),
        ("etas", (0.5, 0.9)),
        ("etas", (0.5, 1.0)),
        ("etas", (0.5, INF)),
        ("etas", (NAN, 1.2)),
        ("etas", 0.5),
        ("etas", (0.5, 1.2, 2.0)),
        ("step_sizes", (0.0, 50.0)),
        ("step_sizes", (-1e-6, 50.0)),
        ("step_sizes", (2.0, 1.0)),
        ("step_sizes", (1e-6, INF)),
        ("step_sizes", (1e-6,)),
        ("step_sizes", 1.0),
    ],
}
NOT_NUMBERS = [("lr", "0.1"), ("lr", None), ("lr", True)]


def _setup(name, dtype=np.float64, one_group=False):
    return setup(name, OPTS[name], dtype, one_group, warm_steps=3, grads=make_grads)


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_bad_grads_change_nothing(name, dtype, one_group):
    assert_bad_grads_rejected(*_setup(name, dtype, one_group))


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_read_only_param_changes_nothing(name, one_group):
    rng, params, opt = _setup(name, one_group=one_group)
    params[2].setflags(write=False)
    assert_step_rejected(rng, params, opt, ValueError, r"params\[\d\].*read-only")


@pytest.mark.parametrize("name", NAMES)
def test_bad_state_buffer_changes_nothing(name):
    """Every state buffer in turn replaced with a wrong dtype / shape / layout / read-only one."""
    for key in [k for k, v in _setup(name)[2].state[2].items() if isinstance(v, np.ndarray)]:
        ro = np.zeros(40)
        ro.setflags(write=False)
        for bad, exc, frag in [
            (np.zeros(40, np.float32), TypeError, "float32"),
            (np.zeros(41), ValueError, "shape"),
            (np.zeros(80)[::2], ValueError, "contiguous"),
            (ro, ValueError, "read-only"),
        ]:
            for one_group in (False, True):
                rng, params, opt = _setup(name, one_group=one_group)
                assert_bad_buffer_rejected(rng, params, opt, key, bad, exc, frag)


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameters_in_constructor(name):
    for key, value in BAD_HYPER[name]:
        with pytest.raises(ValueError, match=key):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})
    for key, value in NOT_NUMBERS:
        with pytest.raises(TypeError, match=key):
            getattr(cg.optim, name)([np.ones(3)], **{**OPTS[name], key: value})


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_bad_hyperparameter_set_between_steps_changes_nothing(name, one_group):
    """A bad value in the last group is rejected before any group is updated."""
    assert_bad_group_values_rejected(lambda: _setup(name, one_group=one_group), BAD_HYPER[name])


@pytest.mark.parametrize("one_group", [False, True])
@pytest.mark.parametrize(
    ("value", "exc"), [(NAN, ValueError), (-0.5, ValueError), (INF, ValueError), ("x", TypeError)]
)
@pytest.mark.parametrize("key", ["eta", "mu"])
def test_asgd_bad_eta_or_mu_in_state_changes_nothing(key, value, exc, one_group):
    """ASGD's scalar state (e.g. from a hand-edited state_dict) is checked like the arrays."""
    rng, params, opt = _setup("ASGD", one_group=one_group)
    opt.state[2][key] = value
    snap = snapshot(params, opt)
    with pytest.raises(exc, match=rf"{key}s\[\d\]"):
        opt.step(good_grads(rng, params))
    assert opt.state[2][key] is value
    opt.state[2][key] = snap[1][2][key] = 0.0  # NaN != NaN: compare the rest
    assert_unchanged(params, opt, snap)


def test_asgd_step_binding_checks_etas_mus_steps():
    rng = np.random.default_rng(1)
    p = [rng.standard_normal(4), rng.standard_normal(3)]
    g = [np.ones(4), np.ones(3)]
    ax = [np.zeros(4), np.zeros(3)]
    before = [a.copy() for a in p + ax]
    hyper = (0.01, 1e-4, 0.75, 1e6, 0.0, False)
    for etas, mus, steps, exc, frag in [
        ([0.01], [1.0, 1.0], [1, 1], ValueError, "etas has 1 items"),
        ([0.01, True], [1.0, 1.0], [1, 1], TypeError, r"etas\[1\]"),
        ([0.01, 0.01], [1.0, NAN], [1, 1], ValueError, r"mus\[1\]"),
        ([0.01, 0.01], 1.0, [1, 1], TypeError, "mus"),
        ([0.01, 0.01], [1.0, 1.0], [1, 0], ValueError, r"steps\[1\]"),
        ([0.01, 0.01], [1.0, 1.0], [1, 1.0], TypeError, r"steps\[1\]"),
    ]:
        with pytest.raises(exc, match=frag):
            _core.asgd_step(p, g, ax, etas, mus, steps, *hyper)
        for a, b in zip(p + ax, before):
            np.testing.assert_array_equal(a, b)
    eta, mu = _core.asgd_step(p, g, ax, [0.01, 0.01], [1.0, 1.0], [1, 1], *hyper)
    assert eta == [0.01 / (1 + 1e-4 * 0.01) ** 0.75] * 2 and mu == [1.0, 1.0]
    assert _core.asgd_step(p, g, ax, [0.01, 0.01], [1.0, 1.0], [2, 2], *hyper, True) is None
