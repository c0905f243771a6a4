"""cg.optim.Muon against its NumPy reference, across ISAs and thread counts, and against
torch.optim.Muon 2.13.0.

Tolerances. The momentum buffer is elementwise: 0 ulp vs the reference. The update goes through
3 * ns_steps matrix products on convergent's GEMM (FMA, blocked sums) where the reference uses
NumPy's matmul, so params agree to rounding: float64 atol 1e-10 (params are O(1); observed
~1e-15), float32 atol 1e-5 (observed ~5e-7). Thread counts: 0 ulp (the GEMM never splits K).
torch runs Newton-Schulz in bfloat16 (8 bits of mantissa), we in the param's dtype: after one
step the update differs from torch's by ~1.5% in norm, so the bound is 3e-2 relative (norm) and
6e-2 of the largest entry elementwise. With torch's bfloat16 cast disabled (patched to a copy),
torch's own code runs in float64 and matches ours to rtol 1e-10 over 30 steps.
"""

from __future__ import annotations

from unittest import mock

import convergent as cg
import numpy as np
import pytest
from _optim_harness import assert_bits_equal, assert_scalar_subprocess_matches
from factormuon_cases import MUON_GRID, one_thread, opts_id, run_pair

SHAPES = [(1, 1), (3, 17), (17, 3), (64, 65), (65, 64), (1, 40), (40, 1), (8, 8)]
SWEEP = [(r, c) for r in (1, 2, 7, 16, 33) for c in range(1, 65)]
LARGE = [(257, 131), (601, 67), (5, 20011)]  # parallel GEMMs and elementwise passes
ATOL = {np.float32: 1e-5, np.float64: 1e-10}


def _compare(fp, fs, rp, rs, dtype, what):
    for i, (a, b) in enumerate(zip(fp, rp)):
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL[dtype], err_msg=f"{what} p{i}")
    assert sorted(fs) == sorted(rs)
    for i in rs:
        assert sorted(fs[i]) == ["momentum_buffer"]
        assert_bits_equal(fs[i]["momentum_buffer"], rs[i]["momentum_buffer"], f"{what} buf{i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", MUON_GRID, ids=opts_id)
