"""Layers, activations, losses and initializers."""

from .activations import LeakyReLU, PReLU, ReLU, RReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .init import INITIALIZERS, initialize
from .losses import BinaryCrossEntropy, Loss, MSELoss, SoftmaxCrossEntropy
from .normalization import BatchNorm
from .residual import Residual
from .sequential import Sequential, load, register_layer

__all__ = [
    "INITIALIZERS",
    "BatchNorm",
    "BinaryCrossEntropy",
    "Dense",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MSELoss",
    "PReLU",
    "RReLU",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "initialize",
    "load",
    "register_layer",
]
