"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4; in the form of Le et al. 2015
and Arjovsky et al. 2016) at T=100, solved by an LSTM and by a GRU.

    python examples/adding_problem.py [--steps 100] [--epochs 15] [--cells lstm,gru]

Each input is a sequence of T pairs (value, marker): the values are drawn from U(0, 1), and the
marker is 1 at exactly two steps (one in each half of the sequence) and 0 elsewhere. The target
is the sum of the two marked values. Always answering the mean 1.0 gives a mean squared error
of 1/6 (about 0.167, the variance of the sum); the task is solved when the test MSE falls below
0.01, which needs the network to carry the first marked value across up to T steps.

Model: one recurrent layer (hidden 32), its last step into a Dense(1); MSE, Adam (learning rate
1e-2, batches of 32) with cosine decay, and gradient clipping by global norm 1.0, the first
thing RNN users turn on (an exploding-gradient step would otherwise undo the training). The
loss sits near the baseline for a while (the network has not yet found the markers) and then
drops within an epoch or two; the LSTM's plateau is the longer one.
"""

from __future__ import annotations

import argparse
import time

import convergent as cg
import numpy as np


def adding_data(n: int, steps: int, seed: int = 0, dtype=np.float32):
    """``(X, y)``: X (n, steps, 2) of (value, marker) pairs, y (n, 1) the sum of the two marked
    values; one marker in each half of the sequence."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, steps, 2), dtype)
    X[:, :, 0] = rng.random((n, steps))
    half = steps // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, steps, n)
    rows = np.arange(n)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = (X[rows, first, 0] + X[rows, second, 0]).reshape(-1, 1).astype(dtype)
    return X, y


def build(cell: str, hidden: int = 32, seed: int = 0) -> cg.nn.Sequential:
    layer = {"lstm": cg.nn.LSTM, "gru": cg.nn.GRU}[cell]
    return cg.nn.Sequential([layer(2, hidden), cg.nn.Dense(hidden, 1)], seed=seed)


def train(model, X, y, epochs: int, batch_size: int = 32, lr: float = 1e-2, seed: int = 0,
          validation_data=None, progress: bool = False):  # fmt: skip
    """Adam + cosine decay + clip_grad_norm=1.0; returns the History."""
    steps = -(-len(X) // batch_size) * epochs
    opt = cg.optim.Adam(model.parameters(), lr=lr)
    schedule = cg.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.05)
    return cg.fit(model, cg.nn.MSELoss(), opt, X, y, epochs=epochs, batch_size=batch_size,
                  seed=seed, schedule=schedule, clip_grad_norm=1.0,
                  validation_data=validation_data, progress=progress)  # fmt: skip


def test_mse(model, X, y) -> float:
    return float(np.mean((model.forward(X) - y) ** 2, dtype=np.float64))


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100, help="sequence length T (default 100)")
    p.add_argument("--train", type=int, default=10000, help="training sequences")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    X, y = adding_data(args.train, args.steps, seed=0)
    X_te, y_te = adding_data(2000, args.steps, seed=1)
    print(f"adding problem, T={args.steps}: baseline (always 1.0) test MSE "
          f"{float(np.mean((1.0 - y_te) ** 2)):.4f}")  # fmt: skip
    results = {}
    for cell in args.cells.split(","):
        model = build(cell, args.hidden)
        t0 = time.perf_counter()
        hist = train(model, X, y, args.epochs, progress=args.progress)
        secs = time.perf_counter() - t0
        mse = test_mse(model, X_te, y_te)
        results[cell] = mse
        print(f"{cell.upper():4s} test MSE {mse:.5f} (train loss {hist.history['loss'][-1]:.5f})"
              f" in {secs:.1f} s, {cg.get_num_threads()} threads, {cg.get_isa()}"
              f" -> {'solved' if mse < 0.01 else 'NOT solved'} (bar 0.01)")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
