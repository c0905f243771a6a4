"""ISA selection (set_isa, CONVERGENT_ISA) and thread counts: the same bits everywhere.

Tolerance: 0 ulp. Every ISA, the scalar path forced from the environment in a fresh process,
and 1 vs 2 threads must all produce identical params and state.
"""

from __future__ import annotations

import subprocess
import sys

import convergent as cg
import numpy as np
import pytest
from _optim_harness import (
    assert_same_bits_on_every_isa,
    assert_same_bits_one_vs_two_threads,
    assert_scalar_subprocess_matches,
    subprocess_env,
    trajectory,
)
from optim_cases import OPTIMIZERS

FULL = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "Adam": dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    "AdamW": dict(lr=1e-2, amsgrad=True, maximize=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True, weight_decay=0.1),
}
SHAPES = [(1,), (31,), (33,), (4097,), (3, 7)]
LARGE = [(70001,), (5,), (2 * 32768 + 5,), (40000,)]  # > 65536 elements: the parallel path


def test_available_and_get_isa():
    isas = cg.available_isas()
    assert isinstance(isas, list) and isas[-1] == "scalar"
    assert set(isas) <= {"avx512", "avx2", "scalar"} and len(set(isas)) == len(isas)
    assert cg.get_isa() in isas


def test_set_isa_roundtrip(isa):
    assert cg.get_isa() == isa


def test_set_isa_rejects_unknown_and_unsupported():
    before = cg.get_isa()
    with pytest.raises(ValueError, match="isa"):
        cg.set_isa("bogus")
    assert cg.get_isa() == before
    for name in {"avx512", "avx2"} - set(cg.available_isas()):
        with pytest.raises(ValueError, match=name):
            cg.set_isa(name)
        assert cg.get_isa() == before


def test_bad_env_isa_fails_import_with_valueerror():
    code = "import convergent\n"
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(CONVERGENT_ISA="bogus"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError") and "CONVERGENT_ISA" in last, r.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_isa_same_bits(name, dtype):
    assert_same_bits_on_every_isa(lambda: trajectory(name, FULL[name], SHAPES, dtype, steps=6))


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    runs = {name: (name, opts) for name, opts in FULL.items()}
    assert_scalar_subprocess_matches(tmp_path, runs, SHAPES, steps=5, module="_optim_harness")


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_vs_two_threads_same_bits(threads, name, dtype):
    assert_same_bits_one_vs_two_threads(
        threads, lambda: trajectory(name, FULL[name], LARGE, dtype, steps=3)
    )


def test_set_num_threads_validates(threads):
    threads(3)
    assert cg.get_num_threads() == 3
    for bad in (0, -1):
        with pytest.raises(ValueError):
            cg.set_num_threads(bad)
    assert cg.get_num_threads() == 3
