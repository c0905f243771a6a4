"""``convergent demo --model rnn``: the demo's optimizers side by side on a bidirectional GRU.

The digits (8x8 images scaled to [0, 1]; 20% held out, stratified, the split of ``convergent
demo``) are read row by row as sequences of 8 steps of 8 pixels by a bidirectional GRU (hidden
32) whose two final states feed a Dense head, trained from the same initial weights with each
optimizer of :data:`convergent.demo.OPTIMIZERS` (their digits settings; L-BFGS with full
batches) and gradient clipping by global norm 1.0 (the recurrent networks' habit; L-BFGS takes
no clipping). A table reports the final training loss, the validation accuracy, the epochs and
the time; the figure shows the loss curves. Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import numpy as np

from ._demo_common import run_demo, train_model

__all__ = ["build_model", "digit_sequences", "run", "train_rnn"]

HIDDEN = 32

TITLE = f"digits read row by row (8 steps x 8 pixels), bidirectional GRU {HIDDEN}"


def digit_sequences(seed: int):
    """``(X_train, X_val, y_train, y_val)``: float32 (n, 8, 8) images in [0, 1], one row of 8
    pixels per time step."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    return Xtr, Xva, ytr.astype(np.int64), yva.astype(np.int64)


def build_model(seed: int, hidden: int = HIDDEN):
    from . import nn

    return nn.Sequential(
        [nn.GRU(8, hidden, bidirectional=True), nn.Dense(2 * hidden, 10)], seed=seed
    )


def train_rnn(name: str, epochs: int, batch_size: int, seed: int, progress: bool, data):
    """Trains the GRU with one optimizer; returns a result row (as ``demo.train_digits``)."""
    return train_model(
        name, build_model(seed), epochs, batch_size, seed, progress, data, clip_grad_norm=1.0
    )


def run(
    optimizers: list[str],
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    output: str = "convergence.png",
    progress: bool = True,
) -> list[dict]:
    """Runs the RNN demo; prints the table and writes ``output``. Returns the rows."""
    return run_demo(
        optimizers,
        output,
        lambda: digit_sequences(seed),
        lambda o, d: train_rnn(o, epochs, batch_size, seed, progress, d),
        TITLE,
    )
