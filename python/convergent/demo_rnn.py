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

import time
from pathlib import Path

import numpy as np

from . import demo

__all__ = ["build_model", "digit_sequences", "run", "train_rnn"]

HIDDEN = 32


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
    import convergent as cg

    Xtr, Xva, ytr, yva = data
    label, cls, _, _ = demo.OPTIMIZERS[name]
    model = build_model(seed)
    loss = cg.nn.SoftmaxCrossEntropy()
    opt = demo.make_optimizer(name, model.parameters())
    bar = demo._bar(label, epochs, progress)
    t0 = time.perf_counter()
    if cls == "LBFGS":
        curve = demo._fit_lbfgs(model, loss, opt, Xtr, ytr, epochs, bar)
    else:

        class Bar(cg.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{(logs or {}).get('loss', float('nan')):.4f}")

        hist = cg.fit(model, loss, opt, Xtr, ytr, epochs=epochs, batch_size=batch_size,
                      seed=seed, clip_grad_norm=1.0, progress=False, callbacks=[Bar()])  # fmt: skip
        curve = list(hist.history["loss"])
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    acc = loss.accuracy(model.forward(Xva, training=False), yva)
    return {"optimizer": label, "name": name, "loss": curve[-1], "val_accuracy": acc,
            "epochs": epochs, "seconds": seconds, "curve": curve}  # fmt: skip


def plot(rows: list[dict], output: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        ax.plot(np.arange(1, len(r["curve"]) + 1), r["curve"], label=r["optimizer"])
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(f"digits read row by row (8 steps x 8 pixels), bidirectional GRU {HIDDEN}")
    ax.legend()
    fig.savefig(output, dpi=110)


def run(
    optimizers: list[str],
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    output: str = "convergence.png",
    progress: bool = True,
) -> list[dict]:
    """Runs the RNN demo; prints the table and writes ``output``. Returns the rows."""
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"the directory of the output file does not exist: {parent}")
    unknown = [o for o in optimizers if o not in demo.OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; choose from {list(demo.OPTIMIZERS)}")
    data = digit_sequences(seed)
    rows = [train_rnn(o, epochs, batch_size, seed, progress, data) for o in optimizers]
    print(demo.format_table(rows))
    plot(rows, output)
    print(f"wrote {output}")
    return rows
