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
from .embedding import embedding_backward, embedding_forward, mask_zero_lengths
from .normalization import batchnorm_backward, batchnorm_forward, dropout_forward
from .optim import adagrad_step, adam_step, rmsprop_step, sgd_step
from .optim_adam_family import adamax_step, nadam_mu, nadam_step, radam_step
from .optim_classic import adadelta_step, asgd_step, rprop_step
from .optim_factormuon import adafactor_step, muon_step
from .optim_lion import lion_step
from .optim_schedulefree import (
    ScheduleFreeAdamWReference,
    schedulefree_adamw_step,
    schedulefree_lerp,
    schedulefree_scalars,
)
from .rnn import rnn_backward, rnn_forward

__all__ = [
    "ScheduleFreeAdamWReference",
    "activation",
    "activation_grad",
    "activations",
    "adadelta_step",
    "adafactor_step",
    "adagrad_step",
    "adam_step",
    "adamax_step",
    "asgd_step",
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
    "embedding_backward",
    "embedding_forward",
    "gemm",
    "global_avgpool2d_backward",
    "global_avgpool2d_forward",
    "lion_step",
    "losses",
    "mask_zero_lengths",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "muon_step",
    "nadam_mu",
    "nadam_step",
    "radam_step",
    "rmsprop_step",
    "rnn_backward",
    "rnn_forward",
    "rprop_step",
    "schedulefree_adamw_step",
    "schedulefree_lerp",
    "schedulefree_scalars",
    "sgd_step",
    "upsample_nearest_backward",
    "upsample_nearest_forward",
]
