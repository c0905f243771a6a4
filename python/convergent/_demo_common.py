"""What the model demos (``convergent demo --model cnn|rnn``) share: the argument checks, one
optimizer's training run with its progress bar and result row, and the loss-curve figure."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import demo


def check_run_args(optimizers: list[str], output: str) -> None:
    """Raises before any training when ``output``'s directory is missing or a name is unknown."""
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"the directory of the output file does not exist: {parent}")
    unknown = [o for o in optimizers if o not in demo.OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; choose from {list(demo.OPTIMIZERS)}")


def train_model(name: str, model: Any, epochs: int, batch_size: int, seed: int, progress: bool,
                data: tuple, **fit_kw: Any) -> dict:  # fmt: skip
    """Trains ``model`` with the optimizer ``name`` of :data:`convergent.demo.OPTIMIZERS` (L-BFGS
    with full batches; ``fit_kw`` go to ``cg.fit`` for the others) on
    ``data = (X_train, X_val, y_train, y_val)``; returns a result row as ``demo.train_digits``."""
    import convergent as cg

    Xtr, Xva, ytr, yva = data
    label, cls, _, _ = demo.OPTIMIZERS[name]
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
                      seed=seed, progress=False, callbacks=[Bar()], **fit_kw)  # fmt: skip
        curve = list(hist.history["loss"])
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    acc = loss.accuracy(model.forward(Xva, training=False), yva)
    return {"optimizer": label, "name": name, "loss": curve[-1], "val_accuracy": acc,
            "epochs": epochs, "seconds": seconds, "curve": curve}  # fmt: skip


def plot_curves(rows: list[dict], output: str, title: str) -> None:
    """The training-loss curves of ``rows`` (log y) in one panel, written to ``output``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        ax.plot(np.arange(1, len(r["curve"]) + 1), r["curve"], label=r["optimizer"])
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend()
    fig.savefig(output, dpi=110)


def run_demo(optimizers: list[str], output: str, data: Callable[[], tuple],
             train: Callable[[str, tuple], dict], title: str) -> list[dict]:  # fmt: skip
    """Checks the arguments, trains with each optimizer, prints the table, writes the figure."""
    check_run_args(optimizers, output)
    d = data()
    rows = [train(o, d) for o in optimizers]
    print(demo.format_table(rows))
    plot_curves(rows, output, title)
    print(f"wrote {output}")
    return rows
