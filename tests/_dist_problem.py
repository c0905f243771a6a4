"""The problems of the data-parallel tests: used by the MPI worker (tests/_mpi_worker.py) and by
the one-process runs it is compared with (tests/test_distributed_mpi.py)."""

from __future__ import annotations

import convergent as cg
import numpy as np

ROWS, FEATURES, CLASSES = 203, 12, 3  # 203 = 6 batches of 32 and a last one of 11 (split 5 + 6)
BATCH, EPOCHS = 32, 4


def data(dtype=np.float64):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((ROWS + 41, FEATURES)).astype(dtype)
    y = (X[:, :3] @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.int64) + (X[:, 3] > 1)
    return X[:ROWS], y[:ROWS], X[ROWS:], y[ROWS:]


def loss():
    return cg.nn.SoftmaxCrossEntropy()


def problem(seed=0):
    """MLP with Dropout in float64, Adam with weight decay, validation data."""
    model = cg.nn.Sequential(
        [
            cg.nn.Dense(FEATURES, 16, "relu", dtype=np.float64),
            cg.nn.Dropout(0.3),
            cg.nn.Dense(16, 16, "tanh", dtype=np.float64, weight_l2=1e-3),
            cg.nn.Dense(16, CLASSES, dtype=np.float64),
        ],
        seed=seed,
    )
    opt = cg.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    X, y, Xv, yv = data()
    kw = dict(X=X, y=y, epochs=EPOCHS, batch_size=BATCH, seed=3, validation_data=(Xv, yv),
              progress=False)  # fmt: skip
    return model, loss(), opt, kw


def callbacks():
    return [cg.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0)]


def noise_problem(seed=0):
    """GaussianNoise (whole-batch draws) and RReLU (uniform draws) in float64, SGD momentum."""
    model = cg.nn.Sequential(
        [
            cg.nn.Dense(FEATURES, 16, dtype=np.float64),
            cg.nn.GaussianNoise(0.2),
            cg.nn.RReLU(),
            cg.nn.Dense(16, CLASSES, dtype=np.float64),
        ],
        seed=seed,
    )
    X, y, _, _ = data()
    opt = cg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, loss(), opt, dict(X=X, y=y, epochs=2, batch_size=BATCH, seed=5, progress=False)


def batchnorm_problem(seed=0):
    model = cg.nn.Sequential(
        [
            cg.nn.Dense(FEATURES, 16, dtype=np.float32),
            cg.nn.BatchNorm(16, dtype=np.float32),
            cg.nn.ReLU(),
            cg.nn.GaussianNoise(0.1),
            cg.nn.Dense(16, CLASSES, dtype=np.float32),
        ],
        seed=seed,
    )
    X, y, _, _ = data(np.float32)
    opt = cg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, loss(), opt, dict(X=X, y=y, epochs=2, batch_size=BATCH, progress=False)


def bad_inputs(rank):
    """Fits whose inputs differ across ranks (or are wrong everywhere): name -> maker."""

    def base(width=16, rows=ROWS, seed=3, batch=BATCH):
        model = cg.nn.Sequential(
            [cg.nn.Dense(FEATURES, width, "relu", dtype=np.float64),
             cg.nn.Dense(width, CLASSES, dtype=np.float64)]
        )  # fmt: skip
        X, y, _, _ = data()
        opt = cg.optim.SGD(model.parameters(), lr=0.1)
        kw = dict(X=X[:rows], y=y[:rows], epochs=1, batch_size=batch, seed=seed, progress=False)
        return model, loss(), opt, kw

    return {
        "seed": lambda: base(seed=3 + rank),
        "rows": lambda: base(rows=ROWS - rank),
        "params": lambda: base(width=16 + rank),
        "batch": lambda: base(batch=1),
        "last_batch": lambda: base(rows=65),  # 2 batches of 32 and one row
    }


def fused_problem(dtype=np.float64, seed=0):
    """Dense layers only (the fused C++ loop's models), Adam with a OneCycle schedule (learning
    rates and beta1 per step), weight and activity penalties, gradient clipping and validation
    data; the last batch of 11 rows is split 5 + 6 (shares that float32 does not hold exactly)."""
    model = cg.nn.Sequential(
        [
            cg.nn.Dense(FEATURES, 24, "relu", dtype=dtype, activity_l1=1e-3),
            cg.nn.Dense(24, 16, "tanh", dtype=dtype, weight_l2=1e-3),
            cg.nn.Dense(16, CLASSES, dtype=dtype),
        ],
        seed=seed,
    )
    opt = cg.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    X, y, Xv, yv = data(dtype)
    steps = EPOCHS * -(-ROWS // BATCH)
    kw = dict(X=X, y=y, epochs=EPOCHS, batch_size=BATCH, seed=3, validation_data=(Xv, yv),
              progress=False, schedule=cg.schedules.OneCycle(0.05, steps),
              clip_grad_norm=1.0)  # fmt: skip
    return model, loss(), opt, kw


class EveryBatch(cg.callbacks.Callback):
    """A callback with on_batch_end: fit then runs its Python step loop instead of the fused one."""

    def on_batch_end(self, step, logs=None):
        pass
