"""Data-parallel training of an MLP on scikit-learn's digits over MPI.

    mpiexec -n 2 python examples/distributed_mlp.py [--epochs 30] [--batch 64] [--ckpt DIR]
    mpiexec -n 4 --hostfile hosts python examples/distributed_mlp.py      # several machines
    python examples/distributed_mlp.py                                    # one process

As root, Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the
environment (and --oversubscribe for more ranks than cores). Every rank loads the same data and
builds the same model; rank 0's parameters are broadcast, each rank trains on its slice of every
global batch of --batch rows, and the gradients are summed across ranks in one Allreduce per
step. Rank 0 prints the progress and writes the checkpoints; every rank ends with the same
parameters (the printed checksums agree). Re-running with --resume continues from the last
checkpoint exactly. Needs mpi4py, an MPI and scikit-learn: pip install
'convergent[distributed]' scikit-learn.
"""

from __future__ import annotations

import argparse
import os

import convergent as cg
import numpy as np
from convergent import distributed


def load_digits_split(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0
    prep = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return prep(X_tr), prep(X_te), y_tr.astype(np.int64), y_te.astype(np.int64)


def main(argv: list[str] | None = None) -> cg.History:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64, help="global batch size (all ranks)")
    ap.add_argument("--threads", type=int, default=1, help="convergent threads per rank")
    ap.add_argument("--ckpt", default="distributed-ckpt", help="checkpoint directory")
    ap.add_argument("--resume", action="store_true", help="continue from DIR/last.npz")
    args = ap.parse_args(argv)

    comm = distributed.init()
    cg.set_num_threads(args.threads)
    X_tr, X_te, y_tr, y_te = load_digits_split()
    path = os.path.join(args.ckpt, "last.npz")
    if args.resume:  # every rank reads the checkpoint (rank 0's copy is broadcast anyway)
        ckpt = cg.train.load_checkpoint(path)
        model, opt, start = ckpt.model, ckpt.optimizer, ckpt.epoch
    else:
        model = cg.nn.Sequential(
            [
                cg.nn.Dense(64, 128, "relu", init="he_uniform"),
                cg.nn.Dropout(0.2),  # draws per global row: the same masks as one process
                cg.nn.Dense(128, 10),
            ],
            seed=0,
        )
        opt = cg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        start = 0
    if comm.rank == 0:
        os.makedirs(args.ckpt, exist_ok=True)
    history = cg.fit(
        model, cg.nn.SoftmaxCrossEntropy(), opt, X_tr, y_tr, epochs=args.epochs,
        batch_size=args.batch, validation_split=0.15, initial_epoch=start, verbose=2,
        callbacks=[
            cg.callbacks.ReduceLROnPlateau(patience=3, factor=0.5),  # same decision everywhere
            cg.callbacks.ModelCheckpoint(path),  # written by rank 0 only
        ],
        comm=comm,
    )  # fmt: skip
    sums = distributed.checksums(comm, model)
    if comm.rank == 0:
        acc = float(np.mean(np.argmax(model.forward(X_te), axis=1) == y_te))
        stats = history.params["comm"]
        print(f"{comm.size} rank(s): test accuracy {acc:.4f}; parameter checksums {sums}; "
              f"{stats['allreduce_seconds'] / max(stats['steps'], 1) * 1e3:.3f} ms "
              f"per step in the gradient sums ({stats['sums']})")  # fmt: skip
    return history


if __name__ == "__main__":
    main()
