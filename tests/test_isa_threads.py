"""ISA selection (set_isa, CONVERGENT_ISA) and thread counts: the same bits everywhere.

Tolerance: 0 ulp. Every ISA, the scalar path forced from the environment in a fresh process,
and 1 vs 2 threads must all produce identical params and state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import convergent as cg
import numpy as np
import pytest
from optim_cases import OPTIMIZERS, assert_bits_equal, trajectory

HERE = Path(__file__).resolve().parent
FULL = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "Adam": dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    "AdamW": dict(lr=1e-2, amsgrad=True, maximize=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3),
    "RMSprop": dict(lr=1e-2, momentum=0.9, centered=True, weight_decay=0.1),
}
SHAPES = [(1,), (31,), (33,), (4097,), (3, 7)]
LARGE = [(70001,), (5,), (2 * 32768 + 5,), (40000,)]  # > 65536 elements: the parallel path

_SCRIPT = """
import sys
import numpy as np
import convergent as cg
from optim_cases import trajectory
assert cg.get_isa() == "scalar", cg.get_isa()
out = {}
for name, opts in OPTS.items():
    for dt in (np.float32, np.float64):
        for k, v in trajectory(name, opts, SHAPES, dt, steps=5).items():
            out[f"{name}-{np.dtype(dt).name}-{k}"] = v
np.savez(sys.argv[1], **out)
"""


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


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
        env=_env(CONVERGENT_ISA="bogus"),
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
    results = {}
    previous = cg.get_isa()
    try:
        for isa in cg.available_isas():
            cg.set_isa(isa)
            results[isa] = trajectory(name, FULL[name], SHAPES, dtype, steps=6)
    finally:
        cg.set_isa(previous)
    base = results["scalar"]
    for isa, res in results.items():
        assert sorted(res) == sorted(base)
        for k in base:
            assert_bits_equal(res[k], base[k], f"{isa} vs scalar: {k}")


def test_env_scalar_subprocess_matches_in_process(tmp_path):
    out = tmp_path / "scalar.npz"
    script = f"OPTS = {FULL!r}\nSHAPES = {SHAPES!r}\n" + _SCRIPT
    r = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        env=_env(CONVERGENT_ISA="scalar"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    with np.load(out) as sub:
        n = 0
        for name, opts in FULL.items():
            for dt in (np.float32, np.float64):
                here = trajectory(name, opts, SHAPES, dt, steps=5)  # the default (best) ISA
                for k, v in here.items():
                    assert_bits_equal(sub[f"{name}-{np.dtype(dt).name}-{k}"], v, f"{name} {k}")
                    n += 1
        assert n == len(sub.files)


@pytest.mark.skipif(not cg.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_vs_two_threads_same_bits(threads, name, dtype):
    threads(1)
    one = trajectory(name, FULL[name], LARGE, dtype, steps=3)
    threads(2)
    assert cg.get_num_threads() == 2
    two = trajectory(name, FULL[name], LARGE, dtype, steps=3)
    for k in one:
        assert_bits_equal(two[k], one[k], f"2 vs 1 threads: {k}")


def test_set_num_threads_validates(threads):
    threads(3)
    assert cg.get_num_threads() == 3
    for bad in (0, -1):
        with pytest.raises(ValueError):
            cg.set_num_threads(bad)
    assert cg.get_num_threads() == 3
