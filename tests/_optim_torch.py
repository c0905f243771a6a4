"""The torch.optim side of the shared optimizer test harness (``_optim_harness``): our optimizer
and torch's on the same float64 trajectory, state compared after every step, and the
constructor defaults."""

from __future__ import annotations

import inspect

import convergent as cg
import numpy as np
from _optim_harness import make_params


def torch_two_groups(torch, name, opts, shapes, seed):
    """(our params, torch's params, ours, theirs): param 0 in a group at half the lr, the rest
    in a second group; torch without foreach."""
    rng = np.random.default_rng(seed)
    params = make_params(rng, shapes, np.float64)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    half = opts["lr"] * 0.5
    ours = getattr(cg.optim, name)(
        [{"params": params[:1], "lr": half}, {"params": params[1:]}], **opts
    )
    theirs = getattr(torch.optim, name)(
        [{"params": tparams[:1], "lr": half}, {"params": tparams[1:]}], foreach=False, **opts
    )
    return rng, params, tparams, ours, theirs


def assert_torch_state_close(torch, ost: dict, tst: dict, where: str, rtol, atol) -> None:
    """Our state dict of one param against torch's: the same keys; step counts equal; 0-d
    tensors (float64) against our floats; buffers within rtol/atol."""
    assert sorted(ost) == sorted(tst), f"{where}: {sorted(ost)} vs {sorted(tst)}"
    for k, v in tst.items():
        if k == "step":
            assert ost[k] == int(v.item())
        elif v.ndim == 0:
            assert v.dtype == torch.float64 and isinstance(ost[k], float)
            np.testing.assert_allclose(ost[k], v.item(), rtol, atol, err_msg=f"{where}[{k!r}]")
        else:
            np.testing.assert_allclose(
                ost[k], v.detach().numpy(), rtol, atol, err_msg=f"{where}[{k!r}]"
            )


def run_against_torch(torch, name, opts, shapes, *, steps, cut_at, grads_at, seed, rtol, atol,
                      check_state=None):  # fmt: skip
    """Our optimizer and torch's (``torch_two_groups``) over ``steps`` steps of
    ``grads_at(rng, params, t)``, group 1's lr cut to 0.3x at step ``cut_at``; params and every
    state entry compared after each step (``check_state(theirs, ost, tst, where)`` if given,
    else ``assert_torch_state_close``). Returns our optimizer."""
    rng, params, tparams, ours, theirs = torch_two_groups(torch, name, opts, shapes, seed)
    for t in range(steps):
        if t == cut_at:
            ours.param_groups[1]["lr"] *= 0.3
            theirs.param_groups[1]["lr"] *= 0.3
        grads = grads_at(rng, params, t)
        for tp, g in zip(tparams, grads):
            tp.grad = None if g is None else torch.tensor(g)
        ours.step(grads)
        theirs.step()
        for i, (p, tp) in enumerate(zip(params, tparams)):
            where = f"step {t} param {i}"
            np.testing.assert_allclose(p, tp.detach().numpy(), rtol, atol, err_msg=where)
            ost, tst = ours.state.get(i, {}), theirs.state.get(tp, {})
            if check_state is not None:
                check_state(ost, tst, f"step {t} state[{i}]")
            else:
                assert_torch_state_close(torch, ost, tst, f"step {t} state[{i}]", rtol, atol)
    return ours


def assert_defaults_match_torch(torch, names, same_order=False) -> None:
    """Every constructor default of ours equals torch's (0-d tensors compared as floats); with
    ``same_order`` our keywords also come in torch's order."""
    for name in names:
        ours = inspect.signature(getattr(cg.optim, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        for k, p in ours.items():
            if k in ("self", "params"):
                continue
            assert k in theirs, (name, k)
            tdef = theirs[k].default
            tdef = float(tdef) if hasattr(tdef, "item") else tdef
            assert p.default == tdef, f"{name}.{k}: {p.default} vs torch {tdef}"
        if same_order:
            assert list(ours) == [k for k in theirs if k in ours], name
