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
from .optim_adam_family import adamax_step, nadam_mu, nadam_step, radam_step

__all__ = [
    "activation",
    "activation_grad",
    "activations",
    "adagrad_step",
    "adam_step",
    "adamax_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "dense_backward",
    "dense_forward",
    "dense_penalty",
    "dropout_forward",
    "gemm",
    "losses",
    "nadam_mu",
    "nadam_step",
    "radam_step",
    "rmsprop_step",
    "sgd_step",
]
