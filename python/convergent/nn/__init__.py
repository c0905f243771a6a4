"""Layers, activations, losses and initializers."""

from .activations import LeakyReLU, PReLU, ReLU, RReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .init import INITIALIZERS, initialize
from .losses import BinaryCrossEntropy, Loss, MSELoss, SoftmaxCrossEntropy
from .noise import GaussianNoise
from .normalization import BatchNorm
from .pooling import AvgPool2D, Flatten, GlobalAvgPool2D, MaxPool2D, UpSampling2D
from .residual import Residual
from .rnn import GRU, LSTM, SimpleRNN
from .sequential import Sequential, load, register_layer

__all__ = [
    "INITIALIZERS",
    "AvgPool2D",
    "BatchNorm",
    "BinaryCrossEntropy",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianNoise",
    "GlobalAvgPool2D",
    "LSTM",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MSELoss",
    "MaxPool2D",
    "PReLU",
    "RReLU",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "UpSampling2D",
    "initialize",
    "load",
    "register_layer",
]
