"""Lion and Schedule-Free AdamW: hand-checked steps, the memory-lean Schedule-Free form against
the simplified x/y/z reference, and state_dict resume (bit-exact, across train/eval switches).

Tolerances: hand-checked values to 1e-12 relative (their decimals are exact to ~16 digits);
lean vs simplified Schedule-Free in float64 to rounding: |a - b| <= 1e-13 * max|b| per array
(50 steps; the two forms round differently; the largest difference seen is 1.4e-15 of the
scale, and an error in any term of the update would be many orders larger).
"""

from __future__ import annotations

import copy
import math

import convergent as cg
import numpy as np
import pytest
from _optim_harness import assert_bits_equal, assert_state_equal
from convergent import reference as ref
from lionsf_cases import make_grads, make_params

# ---- Lion ------------------------------------------------------------------------------------


def test_lion_two_hand_checked_steps():
    p = np.array([1.0, -2.0, 0.5, 3.0])
    opt = cg.optim.Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    # step 1: m = 0, c = 0.1 g -> sign [1, -1, 0, 1]; p -= 0.1 (sign + 0.5 p); m = 0.01 g
    opt.step([np.array([0.3, -0.1, 0.0, 2.0])])
    np.testing.assert_allclose(p, [0.85, -1.8, 0.475, 2.75], rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["exp_avg"], [0.003, -0.001, 0.0, 0.02], rtol=1e-15)
    # step 2: c = 0.1 g + 0.9 m = [0.0007, -0.0109, 0.1, -0.032]: the momentum flips the sign
    # of the first coordinate against its gradient
    opt.step([np.array([-0.02, -0.1, 1.0, -0.5])])
    np.testing.assert_allclose(p, [0.7075, -1.61, 0.35125, 2.7125], rtol=1e-15)
    np.testing.assert_allclose(
        opt.state[0]["exp_avg"], [0.00277, -0.00199, 0.01, 0.0148], rtol=1e-12
    )
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lion_sign_of_zero_is_zero_and_nan_propagates(isa, dtype):
    p = np.array([1.0, 2.0, 3.0, -1.0], dtype)
    g = np.array([0.0, -0.0, np.nan, 1.0], dtype)
    cg.optim.Lion([p], lr=0.5).step([g])
    assert_bits_equal(p[:2], np.array([1.0, 2.0], dtype), "sign(0) = 0: no move")
    assert np.isnan(p[2]) and p[3] == dtype(-1.5)


# ---- Schedule-Free AdamW ---------------------------------------------------------------------


def test_schedulefree_hand_checked_first_two_steps():
    p0 = np.array([1.0, -2.0])
    p = p0.copy()
    opt = cg.optim.ScheduleFreeAdamW([p], lr=0.1, weight_decay=0.2)
    g = np.array([0.5, -4.0])
    opt.step([g])
    # Step 1: lr_1 = 0.1 sqrt(1 - 0.999) = 0.00316227766..., v = 0.001 g^2, ckp1 = 1, so
    # x = y = z = p0 - lr_1 (g / (sqrt(0.001) |g| + 1e-8) + 0.2 p0): about p0 - 0.1 sign(g)
    # (bias correction folded into lr_1), eps shifting it by ~1e-8 relative.
    lr1 = 0.1 * math.sqrt(0.001)
    assert lr1 == pytest.approx(0.0031622776601683794, rel=1e-15)
    step = g / (math.sqrt(0.001) * np.abs(g) + 1e-8) + 0.2 * p0
    np.testing.assert_allclose(step, [31.8227566, -32.0227741], rtol=1e-8)
    want = p0 - lr1 * step
    np.testing.assert_allclose(p, want, rtol=1e-12)
    np.testing.assert_allclose(p, [0.8993676, -1.8987351], rtol=1e-7)
    st = opt.state[0]
    np.testing.assert_allclose(st["z"], want, rtol=1e-12)
    np.testing.assert_allclose(st["exp_avg_sq"], [0.00025, 0.016], rtol=1e-13)
    assert st["lr_max"] == pytest.approx(lr1, rel=1e-15)
    assert st["weight_sum"] == pytest.approx(1e-5, rel=1e-13)  # lr_max ** 2
    opt.eval()  # x == z after one step
    np.testing.assert_allclose(p, want, rtol=1e-12)
    opt.train()
    # Step 2: lr_2 = 0.1 sqrt(1 - 0.999^2) = 0.1 sqrt(0.001999); weight_sum = 1e-5 + 1.999e-5,
    # ckp1 = 1.999 / 2.999.
    z1 = st["z"].copy()
    g2 = np.array([1.0, 2.0])
    opt.step([g2])
    lr2 = 0.1 * math.sqrt(0.001999)
    assert st["lr_max"] == pytest.approx(lr2, rel=1e-14)
    assert st["weight_sum"] == pytest.approx(2.999e-5, rel=1e-12)
    v2 = 0.999 * np.array([0.00025, 0.016]) + 0.001 * g2**2
    np.testing.assert_allclose(st["exp_avg_sq"], v2, rtol=1e-13)
    z2 = z1 - lr2 * (g2 / (np.sqrt(v2) + 1e-8) + 0.2 * z1)  # y_1 = z_1
    np.testing.assert_allclose(st["z"], z2, rtol=1e-12)
    c = 1.999 / 2.999
    x2 = (1 - c) * z1 + c * z2
    np.testing.assert_allclose(p, 0.9 * x2 + 0.1 * z2, rtol=1e-12)  # train mode: y
    opt.eval()
    np.testing.assert_allclose(p, x2, rtol=1e-12)


