"""Adadelta, ASGD and Rprop against torch.optim 2.13.0 (optional: skipped without torch).

float64 trajectories over 30 steps, three tensors in two param groups (one tensor without a
gradient for the first two steps, the second group's lr cut at step 15), params and every state
entry (step, square_avg, acc_delta; eta, mu, ax; prev, step_size) compared after every step,
for every option combination (weight decay and maximize included). Tolerance: rtol 1e-10 (with
an absolute floor of 1e-14 for entries that pass through zero).

torch keeps ASGD's eta and mu (and every step count) as scalar tensors of its default dtype:
the tests run torch with float64 as the default dtype so that those scalars are doubles, as
convergent's.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import make_params
from _optim_torch import assert_defaults_match_torch, run_against_torch
from classic_cases import NAMES, all_cases, case_id, make_grads

torch = pytest.importorskip("torch", reason="torch.optim is the oracle for these semantics")

RTOL, ATOL = 1e-10, 1e-14
SHAPES = [(7,), (3, 5), (33,)]
CASES = all_cases()


@pytest.fixture
def torch_f64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _run_both(name, opts, grads_at, steps=30):
    run_against_torch(
        torch, name, opts, SHAPES, steps=steps, cut_at=15, seed=5, rtol=RTOL, atol=ATOL,
        grads_at=grads_at,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_torch_optim(torch_f64, name, opts):
    _run_both(name, opts, lambda rng, params, t: make_grads(rng, params, t, (2,) if t < 2 else ()))


def test_rprop_nonfinite_gradients_match_torch(torch_f64):
    """NaN and inf gradient entries: torch's sign(NaN) is 0, so a NaN product keeps the step
    size, the parameter does not move, and the NaN is remembered in prev."""

    def grads_at(rng, params, t):
        gs = make_grads(rng, params, t)
        if t in (3, 4, 9):
            for g in gs:
                g.flat[:: 4 + t] = np.nan
                g.flat[1 :: 5 + t] = np.inf * (-1) ** t
        return gs

    _run_both("Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.1)), grads_at, 12)


def test_default_hyperparameters_match_torch():
    assert_defaults_match_torch(torch, NAMES)


def test_rprop_float32_etaminus_rounding_to_one_matches_torch():
    """In float32, etaminus = 1 - 1e-9 rounds to 1: torch zeroes the gradient wherever the
    step-size factor equals it, the zero-product entries included; so does convergent."""
    rng = np.random.default_rng(9)
    params = make_params(rng, SHAPES, np.float32)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opts = dict(lr=0.01, etas=(1 - 1e-9, 1.3), step_sizes=(1e-4, 0.1))
    ours = cg.optim.Rprop(params, **opts)
    theirs = torch.optim.Rprop(tparams, foreach=False, **opts)
    for t in range(10):
        grads = make_grads(rng, params, t)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        ours.step(grads)
        theirs.step()
        for i, (p, tp) in enumerate(zip(params, tparams)):
            np.testing.assert_array_equal(p, tp.detach().numpy(), f"step {t} param {i}")
            for k in ("prev", "step_size"):
                np.testing.assert_array_equal(
                    ours.state[i][k], theirs.state[tp][k].numpy(), f"step {t} {k}"
                )
