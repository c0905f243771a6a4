"""Train an MLP on scikit-learn's bundled 8x8 digits with a learning-rate schedule, early stopping
and checkpoints; write the training curves and print the test accuracy.

    python examples/train_digits.py [curves.png]

Needs scikit-learn (for the data set) and matplotlib (for the curves): pip install
'convergent[plot]' scikit-learn.
"""

from __future__ import annotations

import os
import sys
import tempfile

import convergent as cg
import numpy as np


def load_digits_split(seed: int = 0):
    """Standardized float32 digits, a stratified 75/25 train/test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
    prep = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return prep(X_tr), prep(X_te), y_tr.astype(np.int64), y_te.astype(np.int64)


def main(argv: list[str]) -> float:
    curves = argv[1] if len(argv) > 1 else "curves.png"
    X_tr, X_te, y_tr, y_te = load_digits_split()
    model = cg.nn.Sequential(
        [
            cg.nn.Dense(64, 128, "relu", init="he_uniform", weight_l2=1e-5),
            cg.nn.BatchNorm(128),
            cg.nn.Dropout(0.1),
            cg.nn.Dense(128, 10),
        ],
        seed=0,
    )
    loss = cg.nn.SoftmaxCrossEntropy()
    opt = cg.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    epochs, batch = 40, 32
    steps = -(-int(len(X_tr) * 0.85) // batch) * epochs
    schedule = cg.schedules.CosineDecay(
        1e-4, decay_steps=steps, alpha=0.01, warmup_steps=100, warmup_target=3e-3
    )
    ckpt_dir = tempfile.mkdtemp(prefix="digits-")
    callbacks = [
        cg.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
        cg.callbacks.ModelCheckpoint(
            os.path.join(ckpt_dir, "best.npz"), monitor="val_accuracy", save_best_only=True
        ),
    ]
    history = cg.fit(
        model,
        loss,
        opt,
        X_tr,
        y_tr,
        epochs=epochs,
        batch_size=batch,
        validation_split=0.15,
        schedule=schedule,
        callbacks=callbacks,
        seed=0,
        verbose=2,
    )
    history.plot(curves)
    acc = loss.accuracy(model.forward(X_te), y_te)
    best = cg.train.load_checkpoint(os.path.join(ckpt_dir, "best.npz"))
    print(f"epochs run: {len(history.epoch)}; curves written to {curves}")
    print(f"best checkpoint: epoch {best.epoch} in {ckpt_dir}")
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main(sys.argv)
