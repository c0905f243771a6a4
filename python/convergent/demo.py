"""``convergent demo``: the optimizers side by side on a real task and on the Rosenbrock function.

An MLP 64 -> 128 -> 64 -> 10 (ReLU) is trained on scikit-learn's bundled digits (8x8 images,
1797 rows; standardized with the training rows' statistics, 20% held out, stratified) from the
same initial weights with each optimizer; L-BFGS uses full batches. A table reports the final
training loss, the validation accuracy, the epochs and the time; ``convergence.png`` shows the
loss curves (log scale) and each optimizer's path on the 2-D Rosenbrock function from the same
start. Needs scikit-learn and matplotlib (``pip install convergent[demo]``); tqdm for the bars.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "DEFAULT", "OPTIMIZERS", "make_optimizer", "rosenbrock", "rosenbrock_paths", "run",
    "train_digits",
]  # fmt: skip

#: name -> (label, convergent.optim class, kwargs for the digits MLP, kwargs on Rosenbrock)
OPTIMIZERS: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "sgd": ("SGD", "SGD", {"lr": 0.1}, {"lr": 6e-4}),
    "momentum": ("Momentum", "SGD", {"lr": 0.02, "momentum": 0.9}, {"lr": 1e-4, "momentum": 0.9}),
    "nesterov": (
        "Nesterov",
        "SGD",
        {"lr": 0.02, "momentum": 0.9, "nesterov": True},
        {"lr": 1e-4, "momentum": 0.9, "nesterov": True},
    ),
    "adagrad": ("AdaGrad", "Adagrad", {"lr": 0.05}, {"lr": 0.3}),
    "rmsprop": ("RMSProp", "RMSprop", {"lr": 1e-3}, {"lr": 1e-2}),
    "adam": ("Adam", "Adam", {"lr": 2e-3}, {"lr": 0.05}),
    "adamw": ("AdamW", "AdamW", {"lr": 2e-3, "weight_decay": 1e-2}, {"lr": 0.05}),
    "lbfgs": (
        "L-BFGS",
        "LBFGS",
        {"max_iter": 5, "history_size": 20, "line_search_fn": "strong_wolfe"},
        {"max_iter": 1, "max_eval": 25, "line_search_fn": "strong_wolfe"},
    ),
    "nadam": ("NAdam", "NAdam", {"lr": 2e-3}, {"lr": 0.05}),
    "radam": ("RAdam", "RAdam", {"lr": 5e-3}, {"lr": 0.01}),
    "adamax": ("Adamax", "Adamax", {"lr": 4e-3}, {"lr": 0.2}),
    "adadelta": ("Adadelta", "Adadelta", {"lr": 1.0}, {"lr": 1.0}),
    "asgd": ("ASGD", "ASGD", {"lr": 0.1}, {"lr": 2e-3}),
    "rprop": (  # full-batch by design: on mini-batches its step sizes need a low cap
        "Rprop",
        "Rprop",
        {"lr": 1e-3, "step_sizes": (1e-6, 1e-2)},
        {"lr": 1e-3},
    ),
    "adafactor": ("Adafactor", "Adafactor", {"lr": 1e-2}, {"lr": 5e-2}),
    "lion": ("Lion", "Lion", {"lr": 5e-4, "weight_decay": 1e-2}, {"lr": 5e-3}),
    "schedulefree_adamw": ("SF-AdamW", "ScheduleFreeAdamW", {"lr": 5e-3}, {"lr": 0.05}),
    # Muon orthogonalizes the updates of the weight matrices; the biases go to AdamW, as torch's
    # documentation advises. On Rosenbrock the point is a 1x2 matrix.
    "muon": ("Muon", "Muon", {"lr": 0.02}, {"lr": 1e-2}),
}
#: The optimizers ``convergent demo`` runs when none are named.
DEFAULT = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs", "lion",
    "schedulefree_adamw",
)  # fmt: skip


def make_optimizer(name: str, params: list[np.ndarray], rosenbrock: bool = False) -> Any:
    """The optimizer ``name`` of :data:`OPTIMIZERS` over ``params`` (the digits settings, or the
    Rosenbrock ones). Muon takes the 2-D parameters and AdamW the others."""
    from . import optim

    _, cls, kw, rkw = OPTIMIZERS[name]
    kw = rkw if rosenbrock else kw
    if cls != "Muon":
        return getattr(optim, cls)(params, **kw)
    mats = [p for p in params if p.ndim == 2]
    rest = [p for p in params if p.ndim != 2]
    opts = [optim.Muon(mats, **kw)]
    if rest:
        opts.append(optim.AdamW(rest, lr=2e-3))
    return optim.MultiOptimizer(opts, params=params)


START = (-1.5, 2.0)


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    """f(x) = sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 and its gradient; minimum 0 at 1."""
    a, b = x[:-1], x[1:]
    f = float(np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * (b - a**2) - 2.0 * (1.0 - a)
    g[1:] += 200.0 * (b - a**2)
    return f, g


def rosenbrock_paths(names: list[str], steps: int = 1000) -> dict[str, np.ndarray]:
    """Each optimizer's iterates on the 2-D Rosenbrock function from ``START``."""
    paths = {}
    for name in names:
        cls = OPTIMIZERS[name][1]
        x = np.array(START, dtype=np.float64)
        # Muon updates matrices: the point is a 1x2 matrix (a view of x).
        opt = make_optimizer(name, [x.reshape(1, 2) if cls == "Muon" else x], rosenbrock=True)
        pts = [x.copy()]
        for _ in range(steps if cls != "LBFGS" else 60):
            if cls == "LBFGS":
                opt.step(lambda x=x: (lambda r: (r[0], [r[1]]))(rosenbrock(x)))
            else:
                g = rosenbrock(x)[1]
                opt.step([g.reshape(1, 2) if cls == "Muon" else g])
            pts.append(x.copy())
        paths[name] = np.array(pts)
    return paths


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    std[std == 0] = 1.0
    prep = [np.ascontiguousarray((a - mean) / std, dtype=np.float32) for a in (Xtr, Xva)]
    return prep[0], prep[1], ytr.astype(np.int64), yva.astype(np.int64)


