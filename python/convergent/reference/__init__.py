"""Pure-NumPy reference implementations of every convergent kernel, written to be read.

The tests hold the compiled fast path to these functions.
"""

from . import activations, conv, losses
from .conv import (
    avgpool2d_backward,
    avgpool2d_forward,
    conv2d_backward,
    conv2d_forward,
    global_avgpool2d_backward,
    global_avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    upsample_nearest_backward,
    upsample_nearest_forward,
)
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

__all__ = [
    "activation",
    "activation_grad",
    "activations",
    "adagrad_step",
    "adam_step",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv",
    "conv2d_backward",
    "conv2d_forward",
    "dense_backward",
    "dense_forward",
    "dense_penalty",
    "dropout_forward",
    "gemm",
    "global_avgpool2d_backward",
    "global_avgpool2d_forward",
    "losses",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "rmsprop_step",
    "sgd_step",
    "upsample_nearest_backward",
    "upsample_nearest_forward",
]
