"""Fixtures shared by the tests: every ISA the machine can run, thread counts, seeded RNGs.

Each fixture restores the global setting it changes, so tests do not leak ISA or thread
choices into one another.
"""

from __future__ import annotations

import os

import convergent as cg
import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not be flaky); set
# HYPOTHESIS_PROFILE=explore locally to search new examples.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # Hypothesis's failure report touches a deprecated mypy_extensions name; with
    # filterwarnings=error that warning would hide the falsifying example behind an
    # INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


@pytest.fixture(params=["avx512", "avx2", "scalar"])
def isa(request):
    """Runs the test once per ISA with that ISA forced; an ISA this machine cannot run is
    reported as skipped (so missing coverage shows in the summary)."""
    if request.param not in cg.available_isas():
        pytest.skip(f"{request.param} not available on this machine")
    previous = cg.get_isa()
    cg.set_isa(request.param)
    try:
        yield request.param
    finally:
        cg.set_isa(previous)


@pytest.fixture
def threads():
    """A setter ``threads(n)`` for ``cg.set_num_threads``; the count is restored afterwards."""
    previous = cg.get_num_threads()
    try:
        yield cg.set_num_threads
    finally:
        cg.set_num_threads(previous)


@pytest.fixture
def rng():
    """A seeded generator: every random draw of a test is reproducible."""
    return np.random.default_rng(20261122)
