"""The test harness every optimizer family shares: bit comparisons, random params and gradients,
flat trajectories, ISA / thread / scalar-subprocess sweeps, the fast-vs-reference runner, and
the bad-input snapshot-and-compare machinery with its bad-gradient catalogue. The torch.optim
trajectory comparison is in ``_optim_torch``.

Each family keeps its own cases (option grids, reference optimizers, bad values) in its
``*_cases.py`` / test files; only the machinery that runs them lives here.
"""

from __future__ import annotations

import copy
import inspect
import os
import subprocess
import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest
from hypothesis import strategies

HERE = Path(__file__).resolve().parent


# ---- comparisons ---------------------------------------------------------------------------
def assert_bits_equal(a, b, what: str = "") -> None:
    """Same dtype, shape and bits (0 ulp; distinguishes -0.0 from 0.0 and NaN payloads)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (
        f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    )
    if a.tobytes() != b.tobytes():
        np.testing.assert_array_equal(a, b, err_msg=what)  # shows where the values differ
        raise AssertionError(f"{what}: same values but different bits (signed zeros or NaNs)")


def assert_state_equal(fast_state: dict, ref_state: dict, where: str = "") -> None:
    assert sorted(fast_state) == sorted(ref_state), where
    for i in ref_state:
        fs, rs = fast_state[i], ref_state[i]
        assert sorted(fs) == sorted(rs), f"{where} param {i}: {sorted(fs)} vs {sorted(rs)}"
        for k, v in rs.items():
            if isinstance(v, np.ndarray):
                assert_bits_equal(fs[k], v, f"{where} state[{i}][{k!r}]")
            else:
                assert fs[k] == v, f"{where} state[{i}][{k!r}]: {fs[k]} vs {v}"


def assert_flat_equal(fast: dict, want: dict, where: str = "") -> None:
    """Two ``flat_state`` dicts: the same keys, every entry the same dtype, shape and bits (one
    byte comparison; entry by entry on failure)."""
    keys = sorted(want)
    assert sorted(fast) == keys, where
    fast = {k: np.asarray(fast[k]) for k in keys}
    want = {k: np.asarray(want[k]) for k in keys}
    layout = [(fast[k].dtype, fast[k].shape) for k in keys]
    if layout == [(want[k].dtype, want[k].shape) for k in keys] and b"".join(
        fast[k].tobytes() for k in keys
    ) == b"".join(want[k].tobytes() for k in keys):
        return
    for k in keys:
        assert_bits_equal(fast[k], want[k], f"{where}: {k}")


# ---- params, gradients, trajectories -----------------------------------------------------------
def make_params(rng, shapes, dtype) -> list[np.ndarray]:
    return [np.array(rng.standard_normal(s), dtype) for s in shapes]  # 0-d shapes stay arrays


# Hypothesis: 2 to 4 tensors, 1-D of 0..70 elements or 2-D up to 6 x 40.
SHAPE_LISTS = strategies.lists(
    strategies.one_of(
        strategies.tuples(strategies.integers(0, 70)),
        strategies.tuples(strategies.integers(1, 6), strategies.integers(1, 40)),
    ),
    min_size=2,
    max_size=4,
)


def make_grads(rng, params, step: int, none_at=()) -> list:
    """Gradients for one step; parameters whose index is in ``none_at`` get None."""
    return [
        None if i in none_at else np.array(rng.standard_normal(p.shape) * (1 + 0.1 * step), p.dtype)
        for i, p in enumerate(params)
    ]


def flat_state(params, state) -> dict[str, np.ndarray]:
    """Params and every state entry, keyed by name (for comparisons across runs/processes)."""
    out = {f"p{i}": p for i, p in enumerate(params)}
    for i, st in state.items():
        for k, v in st.items():
            out[f"s{i}_{k}"] = np.asarray(v)
    return out


def trajectory(
    name, opts, shapes, dtype, steps, seed=0, lrs=None, grads=make_grads
) -> dict[str, np.ndarray]:
    """Runs the fast optimizer ``steps`` times on one group (``grads(rng, params, t)`` each step,
    the group's lr set to ``lrs[t]`` when given); returns params and state, flat."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, shapes, dtype)
    opt = getattr(cg.optim, name)(params, **opts)
    for t in range(steps):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[t]
        opt.step(grads(rng, params, t))
    return flat_state(params, opt.state)


def class_defaults(cls) -> dict:
    """The constructor's keyword defaults (e.g. AdamW's weight_decay=1e-2)."""
    sig = inspect.signature(cls.__init__)
    return {k: p.default for k, p in sig.parameters.items() if k not in ("self", "params")}


def case_id(name: str, opts: dict, every_value: bool = False) -> str:
    """``Adam-betas=0.5,0.8-amsgrad``: the options other than lr, flags named when on, numbers
    when nonzero (with ``every_value``: every number, pairs in %g too)."""
    parts = [name]
    for k, v in opts.items():
        if k == "lr":
            continue
        if isinstance(v, bool):
            if v:
                parts.append(k)
        elif isinstance(v, tuple):
            parts.append(f"{k}={v[0]:g},{v[1]:g}" if every_value else f"{k}={v[0]},{v[1]}")
        elif every_value or v != 0:
            parts.append(f"{k}={v:g}")
    return "-".join(parts)


# ---- fast path vs a reference optimizer ---------------------------------------------------------
def run_and_compare(ref_cls, name, opts, shapes, dtype, steps, seed, split, none_plan=None):
    """The fast optimizer and ``ref_cls(name, groups, opts)`` on two param groups (params
    ``[:split]``, and the rest at half the lr), group 0's lr cut to 0.3x half way; params and
    state compared bit for bit after every step. ``none_plan(t)``: the params whose gradient is
    None at step t. Returns (fast, reference)."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, shapes, dtype)
    rparams = [p.copy() for p in params]
    lr1 = opts["lr"] * 0.5
    opt = getattr(cg.optim, name)(
        [{"params": params[:split]}, {"params": params[split:], "lr": lr1}], **opts
    )
    rgroups = [{"params": rparams[:split]}, {"params": rparams[split:], "lr": lr1}]
    refo = ref_cls(name, rgroups, opts)
    for t in range(steps):
        if t == steps // 2:  # a new learning rate must take effect at once
            for g in (opt.param_groups[0], refo.param_groups[0]):
                g["lr"] = opts["lr"] * 0.3
        grads = make_grads(rng, params, t, none_plan(t) if none_plan else ())
        opt.step(grads)
        refo.step(grads)
        for i, (p, r) in enumerate(zip(params, rparams)):
            assert_bits_equal(p, r, f"step {t} param {i}")
        assert_state_equal(opt.state, refo.state, f"step {t}")
    return opt, refo


def skip_plan(t):
    """A ``none_plan``: param 0 gets no gradient for the first 3 steps (its state starts late),
    param 5 skips now and then."""
    skip = {0} if t < 3 else set()
    if t % 3 == 1:
        skip.add(5)
    return skip


def none_gradient_skips(name, opts):
    """A None gradient creates no state and leaves the param and its state as they were;
    returns the optimizer after 3 steps of param 0 and 1 of param 1."""
    rng = np.random.default_rng(4)
    params = make_params(rng, [(5,), (6,)], np.float64)
    before = params[1].copy()
    opt = getattr(cg.optim, name)(params, **opts)
    opt.step([rng.standard_normal(5), None])
    assert 1 not in opt.state  # no state for a parameter that has not had a gradient yet
    assert_bits_equal(params[1], before, "skipped param")
    opt.step([rng.standard_normal(5), rng.standard_normal(6)])
    saved = {k: np.copy(v) for k, v in opt.state[1].items()}
    p1 = params[1].copy()
    opt.step([rng.standard_normal(5), None])
    assert_bits_equal(params[1], p1, "skipped param")
    for k, v in saved.items():
        assert_bits_equal(np.asarray(opt.state[1][k]), v, f"state[1][{k!r}]")
    return opt


# ---- ISAs, threads, a scalar subprocess --------------------------------------------------------
def on_every_isa(run) -> dict:
    """``run()`` under each available ISA, the previous ISA restored after: {isa: result}."""
    previous = cg.get_isa()
    results = {}
    try:
        for isa in cg.available_isas():
            cg.set_isa(isa)
            results[isa] = run()
    finally:
        cg.set_isa(previous)
    return results


def assert_same_bits_on_every_isa(run) -> None:
    """``run()`` (a flat trajectory) gives the scalar ISA's bits on every ISA."""
    results = on_every_isa(run)
    for isa, res in results.items():
        assert_flat_equal(res, results["scalar"], f"{isa} vs scalar")


def assert_same_bits_one_vs_two_threads(threads, run) -> dict:
    """``run()`` (a flat trajectory) on 1 and on 2 threads: the same bits. Returns the latter."""
    threads(1)
    one = run()
    threads(2)
    assert cg.get_num_threads() == 2
    two = run()
    assert_flat_equal(two, one, "2 vs 1 threads")
    return two


_SCRIPT = """
import sys
import numpy as np
import convergent as cg
from {module} import {function} as trajectory
assert cg.get_isa() == "scalar", cg.get_isa()
out = {{}}
for key, (name, opts) in RUNS.items():
    for dt in (np.float32, np.float64):
        for k, v in trajectory(name, opts, SHAPES, dt, steps=STEPS).items():
            out[f"{{key}}-{{np.dtype(dt).name}}-{{k}}"] = v
np.savez(sys.argv[1], **out)
"""


def subprocess_env(**extra) -> dict:
    """This process's environment with the tests folder on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def assert_scalar_subprocess_matches(
    tmp_path, runs, shapes, steps, module, function="trajectory", here_isa=None
):
    """``module.function(name, opts, shapes, dtype, steps=steps)`` for every ``runs`` entry
    ``{key: (name, opts)}`` and both dtypes in a fresh process with CONVERGENT_ISA=scalar: the
    same bits as here (the default, best ISA; ``here_isa`` if given)."""
    out = tmp_path / "scalar.npz"
    head = f"RUNS = {runs!r}\nSHAPES = {shapes!r}\nSTEPS = {steps!r}\n"
    script = head + _SCRIPT.format(module=module, function=function)
    r = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        env=subprocess_env(CONVERGENT_ISA="scalar"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    here_fn = getattr(__import__(module), function)
    previous = cg.get_isa()
    cg.set_isa(here_isa or previous)
    try:
        _compare_subprocess(out, runs, shapes, steps, here_fn)
    finally:
        cg.set_isa(previous)


def _compare_subprocess(out, runs, shapes, steps, here_fn):
    with np.load(out) as sub:
        n = 0
        for key, (name, opts) in runs.items():
            for dt in (np.float32, np.float64):
                for k, v in here_fn(name, opts, shapes, dt, steps=steps).items():
                    assert_bits_equal(sub[f"{key}-{np.dtype(dt).name}-{k}"], v, f"{key} {k}")
                    n += 1
        assert n == len(sub.files)


# ---- bad input: nothing written ------------------------------------------------------------
SHAPES = [(5,), (2, 3), (40,)]  # group 0: params 0, 1; group 1: param 2


def setup(name, opts, dtype=np.float64, one_group=False, warm_steps=2, grads=make_grads):
    """An optimizer over two param groups (or one) with state from ``warm_steps`` steps."""
    rng = np.random.default_rng(0)
    params = make_params(rng, SHAPES, dtype)
    groups = [{"params": params}] if one_group else [{"params": params[:2]}, {"params": params[2:]}]
    opt = getattr(cg.optim, name)(groups, **opts)
    for t in range(warm_steps):
        opt.step(grads(rng, params, t))
    return rng, params, opt


def snapshot(params, opt):
    return (
        [p.copy() for p in params],
        copy.deepcopy(opt.state),
        [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups],
    )


def assert_unchanged(params, opt, snap, groups=True):
    """Every param and state entry the bits of ``snap`` (and the groups' values, if asked)."""
    ps, state, group_values = snap
    for i, (p, q) in enumerate(zip(params, ps)):
        assert_bits_equal(p, q, f"param {i}")
    assert_state_equal(opt.state, state, "state")
    if groups:
        now = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        assert now == group_values


def assert_rejected(params, opt, call, exc, match=None):
    """``call()`` raises ``exc`` (matching ``match``) and writes nothing."""
    snap = snapshot(params, opt)
    with pytest.raises(exc, match=match):
        call()
    assert_unchanged(params, opt, snap)


def assert_step_rejected(rng, params, opt, exc, match=None):
    """A step with good gradients raises ``exc`` (matching ``match``) and writes nothing."""
    snap = snapshot(params, opt)
    with pytest.raises(exc, match=match):
        opt.step(good_grads(rng, params))
    assert_unchanged(params, opt, snap)


def assert_bad_buffer_rejected(rng, params, opt, key, bad, exc, match=None):
    """State buffer ``key`` of param 2 replaced by ``bad``: the next step raises ``exc`` and
    writes nothing. The good buffer is put back after."""
    good = opt.state[2][key]
    opt.state[2][key] = bad
    assert_step_rejected(rng, params, opt, exc, match)
    opt.state[2][key] = good


def good_grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def bad_grads(rng, params):
    """(description, grads, exception, message fragment) with the 2nd group's grad bad in most."""
    g = good_grads(rng, params)
    last = params[2]
    cases = []

    def with_last(x):
        return [g[0], g[1], x]

    cases.append(("int grad", with_last(np.ones(last.shape, np.int64)), TypeError, "grads"))
    cases.append(("float16 grad", with_last(np.ones(last.shape, np.float16)), TypeError, "grads"))
    other = np.float32 if last.dtype == np.float64 else np.float64
    cases.append(("mixed dtype", with_last(g[2].astype(other)), TypeError, "grads"))
    cases.append(
        ("non-contiguous", with_last(np.ones(2 * last.size, last.dtype)[::2]), ValueError, "grads")
    )
    cases.append(("fortran", [g[0], np.asfortranarray(g[1]), g[2]], ValueError, "grads"))
    cases.append(("shape", with_last(np.ones(last.size + 1, last.dtype)), ValueError, "grads"))
    cases.append(("shape 2-D", [g[0], g[1].reshape(3, 2), g[2]], ValueError, "grads"))
    cases.append(("smaller", with_last(np.ones(3, last.dtype)), ValueError, "grads"))
    raw = np.zeros(last.size * last.itemsize + 1, np.uint8)
    unaligned = raw[1:].view(last.dtype)
    cases.append(("unaligned", with_last(unaligned), ValueError, "grads"))
    cases.append(("list grad", with_last(g[2].tolist()), TypeError, "grads"))
    cases.append(("scalar grad", with_last(1.0), TypeError, "grads"))
    cases.append(("too few", g[:2], ValueError, "grads"))
    cases.append(("too many", [*g, g[2]], ValueError, "grads"))
    cases.append(("array not list", g[2], TypeError, "grads"))
    cases.append(("string", "abc", TypeError, "grads"))
    return cases


def assert_bad_grads_rejected(rng, params, opt, cases=None) -> int:
    """Every bad-gradient case (``bad_grads`` by default) raises and writes nothing; returns
    how many cases ran."""
    cases = bad_grads(rng, params) if cases is None else cases
    for what, grads, exc, frag in cases:
        assert what
        assert_rejected(params, opt, lambda grads=grads: opt.step(grads), exc, frag)
    return len(cases)


def assert_bad_group_values_rejected(make, cases, group=-1) -> None:
    """For each ``(key, value)``: a fresh ``make() -> (rng, params, opt)``, the value set in
    param group ``group``; the next step raises ValueError naming the key and writes nothing."""
    for key, value in cases:
        rng, params, opt = make()
        opt.param_groups[group][key] = value
        assert_step_rejected(rng, params, opt, ValueError, key)
