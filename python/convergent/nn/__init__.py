"""Layers, activations, losses and initializers."""

from .activations import LeakyReLU, PReLU, ReLU, RReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .dense import Dense
from .init import INITIALIZERS, initialize
from .losses import BinaryCrossEntropy, Loss, MSELoss, SoftmaxCrossEntropy

__all__ = [
    "INITIALIZERS",
    "BinaryCrossEntropy",
    "Dense",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MSELoss",
    "PReLU",
    "RReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "initialize",
]
