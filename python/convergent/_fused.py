"""The fused training loop: many mini-batch steps in one call to ``_core.train_steps``.

A training step of a stack of Dense layers is a dozen kernel calls. Between them the Python loop
costs about 0.1 ms per step, and more once the kernels have pushed the interpreter's objects
out of the caches. When the model, loss and optimizer are ones the C++ loop knows (a
``Sequential`` of ``Dense`` layers only, ``SoftmaxCrossEntropy``, and one of ``SGD``, ``Adam``,
``AdamW``, ``Adagrad``, ``RMSprop``, ``NAdam``, ``RAdam``, ``Adamax``, ``Adadelta``, ``ASGD``,
``Rprop``, ``Lion`` or ``ScheduleFreeAdamW`` (in train mode) with one param group holding the
model's parameters in order), :func:`convergent.fit` and the scikit-learn estimators hand whole
runs of steps to it. It calls the same drivers with the same arguments in the same order as the
Python loop, so both give the same bits (tested). A schedule's learning rates (and, when it
drives momentum, its momentums or beta1s) are computed for a run's steps before it starts and
passed per step. The scalars some optimizers keep per parameter besides their buffers (NAdam's
``mu_product``, ASGD's ``eta`` and ``mu``, Schedule-Free's ``lr_max`` and ``weight_sum``) go
to the call in one float64 array, which it advances, and come back to the state as floats.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from .nn.dense import Dense
from .nn.losses import SoftmaxCrossEntropy
from .nn.sequential import Sequential
from .optim.adadelta import Adadelta
from .optim.adagrad import Adagrad
from .optim.adam import Adam, AdamW
from .optim.adamax import Adamax
from .optim.asgd import ASGD
from .optim.lion import Lion
from .optim.nadam import NAdam
from .optim.radam import RAdam
from .optim.rmsprop import RMSprop
from .optim.rprop import Rprop
from .optim.schedulefree import ScheduleFreeAdamW
from .optim.sgd import SGD

_OPTIMIZERS = (SGD, Adam, AdamW, Adagrad, RMSprop, NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop,
               Lion, ScheduleFreeAdamW)  # fmt: skip

#: The per-parameter scalars of a kernel kind, in the rows of train_steps' ``scalars``.
_SCALARS = {
    "nadam": ("mu_product",),
    "asgd": ("eta", "mu"),
    "schedulefree": ("lr_max", "weight_sum"),
}


class FusedLoop:
    """The model's layers, the buffers of ``batch`` rows, and the optimizer of a fused run."""

    #: Steps per call at most: the GIL is released during a call, and Ctrl-C (like any Python
    #: code) waits for the call to return.
    MAX_STEPS = 256

    def __init__(self, model, loss, optimizer, X, y, batch: int, guard: bool, after_backward: bool,
                 clip_norm=None, clip_value=None, dist=None):  # fmt: skip
        self.layers: list[Dense] = list(model.layers)
        self.loss, self.optimizer, self.X, self.y = loss, optimizer, X, y
        self.batch, self.guard, self.after_backward = batch, guard, after_backward
        self.clip_norm, self.clip_value = clip_norm or 0.0, clip_value or 0.0
        # convergent.distributed.DataParallel (fit's comm): the steps' reductions, or None
        self.dist = dist
        dt = X.dtype
        first = self.layers[0]
        # Two batches: the C++ loop gathers the next batch while the last layer of a step runs.
        self.xbuf = np.empty((2 * batch, first.in_features), dt)
        self.ybuf = np.empty(2 * batch, np.int64)
        self.dlogits = np.empty((batch, self.layers[-1].out_features), dt)
        self.bufs = [
            (
                np.empty((batch, d.out_features), dt),  # y
                np.empty((batch, d.out_features), dt),  # dyp
                np.empty((batch, d.in_features), dt) if i else None,  # dx
            )
            for i, d in enumerate(self.layers)
        ]

    @classmethod
    def plan(cls, model, loss, optimizer, X, y, batch, guard=True, after_backward=False,
             clip_norm=None, clip_value=None, dist=None):  # fmt: skip
        """A FusedLoop when the C++ loop applies to this training, else None. With ``dist``
        (a started ``convergent.distributed.DataParallel``), each step runs on this rank's rows
        of the global batch and reduces its gradients, loss and correct count through ``dist``
        as the Python loop does (``dist.fused_comm``), with the same bits."""
        if dist is not None and after_backward:
            return None
        if (
            type(model) is not Sequential
            or not model.layers
            or type(loss) is not SoftmaxCrossEntropy
            or loss.ignore_index is not None  # the C++ loop has no ignored labels
        ):
            return None
        if not all(type(layer) is Dense for layer in model.layers):
            return None
        if type(optimizer) not in _OPTIMIZERS:
            return None
        dt = model.layers[0].dtype
        if not (
            isinstance(X, np.ndarray) and X.dtype == dt and X.ndim == 2 and X.flags.c_contiguous
        ):
            return None
        if any(layer.dtype != dt for layer in model.layers):
            return None
        if X.shape[1] != model.layers[0].in_features or len(X) == 0:
            return None
        if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"):
            return None
        if len(y) != len(X) or y.min() < 0 or y.max() >= model.layers[-1].out_features:
            return None  # the Python loop raises the loss's error at the batch that has it
        y = np.ascontiguousarray(y, dtype=np.int64)
        return cls(model, loss, optimizer, X, y, min(batch, len(X)), guard, after_backward,
                   clip_norm, clip_value, dist)  # fmt: skip

    def run(
        self,
        order: np.ndarray | None,
        first: int,
        count: int,
        schedule=None,
        step: int = 0,
        epss: np.ndarray | None = None,
    ) -> Any:
        """Steps ``first .. first + count - 1`` of the epoch: (losses, correct, applied) arrays,
        or None (nothing done) while a parameter has no optimizer state yet (the Python loop
        takes that first step) or the optimizer's one param group is not exactly the layers'
        own arrays, in order. With a ``schedule``, step k of the run has the learning rate
        ``schedule(step + k)`` (called for the run's steps before it starts), and the group's
        ``"lr"`` is the last one after; a schedule that drives momentum sets the group's
        momentum (or beta1) the same way. The run stops before a step whose value the Python
        loop would reject (or whose call raises), so that step raises there; and before a step
        where an SGD or RMSprop momentum turns to or from 0 (the momentum buffers come and go
        with it). Also None for a Schedule-Free optimizer in eval mode (its step raises) and
        while a state lacks a per-parameter scalar or holds one that is not a real number (the
        Python step sets or rejects it). ``epss`` (float64, one per step, or None): Adam's
        epsilon of each step (the estimators' sklearn Adam); the group's ``"eps"`` is the last
        one used after."""
        opt = self.optimizer
        if len(opt.param_groups) != 1:
            return None
        group = opt.param_groups[0]
        if not group.get("train_mode", True):
            return None  # Schedule-Free in eval mode: the Python step raises
        mine = [p for d in self.layers for p in d.parameters()]
        if len(group["params"]) != len(mine) or any(
            a is not b for a, b in zip(group["params"], mine)
        ):
            return None
        lrs = moms = key = None
        if schedule is not None:
            if getattr(schedule, "drives_momentum", False):
                key = momentum_key(opt)
                if key is None:
                    return None  # fit refuses this optimizer before training
                lrs, moms = _scheduled_with_momentum(schedule, step, count, opt, group, key)
            else:
                lrs = _scheduled_lrs(schedule, step, count)
            count = len(lrs)
            if count == 0:
                return None
            if moms is not None:  # the Python loop sets the same value before this step
                set_momentum(group, key, float(moms[0]))
        opt._validate_changed(group)
        states = opt._steady_states(group)
        if states is None:
            return None
        if epss is not None:
            epss = np.ascontiguousarray(epss[:count], np.float64)
        kind, hyper, names = opt._kernel_args(group)
        keys = _SCALARS.get(kind, ())
        if not all(_real(st.get(k)) for st in states for k in keys):
            return None  # the Python step sets a missing one, or raises on one that is no number
        scalars = np.array([[st[k] for st in states] for k in keys], np.float64) if keys else None
        bufs = opt._buffer_lists(states, names)
        steps = opt._steps_so_far(states)
        layers = [
            (
                d.weight,
                d.bias,
                d.activation,
                d.negative_slope,
                d.activity_l1,
                d.activity_l2,
                d.weight_l1,
                d.weight_l2,
                yb,
                dyp,
                dx,
                d.gradients()[0],
                d.gradients()[1] if d.use_bias else None,
            )  # fmt: skip
            for d, (yb, dyp, dx) in zip(self.layers, self.bufs)
        ]
        losses, correct, applied, penalties = _core.train_steps(
            self.X, self.y, order, self.batch, self.xbuf, self.ybuf, self.dlogits, layers,
            self.loss.label_smoothing, self.guard, self.after_backward, kind, hyper, bufs, steps,
            first, count, lrs, self.clip_norm, self.clip_value, epss=epss, momentums=moms,
            scalars=scalars, comm=None if self.dist is None else self.dist.fused_comm(),
        )  # fmt: skip
        ran = len(losses)  # count, or fewer when a reduction failed (raised below)
        done = int(applied.sum())
        if opt._counts_steps:
            for st, s in zip(states, steps):
                st["step"] = s + done
        if done and keys:
            for k, row in zip(keys, scalars.tolist()):
                for st, v in zip(states, row):
                    st[k] = v
        for d, p in zip(self.layers, penalties):
            d.backward_weight_penalty = p
        if ran:
            if lrs is not None:
                group["lr"] = float(lrs[ran - 1])
            if epss is not None:
                group["eps"] = float(epss[ran - 1])
            if moms is not None:
                set_momentum(group, key, float(moms[ran - 1]))
        if self.dist is not None:
            self.dist.raise_failure()
        return losses, correct, applied


