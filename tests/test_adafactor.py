"""cg.optim.Adafactor against its NumPy reference (bit-exact), across ISAs and thread counts, and
against torch.optim.Adafactor 2.13.0 (float64, rtol 1e-10).

Tolerance vs the reference: 0 ulp. The kernel's reductions (sums of p^2, of the squared
gradient per row and column, of u^2) are double sums in a fixed order that the reference
reproduces (numpy.cumsum is sequential), so every ISA and thread count gives the reference's bits.
Vs torch: torch sums in a different order (and in float32 for float32 params), so float64 only,
rtol 1e-10 over 30 steps.
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_bits_equal,
    assert_same_bits_on_every_isa,
    assert_scalar_subprocess_matches,
    assert_state_equal,
    trajectory,
)
from factormuon_cases import ADAFACTOR_GRID, one_thread, opts_id, run_pair

SMALL = [(n,) for n in range(1, 65)] + [
    (1, 1), (3, 17), (17, 3), (64, 65), (65, 64), (1, 33), (33, 1), (2, 3, 5), (4, 1, 7), ()
]  # fmt: skip
SWEEP_2D = [(r, c) for r in (1, 2, 5, 16, 31) for c in range(1, 65)]
LARGE = [(100003,), (7, 20011), (300, 333), (3, 5, 4097), (9001,)]


def _compare(fast_p, fast_s, ref_p, ref_s, what):
    for i, (a, b) in enumerate(zip(fast_p, ref_p)):
        assert_bits_equal(a, b, f"{what} param {i}")
    assert_state_equal(fast_s, ref_s, what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", ADAFACTOR_GRID, ids=opts_id)
def test_every_option_small_sizes_vs_reference(isa, opts, dtype):
    _compare(*run_pair("Adafactor", opts, SMALL, dtype, steps=6), f"{isa} {opts}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2d_sizes_vs_reference(isa, dtype):
    opts = dict(lr=0.05, weight_decay=0.1, maximize=True)
    _compare(*run_pair("Adafactor", opts, SWEEP_2D, dtype, steps=4), f"{isa}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_vs_reference_one_and_two_threads(isa, threads, dtype):
    opts = dict(lr=0.05, weight_decay=0.1, d=1.2)
    runs = []
    for n in (1, 2):
        threads(n)
        fp, fs, rp, rs = run_pair("Adafactor", opts, LARGE, dtype, steps=3)
        _compare(fp, fs, rp, rs, f"{isa} {n} threads")
        runs.append(fp)
    for a, b in zip(*runs):
        assert_bits_equal(a, b, "1 vs 2 threads")


def test_many_steps_float32(isa):
    opts = dict(lr=0.3, beta2_decay=-0.5, weight_decay=0.01, eps=(1e-4, 1e-3))
    _compare(*run_pair("Adafactor", opts, SMALL, np.float32, steps=40), isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_isa_same_bits(dtype):
    opts = dict(lr=0.05, weight_decay=0.1, maximize=True)
    shapes = [(31,), (3, 17), (2, 4, 33), (5000,)]
    assert_same_bits_on_every_isa(lambda: trajectory("Adafactor", opts, shapes, dtype, steps=6))


def test_env_scalar_subprocess(tmp_path):
    runs = {"Adafactor": ("Adafactor", dict(lr=0.05, weight_decay=0.1, eps=(1e-5, 1e-3)))}
    shapes = [(1,), (33,), (3, 17), (2, 3, 5)]
    assert_scalar_subprocess_matches(tmp_path, runs, shapes, steps=5, module="_optim_harness")


TORCH_OPTS = [
    dict(lr=1e-2),
    dict(lr=0.05, weight_decay=0.1, maximize=True),
    dict(lr=0.3, beta2_decay=-0.5, eps=(1e-12, 1e-2), d=1.5),
]


@pytest.mark.parametrize("opts", TORCH_OPTS, ids=opts_id)
def test_float64_matches_torch(opts):
    torch = pytest.importorskip("torch", reason="torch 2.13 is the reference for the semantics")
    rng = np.random.default_rng(7)
    shapes = [(7,), (1,), (4, 9), (3, 5, 6), (40, 2), ()]
    params = [np.array(rng.standard_normal(s)) for s in shapes]
    tps = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = cg.optim.Adafactor(params, **opts)
    topt = torch.optim.Adafactor(tps, **opts)
    with one_thread(torch):
        for t in range(30):
            gs = [np.array(rng.standard_normal(s) * (1 + 0.1 * t)) for s in shapes]
            opt.step(gs)
            for q, g in zip(tps, gs):
                q.grad = torch.tensor(g)
            topt.step()
    for i, q in enumerate(tps):
        np.testing.assert_allclose(params[i], q.detach().numpy(), rtol=1e-10, err_msg=f"p{i}")
        tst = topt.state[q]
        assert sorted(opt.state[i]) == sorted(tst), (sorted(opt.state[i]), sorted(tst))
        for k, v in tst.items():
            if k == "step":
                assert opt.state[i]["step"] == int(v.item()) == 30
            else:
                assert opt.state[i][k].shape == tuple(v.shape), k
                np.testing.assert_allclose(opt.state[i][k], v.numpy(), rtol=1e-10, err_msg=k)


def test_state_dict_resume_bit_exact():
    rng = np.random.default_rng(3)
    shapes = [(5,), (3, 4), (2, 3, 6)]
    a = [rng.standard_normal(s) for s in shapes]
    b = [p.copy() for p in a]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(8)]
    oa = cg.optim.Adafactor(a, lr=0.05, weight_decay=0.1)
    for g in grads:
        oa.step(g)
    ob = cg.optim.Adafactor(b, lr=0.05, weight_decay=0.1)
    for g in grads[:4]:
        ob.step(g)
    sd = ob.state_dict()
    c = [p.copy() for p in b]
    oc = cg.optim.Adafactor(c, lr=0.05, weight_decay=0.1)
    oc.load_state_dict(sd)
    for g in grads[4:]:
        oc.step(g)
    for x, y in zip(a, c):
        assert_bits_equal(x, y, "resumed")
    assert_state_equal(oc.state, oa.state, "resumed")
    assert oc.state[1]["row_var"].shape == (3, 1) and oc.state[2]["col_var"].shape == (2, 1, 6)
    bad = ob.state_dict()
    bad["state"][1]["row_var"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="row_var"):
        oc.load_state_dict(bad)


def test_none_grad_skips_and_empty_param():
    p = [np.ones(4), np.ones((2, 3)), np.zeros((0, 3))]
    opt = cg.optim.Adafactor(p)
    before = p[1].copy()
    opt.step([np.full(4, 0.5), None, np.zeros((0, 3))])
    assert 1 not in opt.state and opt.state[0]["step"] == 1 and opt.state[2]["step"] == 1
    assert_bits_equal(p[1], before, "skipped")
    assert opt.state[2]["row_var"].shape == (0, 1) and opt.state[2]["col_var"].shape == (1, 3)
