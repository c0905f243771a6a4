"""Layers, activations, losses and initializers."""

from .base import Layer
from .dense import Dense

__all__ = ["Dense", "Layer"]
