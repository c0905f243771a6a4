"""state_dict / load_state_dict: bit-exact continuation, copies, and rejected checkpoints."""

from __future__ import annotations

import copy

import convergent as cg
import numpy as np
import pytest
from _optim_harness import assert_bits_equal, assert_state_equal, make_grads, make_params
from optim_cases import OPTIMIZERS

OPTS = {
    "SGD": dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    "Adam": dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    "AdamW": dict(lr=1e-2, betas=(0.8, 0.99)),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True),
}
SHAPES = [(7,), (3, 4), (33,), (5,)]


def _groups(params):
    return [{"params": params[:2], "lr": 0.02}, {"params": params[2:]}]


def _setup(name, dtype=np.float64, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    params = make_params(rng, SHAPES, dtype)
    opt = getattr(cg.optim, name)(_groups(params), **OPTS[name])
    for t in range(steps):
        # the last param gets no gradient at first: it has no state yet in the checkpoint
        opt.step(make_grads(rng, params, t, none_at=(3,)))
    return rng, params, opt


def _snapshot(params, opt):
    return (
        [p.copy() for p in params],
        copy.deepcopy(opt.state),
        copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]),
    )


def _assert_unchanged(params, opt, snap):
    ps, state, groups = snap
    for p, q in zip(params, ps):
        assert_bits_equal(p, q, "param")
    assert_state_equal(opt.state, state, "state")
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_save_load_continue_bit_exact(name, dtype):
    rng, params, opt = _setup(name, dtype)
    sd = opt.state_dict()
    copies = [p.copy() for p in params]
    fresh = getattr(cg.optim, name)(_groups(copies), **OPTS[name])
    fresh.load_state_dict(sd)
    for t in range(5):
        grads = make_grads(rng, params, 10 + t)
        opt.step(grads)
        fresh.step(grads)
        for a, b in zip(params, copies):
            assert_bits_equal(b, a, f"step {t} param")
        assert_state_equal(fresh.state, opt.state, f"step {t}")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_load_restores_hyperparameters(name):
    _, params, opt = _setup(name)
    opt.param_groups[1]["lr"] = 0.123
    sd = opt.state_dict()
    fresh = getattr(cg.optim, name)(_groups([p.copy() for p in params]), **OPTS[name])
    fresh.load_state_dict(sd)
    assert fresh.param_groups[1]["lr"] == 0.123 and fresh.param_groups[0]["lr"] == 0.02
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_returns_copies(name):
    rng, params, opt = _setup(name)
    snap = _snapshot(params, opt)
    sd = opt.state_dict()
    for st in sd["state"].values():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                v[...] = 1e30
            else:
                st[k] = 12345
    sd["param_groups"][0]["lr"] = 99.0
    _assert_unchanged(params, opt, snap)
    # and loading copies too: a loaded dict mutated afterwards does not reach the optimizer
    sd = opt.state_dict()
    fresh = getattr(cg.optim, name)(_groups([p.copy() for p in params]), **OPTS[name])
    fresh.load_state_dict(sd)
    for st in sd["state"].values():
        for v in st.values():
            if isinstance(v, np.ndarray):
                v[...] = -7.0
    assert_state_equal(fresh.state, opt.state, "loaded state")


def _bad_state_dicts(opt):
    sd = opt.state_dict()
    buf = (
        next(k for k, v in sd["state"][0].items() if isinstance(v, np.ndarray))
        if sd["state"][0]
        else None
    )
    out = []
    if buf is not None:
        d = copy.deepcopy(sd)
        d["state"][0][buf] = np.zeros(8)  # wrong shape (param 0 is (7,))
        out.append(("shape", d))
        d = copy.deepcopy(sd)
        d["state"][0][buf] = d["state"][0][buf].astype(np.float32)  # wrong dtype
        out.append(("dtype", d))
    d = copy.deepcopy(sd)
    d["param_groups"] = d["param_groups"][:1]
    out.append(("groups", d))
    d = copy.deepcopy(sd)
    d["param_groups"][1]["params"] = [2]
    out.append(("params", d))
    d = copy.deepcopy(sd)
    d["state"][17] = copy.deepcopy(d["state"][0])
    out.append(("param 17", d))
    d = copy.deepcopy(sd)
    d["param_groups"][0]["lr"] = -1.0
    out.append(("lr", d))
    if "step" in sd["state"][0]:
        d = copy.deepcopy(sd)
        d["state"][0]["step"] = 1.5
        out.append(("step", d))
    out.append(("keys", {"state": sd["state"]}))
    return out


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_load_bad_state_dict_changes_nothing(name):
    _, params, opt = _setup(name)
    snap = _snapshot(params, opt)
    cases = _bad_state_dicts(opt)
    assert len(cases) >= 5
    for _what, d in cases:
        with pytest.raises(ValueError):
            opt.load_state_dict(d)
        _assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_on_existing_state_allocates_no_buffers(name):
    import tracemalloc

    rng = np.random.default_rng(0)
    params = make_params(rng, [(100_000,)], np.float64)  # 800 kB per buffer
    opt = getattr(cg.optim, name)(params, **OPTS[name])
    grads = make_grads(rng, params, 0)
    opt.step(grads)
    buffers = {k: v for k, v in opt.state[0].items() if isinstance(v, np.ndarray)}
    tracemalloc.start()
    try:
        opt.step(grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"a step allocated {peak} bytes"
    for k, v in buffers.items():
        assert opt.state[0][k] is v  # updated in place


def test_option_switched_on_later_creates_its_buffer():
    rng = np.random.default_rng(0)
    params = make_params(rng, [(9,)], np.float64)
    opt = cg.optim.Adam(params)
    opt.step(make_grads(rng, params, 0))
    assert "max_exp_avg_sq" not in opt.state[0]
    opt.param_groups[0]["amsgrad"] = True
    opt.step(make_grads(rng, params, 1))
    assert opt.state[0]["step"] == 2
    np.testing.assert_array_equal(
        opt.state[0]["max_exp_avg_sq"], opt.state[0]["exp_avg_sq"]
    )  # the max starts from zeros, so it is v after one amsgrad step
