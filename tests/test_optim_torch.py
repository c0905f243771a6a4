"""torch.optim as an oracle for the semantics (optional: skipped without torch).

float64 trajectories over 20 steps, two param groups, params and every state buffer compared
after every step against torch.optim (foreach=False). Tolerance: rtol 1e-12 with an absolute
floor of 1e-14 (torch fuses some operations differently, e.g. lerp and addcdiv, so the last bits
may differ; the difference must stay at rounding level).
"""

from __future__ import annotations

import convergent as cg
import numpy as np
import pytest
from optim_cases import OPTIMIZERS, all_cases, case_id, make_grads, make_params

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-12, 1e-14
SHAPES = [(7,), (3, 5), (33,)]
# A reduced grid: every option on and off at least once, without the full product.
CASES = [c for i, c in enumerate(all_cases()) if i % 3 == 0 or c[0] == "SGD"]


def _torch_state(tst, p):
    out = {}
    for k, v in tst.items():
        out[k] = int(v.item()) if k == "step" else v.detach().numpy()
    return out


def _check(ours, theirs, where):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=where)


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_torch_optim(name, opts):
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
    for t in range(20):
        if t == 10:
            ours.param_groups[1]["lr"] *= 0.3
            theirs.param_groups[1]["lr"] *= 0.3
        grads = make_grads(rng, params, t, none_at=(2,) if t < 2 else ())
        for tp, g in zip(tparams, grads):
            tp.grad = None if g is None else torch.tensor(g)
        ours.step(grads)
        theirs.step()
        for i, (p, tp) in enumerate(zip(params, tparams)):
            _check(p, tp.detach().numpy(), f"step {t} param {i}")
            tst = theirs.state.get(tp, {})
            ost = ours.state.get(i, {})
            tst = _torch_state(tst, tp)
            # torch keeps a momentum_buffer entry of None for SGD without momentum
            tst = {k: v for k, v in tst.items() if v is not None}
            if not ost and name == "Adagrad":
                # torch creates Adagrad's state in the constructor: untouched, it is the start
                assert tst["step"] == 0
                np.testing.assert_array_equal(tst["sum"], opts["initial_accumulator_value"])
                continue
            assert sorted(ost) == sorted(tst), f"step {t} param {i}: {sorted(ost)} vs {sorted(tst)}"
            for k, v in tst.items():
                if k == "step":
                    assert ost[k] == v
                else:
                    _check(ost[k], v, f"step {t} state[{i}][{k!r}]")


def test_default_hyperparameters_match_torch():
    import inspect

    for name in OPTIMIZERS:
        ours = inspect.signature(getattr(cg.optim, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        for k, p in ours.items():
            if k in ("self", "params"):
                continue
            tdef = theirs[k].default
            tdef = float(tdef) if hasattr(tdef, "item") else tdef
            assert p.default == tdef, f"{name}.{k}: {p.default} vs torch {tdef}"