def test_every_option_vs_reference(isa, threads, opts, dtype):
    # One thread: the grid's many small GEMMs would each pay a parallel region on a loaded
    # machine; any thread count gives the same bits (test_large_one_and_two_threads).
    threads(1)
    _compare(*run_pair("Muon", opts, SHAPES, dtype, steps=6), dtype, f"{isa} {opts}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_size_sweep_vs_reference(isa, dtype):
    opts = dict(lr=0.02, eps=1e-3, ns_coefficients=(3.0, -3.2, 1.2), ns_steps=3)
    _compare(*run_pair("Muon", opts, SWEEP, dtype, steps=3), dtype, isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_one_and_two_threads(isa, threads, dtype):
    opts = dict(lr=0.02, adjust_lr_fn="match_rms_adamw")
    runs = []
    for n in (1, 2):
        threads(n)
        fp, fs, rp, rs = run_pair("Muon", opts, LARGE, dtype, steps=2)
        _compare(fp, fs, rp, rs, dtype, f"{isa} {n} threads")
        runs.append(fp)
    for a, b in zip(*runs):
        assert_bits_equal(a, b, "1 vs 2 threads")


def test_zero_gradient_uses_eps():
    p = np.ones((3, 4))
    cg.optim.Muon([p], lr=0.1, weight_decay=0.5).step([np.zeros((3, 4))])
    np.testing.assert_array_equal(p, np.full((3, 4), 1 - 0.1 * 0.5))


def test_env_scalar_subprocess_matches_in_process_scalar(tmp_path):
    runs = {"Muon": ("Muon", dict(lr=0.02, nesterov=False, weight_decay=0.05))}
    shapes = [(3, 17), (17, 3), (64, 65)]
    assert_scalar_subprocess_matches(
        tmp_path, runs, shapes, steps=4, module="_optim_harness", here_isa="scalar"
    )


TORCH_OPTS = [
    dict(lr=0.02),
    dict(lr=0.02, nesterov=False, momentum=0.3, adjust_lr_fn="match_rms_adamw", weight_decay=0.0),
    dict(lr=0.01, adjust_lr_fn="original", ns_steps=3, eps=1e-3),
]
TORCH_SHAPES = [(3, 17), (64, 65), (1, 1), (40, 7), (50, 90)]


def _torch_run(torch, opts, steps, seed):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in TORCH_SHAPES]
    tps = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    start = [p.copy() for p in params]
    opt = cg.optim.Muon(params, **opts)
    topt = torch.optim.Muon(tps, **opts)
    for _ in range(steps):
        gs = [rng.standard_normal(s) for s in TORCH_SHAPES]
        opt.step(gs)
        for q, g in zip(tps, gs):
            q.grad = torch.tensor(g)
        topt.step()
    return start, params, opt, tps, topt


@pytest.mark.parametrize("opts", TORCH_OPTS, ids=opts_id)
def test_one_step_matches_torch_to_bfloat16_precision(opts):
    torch = pytest.importorskip("torch", reason="torch 2.13 is the reference for the semantics")
    with one_thread(torch):
        start, params, opt, tps, topt = _torch_run(torch, opts, 1, seed=1)
    decay = 1 - opts["lr"] * opts.get("weight_decay", 0.1)
    for p0, p, q in zip(start, params, tps):
        du_mine, du_torch = p - p0 * decay, q.detach().numpy() - p0 * decay
        assert np.linalg.norm(du_mine - du_torch) <= 3e-2 * np.linalg.norm(du_torch)
        assert np.max(np.abs(du_mine - du_torch)) <= 6e-2 * np.max(np.abs(du_torch))


@pytest.mark.parametrize("opts", TORCH_OPTS, ids=opts_id)
def test_float64_matches_torch_without_its_bfloat16_cast(opts):
    torch = pytest.importorskip("torch", reason="torch 2.13 is the reference for the semantics")
    # torch's Newton-Schulz casts with Tensor.bfloat16(); made a copy, the iteration runs in
    # float64 in torch's own code (transpose for tall matrices, lerp forms, adjust_lr_fn).
    with one_thread(torch), mock.patch.object(torch.Tensor, "bfloat16", lambda t: t.clone()):
        _, params, opt, tps, topt = _torch_run(torch, opts, 30, seed=2)
    for i, (p, q) in enumerate(zip(params, tps)):
        np.testing.assert_allclose(p, q.detach().numpy(), rtol=1e-10, err_msg=f"p{i}")
        assert sorted(opt.state[i]) == sorted(topt.state[q]) == ["momentum_buffer"]
        tb = topt.state[q]["momentum_buffer"].numpy()
        np.testing.assert_allclose(opt.state[i]["momentum_buffer"], tb, rtol=1e-10)


def test_state_dict_resume_bit_exact():
    rng = np.random.default_rng(3)
    shapes = [(5, 3), (4, 9)]
    a = [rng.standard_normal(s) for s in shapes]
    b = [p.copy() for p in a]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(6)]
    oa = cg.optim.Muon(a, lr=0.02)
    for g in grads:
        oa.step(g)
    ob = cg.optim.Muon(b, lr=0.02)
    for g in grads[:3]:
        ob.step(g)
    c = [p.copy() for p in b]
    oc = cg.optim.Muon(c, lr=0.02)
    oc.load_state_dict(ob.state_dict())
    for g in grads[3:]:
        oc.step(g)
    for i, (x, y) in enumerate(zip(a, c)):
        assert_bits_equal(x, y, f"resumed p{i}")
        assert_bits_equal(oa.state[i]["momentum_buffer"], oc.state[i]["momentum_buffer"], "buf")
    assert "step" not in oc.state[0]
