"""NAdam, RAdam and Adamax: fast path vs ``convergent.reference`` on every ISA and thread count.

Tolerance: 0 ulp for float32 and float64. The kernels perform the reference's IEEE operations in
the same order (coefficients computed in double, rounded to the dtype), so params, every state
buffer and NAdam's mu_product must be the same bits after every step, on every ISA, with 1 or 2
threads, and with the scalar ISA forced from the environment in a fresh process.
"""

from __future__ import annotations

import _optim_harness as harness
import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    SHAPE_LISTS,
    assert_same_bits_on_every_isa,
    assert_same_bits_one_vs_two_threads,
    assert_scalar_subprocess_matches,
    case_id,
    none_gradient_skips,
    skip_plan,
    trajectory,
)
from adam_family_cases import FULL, NAMES, RefOptimizer, all_cases, cls_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = all_cases()
# Every size 1..64 (twice the widest float tile of 16, four times the double one) in group 0;
# a few more shapes in group 1.
SMALL_SHAPES = [(n,) for n in range(1, 65)] + [(100,), (3, 5), (2, 3, 7)]
SPLIT = 64
LARGE = [(100003,), (7,), (2 * 32768 + 5,), (32768,)]  # > 65536 elements: chunks, threads


def run_and_compare(name, opts, shapes, dtype, steps, seed, split, none_plan=None):
    return harness.run_and_compare(RefOptimizer, name, opts, shapes, dtype, steps, seed, split,
                                   none_plan)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_all_options_small_sizes(isa, name, opts, dtype):
    opt, _ = run_and_compare(
        name, opts, SMALL_SHAPES, dtype, steps=10, seed=1, split=SPLIT, none_plan=skip_plan
    )
    assert opt.state[0]["step"] == 7 and opt.state[1]["step"] == 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(FULL))
def test_large_odd_sizes(isa, threads, key, dtype):
    threads(2)  # the group exceeds the parallel threshold (65536 elements)
    run_and_compare(cls_name(key), FULL[key], LARGE, dtype, steps=8, seed=2, split=2)


@pytest.mark.parametrize("key", list(FULL))
def test_many_steps_float32(isa, key):
    # 30 steps: RAdam's rectified branch for most of them, NAdam's mu_product far from 1.
    run_and_compare(
        cls_name(key), FULL[key], [(17,), (100,), (4097,)], np.float32, steps=30, seed=3, split=1
    )


def test_radam_switches_branch_at_rho_5():
    """rho_t > 5 first at step 6 for beta2 = 0.999 (step 7 for 0.8): before it, the update is
    m / (1 - beta1^t) scaled by lr, independent of v."""
    for b2, first in ((0.999, 6), (0.8, 7)):
        rho_inf = 2 / (1 - b2) - 1
        rho = [rho_inf - 2 * t * b2**t / (1 - b2**t) for t in range(1, 10)]
        assert [r > 5 for r in rho].index(True) + 1 == first
        p = np.zeros(3)
        opt = cg.optim.RAdam([p], lr=0.1, betas=(0.9, b2))
        g = np.array([1.0, -2.0, 4.0])
        for t in range(1, first):
            before = p.copy()
            opt.step([g])
            m = opt.state[0]["exp_avg"]
            np.testing.assert_allclose(before - p, 0.1 * m / (1 - 0.9**t), rtol=1e-15)
        before = p.copy()
        opt.step([g])  # rectified: |step| ~ lr * r_t, the same for every element
        d = before - p
        np.testing.assert_allclose(d, d[0] * np.sign(g), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(FULL))
def test_every_isa_same_bits(key, dtype):
    shapes = [(1,), (15,), (17,), (33,), (4097,), (3, 7)]
    assert_same_bits_on_every_isa(
        lambda: trajectory(cls_name(key), FULL[key], shapes, dtype, steps=8)
    )


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(FULL))
def test_one_vs_two_threads_same_bits(threads, key, dtype):
    assert_same_bits_one_vs_two_threads(
        threads, lambda: trajectory(cls_name(key), FULL[key], LARGE, dtype, steps=7)
    )


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    shapes = [(1,), (31,), (33,), (4097,), (3, 7)]
    runs = {key: (cls_name(key), opts) for key, opts in FULL.items()}
    assert_scalar_subprocess_matches(tmp_path, runs, shapes, steps=8, module="_optim_harness")


@pytest.mark.parametrize("name", NAMES)
def test_none_gradient_skips_param(name):
    opt = none_gradient_skips(name, dict(lr=0.1))
    assert opt.state[0]["step"] == 3 and opt.state[1]["step"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_empty_tensor(name, dtype):
    params = [np.zeros(0, dtype), np.ones(3, dtype)]
    opt = getattr(cg.optim, name)(params)
    opt.step([np.zeros(0, dtype), np.ones(3, dtype)])
    assert opt.state[0]["step"] == 1 and opt.state[0]["exp_avg"].shape == (0,)
    assert not np.array_equal(params[1], np.ones(3, dtype))


_HYPER = {
    "NAdam": dict(
        momentum_decay=st.floats(0, 1),
        decoupled_weight_decay=st.booleans(),
    ),
    "RAdam": dict(decoupled_weight_decay=st.booleans()),
    "Adamax": {},
}


@st.composite
def _case(draw):
    name = draw(st.sampled_from(NAMES))
    opts = {k: draw(s) for k, s in _HYPER[name].items()}
    opts["betas"] = draw(st.tuples(st.floats(0, 0.999), st.floats(0, 0.9999)))
    opts["eps"] = draw(st.floats(0, 1e-2))
    opts["weight_decay"] = draw(st.floats(0, 0.5))
    opts["maximize"] = draw(st.booleans())
    opts["lr"] = draw(st.floats(0, 0.5))
    shapes = draw(SHAPE_LISTS)
    return name, opts, shapes, draw(st.sampled_from([np.float32, np.float64]))


@settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_case())
def test_hypothesis_sweep(case):
    name, opts, shapes, dtype = case
    split = max(1, len(shapes) // 2)
    with np.errstate(all="ignore"):  # extreme draws may overflow in both paths alike
        run_and_compare(name, opts, [tuple(s) for s in shapes], dtype, steps=8, seed=6, split=split)