def _close(a, b, what):
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b)))
    assert err <= 1e-13 * scale, f"{what}: max error {err:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize(
    "opts",
    [
        dict(lr=0.05),
        dict(lr=0.05, warmup_steps=10, weight_decay=0.1, r=0.5),
        dict(
            lr=0.02, betas=(0.5, 0.9), warmup_steps=3, weight_decay=0.3, r=2.0, weight_lr_power=0.0
        ),  # fmt: skip
        dict(lr=0.1, betas=(0.95, 0.99), eps=1e-3, warmup_steps=40, r=1.0),
    ],
)
def test_schedulefree_lean_form_equals_simplified_reference(opts):
    """Kernel (memory-lean: y in the parameter, z, v) vs the simplified reference (x, y, z
    stored), float64, 50 steps with gradients of a quadratic taken at y, eval/train switches
    every 7 steps and evaluations compared in eval mode."""
    rng = np.random.default_rng(11)
    shapes = [(33,), (4, 5)]
    fast_p = make_params(rng, shapes, np.float64)
    ref_p = [p.copy() for p in fast_p]
    fast = cg.optim.ScheduleFreeAdamW(fast_p, **opts)
    refs = [ref.ScheduleFreeAdamWReference(p, **opts) for p in ref_p]
    targets = make_params(rng, shapes, np.float64)
    for t in range(50):
        noise = make_grads(rng, fast_p, t)
        grads = [2.0 * (p - c) + 0.1 * n for p, c, n in zip(fast_p, targets, noise)]
        fast.step(grads)
        for r, g in zip(refs, grads):
            r.step(g)
        for i, (p, r) in enumerate(zip(fast_p, refs)):
            _close(p, r.y, f"step {t + 1} y[{i}]")
            _close(fast.state[i]["z"], r.z, f"step {t + 1} z[{i}]")
            assert fast.state[i]["lr_max"] == r.lr_max
            assert fast.state[i]["weight_sum"] == r.weight_sum
            _close(fast.state[i]["exp_avg_sq"], r.exp_avg_sq, f"step {t + 1} v[{i}]")
        if t % 7 == 6 or t == 49:
            fast.eval()
            for i, (p, r) in enumerate(zip(fast_p, refs)):
                r.eval()
                _close(p, r.x, f"step {t + 1} x[{i}]")
            fast.train()
            for r in refs:
                r.train()


# ---- state_dict resume -----------------------------------------------------------------------

OPTS = {
    "Lion": dict(lr=1e-2, weight_decay=0.1),
    "ScheduleFreeAdamW": dict(lr=0.05, weight_decay=0.1, warmup_steps=4, r=0.5),
}


def _steps(opt, params, rng, n, t0):
    for t in range(t0, t0 + n):
        opt.step(make_grads(rng, params, t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "save_in_eval"),
    [("Lion", False), ("ScheduleFreeAdamW", False), ("ScheduleFreeAdamW", True)],
)
def test_state_dict_resume_is_bit_exact(name, dtype, save_in_eval):
    switch = name == "ScheduleFreeAdamW"
    rng = np.random.default_rng(2)
    params = make_params(rng, [(9,), (3, 4)], dtype)
    opt = getattr(cg.optim, name)(params, **OPTS[name])
    _steps(opt, params, rng, 6, 0)
    if switch:  # a switch round trip before saving
        opt.eval()
        opt.train()
    if save_in_eval:
        opt.eval()
    saved_params = [p.copy() for p in params]
    sd = copy.deepcopy(opt.state_dict())
    rng_state = copy.deepcopy(rng.bit_generator.state)
    if switch:
        opt.train()
    _steps(opt, params, rng, 5, 6)
    if switch:
        opt.eval()

    resumed = [p.copy() for p in saved_params]
    opt2 = getattr(cg.optim, name)(resumed, **{k: 0.5 * v for k, v in OPTS[name].items()
                                               if k in ("lr",)})  # fmt: skip
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == OPTS[name]["lr"]
    if switch:
        assert opt2.param_groups[0]["train_mode"] is (not save_in_eval)
        opt2.train()
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = rng_state
    _steps(opt2, resumed, rng2, 5, 6)
    if switch:
        opt2.eval()
    for i, (p, q) in enumerate(zip(params, resumed)):
        assert_bits_equal(q, p, f"param {i}")
    assert_state_equal(opt2.state, opt.state, "resumed state")
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_schedulefree_mode_is_saved_and_step_in_eval_raises():
    rng = np.random.default_rng(4)
    params = make_params(rng, [(6,)], np.float64)
    opt = cg.optim.ScheduleFreeAdamW(params, lr=0.05)
    opt.eval()  # no state yet: nothing to move
    assert opt.param_groups[0]["train_mode"] is False
    with pytest.raises(RuntimeError, match="train"):
        opt.step(make_grads(rng, params, 0))
    assert opt.state == {}
    opt.train()
    opt.step(make_grads(rng, params, 0))
    opt.eval()
    x = params[0].copy()
    opt.eval()  # already in eval mode: no change
    assert_bits_equal(params[0], x, "second eval")
    snap = copy.deepcopy(opt.state)
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step(make_grads(rng, params, 1))
    assert_bits_equal(params[0], x, "param after the refused step")
    assert_state_equal(opt.state, snap, "state after the refused step")
    assert opt.state_dict()["param_groups"][0]["train_mode"] is False
