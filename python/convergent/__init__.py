"""convergent: fast CPU training of neural networks with the optimizers and convergence
techniques practitioners use, in C++/SIMD kernels held to a plain-NumPy reference."""

from . import callbacks, nn, optim, reference, schedules, train
from ._core import (
    available_isas,
    get_isa,
    get_num_threads,
    have_openmp,
    set_isa,
    set_num_threads,
)
from ._version import __version__
from .train import History, fit

__all__ = [
    "History",
    "__version__",
    "available_isas",
    "callbacks",
    "fit",
    "get_isa",
    "get_num_threads",
    "have_openmp",
    "nn",
    "optim",
    "reference",
    "schedules",
    "set_isa",
    "set_num_threads",
    "train",
]
