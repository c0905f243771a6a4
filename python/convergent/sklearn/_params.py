"""Hyperparameter validation of the MLP estimators (scikit-learn's rules where the names
overlap, ours for the added ones)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn

_ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_ACTIVATION_LAYERS = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
_OPTIMIZERS = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs", "nadam",
    "radam", "adamax", "adadelta", "asgd", "rprop", "adafactor", "lion", "schedulefree_adamw",
    "muon",
)  # fmt: skip
_INITS = ("auto", *nn.INITIALIZERS)


def _check_params(est: Any) -> list[int]:
    """Validates the hyperparameters; returns the hidden layer sizes as a list."""
    sizes = est.hidden_layer_sizes
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive ints, got {est.hidden_layer_sizes}")
    choices = {
        "activation": tuple(_ACTIVATIONS),
        "solver": ("sgd", "adam", "lbfgs"),
        "learning_rate": ("constant", "invscaling", "adaptive"),
        "optimizer": (None, *_OPTIMIZERS),
        "weight_init": _INITS,
    }
    for name, allowed in choices.items():
        if getattr(est, name) not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {getattr(est, name)!r}")
    ranges = {
        "alpha": (0, None, True),
        "learning_rate_init": (0, None, False),
        "power_t": (0, None, True),
        "tol": (0, None, True),
        "momentum": (0, 1, True),
        "validation_fraction": (0, 1, True),
        "beta_1": (0, 1, True),
        "beta_2": (0, 1, True),
        "epsilon": (0, None, False),
        "dropout": (0, 1, True),
    }
    for name, (lo, hi, closed) in ranges.items():
        v = getattr(est, name)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a real number, got {v!r}")
        ok = (
            np.isfinite(v)
            and (v >= lo if closed else v > lo)
            and (hi is None or v < hi or (v == hi and name == "momentum"))
        )
        if not ok:
            raise ValueError(f"{name} = {v!r} is out of range")
    for name in ("max_iter", "n_iter_no_change", "max_fun"):
        v = getattr(est, name)
        if name == "n_iter_no_change" and v == np.inf:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    bs = est.batch_size
    if bs != "auto" and (isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1):
        raise ValueError(f"batch_size must be 'auto' or an int >= 1, got {bs!r}")
    if np.dtype(est.dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {est.dtype!r}")
    return [int(h) for h in sizes]


def make_catalogue_optimizer(
    name: str, params: list[np.ndarray], lr: float, betas: tuple[float, float], eps: float
) -> Any:
    """The convergent optimizer ``optimizer=name`` names (beyond sgd/momentum/nesterov/adagrad/
    rmsprop/adam/adamw), at ``learning_rate_init``: torch's defaults otherwise, with the
    estimator's ``beta_1``, ``beta_2`` and ``epsilon`` where the optimizer has them (Lion keeps
    its own betas (0.9, 0.99)). "muon" is Muon on the weight matrices (its learning rate adjusted
    to AdamW's update size, ``adjust_lr_fn="match_rms_adamw"``, so one ``learning_rate_init``
    serves both) and AdamW on the biases, as torch's documentation advises; both with weight
    decay 0.01, like ``optimizer="adamw"``."""
    from .. import optim

    if name in ("nadam", "radam", "adamax"):
        cls = {"nadam": optim.NAdam, "radam": optim.RAdam, "adamax": optim.Adamax}[name]
        return cls(params, lr=lr, betas=betas, eps=eps)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr)
    if name == "asgd":
        return optim.ASGD(params, lr=lr)
    if name == "rprop":
        return optim.Rprop(params, lr=lr)
    if name == "adafactor":
        return optim.Adafactor(params, lr=lr)
    if name == "lion":
        return optim.Lion(params, lr=lr)
    if name == "schedulefree_adamw":
        return optim.ScheduleFreeAdamW(params, lr=lr, betas=betas, eps=eps)
    if name == "muon":
        mats = [p for p in params if p.ndim == 2]
        rest = [p for p in params if p.ndim != 2]
        parts = [optim.Muon(mats, lr=lr, weight_decay=0.01, adjust_lr_fn="match_rms_adamw")]
        if rest:
            parts.append(optim.AdamW(rest, lr=lr, betas=betas, eps=eps, weight_decay=0.01))
        return optim.MultiOptimizer(parts, params=params)
    raise ValueError(f"unknown optimizer {name!r}")
