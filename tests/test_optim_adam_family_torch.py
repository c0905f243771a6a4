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

import inspect

import convergent as cg
import numpy as np
import pytest
from adam_family_cases import FULL, NAMES, all_cases, case_id, cls_name
from optim_cases import assert_bits_equal, assert_state_equal, make_grads, make_params

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


def _close(ours, theirs, where):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=where)


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_torch_optim(torch64, name, opts):
    torch = torch64
    rng = np.random.default_rng(7)
    params = make_params(rng, SHAPES, np.float64)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = getattr(cg.optim, name)(
        [{"params": params[:1], "lr": opts["lr"] * 0.5}, {"params": params[1:]}], **opts
    )
    theirs = getattr(torch.optim, name)(
        [{"params": tparams[:1], "lr": opts["lr"] * 0.5}, {"params": tparams[1:]}],
        foreach=False,
        **opts,
    )
    for t in range(30):
        if t == 15:
            ours.param_groups[1]["lr"] *= 0.3
            theirs.param_groups[1]["lr"] *= 0.3
        grads = make_grads(rng, params, t, none_at=(2,) if t < 4 else ())
        for tp, g in zip(tparams, grads):
            tp.grad = None if g is None else torch.tensor(g)
        ours.step(grads)
        theirs.step()
        for i, (p, tp) in enumerate(zip(params, tparams)):
            _close(p, tp.detach().numpy(), f"step {t} param {i}")
            tst = theirs.state.get(tp, {})
            ost = ours.state.get(i, {})
            assert sorted(ost) == sorted(tst), f"step {t} param {i}: {sorted(ost)} vs {sorted(tst)}"
            for k, v in tst.items():
                if k == "step":
                    assert ost[k] == int(v.item())
                elif k == "mu_product":
                    assert v.dtype == torch.float64 and isinstance(ost[k], float)
                    _close(ost[k], v.item(), f"step {t} state[{i}]['mu_product']")
                else:
                    _close(ost[k], v.detach().numpy(), f"step {t} state[{i}][{k!r}]")
    assert ours.state[2]["step"] == 26 and ours.state[0]["step"] == 30


def test_default_hyperparameters_match_torch():
    torch = _torch()
    for name in NAMES:
        ours = inspect.signature(getattr(cg.optim, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        for k, p in ours.items():
            if k in ("self", "params"):
                continue
            tdef = theirs[k].default
            tdef = float(tdef) if hasattr(tdef, "item") else tdef
            assert p.default == tdef, f"{name}.{k}: {p.default} vs torch {tdef}"
        # the same order (torch's maximize is keyword-only, after foreach; ours follows it)
        assert list(ours) == [k for k in theirs if k in ours], name


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
