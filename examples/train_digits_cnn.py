"""Train a small residual CNN on scikit-learn's 8x8 digits seen as 8x8x1 NHWC images and print
the test accuracy (a stratified 25% hold-out).

    python examples/train_digits_cnn.py

The network: two conv-BatchNorm-ReLU blocks, 2x2 max pooling, a residual block (two 3x3 convs
with BatchNorm), global average pooling and a Dense head; AdamW with a warmup + cosine schedule.
Needs scikit-learn (for the data set).
"""

from __future__ import annotations

import sys
import time

import convergent as cg
import numpy as np


def load_digit_images(seed: int = 0):
    """float32 (n, 8, 8, 1) images scaled to [0, 1] and int64 labels, split 75/25 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    return X_tr, X_te, y_tr.astype(np.int64), y_te.astype(np.int64)


def build_cnn(width: int = 32, seed: int = 0) -> cg.nn.Sequential:
    """conv-BN-ReLU x2, max pool, a residual block, global average pooling, Dense head."""
    nn = cg.nn

    def conv(cin, cout):
        return nn.Conv2D(cin, cout, 3, padding="same", bias=False, init="he_uniform")

    return nn.Sequential(
        [
            conv(1, width // 2), nn.BatchNorm(width // 2), nn.ReLU(),
            conv(width // 2, width), nn.BatchNorm(width), nn.ReLU(),
            nn.MaxPool2D(2),  # 8x8 -> 4x4
            nn.Residual([conv(width, width), nn.BatchNorm(width), nn.ReLU(),
                         conv(width, width), nn.BatchNorm(width)]),
            nn.ReLU(),
            nn.GlobalAvgPool2D(),
            nn.Dense(width, 10),
        ],
        seed=seed,
    )  # fmt: skip


def train(model, X_tr, y_tr, epochs: int = 15, batch_size: int = 32, lr: float = 3e-3):
    loss = cg.nn.SoftmaxCrossEntropy()
    opt = cg.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = -(-len(X_tr) // batch_size) * epochs
    schedule = cg.schedules.CosineDecay(
        lr / 10, decay_steps=steps, alpha=0.01, warmup_steps=steps // 10, warmup_target=lr
    )
    return cg.fit(model, loss, opt, X_tr, y_tr, epochs=epochs, batch_size=batch_size,
                  schedule=schedule, progress=False)  # fmt: skip


def accuracy(model, X, y) -> float:
    return float((model.forward(X).argmax(axis=1) == y).mean())


def main(argv: list[str]) -> float:
    X_tr, X_te, y_tr, y_te = load_digit_images()
    model = build_cnn()
    t0 = time.perf_counter()
    history = train(model, X_tr, y_tr)
    elapsed = time.perf_counter() - t0
    acc = accuracy(model, X_te, y_te)
    print(f"final training loss {history.history['loss'][-1]:.4f}")
    print(f"test accuracy {acc:.4f} ({len(X_te)} images), trained in {elapsed:.1f} s "
          f"on {cg.get_num_threads()} threads ({cg.get_isa()})")  # fmt: skip
    return acc


if __name__ == "__main__":
    main(sys.argv)
