"""Sequential models, the layer registry, and portable model files (.npz + JSON, no pickle)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._npz import read_npz, write_npz
from .base import Layer
from .lengths import check_lengths

__all__ = ["Sequential", "build_layer", "layer_spec", "load", "register_layer"]

_FORMAT = "convergent.nn.Sequential"
_VERSION = 1
_REGISTRY: dict[str, type] = {}


def register_layer(cls: type | None = None, *, name: str | None = None) -> Any:
    """Registers a Layer subclass under ``name`` (default: the class name) so that models using
    it can be saved and loaded. Usable as ``register_layer(MyLayer)`` or as a decorator. The
    layers of convergent.nn are known without registration."""

    def deco(c: type) -> type:
        if not (isinstance(c, type) and issubclass(c, Layer)):
            raise TypeError("register_layer expects a subclass of convergent.nn.Layer")
        key = name or c.__name__
        if key in _REGISTRY and _REGISTRY[key] is not c:
            raise ValueError(f"a different layer class is already registered as {key!r}")
        _REGISTRY[key] = c
        return c

    return deco if cls is None else deco(cls)


def _package_layers() -> dict[str, type]:
    from .. import nn

    return {k: v for k, v in vars(nn).items() if isinstance(v, type) and issubclass(v, Layer)}


def _layer_class(name: str) -> type:
    cls = _REGISTRY.get(name) or _package_layers().get(name)
    if cls is None:
        raise ValueError(
            f"unknown layer type {name!r}; register it with convergent.nn.register_layer"
        )
    return cls


def _layer_name(layer: Layer) -> str:
    cls = type(layer)
    for key, c in _REGISTRY.items():
        if c is cls:
            return key
    if _package_layers().get(cls.__name__) is cls:
        return cls.__name__
    raise ValueError(
        f"layer class {cls.__name__} is not registered; call "
        "convergent.nn.register_layer on it to save models that use it"
    )


def layer_spec(layer: Layer) -> dict[str, Any]:
    """``{"type": registered name, "config": layer.get_config()}`` (JSON-serialisable)."""
    return {"type": _layer_name(layer), "config": layer.get_config()}


def build_layer(spec: Any) -> Layer:
    """A Layer from a Layer (returned as is) or a spec made by :func:`layer_spec`."""
    if isinstance(spec, Layer):
        return spec
    if not (isinstance(spec, dict) and set(spec) == {"type", "config"}):
        raise TypeError("a layer must be a convergent.nn.Layer or a {'type', 'config'} spec")
    return _layer_class(spec["type"])(**spec["config"])


_ACCEPTS: dict[type, bool] = {}


def _accepts_need_input_grad(layer: Layer) -> bool:
    """Whether ``layer.backward`` takes ``need_input_grad`` (cached per class)."""
    cls = type(layer)
    hit = _ACCEPTS.get(cls)
    if hit is None:
        try:
            hit = "need_input_grad" in inspect.signature(layer.backward).parameters
        except (TypeError, ValueError):
            hit = False
        _ACCEPTS[cls] = hit
    return hit


class Sequential(Layer):
    """Layers applied in order; a Layer itself.

    ``seed`` (an int, the default 0): each layer i gets an independent Generator pair spawned from
    ``SeedSequence(seed)``: ``layer.reset_parameters(init_rng)`` re-draws its parameters and
    ``layer.set_rng(run_rng)`` gives stochastic layers (Dropout) their stream, so one seed gives
    the same bits. ``seed=None`` keeps the layers as they are. The run-time generators' positions
    are part of :meth:`get_rng_state` (saved by :meth:`save` and by checkpoints).
    """

    def __init__(self, layers: Sequence[Any], seed: int | None = 0) -> None:
        super().__init__()
        if isinstance(layers, (Layer, dict)) or not isinstance(layers, Sequence):
            raise TypeError("layers must be a list of convergent.nn.Layer")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.layers: list[Layer] = [build_layer(layer) for layer in layers]
        self.seed = None if seed is None else int(seed)
        self._rngs: list[np.random.Generator] = []
        self.output_lengths: np.ndarray | None = None
        if self.seed is not None:
            for layer, child in zip(
                self.layers, np.random.SeedSequence(self.seed).spawn(len(self.layers))
            ):
                init_ss, run_ss = child.spawn(2)
                layer.reset_parameters(np.random.default_rng(init_ss))
                rng = np.random.default_rng(run_ss)
                layer.set_rng(rng)
                self._rngs.append(rng)

    #: forward takes ``lengths=`` (per-sample lengths of padded sequences; see nn/lengths.py).
    accepts_lengths = True

    # ---- computation ------------------------------------------------------------------------
    def forward(
        self, x: np.ndarray, training: bool = False, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """Applies the layers in order. ``lengths`` (int64 ``(batch,)``, each in ``[1, time]``)
        are the valid steps of each sample of a padded ``(batch, time, ...)`` batch: they go to
        the layers that accept them (``accepts_lengths``, the recurrent layers); a layer that
        derives lengths (``Embedding(mask_zero=True)``, its ``output_lengths``) replaces them
        for the layers after it. TypeError when lengths are given and no layer accepts them.
        The lengths in force after the last layer are kept in ``output_lengths``."""
        if lengths is not None:
            if not any(getattr(layer, "accepts_lengths", False) for layer in self.layers):
                raise TypeError("lengths were given, but no layer of the model accepts lengths")
            if not isinstance(x, np.ndarray) or x.ndim < 2:
                raise ValueError("lengths need x of shape (batch, time, ...)")
            lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        for layer in self.layers:
            if lengths is not None and getattr(layer, "accepts_lengths", False):
                x = layer.forward(x, training, lengths=lengths)
            else:
                x = layer.forward(x, training)
            derived = getattr(layer, "output_lengths", None)
            if derived is not None:
                lengths = derived
        self.output_lengths = lengths
        return x

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Back-propagates ``dout``; returns the input gradient, or None when
        ``need_input_grad=False`` and the first layer can skip it (``fit`` does this)."""
        layers = self.layers
        for layer in layers[:0:-1]:
            dout = layer.backward(dout)
        if not layers:
            return dout
        if not need_input_grad and _accepts_need_input_grad(layers[0]):
            return layers[0].backward(dout, need_input_grad=False)
        return layers[0].backward(dout)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    # ---- parameters and state ---------------------------------------------------------------
    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.gradients()]

    def named_parameters(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v
            for i, layer in enumerate(self.layers)
            for k, v in layer.named_parameters().items()
        }

    def buffers(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.buffers().items()
        }

    def penalty(self) -> float:
        return float(sum(layer.penalty() for layer in self.layers))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        for layer in self.layers:
            layer.reset_parameters(rng)

    def set_rng(self, rng: np.random.Generator) -> None:
        """Gives every layer the one generator ``rng`` (it replaces the per-layer ones)."""
        for layer in self.layers:
            layer.set_rng(rng)
        self._rngs = [rng]

    def get_rng_state(self) -> list[dict[str, Any]]:
        """Positions of the generators this model gave its layers (JSON-serialisable)."""
        return [rng.bit_generator.state for rng in self._rngs]

    def set_rng_state(self, states: list[dict[str, Any]]) -> None:
        """Restores :meth:`get_rng_state`: one state per layer generator, or a single state
        (a model whose layers share one generator after :meth:`set_rng`)."""
        if not isinstance(states, list):
            raise TypeError("states must be a list of generator states")
        if len(states) == len(self._rngs):
            for rng, st in zip(self._rngs, states):
                rng.bit_generator.state = st
        elif len(states) == 1:
            rng = np.random.default_rng()
            rng.bit_generator.state = states[0]
            self.set_rng(rng)
        else:
            raise ValueError(f"expected {len(self._rngs)} generator states, got {len(states)}")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed ``"<layer index>.<name>"``."""
        return {
            k: np.array(v, copy=True)
            for k, v in {**self.named_parameters(), **self.buffers()}.items()
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Copies the arrays into the model's own (the arrays stay the same objects). Keys,
        shapes and dtypes must match exactly; on any mismatch nothing is changed."""
        if not isinstance(state_dict, dict):
            raise TypeError("state_dict must be a dict of arrays")
        mine = {**self.named_parameters(), **self.buffers()}
        missing = sorted(set(mine) - set(state_dict))
        extra = sorted(set(state_dict) - set(mine))
        if missing or extra:
            raise ValueError(
                f"state_dict keys differ from the model's: missing {missing}, unexpected {extra}"
            )
        for k, dst in mine.items():
            src = state_dict[k]
            if not isinstance(src, np.ndarray):
                raise TypeError(f"state_dict[{k!r}] must be a numpy.ndarray")
            if src.shape != dst.shape or src.dtype != dst.dtype:
                raise ValueError(
                    f"state_dict[{k!r}] has shape {src.shape} and dtype {src.dtype};"
                    f" the model's has {dst.shape} and {dst.dtype}"
                )
        for k, dst in mine.items():
            np.copyto(dst, state_dict[k])

    def get_config(self) -> dict[str, Any]:
        return {"layers": [layer_spec(layer) for layer in self.layers], "seed": self.seed}

    # ---- files ------------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Writes a portable .npz (``path`` used exactly as given): every parameter and buffer,
        plus JSON with the architecture (layer type names and configs), the seed and the
        generator positions. Read it back with :func:`convergent.nn.load`."""
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "config": self.get_config(),
            "rng_state": self.get_rng_state(),
        }
        write_npz(path, self.state_dict(), meta)

    def to_onnx(self, path: Any, input_shape: Any = None, opset: int = 17, **kw: Any) -> Any:
        """Writes the model as ONNX (the ``onnx`` extra); see :func:`convergent.onnx.export`."""
        from ..onnx import export

        return export(self, path, input_shape, opset, **kw)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(seed={self.seed}){inner}"


def load(path: Any) -> Sequential:
    """Rebuilds a model written by :meth:`Sequential.save` (no pickle is involved)."""
    arrays, meta = read_npz(path)
    return model_from_meta(meta, arrays)


def model_from_meta(meta: Any, arrays: dict[str, np.ndarray]) -> Sequential:
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError("not a convergent model file")
    if meta.get("version") != _VERSION:
        raise ValueError(f"unsupported model file version {meta.get('version')!r}")
    model = Sequential(**meta["config"])
    model.load_state_dict(arrays)
    model.set_rng_state(meta["rng_state"])
    return model


def model_meta(model: Sequential) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "config": model.get_config(),
        "rng_state": model.get_rng_state(),
    }
