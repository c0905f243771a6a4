"""Optimizers with torch.optim semantics, updating NumPy arrays in place in C++ kernels."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .lion import Lion
from .newton import Newton
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedulefree import ScheduleFreeAdamW
from .sgd import SGD

__all__ = [
    "LBFGS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "Newton",
    "Optimizer",
    "RMSprop",
    "ScheduleFreeAdamW",
]
