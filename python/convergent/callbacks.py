"""Callbacks for :func:`convergent.fit`: early stopping, learning-rate reduction on plateaus,
checkpoints. The rules of EarlyStopping and ReduceLROnPlateau are those of Keras 3.

A callback sees the fit loop through ``self.model``, ``self.optimizer``, ``self.state`` (epoch,
global step, history so far, the fit configuration) and ``self.stop_training``: setting it to
True ends training after the current epoch. ``epoch`` arguments are absolute epoch indices
(they start at ``initial_epoch``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "OptunaPruning", "ReduceLROnPlateau"]


class Callback:
    """Base class: override any of the hooks. ``on_batch_end`` is only called for callbacks
    that override it (it costs a Python call per step)."""

    state: Any = None

    def set_state(self, state: Any) -> None:
        """Called by fit before training with its loop state."""
        self.state = state

    @property
    def model(self) -> Any:
        return self.state.model

    @property
    def optimizer(self) -> Any:
        return self.state.optimizer

    @property
    def stop_training(self) -> bool:
        return bool(self.state.stop_training)

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self.state.stop_training = bool(value)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        pass


def _mode(mode: str, monitor: str) -> str:
    """ "min" or "max"; "auto" maximizes accuracy-like metrics (names containing "acc" or "auc"
    after a "val_" prefix) and minimizes everything else (losses)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if ("acc" in name or "auc" in name) else "min"


def _monitor_value(cb: Any, logs: dict[str, Any] | None) -> float:
    logs = logs or {}
    if cb.monitor not in logs:
        raise ValueError(
            f"{type(cb).__name__} monitors {cb.monitor!r}, which fit does not "
            f"report; available: {sorted(logs)}"
        )
    return float(logs[cb.monitor])


def _check_monitor(cb: Any) -> None:
    metrics = getattr(cb.state, "metrics", None) if cb.state is not None else None
    if metrics is not None and cb.monitor not in metrics:
        raise ValueError(
            f"{type(cb).__name__} monitors {cb.monitor!r}, which fit does not "
            f"report; available: {sorted(metrics)} (val_* needs validation data)"
        )


def _nonneg_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"{name} must be an int >= 0, got {x!r}")
    return int(x)


def get_weights(model: Any) -> Any:
    """A copy of the model's parameters and buffers (``state_dict`` when the model has one)."""
    if hasattr(model, "state_dict"):
        return model.state_dict()
    return [p.copy() for p in model.parameters()]


