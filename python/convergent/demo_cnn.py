"""``convergent demo --model cnn``: the demo's optimizers side by side on a small residual CNN.

The digits (8x8 images scaled to [0, 1], as NHWC ``(n, 8, 8, 1)``; 20% held out, stratified, the
split of ``convergent demo``) train a CNN: conv-BatchNorm-ReLU, 2x2 max pooling, a residual
block of two 3x3 convs, global average pooling and a Dense head, from the same initial weights
with each optimizer of :data:`convergent.demo.OPTIMIZERS` (their digits settings; L-BFGS with
full batches). A table reports the final training loss, the validation accuracy, the epochs and
the time; the figure shows the loss curves. Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import numpy as np

from ._demo_common import run_demo, train_model

__all__ = ["build_model", "digit_images", "run", "train_cnn"]

TITLE = "digits CNN (8x8x1, residual, global average pooling)"


def digit_images(seed: int):
    """``(X_train, X_val, y_train, y_val)``: float32 (n, 8, 8, 1) images in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    return Xtr, Xva, ytr.astype(np.int64), yva.astype(np.int64)


def build_model(seed: int, width: int = 16):
    from . import nn

    def conv(cin: int, cout: int):
        return nn.Conv2D(cin, cout, 3, padding="same", bias=False, init="he_uniform")

    return nn.Sequential(
        [
            conv(1, width), nn.BatchNorm(width), nn.ReLU(), nn.MaxPool2D(2),
            nn.Residual([conv(width, width), nn.BatchNorm(width), nn.ReLU(),
                         conv(width, width), nn.BatchNorm(width)]),
            nn.ReLU(), nn.GlobalAvgPool2D(), nn.Dense(width, 10),
        ],
        seed=seed,
    )  # fmt: skip


def train_cnn(name: str, epochs: int, batch_size: int, seed: int, progress: bool, data):
    """Trains the CNN with one optimizer; returns a result row (as ``demo.train_digits``)."""
    return train_model(name, build_model(seed), epochs, batch_size, seed, progress, data)


def run(
    optimizers: list[str],
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    output: str = "convergence.png",
    progress: bool = True,
) -> list[dict]:
    """Runs the CNN demo; prints the table and writes ``output``. Returns the rows."""
    return run_demo(
        optimizers,
        output,
        lambda: digit_images(seed),
        lambda o, d: train_cnn(o, epochs, batch_size, seed, progress, d),
        TITLE,
    )
