"""Optimizers with torch.optim semantics, updating NumPy arrays in place in C++ kernels."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .multi import MultiOptimizer
from .newton import Newton
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "LBFGS",
    "MultiOptimizer",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Newton",
    "Optimizer",
    "RMSprop",
]