def set_weights(model: Any, weights: Any) -> None:
    if hasattr(model, "load_state_dict"):
        model.load_state_dict(weights)
    else:
        for p, w in zip(model.parameters(), weights):
            np.copyto(p, w)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` stops improving (Keras 3 rule).

    ``min_delta`` is taken as ``abs(min_delta)``. In "min" mode a value is an improvement over a
    reference when ``current - (-min_delta) < reference`` i.e. ``current + min_delta <
    reference``; in "max" mode when ``current - min_delta > reference``. ``best`` starts at
    +inf ("min") / -inf ("max"). At the end of each epoch ``>= start_from_epoch``:

    1. if ``restore_best_weights`` and no weights were kept yet, keep the current ones;
    2. ``wait += 1``;
    3. on improvement over ``best``: ``best = current``, keep the weights (if restoring), and
       ``wait = 0`` unless a ``baseline`` is set and ``current`` is no improvement over it;
    4. otherwise, if ``wait >= patience`` and ``epoch > 0``: stop training.

    At the end of training the kept weights are restored when ``restore_best_weights`` (whether
    or not training stopped early). Attributes: ``best``, ``best_epoch``, ``wait``,
    ``stopped_epoch``. Unlike Keras, ``best`` is also reset when a new fit starts.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        self.monitor = str(monitor)
        if not math.isfinite(float(min_delta)):
            raise ValueError(f"min_delta must be finite, got {min_delta!r}")
        self.patience = _nonneg_int(patience, "patience")
        self.start_from_epoch = _nonneg_int(start_from_epoch, "start_from_epoch")
        self.mode = _mode(mode, self.monitor)
        self.min_delta = abs(float(min_delta)) * (-1.0 if self.mode == "min" else 1.0)
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights = None

    def _is_improvement(self, value: float, reference: float) -> bool:
        shifted = value - self.min_delta
        return shifted < reference if self.mode == "min" else shifted > reference

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        _check_monitor(self)
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = _monitor_value(self, logs)
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = get_weights(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = get_weights(self.model)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            set_weights(self.model, self.best_weights)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate of every param group by ``factor`` when ``monitor`` has not
    improved for ``patience`` epochs (Keras 3 rule). Improvement: ``current < best - min_delta``
    ("min") or ``current > best + min_delta`` ("max"). At each epoch end: if in cooldown,
    ``cooldown_counter -= 1`` and ``wait = 0``; then on improvement ``best = current, wait = 0``;
    otherwise, if not in cooldown, ``wait += 1`` and when ``wait >= patience`` each group with
    ``lr > min_lr`` gets ``lr = max(lr * factor, min_lr)``, then ``cooldown_counter = cooldown``
    and ``wait = 0``.

    A learning-rate schedule given to fit sets the lr before every step and would undo the
    reduction, so fit rejects the combination (ValueError): use one or the other.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        self.monitor = str(monitor)
        factor = float(factor)
        if not (0.0 <= factor < 1.0):
            raise ValueError(f"factor must be in [0, 1) (a reduction), got {factor}")
        self.factor = factor
        self.patience = _nonneg_int(patience, "patience")
        self.cooldown = _nonneg_int(cooldown, "cooldown")
        self.mode = _mode(mode, self.monitor)
        self.min_delta = float(min_delta)
        self.min_lr = float(min_lr)
        if not (math.isfinite(self.min_delta) and math.isfinite(self.min_lr) and self.min_lr >= 0):
            raise ValueError("min_delta must be finite and min_lr finite and >= 0")
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        _check_monitor(self)
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = _monitor_value(self, logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                reduced = False
                for group in self.optimizer.param_groups:
                    old = float(group["lr"])
                    if old > self.min_lr:
                        group["lr"] = max(old * self.factor, self.min_lr)
                        reduced = True
                if reduced:
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class ModelCheckpoint(Callback):
    """Saves a checkpoint at the end of each epoch (or only when ``monitor`` improves, with
    ``save_best_only``): the model (architecture, parameters, buffers, generator positions), the
    optimizer's state_dict, the next epoch and the fit configuration, in one portable .npz with
    JSON metadata (no pickle). ``path`` may contain ``{epoch}`` (1-based, Keras style) and any
    logged metric, e.g. ``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"``.

    To resume bit-exactly::

        ckpt = cg.train.load_checkpoint(path)
        history = cg.fit(ckpt.model, loss, ckpt.optimizer, X, y, epochs=total_epochs,
                         initial_epoch=ckpt.epoch, **same_fit_arguments)

    (same data, seed, batch size, shuffle, validation and schedule). Callback states
    (EarlyStopping's wait, ReduceLROnPlateau's counters) start afresh.
    """

    def __init__(
        self, path: Any, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto"
    ) -> None:
        self.path = os.fspath(path)
        self.monitor = str(monitor)
        self.save_best_only = bool(save_best_only)
        self.mode = _mode(mode, self.monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_path: str | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from .nn.sequential import Sequential

        if not isinstance(self.model, Sequential):
            raise TypeError("ModelCheckpoint needs a convergent.nn.Sequential model")
        if self.save_best_only:
            _check_monitor(self)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from .train import save_checkpoint

        logs = logs or {}
        if self.save_best_only:
            current = _monitor_value(self, logs)
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = current
        path = self.path.format(epoch=epoch + 1, **logs)
        save_checkpoint(path, self.model, self.optimizer, epoch + 1, self.state)
        self.last_path = path


class OptunaPruning(Callback):
    """Reports ``monitor`` to an Optuna trial at the end of every epoch
    (``trial.report(value, step=epoch)``) and stops pruned trials.

    When ``trial.should_prune()`` says so, training stops after that epoch (``stop_training``);
    then, at the end of the fit, ``optuna.TrialPruned`` is raised (``raise_pruned=True``, the
    default), so an objective is just ``cg.fit(...)`` followed by its score. Put this callback
    last in ``callbacks``: the ones after it do not get ``on_train_end`` once it raises. With
    ``raise_pruned=False`` the fit returns normally and the objective reads ``pruned`` (and
    ``pruned_epoch``) and raises ``optuna.TrialPruned`` itself. Needs optuna
    (``pip install 'convergent[tune]'``).
    """

    def __init__(self, trial: Any, monitor: str = "val_loss", raise_pruned: bool = True) -> None:
        try:
            import optuna
        except ImportError as e:
            raise ImportError("OptunaPruning needs optuna: pip install 'convergent[tune]'") from e
        if not callable(getattr(trial, "report", None)) or not callable(
            getattr(trial, "should_prune", None)
        ):
            raise TypeError(f"trial must be an optuna Trial, got {type(trial).__name__}")
        self._pruned_error = optuna.TrialPruned
        self.trial = trial
        self.monitor = str(monitor)
        self.raise_pruned = bool(raise_pruned)
        self.pruned = False
        self.pruned_epoch: int | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        _check_monitor(self)
        self.pruned, self.pruned_epoch = False, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.trial.report(_monitor_value(self, logs), step=epoch)
        if self.trial.should_prune():
            self.pruned, self.pruned_epoch = True, epoch
            self.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.pruned and self.raise_pruned:
            raise self._pruned_error(f"trial pruned at epoch {self.pruned_epoch}")
