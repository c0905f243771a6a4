"""Layers, activations, losses and initializers."""

from .base import Layer

__all__ = ["Layer"]