def _real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _scheduled_lrs(schedule, step: int, count: int) -> np.ndarray:
    """schedule(step), schedule(step + 1), ... for up to count steps: float64, ending before the
    first value that is not a finite number >= 0 or whose call raises."""
    values = []
    for k in range(count):
        try:
            lr = float(schedule(step + k))
        except Exception:  # the Python step calls it again and raises there
            break
        if not (math.isfinite(lr) and lr >= 0.0):
            break
        values.append(lr)
    return np.array(values, np.float64)


def momentum_key(optimizer) -> str | None:
    """Where a schedule's momentum goes in the optimizer's param groups, as torch decides it
    (``cycle_momentum``): "betas" (its first item) when the optimizer has betas, else
    "momentum" when it has a momentum, else None."""
    defaults = getattr(optimizer, "defaults", {})
    if "betas" in defaults:
        return "betas"
    return "momentum" if "momentum" in defaults else None


def scheduled_momentum_key(schedule, optimizer) -> str | None:
    """momentum_key(optimizer) when the schedule drives momentum, else None; a ValueError (as
    torch's) when it does and the optimizer has neither momentum nor betas."""
    if schedule is None or not getattr(schedule, "drives_momentum", False):
        return None
    key = momentum_key(optimizer)
    if key is None:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled: "
            f"{type(schedule).__name__} drives momentum, {type(optimizer).__name__} has "
            "neither momentum nor betas (use cycle_momentum=False)"
        )
    return key


def set_momentum(group: dict[str, Any], key: str, value: float) -> None:
    """Sets the group's momentum (key "momentum") or beta1 (key "betas"), as torch does."""
    if key == "betas":
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def get_momentum(group: dict[str, Any], key: str) -> float:
    return float(group["betas"][0] if key == "betas" else group["momentum"])


def _scheduled_with_momentum(schedule, step, count, opt, group, key):
    """The learning rates and momentums of up to count steps from step (float64 arrays), ending
    before a step whose values the optimizer rejects or whose calls raise, and before an SGD or
    RMSprop momentum turns to or from 0 (the fused call keeps one set of state buffers)."""
    lrs, moms = [], []
    for k in range(count):
        try:
            lr = float(schedule(step + k))
            m = float(schedule.momentum(step + k))
            trial = dict(group, lr=lr)
            set_momentum(trial, key, m)
            opt._validate(trial)
        except Exception:  # the Python step calls it again and raises there
            break
        if not (math.isfinite(lr) and lr >= 0.0 and math.isfinite(m)):
            break
        if key == "momentum" and moms and (m == 0.0) != (moms[0] == 0.0):
            break
        lrs.append(lr)
        moms.append(m)
    return np.array(lrs, np.float64), np.array(moms, np.float64)
