"""Fast path vs ``convergent.reference`` for every optimizer and option combination.

Tolerance: 0 ulp for float32 and float64. The kernels perform the reference's IEEE operations in
the same order (coefficients computed in double, rounded to the dtype), so params and every state
buffer must be the same bits after every step, on every ISA.
"""

from __future__ import annotations

import _optim_harness as harness
import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    SHAPE_LISTS,
    assert_bits_equal,
    case_id,
    make_grads,
    make_params,
    none_gradient_skips,
    skip_plan,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optim_cases import OPTIMIZERS, RefOptimizer, all_cases

CASES = all_cases()
SMALL_SHAPES = [(n,) for n in range(1, 34)] + [(100,), (4097,), (3, 5), (2, 3, 7)]
# Two groups: every small size in group 0, the rest (and a 2-D/3-D shape) in group 1.
GROUP_SPLIT = 33


def run_and_compare(name, opts, shapes, dtype, steps, seed, split, none_plan=None):
    return harness.run_and_compare(RefOptimizer, name, opts, shapes, dtype, steps, seed, split,
                                   none_plan)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_all_options_small_sizes(isa, name, opts, dtype):
    run_and_compare(
        name, opts, SMALL_SHAPES, dtype, steps=10, seed=1, split=GROUP_SPLIT, none_plan=skip_plan
    )


# Options that switch on every branch of each kernel, for the large (chunked, parallel) sizes.
FULL = {
    "SGD": dict(
        lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=1e-2, maximize=True
    ),
    "Adam": dict(lr=1e-2, weight_decay=0.1, amsgrad=True, maximize=True),
    "AdamW": dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True, weight_decay=0.1, maximize=True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_large_sizes(isa, threads, name, dtype):
    threads(2)  # the group exceeds the parallel threshold (65536 elements)
    shapes = [(65537,), (7,), (2 * 32768 + 5,), (32768,)]
    run_and_compare(name, FULL[name], shapes, dtype, steps=4, seed=2, split=2)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_many_steps_float32(isa, name):
    run_and_compare(
        name, FULL[name], [(17,), (100,), (4097,)], np.float32, steps=20, seed=3, split=1
    )


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_none_gradient_skips_param(name):
    opt = none_gradient_skips(name, FULL[name])
    if "step" in opt.state[0]:
        assert opt.state[0]["step"] == 3 and opt.state[1]["step"] == 1


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_lr_change_takes_effect(name):
    rng = np.random.default_rng(5)
    a = make_params(rng, [(9,)], np.float32)
    b = [p.copy() for p in a]
    oa = getattr(cg.optim, name)(a, **FULL[name])
    ob = getattr(cg.optim, name)(b, **FULL[name])
    grads = make_grads(rng, a, 0)
    oa.step(grads)
    ob.step(grads)
    ob.param_groups[0]["lr"] = 0.0 if name != "AdamW" else 1e-9
    a1, b1 = a[0].copy(), b[0].copy()
    grads = make_grads(rng, a, 1)
    oa.step(grads)
    ob.step(grads)
    assert not np.array_equal(a[0], a1)
    if name != "AdamW":
        assert_bits_equal(b[0], b1, "lr=0 leaves the param unchanged")
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_tensor(dtype):
    params = [np.zeros(0, dtype), np.ones(3, dtype)]
    opt = cg.optim.Adam(params)
    opt.step([np.zeros(0, dtype), np.ones(3, dtype)])
    assert opt.state[0]["step"] == 1 and opt.state[0]["exp_avg"].shape == (0,)


_HYPER = {
    "SGD": dict(
        momentum=st.sampled_from([0.0, 0.5, 0.99]),
        dampening=st.floats(0, 1),
        weight_decay=st.floats(0, 0.5),
        maximize=st.booleans(),
    ),
    "Adam": dict(
        betas=st.tuples(st.floats(0, 0.999), st.floats(0, 0.9999)),
        eps=st.floats(0, 1e-2),
        weight_decay=st.floats(0, 0.5),
        amsgrad=st.booleans(),
        maximize=st.booleans(),
    ),
    "Adagrad": dict(
        lr_decay=st.floats(0, 1),
        weight_decay=st.floats(0, 0.5),
        eps=st.floats(1e-12, 1e-2),
        initial_accumulator_value=st.floats(0, 2),
        maximize=st.booleans(),
    ),
    "RMSprop": dict(
        alpha=st.floats(0, 1),
        eps=st.floats(1e-10, 1e-2),
        momentum=st.floats(0, 0.99),
        centered=st.booleans(),
        weight_decay=st.floats(0, 0.5),
        maximize=st.booleans(),
    ),
}
_HYPER["AdamW"] = _HYPER["Adam"]


@st.composite
def _case(draw):
    name = draw(st.sampled_from(OPTIMIZERS))
    opts = {k: draw(s) for k, s in _HYPER[name].items()}
    opts["lr"] = draw(st.floats(0, 0.5))
    shapes = draw(SHAPE_LISTS)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return name, opts, shapes, dtype


@settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_case())
def test_hypothesis_sweep(case):
    name, opts, shapes, dtype = case
    split = max(1, len(shapes) // 2)
    with np.errstate(all="ignore"):  # extreme draws may overflow in both paths alike
        run_and_compare(name, opts, [tuple(s) for s in shapes], dtype, steps=3, seed=6, split=split)
