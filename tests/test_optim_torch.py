"""torch.optim as an oracle for the semantics (optional: skipped without torch).

float64 trajectories over 20 steps, two param groups, params and every state buffer compared
after every step against torch.optim (foreach=False). Tolerance: rtol 1e-12 with an absolute
floor of 1e-14 (torch fuses some operations differently, e.g. lerp and addcdiv, so the last bits
may differ; the difference must stay at rounding level).
"""

from __future__ import annotations

import numpy as np
import pytest
from _optim_harness import (
    case_id,
    make_grads,
)
from _optim_torch import assert_defaults_match_torch, assert_torch_state_close, run_against_torch
from optim_cases import OPTIMIZERS, all_cases

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-12, 1e-14
SHAPES = [(7,), (3, 5), (33,)]
# A reduced grid: every option on and off at least once, without the full product.
CASES = [c for i, c in enumerate(all_cases()) if i % 3 == 0 or c[0] == "SGD"]


def _check_state(ost, tst, where, opts, name):
    tst = {k: v for k, v in tst.items() if v is not None}  # SGD keeps momentum_buffer=None
    if not ost and name == "Adagrad":
        # torch creates Adagrad's state in the constructor: untouched, it is the start
        assert tst["step"] == 0
        np.testing.assert_array_equal(tst["sum"], opts["initial_accumulator_value"])
        return
    assert_torch_state_close(torch, ost, tst, where, RTOL, ATOL)


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[case_id(*c) for c in CASES])
def test_matches_torch_optim(name, opts):
    run_against_torch(
        torch, name, opts, SHAPES, steps=20, cut_at=10, seed=7, rtol=RTOL, atol=ATOL,
        grads_at=lambda rng, params, t: make_grads(rng, params, t, none_at=(2,) if t < 2 else ()),
        check_state=lambda ost, tst, where: _check_state(ost, tst, where, opts, name),
    )  # fmt: skip


def test_default_hyperparameters_match_torch():
    assert_defaults_match_torch(torch, OPTIMIZERS)
