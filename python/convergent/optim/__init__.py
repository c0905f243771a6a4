"""Optimizers with torch.optim semantics, updating NumPy arrays in place in C++ kernels."""

from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .muon import Muon
from .newton import Newton
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "LBFGS",
    "SGD",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Muon",
    "Newton",
    "Optimizer",
    "RMSprop",
]
