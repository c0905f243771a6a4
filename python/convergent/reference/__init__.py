"""Pure-NumPy reference implementations of every convergent kernel, written to be read.

The tests hold the compiled fast path to these functions.
"""

from . import activations, losses
from .optim import adagrad_step, adam_step, rmsprop_step, sgd_step

__all__ = ["activations", "adagrad_step", "adam_step", "losses", "rmsprop_step", "sgd_step"]
