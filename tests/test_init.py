"""Initializers: distribution statistics, seeded reproducibility, shapes, dtypes, bad input."""

import math

import convergent as cg
import numpy as np
import pytest
from convergent.nn import INITIALIZERS, initialize
from convergent.nn.init import compute_fans

FAN_IN, FAN_OUT = 300, 500
SHAPE = (FAN_IN, FAN_OUT)  # 150 000 draws: std of a sample std ~ 0.2 %


def _expected(name):
    """(std, bound or None) of each initializer for SHAPE, from the published formulas."""
    return {
        "uniform": (0.05 / math.sqrt(3), 0.05),
        "normal": (0.05, None),
        "glorot_uniform": (
            math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3),
            math.sqrt(6 / (FAN_IN + FAN_OUT)),
        ),
        "glorot_normal": (math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
        "he_uniform": (math.sqrt(6 / FAN_IN) / math.sqrt(3), math.sqrt(6 / FAN_IN)),
        "he_normal": (math.sqrt(2 / FAN_IN), None),
    }[name]


@pytest.mark.parametrize(
    "name", ["uniform", "normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
)
def test_random_statistics(name):
    w = initialize(name, SHAPE, np.random.default_rng(1), dtype=np.float64)
    std, bound = _expected(name)
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.01)
    if bound is None:
        # normal: ~68.3 % within one std, and tails exist
        assert np.mean(np.abs(w) < std) == pytest.approx(0.6827, abs=0.01)
        assert np.abs(w).max() > 3 * std
    else:
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.999 * bound
        # uniform: flat histogram
        hist, _ = np.histogram(w, bins=10, range=(-bound, bound))
        assert np.all(np.abs(hist / w.size - 0.1) < 0.005)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal"])
def test_statistics_against_torch(name):
    torch = pytest.importorskip("torch")
    t = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)  # torch weight layout (out, in)
    torch.manual_seed(0)
    if name == "glorot_uniform":
        torch.nn.init.xavier_uniform_(t)
    else:
        torch.nn.init.kaiming_normal_(t, nonlinearity="relu")
    w = initialize(name, SHAPE, np.random.default_rng(0), dtype=np.float64)
    assert w.std() == pytest.approx(float(t.std()), rel=0.02)


def test_constants():
    assert np.array_equal(initialize("zeros", (3, 4), np.random.default_rng(0)), np.zeros((3, 4)))
    assert np.array_equal(initialize("ones", (5,), np.random.default_rng(0)), np.ones(5))


@pytest.mark.parametrize("name", INITIALIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (1, 1), (2, 3, 4)])
def test_shape_dtype_and_reproducibility(name, dtype, shape):
    a = initialize(name, shape, np.random.default_rng(42), dtype=dtype)
    b = initialize(name, shape, np.random.default_rng(42), dtype=dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    assert np.array_equal(a, b)
    # float32 draws are the float64 draws rounded
    c = initialize(name, shape, np.random.default_rng(42), dtype=np.float64)
    assert np.array_equal(a, c.astype(dtype))
    if name not in ("zeros", "ones") and a.size > 1:
        d = initialize(name, shape, np.random.default_rng(43), dtype=dtype)
        assert not np.array_equal(a, d)


def test_generator_advances():
    rng = np.random.default_rng(0)
    a = initialize("normal", (10,), rng)
    b = initialize("normal", (10,), rng)
    assert not np.array_equal(a, b)


def test_fans():
    assert compute_fans((3, 5)) == (3, 5)
    assert compute_fans((7,)) == (7, 7)
    assert compute_fans((2, 3, 4)) == (8, 12)
    # 1-D he_uniform bound uses fan_in = shape[0]
    w = initialize("he_uniform", (20000,), np.random.default_rng(0), dtype=np.float64)
    assert np.abs(w).max() <= math.sqrt(6 / 20000)
    assert np.abs(w).max() > 0.99 * math.sqrt(6 / 20000)


def test_callable():
    def const(shape, rng, dtype):
        return np.full(shape, 0.5, dtype=dtype)

    w = initialize(const, (2, 3), np.random.default_rng(0), dtype=np.float64)
    assert w.dtype == np.float64 and np.all(w == 0.5)
    with pytest.raises(ValueError, match="returned shape"):
        initialize(lambda s, r, d: np.zeros(3), (2, 3), np.random.default_rng(0))


def test_bad_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="glorot_uniform") as info:
        initialize("xavier", (2, 2), rng)
    assert "valid names" in str(info.value) and "he_normal" in str(info.value)
    with pytest.raises(TypeError, match="rng"):
        initialize("normal", (2, 2), np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng"):
        initialize("normal", (2, 2), 0)
    with pytest.raises(TypeError, match="dtype"):
        initialize("normal", (2, 2), rng, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        initialize("normal", (2, 2), rng, dtype=np.float16)
    with pytest.raises(TypeError, match="shape"):
        initialize("normal", (2.0, 2), rng)
    with pytest.raises(ValueError, match="shape"):
        initialize("normal", (-1, 2), rng)
    with pytest.raises(ValueError, match="shape"):
        initialize("normal", (), rng)
    with pytest.raises(ValueError, match="fans"):
        initialize("he_normal", (0, 3), rng)
    with pytest.raises(TypeError, match="init"):
        initialize(3, (2, 2), rng)


def test_exported():
    assert cg.nn.initialize is initialize
    assert set(INITIALIZERS) >= {
        "zeros",
        "uniform",
        "normal",
        "glorot_uniform",
        "glorot_normal",
        "he_uniform",
        "he_normal",
    }
