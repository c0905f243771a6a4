"""Cases of the Adafactor and Muon tests: option grids and reference trajectories over
``convergent.reference`` (one tensor at a time, state kept like torch's); the fast trajectories
are ``_optim_harness.trajectory``."""

from __future__ import annotations

import contextlib
import itertools

import convergent as cg
import numpy as np
from _optim_harness import make_grads
from convergent import reference as ref

# Every combination of the options; lr (0.5: rho_t = 1/sqrt(t) from t = 5 on) goes with maximize.
ADAFACTOR_GRID = [
    dict(lr=0.5 if mx else 1e-2, beta2_decay=bd, eps=eps, d=d, weight_decay=wd, maximize=mx)
    for bd, eps, d, wd, mx in itertools.product(
        (-0.8, -0.3), ((None, 1e-3), (1e-3, 0.0)), (1.0, 1.5), (0.0, 0.1), (False, True)
    )
]

# Every combination of the discrete options (nesterov, adjust_lr_fn, a zero or nonzero momentum);
# weight decay, the lerp form (momentum above or below 0.5) and ns_steps vary along with them.
MUON_GRID = [
    dict(
        lr=0.02,
        momentum=mom,
        nesterov=nest,
        weight_decay=0.1 if k % 2 else 0.0,
        adjust_lr_fn=fn,
        ns_steps=(5, 2, 0)[k % 3],
    )
    for k, (mom, nest, fn) in enumerate(
        itertools.product((0.95, 0.3, 0.0), (True, False), (None, "original", "match_rms_adamw"))
    )
]


def opts_id(opts: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in opts.items() if k != "lr") + f"-lr={opts['lr']}"


def adafactor_ref_state(p):
    st = {"step": 0}
    if p.ndim >= 2:
        st["row_var"] = np.zeros((*p.shape[:-1], 1), p.dtype)
        st["col_var"] = np.zeros((*p.shape[:-2], 1, p.shape[-1]), p.dtype)
    else:
        st["variance"] = np.zeros_like(p)
    return st


def run_pair(name, opts, shapes, dtype, steps, seed=0, scale=1.0):
    """(fast params, fast state, reference params, reference state) after ``steps`` steps of
    the same gradients."""
    rng = np.random.default_rng(seed)
    params = [np.array(rng.standard_normal(s) * scale, dtype) for s in shapes]
    rparams = [p.copy() for p in params]
    opt = getattr(cg.optim, name)(params, **opts)
    rstate = {}
    for t in range(steps):
        gs = make_grads(rng, params, t)
        opt.step(gs)
        for i, (p, g) in enumerate(zip(rparams, gs)):
            if name == "Adafactor":
                st = rstate.setdefault(i, adafactor_ref_state(p))
                st["step"] += 1
                ref.adafactor_step(
                    p, g, st.get("row_var"), st.get("col_var"), st.get("variance"),
                    step=st["step"], **opts,
                )  # fmt: skip
            else:
                st = rstate.setdefault(i, {"momentum_buffer": np.zeros_like(p)})
                ref.muon_step(p, g, st["momentum_buffer"], **opts)
    return params, opt.state, rparams, rstate


@contextlib.contextmanager
def one_thread(torch=None):
    """convergent (and torch, when given) on one thread, restored after: on a loaded machine a
    thread pool makes small problems slow; no result depends on the thread count."""
    before = cg.get_num_threads(), torch.get_num_threads() if torch else None
    cg.set_num_threads(1)
    if torch:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        cg.set_num_threads(before[0])
        if torch:
            torch.set_num_threads(before[1])
