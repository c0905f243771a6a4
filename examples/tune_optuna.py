"""Tune an MLP on scikit-learn's digits with Optuna (TPE sampler, median pruning): optimizer,
learning rate, schedule, width, dropout and weight decay. Pruned trials stop early through
``cg.callbacks.OptunaPruning``.

    python examples/tune_optuna.py                          # one process, in-memory study
    python examples/tune_optuna.py --storage tune.log &     # several processes (or machines on
    python examples/tune_optuna.py --storage tune.log &     # a shared disk) share one study:
    wait                                                    # a journal file, or an RDB URL
    python examples/tune_optuna.py --storage sqlite:///tune.db --trials 20

Each process runs ``--trials`` trials of the study ``--study`` (created by the first one).
Needs optuna and scikit-learn: pip install 'convergent[tune]' scikit-learn.
"""

from __future__ import annotations

import argparse
import os

import convergent as cg
import numpy as np
import optuna


def load_digits_split(rows: int | None = None, seed: int = 0):
    """Standardized float32 digits (the first ``rows`` rows), a stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X, y = X[:rows], y[:rows]
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0  # pixels that are blank in every training image
    prep = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return prep(X_tr), prep(X_va), y_tr.astype(np.int64), y_va.astype(np.int64)


OPTIMIZERS = {
    "adam": lambda p, lr, wd: cg.optim.Adam(p, lr=lr, weight_decay=wd),
    "adamw": lambda p, lr, wd: cg.optim.AdamW(p, lr=lr, weight_decay=wd),
    "sgd": lambda p, lr, wd: cg.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "rmsprop": lambda p, lr, wd: cg.optim.RMSprop(p, lr=lr, weight_decay=wd),
}


def objective(trial: optuna.Trial, data, epochs: int, batch_size: int = 64) -> float:
    """Validation loss of one configuration (minimized)."""
    X_tr, X_va, y_tr, y_va = data
    trial.set_user_attr("worker", os.getpid())
    name = trial.suggest_categorical("optimizer", sorted(OPTIMIZERS))
    lr = trial.suggest_float("lr", 1e-4, 3e-1, log=True)
    schedule_name = trial.suggest_categorical("schedule", ["constant", "cosine", "onecycle"])
    width = trial.suggest_int("width", 16, 256, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)

    model = cg.nn.Sequential(
        [
            cg.nn.Dense(X_tr.shape[1], width, "relu", init="he_uniform"),
            cg.nn.Dropout(dropout),
            cg.nn.Dense(width, 10),
        ],
        seed=trial.number,
    )
    opt = OPTIMIZERS[name](model.parameters(), lr, weight_decay)
    steps = -(-len(X_tr) // batch_size) * epochs
    schedule = {
        "constant": None,
        "cosine": cg.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.01),
        "onecycle": cg.schedules.OneCycle(lr, total_steps=steps, cycle_momentum=False),
    }[schedule_name]
    history = cg.fit(
        model, cg.nn.SoftmaxCrossEntropy(), opt, X_tr, y_tr, epochs=epochs,
        batch_size=batch_size, validation_data=(X_va, y_va), schedule=schedule,
        callbacks=[cg.callbacks.OptunaPruning(trial, monitor="val_loss")], progress=False,
    )  # fmt: skip
    trial.set_user_attr("val_accuracy", history.history["val_accuracy"][-1])
    return history.history["val_loss"][-1]


def storage_from(arg: str | None):
    """None (in memory), an RDB URL (sqlite:///..., postgresql://...) or a journal file path."""
    if arg is None or "://" in arg:
        return arg
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(arg))


def main(argv: list[str] | None = None) -> optuna.Study:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", default=None, help="journal file path or RDB URL")
    ap.add_argument("--study", default="digits-mlp")
    ap.add_argument("--trials", type=int, default=30, help="trials this process runs")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--rows", type=int, default=None, help="use the first ROWS digits only")
    ap.add_argument("--threads", type=int, default=None, help="convergent threads per process")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        cg.set_num_threads(args.threads)
    if args.quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_digits_split(args.rows)
    study = optuna.create_study(
        study_name=args.study, storage=storage_from(args.storage), load_if_exists=True,
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=None),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
    )  # fmt: skip
    study.optimize(lambda t: objective(t, data, args.epochs), n_trials=args.trials)
    if not args.quiet:
        best = study.best_trial
        print(f"best val_loss {best.value:.4f} (val_accuracy "
              f"{best.user_attrs['val_accuracy']:.4f}) with {best.params}")  # fmt: skip
    return study


if __name__ == "__main__":
    main()
