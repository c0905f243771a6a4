"""Adafactor and Muon drive cg.fit on a separable problem (the Python training loop)."""

from __future__ import annotations

import convergent as cg
import pytest
from _train_helpers import blobs


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_fit_reduces_loss(name):
    X, y = blobs()
    bias = name == "Adafactor"  # Muon takes 2-D params only
    model = cg.nn.Sequential(
        [cg.nn.Dense(4, 16, "relu", bias=bias), cg.nn.Dense(16, 3, bias=bias)], seed=0
    )
    opt = getattr(cg.optim, name)(model.parameters(), lr=0.05)
    h = cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.25 * h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.9
