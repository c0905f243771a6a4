"""Pure-NumPy reference implementations of every convergent kernel, written to be read.

The tests hold the compiled fast path to these functions.
"""

from . import activations, losses
from .dense import (
    activation,
    activation_grad,
    dense_backward,
    dense_forward,
    dense_penalty,
    gemm,
)
from .normalization import batchnorm_backward, batchnorm_forward, dropout_forward
from .optim import adagrad_step, adam_step, rmsprop_step, sgd_step
from .optim_factormuon import adafactor_step, muon_step

__all__ = [
    "activation",
    "activation_grad",
    "activations",
    "adafactor_step",
    "adagrad_step",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "dense_backward",
    "dense_forward",
    "dense_penalty",
    "dropout_forward",
    "gemm",
    "losses",
    "muon_step",
    "rmsprop_step",
    "sgd_step",
]
