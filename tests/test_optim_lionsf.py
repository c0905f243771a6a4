"""Lion and Schedule-Free AdamW: the fast path against the NumPy references, bit for bit.

Tolerance: 0 ulp. Every option combination, every ISA, float32 and float64, one param group of
tensors of every size 1..64 plus an odd 10007 (100003 with all options on, per ISA), 12-step
trajectories (Schedule-Free also switching eval -> train every 4 steps and ending in eval mode)
comparing the parameters and every state entry (buffers, step counts, Schedule-Free's lr_max
and weight_sum). Then 1 vs 2 threads and a subprocess with CONVERGENT_ISA=scalar.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest
from lionsf_cases import NAMES, all_cases, case_id, trajectory
from optim_cases import assert_bits_equal

HERE = Path(__file__).resolve().parent
SIZES = [(n,) for n in range(1, 65)] + [(10007,), (3, 7)]
FULL = {
    "Lion": dict(lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1, maximize=True),
    "ScheduleFreeAdamW": dict(lr=0.05, weight_decay=0.1, warmup_steps=3, r=0.5),
}
LARGE = [(70001,), (5,), (2 * 32768 + 5,), (40000,)]  # > 65536 elements: the parallel path
CASES = all_cases()


def _assert_same(fast, want, what):
    assert sorted(fast) == sorted(want), what
    for k in want:
        assert_bits_equal(fast[k], want[k], f"{what}: {k}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_every_option_matches_reference_on_every_isa(isa, name, opts, dtype):
    want = trajectory(name, opts, SIZES, dtype, steps=12, reference=True)
    fast = trajectory(name, opts, SIZES, dtype, steps=12)
    _assert_same(fast, want, f"{isa} {name}")
    assert fast["s0_step"] == 12
    if name == "ScheduleFreeAdamW":
        assert isinstance(fast["s0_lr_max"].item(), float)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_large_odd_size_matches_reference_on_every_isa(isa, name, dtype):
    shapes = [(100003,), (65,)]
    want = trajectory(name, FULL[name], shapes, dtype, steps=8, reference=True)
    _assert_same(trajectory(name, FULL[name], shapes, dtype, steps=8), want, f"{isa} {name}")


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
    results = {}
    previous = cg.get_isa()
    try:
        for isa in cg.available_isas():
            cg.set_isa(isa)
            results[isa] = trajectory(name, FULL[name], [(1,), (31,), (33,), (4097,)], dtype, 6)
    finally:
        cg.set_isa(previous)
    for isa, res in results.items():
        _assert_same(res, results["scalar"], f"{isa} vs scalar")


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_one_vs_two_threads_same_bits(threads, name, dtype):
    threads(1)
    one = trajectory(name, FULL[name], LARGE, dtype, steps=5)
    threads(2)
    assert cg.get_num_threads() == 2
    two = trajectory(name, FULL[name], LARGE, dtype, steps=5)
    _assert_same(two, one, "2 vs 1 threads")
    want = trajectory(name, FULL[name], LARGE, dtype, steps=5, reference=True)
    _assert_same(two, want, "2 threads vs reference")


_SCRIPT = """
import sys
import numpy as np
import convergent as cg
from lionsf_cases import trajectory
assert cg.get_isa() == "scalar", cg.get_isa()
out = {}
for name, opts in OPTS.items():
    for dt in (np.float32, np.float64):
        for k, v in trajectory(name, opts, SHAPES, dt, steps=6).items():
            out[f"{name}-{np.dtype(dt).name}-{k}"] = v
np.savez(sys.argv[1], **out)
"""


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    shapes = [(1,), (31,), (33,), (4097,), (3, 7)]
    out = tmp_path / "scalar.npz"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["CONVERGENT_ISA"] = "scalar"
    script = f"OPTS = {FULL!r}\nSHAPES = {shapes!r}\n" + _SCRIPT
    r = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    with np.load(out) as sub:
        n = 0
        for name, opts in FULL.items():
            for dt in (np.float32, np.float64):
                here = trajectory(name, opts, shapes, dt, steps=6)  # the default (best) ISA
                for k, v in here.items():
                    assert_bits_equal(sub[f"{name}-{np.dtype(dt).name}-{k}"], v, f"{name} {k}")
                    n += 1
        assert n == len(sub.files)