def _model(seed: int):
    from . import nn

    return nn.Sequential(
        [
            nn.Dense(64, 128, "relu", init="he_uniform"),
            nn.Dense(128, 64, "relu", init="he_uniform"),
            nn.Dense(64, 10),
        ],
        seed=seed,
    )


def _bar(label: str, epochs: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc=f"{label:<9}", unit="epoch", leave=True)


def _fit_lbfgs(model, loss, opt, X, y, epochs, bar):
    """Full-batch L-BFGS: each epoch is one ``step`` of ``max_iter`` iterations."""
    grads = model.gradients()

    def closure():
        value = loss.forward(model.forward(X, training=True), y) + model.penalty()
        model.backward(loss.backward())
        return value, grads

    curve = []
    for _ in range(epochs):
        opt.step(closure)
        curve.append(loss.forward(model.forward(X, training=False), y) + model.penalty())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{curve[-1]:.4f}")
    return curve


def train_digits(name: str, epochs: int, batch_size: int, seed: int, progress: bool, data=None):
    """Trains the digits MLP with one optimizer; returns a result row (dict) with its curve."""
    from ._demo_common import train_model

    data = data if data is not None else _digits(seed)
    return train_model(name, _model(seed), epochs, batch_size, seed, progress, data)


def format_table(rows: list[dict]) -> str:
    head = ["optimizer", "train loss", "val accuracy", "epochs", "seconds"]
    body = [
        [
            r["optimizer"],
            f"{r['loss']:.4f}",
            f"{r['val_accuracy']:.3f}",
            str(r["epochs"]),
            f"{r['seconds']:.2f}",
        ]
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))
        )
    ]
    for r in body:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
        )
    return "\n".join(lines)


def plot(rows: list[dict], paths: dict[str, np.ndarray], output: str) -> None:
    """Writes the two-panel figure: loss curves (log y) and the Rosenbrock paths."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for r in rows:
        ax1.plot(np.arange(1, len(r["curve"]) + 1), r["curve"], label=r["optimizer"])
    ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_title("digits MLP 64-128-64-10")
    ax1.legend()
    gx, gy = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    gz = 100.0 * (gy - gx**2) ** 2 + (1.0 - gx) ** 2
    ax2.contour(gx, gy, gz, levels=np.logspace(-1, 3.5, 18), cmap="Greys", linewidths=0.6)
    for r in rows:
        p = paths[r["name"]]
        (line,) = ax2.plot(p[:, 0], p[:, 1], "-", lw=1.2, alpha=0.8, label=r["optimizer"])
        ax2.plot(p[-1, 0], p[-1, 1], "o", ms=6, color=line.get_color())
    ax2.plot(*START, "ko")
    ax2.plot(1, 1, "r*", ms=12)
    ax2.set_xlim(-2, 2)
    ax2.set_ylim(-1, 3)
    ax2.set_title(f"Rosenbrock from {START}: paths and end points")
    ax2.legend(fontsize=8)
    fig.savefig(output, dpi=110)


def run(
    optimizers: list[str],
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    output: str = "convergence.png",
    progress: bool = True,
) -> list[dict]:
    """Runs the demo; prints the table and writes ``output``. Returns the rows."""
    from ._demo_common import check_run_args

    check_run_args(optimizers, output)
    data = _digits(seed)
    rows = [train_digits(o, epochs, batch_size, seed, progress, data) for o in optimizers]
    print(format_table(rows))
    plot(rows, rosenbrock_paths(optimizers), output)
    print(f"wrote {output}")
    return rows
