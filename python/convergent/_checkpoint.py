"""Checkpoint files of a fit: model, optimizer state, epoch and fit state in one portable .npz
with JSON metadata (no pickle). ``convergent.train`` re-exports these functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ._npz import pack, read_npz, unpack, write_npz
from .nn.sequential import Sequential, model_from_meta, model_meta

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

_CKPT_FORMAT = "convergent.checkpoint"


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns. ``optimizer`` is rebuilt (same class from
    convergent.optim, same param groups, state loaded) when possible, else None;
    ``optimizer_state`` is the raw state_dict; ``epoch`` is the next epoch to run (pass it as
    ``initial_epoch``); ``fit_state`` holds the fit configuration and the history so far."""

    model: Sequential
    optimizer: Any
    optimizer_state: dict[str, Any]
    epoch: int
    fit_state: dict[str, Any]


def save_checkpoint(path: Any, model: Any, optimizer: Any, epoch: int, state: Any = None) -> None:
    """Writes model, optimizer state_dict, ``epoch`` (the next one to run) and, when given, the
    fit state (configuration, global step, history) to one .npz (no pickle)."""
    if not isinstance(model, Sequential):
        raise TypeError("checkpoints need a convergent.nn.Sequential model")
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_state = pack(optimizer.state_dict(), arrays, prefix="optim/")
    fit_state: dict[str, Any] = {}
    if state is not None:
        fit_state = {
            "params": dict(state.params),
            "global_step": int(state.global_step),
            "history": state.history.history,
            "history_epochs": state.history.epoch,
        }
    meta = {
        "format": _CKPT_FORMAT,
        "version": 1,
        "model": model_meta(model),
        "optimizer": {"type": type(optimizer).__name__, "state": opt_state},
        "epoch": int(epoch),
        "fit": fit_state,
    }
    write_npz(path, arrays, meta)


def load_checkpoint(path: Any) -> Checkpoint:
    """Reads a checkpoint written by :class:`~convergent.callbacks.ModelCheckpoint` or
    :func:`save_checkpoint`. Resume with ``fit(ckpt.model, loss, ckpt.optimizer, X, y,
    epochs=..., initial_epoch=ckpt.epoch, ...)`` and the same data and fit arguments."""
    arrays, meta = read_npz(path)
    if not isinstance(meta, dict) or meta.get("format") != _CKPT_FORMAT:
        raise ValueError(f"{path!r} is not a convergent checkpoint")
    model = model_from_meta(
        meta["model"], {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    )
    opt_state = unpack(meta["optimizer"]["state"], arrays)
    optimizer = _rebuild_optimizer(meta["optimizer"]["type"], model, opt_state)
    return Checkpoint(model, optimizer, opt_state, int(meta["epoch"]), meta.get("fit", {}))


def _rebuild_optimizer(name: str, model: Sequential, state: dict[str, Any]) -> Any:
    from . import optim

    cls = getattr(optim, name, None)
    if not isinstance(cls, type) or not issubclass(cls, optim.Optimizer):
        return None
    params = model.parameters()
    groups: Sequence[dict[str, Any]] = state["param_groups"]
    opt = cls([{"params": [params[i] for i in g["params"]]} for g in groups])
    opt.load_state_dict(state)
    return opt
