"""Layers, activations, losses and initializers."""

from .base import Layer
from .dropout import Dropout
from .normalization import BatchNorm
from .residual import Residual
from .sequential import Sequential, load, register_layer

__all__ = ["BatchNorm", "Dropout", "Layer", "Residual", "Sequential", "load", "register_layer"]
