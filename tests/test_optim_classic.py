"""Adadelta, ASGD and Rprop: the fused kernels against the NumPy reference (0 ulp), on every ISA,
at 1 and 2 threads, with the ISA forced to scalar from the environment, and across a
state_dict round trip.

Tolerance: 0 ulp everywhere. Each case runs a whole trajectory (params and every state buffer,
eta and mu included, compared after every step) over tensors of every size 1..64 (twice the
widest vector of 16 floats, so every tail length of every ISA) plus a large odd size.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_flat_equal,
    assert_same_bits_one_vs_two_threads,
    assert_scalar_subprocess_matches,
    flat_state,
    make_params,
    on_every_isa,
)
from classic_cases import NAMES, RefOptimizer, all_cases, case_id, make_grads, trajectory

CASES = all_cases()
SHAPES = [(n,) for n in range(1, 65)] + [(100003,), (3, 7)]
STEPS = 12
# The learning rate changes twice: ASGD's eta follows the lr of the previous step.
LRS = [1.0] * 5 + [0.5] * 4 + [0.8] * 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_reference_on_every_isa(threads, name, opts, dtype):
    """The reference trajectory once, then the fast optimizer's on every available ISA (one
    thread here; the parallel split is held to the one-thread bits below)."""
    threads(1)
    rng = np.random.default_rng(11)
    start = make_params(rng, SHAPES, dtype)
    grads = [make_grads(rng, start, t, none_at=(2,) if t < 3 else ()) for t in range(STEPS)]
    lr0 = opts["lr"]
    ref_params = [p.copy() for p in start]
    ref_opt = RefOptimizer(name, ref_params, **opts)
    expected = []
    for t in range(STEPS):
        ref_opt.group["lr"] = lr0 * LRS[t]
        ref_opt.step(grads[t])
        expected.append({k: v.copy() for k, v in flat_state(ref_params, ref_opt.state).items()})

    def run():
        params = [p.copy() for p in start]
        opt = getattr(cg.optim, name)(params, **opts)
        for t in range(STEPS):
            opt.param_groups[0]["lr"] = lr0 * LRS[t]
            opt.step(grads[t])
            assert_flat_equal(
                flat_state(params, opt.state), expected[t], f"{cg.get_isa()} step {t}"
            )

    on_every_isa(run)


FULL = {
    "Adadelta": dict(lr=0.5, rho=0.8, eps=1e-3, weight_decay=0.1, maximize=True),
    "ASGD": dict(lr=0.05, lambd=0.3, alpha=0.9, t0=2.0, weight_decay=0.1),
    "Rprop": dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=True),
}
LARGE = [(70001,), (5,), (2 * 32768 + 5,), (40000,)]  # > 65536 elements: the parallel path


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_one_vs_two_threads_same_bits(threads, isa, name, dtype):
    assert_same_bits_one_vs_two_threads(
        threads, lambda: trajectory(name, FULL[name], LARGE, dtype, steps=8)
    )


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    shapes = [(1,), (17,), (33,), (4097,), (3, 7)]
    runs = {name: (name, opts) for name, opts in FULL.items()}
    assert_scalar_subprocess_matches(tmp_path, runs, shapes, steps=8, module="classic_cases")
    assert cg.get_isa() == cg.available_isas()[0]  # this process runs the best ISA


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resume_is_bit_exact(name, dtype):
    """10 straight steps == 5 steps, state_dict, a new optimizer on copies, load, 5 steps."""
    rng = np.random.default_rng(3)
    params = make_params(rng, [(9,), (4, 5), (33,)], dtype)
    grads = [make_grads(rng, params, t, none_at=(1,) if t < 2 else ()) for t in range(10)]

    def groups(ps):
        return [{"params": ps[:1], "lr": FULL[name]["lr"] * 0.5}, {"params": ps[1:]}]

    straight = [p.copy() for p in params]
    a = getattr(cg.optim, name)(groups(straight), **FULL[name])
    for t in range(10):
        a.step(grads[t])
    replay = [p.copy() for p in params]
    b = getattr(cg.optim, name)(groups(replay), **FULL[name])
    for t in range(5):
        b.step(grads[t])
    saved = b.state_dict()
    at_save = [p.copy() for p in replay]
    b.step(grads[5])  # the saved copy must not follow later steps
    for p, q in zip(replay, at_save):
        p[...] = q
    c = getattr(cg.optim, name)(groups(replay), **FULL[name])
    c.load_state_dict(saved)
    for t in range(5, 10):
        c.step(grads[t])
    assert_flat_equal(
        flat_state(replay, c.state), flat_state(straight, a.state), "resumed vs straight"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rprop_etaminus_rounding_to_one_in_float32(threads, dtype):
    """etaminus = 1 - 1e-9 is 1.0 in float32: torch then also zeroes the gradient where the
    product is 0 (its test is factor == etaminus), so a fresh float32 Rprop does not move."""
    threads(1)
    opts = dict(lr=0.01, etas=(1 - 1e-9, 1.2), step_sizes=(1e-6, 50.0))
    rng = np.random.default_rng(2)
    start = make_params(rng, SHAPES[::7], dtype)
    grads = [make_grads(rng, start, t) for t in range(6)]
    ref_params = [p.copy() for p in start]
    ref_opt = RefOptimizer("Rprop", ref_params, **opts)
    for g in grads:
        ref_opt.step(g)
    moved = any(not np.array_equal(p, q) for p, q in zip(ref_params, start))
    assert moved == (dtype == np.float64)

    def run():
        params = [p.copy() for p in start]
        opt = cg.optim.Rprop(params, **opts)
        for g in grads:
            opt.step(g)
        want = flat_state(ref_params, ref_opt.state)
        assert_flat_equal(flat_state(params, opt.state), want, cg.get_isa())

    on_every_isa(run)
