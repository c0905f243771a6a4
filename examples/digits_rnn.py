"""Classify scikit-learn's 8x8 digits with a bidirectional GRU that reads each image row by row
(8 steps of 8 pixels), and print the test accuracy (a stratified 25% hold-out).

    python examples/digits_rnn.py [--epochs 40] [--hidden 64] [--cell gru|lstm]

The GRU reads the rows top to bottom, its reverse direction bottom to top; the two final states
(after the last row, and after the first row for the reverse direction) go to a Dense head with
10 logits. Softmax cross-entropy, Adam with a cosine-decayed learning rate and gradient clipping
by global norm. Needs scikit-learn (for the data set).
"""

from __future__ import annotations

import argparse
import time

import convergent as cg
import numpy as np


def digit_rows(seed: int = 0, test_size: float = 0.25):
    """``(X_tr, X_te, y_tr, y_te)``: float32 (n, 8, 8) images in [0, 1], each row of 8 pixels one
    time step; int64 labels; split stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed,
                                              stratify=y)  # fmt: skip
    return X_tr, X_te, y_tr.astype(np.int64), y_te.astype(np.int64)


def build(hidden: int = 64, cell: str = "gru", seed: int = 0) -> cg.nn.Sequential:
    layer = {"gru": cg.nn.GRU, "lstm": cg.nn.LSTM}[cell]
    return cg.nn.Sequential(
        [layer(8, hidden, bidirectional=True), cg.nn.Dense(2 * hidden, 10)], seed=seed
    )


def train(model, X, y, epochs: int = 40, batch_size: int = 32, lr: float = 5e-3, seed: int = 0,
          optimizer=None, progress: bool = False):  # fmt: skip
    """Adam (or ``optimizer``) with cosine decay and clip_grad_norm=1.0; returns the History."""
    opt = optimizer or cg.optim.Adam(model.parameters(), lr=lr)
    steps = -(-len(X) // batch_size) * epochs
    schedule = cg.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.02)
    return cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=epochs,
                  batch_size=batch_size, seed=seed, schedule=schedule, clip_grad_norm=1.0,
                  progress=progress)  # fmt: skip


def accuracy(model, X, y) -> float:
    return float(np.mean(model.forward(X).argmax(axis=1) == y))


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    X_tr, X_te, y_tr, y_te = digit_rows()
    model = build(args.hidden, args.cell)
    t0 = time.perf_counter()
    hist = train(model, X_tr, y_tr, args.epochs, progress=args.progress)
    secs = time.perf_counter() - t0
    acc = accuracy(model, X_te, y_te)
    print(f"bidirectional {args.cell.upper()} (hidden {args.hidden}) on digits read row by row: "
          f"test accuracy {acc:.4f} ({len(X_te)} images), final training loss "
          f"{hist.history['loss'][-1]:.4f}, {secs:.1f} s on {cg.get_num_threads()} threads "
          f"({cg.get_isa()})")  # fmt: skip
    return acc


if __name__ == "__main__":
    main()
