"""Adafactor and Muon bad input: a TypeError/ValueError naming the argument, nothing written.

Each case snapshots every param and all optimizer state (state already created by earlier
steps), makes the bad call, and checks that every bit is unchanged.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bad_grads_rejected,
    assert_bits_equal,
    assert_unchanged,
    good_grads,
    make_params,
    snapshot,
)
from convergent import _core

SHAPES = {"Adafactor": [(5,), (2, 3), (2, 3, 4)], "Muon": [(2, 3), (4, 5), (3, 3)]}


def _setup(name, dtype=np.float64):
    rng = np.random.default_rng(0)
    params = make_params(rng, SHAPES[name], dtype)
    opt = getattr(cg.optim, name)(params, lr=0.05)
    for _ in range(2):
        opt.step(good_grads(rng, params))
    return rng, params, opt


def _bad_grads(rng, params):
    good = good_grads(rng, params)
    last = len(params) - 1

    def with_last(x):
        return good[:last] + [x]

    shape = params[last].shape
    nc = rng.standard_normal((*shape[:-1], 2 * shape[-1]))[..., ::2]
    return [
        ("dtype", with_last(good[last].astype(np.float32)), TypeError, f"grads\\[{last}\\]"),
        ("int", with_last(np.ones(params[last].shape, np.int64)), TypeError, f"grads\\[{last}\\]"),
        ("shape", with_last(np.ones(params[last].size + 1)), ValueError, f"grads\\[{last}\\]"),
        ("noncontig", with_last(nc), ValueError, "C-contiguous"),
        ("count", good[:last], ValueError, "grads"),
        ("list", [1.0] * len(params), TypeError, "grads\\[0\\]"),
    ]


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_bad_grads_raise_and_change_nothing(name):
    rng, params, opt = _setup(name)
    assert_bad_grads_rejected(rng, params, opt, _bad_grads(rng, params))


HYPER = {
    "Adafactor": [
        ("lr", -1.0, ValueError, "lr"),
        ("lr", float("nan"), ValueError, "lr"),
        ("beta2_decay", 0.5, ValueError, "beta2_decay"),
        ("beta2_decay", float("nan"), ValueError, "beta2_decay"),
        ("eps", (None,), ValueError, "eps"),
        ("eps", "small", ValueError, "eps"),
        ("eps", (1e-30, 1e-3, 0.0), ValueError, "eps"),
        ("eps", (-1.0, 1e-3), ValueError, r"eps\[0\]"),
        ("eps", (None, float("inf")), ValueError, r"eps\[1\]"),
        ("eps", ("a", 1e-3), TypeError, "eps"),
        ("d", 0.0, ValueError, "d"),
        ("d", 0.5, ValueError, "d"),
        ("weight_decay", -0.1, ValueError, "weight_decay"),
        ("lr", "0.1", TypeError, "lr"),
    ],
    "Muon": [
        ("lr", -1.0, ValueError, "lr"),
        ("lr", float("nan"), ValueError, "lr"),
        ("momentum", -0.5, ValueError, "momentum"),
        ("weight_decay", float("inf"), ValueError, "weight_decay"),
        ("ns_coefficients", (1.0, 2.0), ValueError, "ns_coefficients"),
        ("ns_coefficients", (1.0, float("nan"), 2.0), ValueError, "ns_coefficients"),
        ("ns_steps", 100, ValueError, "ns_steps"),
        ("ns_steps", -1, ValueError, "ns_steps"),
        ("ns_steps", 2.5, TypeError, "ns_steps"),
        ("eps", -1e-7, ValueError, "eps"),
        ("adjust_lr_fn", "sqrt", ValueError, "adjust_lr_fn"),
    ],
}


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_bad_hyperparameters(name):
    rng, params, opt = _setup(name)
    cls = getattr(cg.optim, name)
    for key, value, exc, msg in HYPER[name]:
        with pytest.raises(exc, match=msg):
            cls([p.copy() for p in params], **{key: value})
        snap = snapshot(params, opt)
        old = opt.param_groups[0][key]
        opt.param_groups[0][key] = value
        try:
            with pytest.raises(exc, match=msg):
                opt.step([rng.standard_normal(p.shape) for p in params])
        finally:
            opt.param_groups[0][key] = old
        assert_unchanged(params, opt, snap)


def test_muon_rejects_non_2d_params_naming_adamw():
    for shape in [(3,), (2, 3, 4), ()]:
        with pytest.raises(ValueError, match="AdamW"):
            cg.optim.Muon([np.ones((2, 2)), np.ones(shape)])
    p = np.ones(4)
    with pytest.raises(ValueError, match=r"params\[0\].*AdamW"):
        _core.muon_step([p], [np.ones(4)], [np.zeros(4)], 0.1, 0.1, 0.9, True, 3.4, -4.7, 2.0,
                        1e-7, 5, None)  # fmt: skip
    assert_bits_equal(p, np.ones(4), "unchanged")


def test_read_only_and_wrong_state_arrays():
    p = np.ones((3, 4))
    g = np.ones((3, 4))
    ro = np.ones((3, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.muon_step([ro], [g], [np.zeros((3, 4))], 0.1, 0.1, 0.9, True, 3.4, -4.7, 2.0,
                        1e-7, 5, None)  # fmt: skip
    with pytest.raises(ValueError, match=r"momentum_buffers\[0\]"):
        _core.muon_step([p], [g], [np.zeros((4, 3))], 0.1, 0.1, 0.9, True, 3.4, -4.7, 2.0,
                        1e-7, 5, None)  # fmt: skip
    rv, cv = np.zeros((3, 1)), np.zeros((1, 4))
    args = (0.1, -0.8, None, 1e-3, 1.0, 0.0, False)
    with pytest.raises(ValueError, match="read-only"):
        _core.adafactor_step([ro], [g], [rv], [cv], [None], [1], *args)
    with pytest.raises(ValueError, match=r"row_vars\[0\]"):
        _core.adafactor_step([p], [g], [np.zeros((3, 4))], [cv], [None], [1], *args)
    with pytest.raises(ValueError, match=r"col_vars\[0\]"):
        _core.adafactor_step([p], [g], [rv], [np.zeros((4, 1))], [None], [1], *args)
    with pytest.raises(TypeError, match=r"variances\[0\]"):
        _core.adafactor_step([np.ones(3)], [np.ones(3)], [None], [None], [None], [1], *args)
    with pytest.raises(ValueError, match=r"steps\[0\]"):
        _core.adafactor_step([p], [g], [rv], [cv], [None], [0], *args)
    ro_rv = np.zeros((3, 1))
    ro_rv.flags.writeable = False
    with pytest.raises(ValueError, match=r"row_vars\[0\] is read-only"):
        _core.adafactor_step([p], [g], [ro_rv], [cv], [None], [1], *args)
    assert_bits_equal(p, np.ones((3, 4)), "unchanged")
    assert not rv.any() and not cv.any()


def test_read_only_param_rejected_by_constructors():
    for name, shape in (("Adafactor", (3,)), ("Muon", (2, 2))):
        p = np.ones(shape)
        p.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            getattr(cg.optim, name)([p])
