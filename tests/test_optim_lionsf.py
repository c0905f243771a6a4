"""Lion and Schedule-Free AdamW: the fast path against the NumPy references, bit for bit.

Tolerance: 0 ulp. Every option combination, every ISA, float32 and float64, one param group of
tensors of every size 1..64 plus an odd 10007 (100003 with all options on, per ISA), 12-step
trajectories (Schedule-Free also switching eval -> train every 4 steps and ending in eval mode)
comparing the parameters and every state entry (buffers, step counts, Schedule-Free's lr_max
and weight_sum). Then 1 vs 2 threads and a subprocess with CONVERGENT_ISA=scalar.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bits_equal,
    assert_flat_equal,
    assert_same_bits_on_every_isa,
    assert_same_bits_one_vs_two_threads,
    assert_scalar_subprocess_matches,
)
from lionsf_cases import NAMES, all_cases, case_id, trajectory

SIZES = [(n,) for n in range(1, 65)] + [(10007,), (3, 7)]
FULL = {
    "Lion": dict(lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1, maximize=True),
    "ScheduleFreeAdamW": dict(lr=0.05, weight_decay=0.1, warmup_steps=3, r=0.5),
}
LARGE = [(70001,), (5,), (2 * 32768 + 5,), (40000,)]  # > 65536 elements: the parallel path
CASES = all_cases()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_every_option_matches_reference_on_every_isa(isa, name, opts, dtype):
    want = trajectory(name, opts, SIZES, dtype, steps=12, reference=True)
    fast = trajectory(name, opts, SIZES, dtype, steps=12)
    assert_flat_equal(fast, want, f"{isa} {name}")
    assert fast["s0_step"] == 12
    if name == "ScheduleFreeAdamW":
        assert isinstance(fast["s0_lr_max"].item(), float)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_large_odd_size_matches_reference_on_every_isa(isa, name, dtype):
    shapes = [(100003,), (65,)]
    want = trajectory(name, FULL[name], shapes, dtype, steps=8, reference=True)
    assert_flat_equal(trajectory(name, FULL[name], shapes, dtype, steps=8), want, f"{isa} {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_none_grads_and_two_groups_match_reference(name, dtype):
    """A None gradient skips that parameter (its state does not advance); two groups with
    different hyperparameters each follow their own settings."""
    from lionsf_cases import REFERENCE, make_params, run

    rng = np.random.default_rng(3)
    shapes = [(17,), (4, 5), (33,)]
    a = make_params(rng, shapes, dtype)
    b = [p.copy() for p in a]
    opts = FULL[name]
    other = dict(lr=opts["lr"] / 2, weight_decay=0.0)
    fast = getattr(cg.optim, name)([{"params": a[:2]}, {"params": a[2:], **other}], **opts)
    run(fast, a, 10, seed=5, none_every=3)
    refs = [REFERENCE[name](b[:2], **opts), REFERENCE[name](b[2:], **{**opts, **other})]

    class Both:  # the two reference groups as one optimizer
        def step(self, grads):
            refs[0].step(grads[:2])
            refs[1].step(grads[2:])

    if name == "ScheduleFreeAdamW":
        Both.eval = lambda self: [r.eval() for r in refs]
        Both.train = lambda self: [r.train() for r in refs]
    run(Both(), b, 10, seed=5, none_every=3)
    for i, (p, q) in enumerate(zip(a, b)):
        assert_bits_equal(p, q, f"param {i}")
    want = {**refs[0].state, **{i + 2: s for i, s in refs[1].state.items()}}
    assert fast.state[0]["step"] == 7 and fast.state[1]["step"] == 10
    for i, st in want.items():
        assert sorted(fast.state[i]) == sorted(st)
        for k, v in st.items():
            assert_bits_equal(np.asarray(fast.state[i][k]), np.asarray(v), f"state[{i}][{k}]")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_every_isa_same_bits(name, dtype):
    shapes = [(1,), (31,), (33,), (4097,)]
    assert_same_bits_on_every_isa(lambda: trajectory(name, FULL[name], shapes, dtype, 6))


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_one_vs_two_threads_same_bits(threads, name, dtype):
    two = assert_same_bits_one_vs_two_threads(
        threads, lambda: trajectory(name, FULL[name], LARGE, dtype, steps=5)
    )
    want = trajectory(name, FULL[name], LARGE, dtype, steps=5, reference=True)
    assert_flat_equal(two, want, "2 threads vs reference")


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    shapes = [(1,), (31,), (33,), (4097,), (3, 7)]
    runs = {name: (name, opts) for name, opts in FULL.items()}
    assert_scalar_subprocess_matches(tmp_path, runs, shapes, steps=6, module="lionsf_cases")
