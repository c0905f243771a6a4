"""NAdam, RAdam and Adamax against torch.optim 2.13 (the oracle of the semantics), defaults,
and bit-exact resume from ``state_dict``.

torch: float64 trajectories over 30 steps, two param groups of several tensors (one starts late
with None gradients), every option combination; params, every state buffer, step counts and
NAdam's mu_product compared after every step with rtol 1e-10 (torch fuses some operations
differently, e.g. lerp, addcdiv and NAdam's two addcdivs; the difference stays at rounding
level). torch's default dtype is set to float64 during the run so that its step and mu_product
scalars are float64 like ours.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bits_equal,
    assert_state_equal,
    case_id,
    make_grads,
    make_params,
)
from _optim_torch import assert_defaults_match_torch, run_against_torch
from adam_family_cases import FULL, NAMES, all_cases, cls_name

RTOL, ATOL = 1e-10, 1e-14
SHAPES = [(7,), (3, 5), (33,), (2, 2, 4)]
CASES = all_cases()


def _torch():
    return pytest.importorskip("torch", reason="torch is the oracle of the optimizer semantics")


@pytest.fixture
def torch64():
    torch = _torch()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_torch_optim(torch64, name, opts):
    ours = run_against_torch(
        torch64, name, opts, SHAPES, steps=30, cut_at=15, seed=7, rtol=RTOL, atol=ATOL,
        grads_at=lambda rng, params, t: make_grads(rng, params, t, none_at=(2,) if t < 4 else ()),
    )  # fmt: skip
    assert ours.state[2]["step"] == 26 and ours.state[0]["step"] == 30


def test_default_hyperparameters_match_torch():
    # the same order too (torch's maximize is keyword-only, after foreach; ours follows it)
    assert_defaults_match_torch(_torch(), NAMES, same_order=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(FULL))
def test_state_dict_resume_bit_exact(key, dtype):
    """k steps, state_dict, a new optimizer on copies of the params loads it, both go on: the
    same bits as the uninterrupted run (params, every buffer, steps, mu_product)."""
    name, opts = cls_name(key), FULL[key]
    rng = np.random.default_rng(11)
    shapes = [(5,), (3, 4), (37,)]
    params = make_params(rng, shapes, dtype)
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": opts["lr"] * 0.5}]
    opt = getattr(cg.optim, name)(groups, **opts)
    grads = [make_grads(rng, params, t, none_at=(1,) if t < 2 else ()) for t in range(12)]
    for t in range(5):
        opt.step(grads[t])
    sd = opt.state_dict()
    copies = [p.copy() for p in params]
    resumed = getattr(cg.optim, name)(
        [{"params": copies[:2]}, {"params": copies[2:]}], **{**opts, "lr": 123.0}
    )
    resumed.load_state_dict(sd)
    assert resumed.param_groups[1]["lr"] == opts["lr"] * 0.5
    if name == "NAdam":
        assert sd["state"][0]["mu_product"] == opt.state[0]["mu_product"] < 1.0
    for t in range(5, 12):
        opt.step(grads[t])
        resumed.step(grads[t])
    for i, (p, q) in enumerate(zip(params, copies)):
        assert_bits_equal(q, p, f"param {i}")
    assert_state_equal(resumed.state, opt.state, "resumed")
    assert opt.state[0]["step"] == 12 and opt.state[1]["step"] == 10


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_a_copy(name):
    params = [np.ones(4), np.ones(3)]
    opt = getattr(cg.optim, name)(params)
    opt.step([np.full(4, 0.5), np.full(3, -0.5)])
    sd = opt.state_dict()
    opt.step([np.full(4, 0.5), np.full(3, -0.5)])
    assert sd["state"][0]["step"] == 1 and opt.state[0]["step"] == 2
    assert not np.array_equal(sd["state"][0]["exp_avg"], opt.state[0]["exp_avg"])
    if name == "NAdam":
        assert sd["state"][0]["mu_product"] != opt.state[0]["mu_product"]
