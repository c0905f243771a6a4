"""The training loop: :func:`fit`, :class:`History`, and checkpoint files.

Determinism: the shuffling order of epoch ``e`` comes from ``numpy.random.default_rng([seed, e])``
alone, stochastic layers draw from the generators of ``Sequential(seed=...)``, and the kernels
give the same bits for any thread count. So one seed gives the same bits, and a run resumed from
a checkpoint at epoch ``k`` (``initial_epoch=k``) continues exactly as the uninterrupted run.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ._fused import FusedLoop, get_momentum, scheduled_momentum_key, set_momentum
from ._guard import _correct, _finite_and_clip
from ._progress import _Progress
from .callbacks import ReduceLROnPlateau
from .nn.lengths import check_lengths, forward_with_lengths, takes_tokens

__all__ = ["Checkpoint", "History", "fit", "load_checkpoint", "save_checkpoint"]


class History:
    """Per-epoch metrics of a fit: ``history`` maps each metric ("loss", "accuracy",
    "val_loss", "val_accuracy", "lr", "momentum" (with a schedule that drives momentum),
    "skipped_steps") to a list with one value per epoch, and ``epoch`` lists the epoch
    indices."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def _append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: Any) -> None:
        """Writes a PNG with the loss curves, and accuracy and learning-rate curves when
        recorded (matplotlib, Agg canvas; the global backend is left alone)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError(
                "History.plot needs matplotlib: pip install 'convergent[plot]'"
            ) from e
        h = self.history
        panels = [
            ("loss", ["loss", "val_loss"]),
            ("accuracy", ["accuracy", "val_accuracy"]),
            ("learning rate", ["lr"]),
            ("momentum", ["momentum"]),
        ]
        panels = [(t, [k for k in keys if k in h]) for t, keys in panels]
        panels = [(t, keys) for t, keys in panels if keys]
        if not panels:
            raise ValueError("nothing to plot: the history is empty")
        fig = Figure(figsize=(4.5 * len(panels), 3.6), tight_layout=True)
        FigureCanvasAgg(fig)
        epochs = [e + 1 for e in self.epoch]
        for i, (title, keys) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for k in keys:
                ax.plot(epochs, h[k], marker="o", markersize=3, label=k)
            ax.set_xlabel("epoch")
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.savefig(path, format="png", dpi=100)


@dataclass
class TrainState:
    """What callbacks see of a running fit."""

    model: Any
    optimizer: Any
    params: dict[str, Any]
    metrics: list[str]
    history: History
    stop_training: bool = False
    epoch: int = 0
    global_step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _positive_number(x: Any, name: str) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0 or None, got {x!r}")
    return float(x)


def _int(x: Any, name: str, lo: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {x!r}")
    return int(x)


def _data(X: Any, y: Any, dtype: np.dtype, name: str, tokens: bool = False) -> tuple[Any, Any]:
    if not isinstance(X, np.ndarray) or X.ndim < 1 or X.dtype.kind not in "biuf":
        raise TypeError(f"{name} inputs must be a numeric numpy.ndarray with a batch axis")
    y = np.asarray(y)
    if y.ndim < 1 or len(y) != len(X):
        raise ValueError(
            f"{name} targets have {len(y) if y.ndim else 0} rows; the inputs have {len(X)}"
        )
    # real-valued targets (regression, BCE) take the model's dtype once, not per batch
    y = np.ascontiguousarray(y, dtype=dtype if y.dtype.kind == "f" else None)
    if tokens and X.dtype.kind in "iu":  # integer tokens for an Embedding stay integers
        return np.ascontiguousarray(X), y
    return np.ascontiguousarray(X, dtype=dtype), y


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _evaluate(model, loss, X, y, batch_size, classify, lengths=None):
    total = correct = 0.0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        lb = None if lengths is None else lengths[start : start + batch_size]
        pred = forward_with_lengths(model, xb, False, lb)
        m = len(xb)
        total += (loss.forward(pred, yb) + model.penalty()) * m
        if classify:
            correct += _correct(loss, pred, yb, m)
    out = {"val_loss": total / len(X)}
    if classify:
        out["val_accuracy"] = correct / len(X)
    return out


class _EpochLoop:
    """The mini-batch loop of one epoch, with its reused batch buffers."""

    def __init__(self, model, loss, optimizer, X, y, batch_size, shuffle, seed, schedule,
                 clip_norm, clip_value, state, bar, callbacks, mkey,
                 lengths=None, dist=None) -> None:  # fmt: skip
        self.model, self.loss, self.optimizer, self.X, self.y = model, loss, optimizer, X, y
        self.lengths = lengths  # per-sample sequence lengths (int64), or None
        self.batch_size, self.shuffle, self.seed, self.schedule = (
            batch_size,
            shuffle,
            seed,
            schedule,
        )
        self.clip_norm, self.clip_value, self.state, self.bar = clip_norm, clip_value, state, bar
        self.momentum_key = mkey  # where the schedule's momentum goes, or None
        self.batch_cbs = [cb for cb in callbacks if _overrides_batch_end(cb)]
        self.classify = bool(getattr(loss, "is_classification", False))
        self.grads = model.gradients()
        self.skip_input_grad = _accepts(model.backward, "need_input_grad")
        rows = min(batch_size, len(X))
        self.xbuf = np.empty((rows,) + X.shape[1:], X.dtype)
        self.ybuf = np.empty((rows,) + y.shape[1:], y.dtype)
        # take_rows gathers the rows of X on the kernels' threads (C-contiguous numbers only)
        self.fast_take = X.flags.c_contiguous and X.flags.aligned and X.dtype.kind in "biufc"
        self.skipped = 0
        # Runs of steps in C++ (convergent/_fused.py) when nothing runs between the steps.
        self.fused = None
        self.dist = dist  # convergent.distributed.DataParallel: one shard of each batch
        # the C++ loop knows no lengths
        if not self.batch_cbs and lengths is None:
            self.fused = FusedLoop.plan(model, loss, optimizer, X, y, batch_size,
                                        clip_norm=clip_norm, clip_value=clip_value,
                                        dist=dist)  # fmt: skip

    def epoch(self, epoch: int, groups: list[dict[str, Any]]) -> dict[str, float]:
        n, bs, state = len(self.X), self.batch_size, self.state
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else None
        total = correct = 0.0
        self.skipped = 0
        batches = (n + bs - 1) // bs
        i = 0
        while i < batches:
            for b, batch_loss, c, applied in self._steps(i, batches, order, groups):
                m = min(bs, n - b * bs)
                total += batch_loss * m
                if self.classify:
                    correct += c
                self.skipped += not applied
                state.global_step += 1
                self.bar.batch(b, batch_loss)
                for cb in self.batch_cbs:
                    cb.on_batch_end(
                        state.global_step - 1, {"loss": batch_loss, "batch": b, "size": m}
                    )
                i = b + 1
        logs = {"loss": total / n}
        if self.classify:
            logs["accuracy"] = correct / n
        return logs

    def _steps(self, i: int, batches: int, order, groups) -> list[tuple[int, float, float, bool]]:
        """(batch, loss, correct rows, applied) of the steps from batch i: a run of the fused
        loop (up to the next progress-bar update), or else one step in Python."""
        if self.fused is not None:
            every = FusedLoop.MAX_STEPS if self.bar.bar is None else self.bar.every
            count = min(batches - i, every, FusedLoop.MAX_STEPS)
            out = self.fused.run(order, i, count, self.schedule, self.state.global_step)
            if out is not None:
                rows = zip(*(a.tolist() for a in out))
                return [(i + k, loss, float(c), ok) for k, (loss, c, ok) in enumerate(rows)]
        return [(i, *self._python_step(i, order, groups))]

    def _python_step(self, i: int, order, groups) -> tuple[float, float, bool]:
        """Batch i in Python: (loss, correct rows, whether the update was applied)."""
        model, loss, X, y, bs = self.model, self.loss, self.X, self.y, self.batch_size
        start = i * bs
        stop = min(start + bs, len(X))
        if self.dist is not None:  # this rank's rows of the global batch
            lo, hi = self.dist.shard(stop - start)
            start, stop = start + lo, start + hi
        m = stop - start
        lb = None
        if order is None:
            xb, yb = X[start:stop], y[start:stop]
            if self.lengths is not None:
                lb = self.lengths[start:stop]
        else:
            idx = order[start:stop]
            xb, yb = self.xbuf[:m], self.ybuf[:m]
            if self.fast_take:
                _core.take_rows(X, idx, xb)
            else:  # a permutation's entries are in range: "clip" skips the bounds pass
                X.take(idx, axis=0, out=xb, mode="clip")
            y.take(idx, axis=0, out=yb, mode="clip")
            if self.lengths is not None:
                lb = self.lengths[idx]
        pred = forward_with_lengths(model, xb, True, lb)
        batch_loss = loss.forward(pred, yb) + model.penalty()
        c = _correct(loss, pred, yb, m) if self.classify else 0.0
        dpred = loss.backward()
        if self.dist is not None:  # backward, reducing gradients, loss and correct count
            need_dx = not self.skip_input_grad
            batch_loss, c = self.dist.backward(model, dpred, need_dx, self.grads, batch_loss, c)
        elif self.skip_input_grad:
            model.backward(dpred, need_input_grad=False)
        else:
            model.backward(dpred)
        if self.schedule is not None:
            lr = float(self.schedule(self.state.global_step))
            key = self.momentum_key
            m = float(self.schedule.momentum(self.state.global_step)) if key else 0.0
            for g in groups:
                g["lr"] = lr
                if key:
                    set_momentum(g, key, m)
        applied = _finite_and_clip(self.grads, self.clip_norm, self.clip_value)
        if applied:
            self.optimizer.step(self.grads)
        return batch_loss, c, applied


def fit(
    model,
    loss,
    optimizer,
    X,
    y,
    epochs=10,
    batch_size=32,
    shuffle=True,
    seed=0,
    validation_data=None,
    validation_split=0.0,
    schedule=None,
    callbacks=(),
    clip_grad_norm=None,
    clip_grad_value=None,
    progress=True,
    initial_epoch=0,
    verbose=None,
    lengths=None,
    comm=None,
) -> History:
    """Trains ``model`` with mini-batches of ``batch_size`` (the last one partial) for epochs
    ``initial_epoch .. epochs - 1``; returns a :class:`History`.

    - ``X`` (and floating-point ``y``) are converted once to the dtype of the model's
      parameters; integer labels are used as given.
    - ``shuffle``: epoch ``e`` visits the rows in ``default_rng([seed, e]).permutation``.
    - ``validation_split``: the *last* fraction of the rows (before shuffling) is held out, as in
      Keras; ``validation_data=(Xv, yv)`` takes precedence. Validation runs in inference mode.
    - Metrics per epoch: ``loss`` (batch losses plus ``model.penalty()``, weighted by batch
      size), ``accuracy`` when ``loss.is_classification``, ``val_loss``/``val_accuracy`` with
      validation data, ``lr`` (param group 0 after the epoch's last step), ``skipped_steps``.
    - ``schedule(global_step)`` sets every param group's ``"lr"`` before each step; the global
      step counts batches from ``initial_epoch * steps_per_epoch``. Cannot be combined with
      ReduceLROnPlateau (the schedule would undo its reductions): ValueError. A schedule that
      drives momentum (``schedule.drives_momentum``, e.g. ``OneCycle``/``Cyclic`` with
      ``cycle_momentum``) also sets each group's momentum to ``schedule.momentum(global_step)``
      before each step, as torch's ``cycle_momentum``: ``betas[0]`` when the optimizer has
      betas (Adam, AdamW, ...), else ``"momentum"`` (SGD, RMSprop; SGD with ``momentum=0``
      then gets one); an optimizer with neither (Adagrad) is a ValueError. History then
      records ``"momentum"`` (param group 0 after the epoch's last step).
    - ``clip_grad_norm``: scale all gradients by ``min(1, max_norm / (norm + 1e-6))`` where
      ``norm`` is their global L2 norm, summed in float64 (torch ``clip_grad_norm_``);
      ``clip_grad_value``: clip each element to ``[-v, v]`` (applied after the norm clip when
      both are given).
    - Non-finite guard: when any gradient holds NaN or inf (or its norm/sum overflows), the step
      is skipped and the weights and optimizer state are untouched; the count goes to
      ``history["skipped_steps"]`` and a note is printed unless silent. No warning is raised.
    - ``progress``/``verbose``: verbose 0 silent, 1 a tqdm bar per epoch (a line per epoch
      without tqdm), 2 a line per epoch; ``verbose=None`` means 1 if ``progress`` else 0.
    - An optimizer with ``train()``/``eval()`` (ScheduleFreeAdamW) is put in train mode before
      each epoch's steps and in eval mode after them, so validation, epoch-end callbacks
      (checkpoints) and the parameters left at the end use its evaluation iterate.
    - A ``Sequential`` of ``Dense`` layers trained with ``SoftmaxCrossEntropy`` and SGD, Adam,
      AdamW, Adagrad or RMSprop, without batch-end callbacks, runs its steps in C++
      (up to 256 steps per call, or the steps between progress-bar updates;
      ``convergent/_fused.py``), with the same bits as the Python loop. A ``schedule`` is then
      called for a run's steps before the run starts (in step order, once per step).
    - ``lengths``: per-sample lengths of padded sequences ``X`` (batch, time, ...): an integer
      array (n,), each in ``[1, time]``, shuffled and sliced with the rows of ``X`` and passed
      to ``model.forward(xb, training, lengths=lb)`` (the model must accept lengths: a
      ``Sequential``; see ``convergent/nn/lengths.py``). ``validation_data`` is then
      ``(X_val, y_val, lengths_val)`` and ``validation_split`` splits the lengths too. A model
      starting with ``Embedding(mask_zero=True)`` derives its lengths from the zero padding and
      needs none. Training with lengths never takes the fused C++ loop.
    - ``comm``: an mpi4py communicator (``convergent.distributed.init()``): data-parallel
      training, every rank with the same data and arguments; see ``convergent.distributed``.
    """
    dist = None
    if comm is not None:  # agree across ranks before any check can fail on one rank only
        from .distributed import DataParallel

        dist = DataParallel(comm, model, X, y, validation_data, dict(
            epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed,
            validation_split=validation_split, clip_grad_norm=clip_grad_norm,
            clip_grad_value=clip_grad_value, initial_epoch=initial_epoch,
            optimizer=type(optimizer).__name__, loss=type(loss).__name__,
            schedule=type(schedule).__name__, callbacks=[type(c).__name__ for c in callbacks or ()],
        ))  # fmt: skip
    epochs = _int(epochs, "epochs", 0)
    batch_size = _int(batch_size, "batch_size", 1)
    initial_epoch = _int(initial_epoch, "initial_epoch", 0)
    seed = _int(seed, "seed", 0)
    clip_norm = _positive_number(clip_grad_norm, "clip_grad_norm")
    clip_value = _positive_number(clip_grad_value, "clip_grad_value")
    if not (isinstance(validation_split, (int, float)) and 0.0 <= validation_split < 1.0):
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if schedule is not None and not callable(schedule):
        raise TypeError("schedule must be callable: schedule(step) -> lr")
    callbacks = list(callbacks or ())
    if schedule is not None and any(isinstance(c, ReduceLROnPlateau) for c in callbacks):
        raise ValueError(
            "schedule and ReduceLROnPlateau both set the learning rate; the "
            "schedule would undo every reduction. Use one of them."
        )
    mkey = scheduled_momentum_key(schedule, optimizer)  # None: the schedule sets lr only
    if _accepts(optimizer.step, "closure"):
        raise TypeError(
            f"fit needs a gradient-step optimizer; {type(optimizer).__name__} "
            "takes a closure (call its step directly)"
        )
    if verbose is None:
        verbose = 1 if progress else 0
    params = model.parameters()
    dtype = params[0].dtype if params else np.dtype(np.float64)
    tokens = takes_tokens(model)
    X, y = _data(X, y, dtype, "training", tokens)
    lv = None
    if lengths is not None:
        lengths = check_lengths(lengths, len(X), X.shape[1] if X.ndim > 1 else None)
    if validation_data is not None:
        pair = 2 if lengths is None else 3
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != pair:
            raise TypeError(
                "validation_data must be a pair (X_val, y_val)"
                if pair == 2
                else "validation_data must be (X_val, y_val, lengths_val) with lengths"
            )
        Xv, yv = _data(validation_data[0], validation_data[1], dtype, "validation", tokens)
        if lengths is not None:
            time = Xv.shape[1] if Xv.ndim > 1 else None
            lv = check_lengths(validation_data[2], len(Xv), time, "validation lengths")
    elif validation_split > 0:
        split_at = int(math.floor(len(X) * (1.0 - validation_split)))
        if split_at == 0 or split_at == len(X):
            raise ValueError(
                f"validation_split={validation_split} leaves an empty training or "
                f"validation set for {len(X)} rows"
            )
        X, Xv, y, yv = X[:split_at], X[split_at:], y[:split_at], y[split_at:]
        if lengths is not None:
            lengths, lv = lengths[:split_at], lengths[split_at:]
    else:
        Xv = yv = None
    n = len(X)
    if n == 0:
        raise ValueError("the training set is empty")
    classify = bool(getattr(loss, "is_classification", False))
    steps = (n + batch_size - 1) // batch_size
    metrics = ["loss"] + (["accuracy"] if classify else [])
    if Xv is not None:
        metrics += ["val_loss"] + (["val_accuracy"] if classify else [])
    metrics += ["lr"] + (["momentum"] if mkey else []) + ["skipped_steps"]
    fit_params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "shuffle": bool(shuffle),
        "seed": seed,
        "steps_per_epoch": steps,
        "samples": n,
        "validation_split": float(validation_split),
    }
    if dist is not None:
        dist.start(model, optimizer, n, batch_size)
        callbacks = dist.callbacks(callbacks)
        verbose = verbose if dist.rank == 0 else 0
    history = History()
    history.params = dict(fit_params)
    state = TrainState(model, optimizer, fit_params, metrics, history)
    for cb in callbacks:
        cb.set_state(state)
    bar = _Progress(int(verbose), epochs, steps)
    state.global_step = initial_epoch * steps
    loop = _EpochLoop(model, loss, optimizer, X, y, batch_size, shuffle, seed, schedule,
                      clip_norm, clip_value, state, bar, callbacks, mkey,
                      lengths, dist)  # fmt: skip
    for cb in callbacks:
        cb.on_train_begin({})
    try:
        for epoch in range(initial_epoch, epochs):
            state.epoch = epoch
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            bar.begin(epoch)
            groups = getattr(optimizer, "param_groups", [])
            _set_mode(optimizer, "train")
            logs = loop.epoch(epoch, groups)
            _set_mode(optimizer, "eval")  # validation, callbacks (checkpoints) and the end see x
            if dist is not None:
                dist.sync_buffers(model)
            if Xv is not None:  # under comm: each rank its shard, the sums reduced
                evaluate = _evaluate if dist is None else dist.evaluator(_evaluate)
                logs.update(evaluate(model, loss, Xv, yv, max(batch_size, 256), classify, lv))
            if groups:
                logs["lr"] = float(groups[0]["lr"])
                if mkey:
                    logs["momentum"] = get_momentum(groups[0], mkey)
            logs["skipped_steps"] = loop.skipped
            history._append(epoch, logs)
            note = (
                f"Epoch {epoch + 1}: skipped {loop.skipped} step(s) with non-finite gradients"
                if loop.skipped
                else ""
            )
            bar.end(epoch, logs, note)
            for cb in callbacks:
                cb.on_epoch_end(epoch, dict(logs))
            if state.stop_training:
                break
    finally:
        bar.close()
        if dist is not None:
            dist.close(history)
    _set_mode(optimizer, "eval")
    for cb in callbacks:
        cb.on_train_end({})
    return history


def _set_mode(optimizer: Any, mode: str) -> None:
    """``optimizer.train()`` / ``optimizer.eval()`` for optimizers that have them (Schedule-Free:
    parameters hold y while stepping and the averaged x while evaluated or saved)."""
    fn = getattr(optimizer, mode, None)
    if callable(fn):
        fn()


def _overrides_batch_end(cb: Any) -> bool:
    from .callbacks import Callback

    return type(cb).on_batch_end is not Callback.on_batch_end
