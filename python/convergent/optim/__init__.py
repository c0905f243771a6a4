"""Optimizers with torch.optim semantics, updating NumPy arrays in place in C++ kernels."""

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .newton import Newton
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Newton",
    "Optimizer",
    "RMSprop",
    "Rprop",
]
