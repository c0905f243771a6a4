"""EarlyStopping and ReduceLROnPlateau on scripted metric sequences (Keras 3 rules)."""

from types import SimpleNamespace

import convergent as cg
import pytest
from _train_helpers import Linear
from convergent.callbacks import Callback, EarlyStopping, ReduceLROnPlateau


def _drive(cb, values, monitor="val_loss", lr=1.0):
    """Runs cb over a scripted metric sequence; the model's weights at epoch e are all e.
    Returns (epoch at which training stopped or None, model, optimizer)."""
    model = cg.nn.Sequential([Linear(2, 2)], seed=0)
    opt = SimpleNamespace(param_groups=[{"lr": lr}, {"lr": 2 * lr}])
    state = SimpleNamespace(model=model, optimizer=opt, stop_training=False, metrics=None)
    cb.set_state(state)
    cb.on_train_begin({})
    stopped = None
    for epoch, v in enumerate(values):
        for p in model.parameters():
            p.fill(epoch)
        cb.on_epoch_end(epoch, {monitor: v, "lr": opt.param_groups[0]["lr"]})
        if state.stop_training:
            stopped = epoch
            break
    cb.on_train_end({})
    return stopped, model, opt


def _weights_epoch(model):
    vals = {float(v) for p in model.parameters() for v in p.ravel()}
    assert len(vals) == 1
    return vals.pop()


def test_patience():
    assert _drive(EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.93, 0.91])[0] == 3
    assert _drive(EarlyStopping(patience=0), [1.0, 0.9, 0.8, 0.85])[0] == 3
    assert _drive(EarlyStopping(patience=5), [1.0, 0.9, 0.95, 0.93, 0.91])[0] is None


def test_min_delta_both_modes():
    # min: improvement needs current + min_delta < best
    assert _drive(EarlyStopping(min_delta=0.05, patience=1), [1.0, 0.96, 0.9])[0] == 1
    assert _drive(EarlyStopping(min_delta=-0.05, patience=1), [1.0, 0.94, 0.88])[0] is None
    # max (auto for accuracy): improvement needs current - min_delta > best
    es = EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    assert es.mode == "max"
    assert _drive(es, [0.5, 0.6, 0.64], monitor="val_accuracy")[0] == 2
    assert es.best == 0.6


def test_baseline_keeps_wait_running():
    # Improving but never beating the baseline: wait is not reset, training stops at the
    # first non-improving epoch once wait >= patience.
    values = [1.0, 0.9, 0.8, 0.85]
    assert _drive(EarlyStopping(patience=2, baseline=0.5), values)[0] == 3
    assert _drive(EarlyStopping(patience=2), values)[0] is None


def test_start_from_epoch():
    values = [5.0, 1.0, 2.0, 3.0]
    assert _drive(EarlyStopping(patience=0), values)[0] == 2
    es = EarlyStopping(patience=0, start_from_epoch=2)
    assert _drive(es, values)[0] == 3
    assert es.best == 2.0 and es.best_epoch == 2


def test_restore_best_weights():
    es = EarlyStopping(patience=2, restore_best_weights=True)
    stopped, model, _ = _drive(es, [3.0, 1.0, 2.0, 2.5, 0.1])
    assert stopped == 3 and es.best_epoch == 1 and es.stopped_epoch == 3
    assert _weights_epoch(model) == 1.0
    # restored at the end even when training ran to completion (Keras 3)
    stopped, model, _ = _drive(
        EarlyStopping(patience=9, restore_best_weights=True), [3.0, 1.0, 2.0]
    )
    assert stopped is None and _weights_epoch(model) == 1.0
    # without restoring, the last weights stay
    _, model, _ = _drive(EarlyStopping(patience=2), [3.0, 1.0, 2.0, 2.5])
    assert _weights_epoch(model) == 3.0
    # start_from_epoch: weights before that epoch are never kept
    _, model, _ = _drive(
        EarlyStopping(patience=9, restore_best_weights=True, start_from_epoch=2),
        [0.1, 0.2, 5.0, 4.0, 6.0],
    )
    assert _weights_epoch(model) == 3.0


def test_missing_monitor_is_an_error():
    with pytest.raises(ValueError, match="val_loss"):
        _drive(EarlyStopping(), [1.0], monitor="loss")
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_reduce_lr_cooldown_and_min_lr():
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2, min_delta=0.0)
    lrs = []
    model = cg.nn.Sequential([Linear(2, 2)], seed=0)
    opt = SimpleNamespace(param_groups=[{"lr": 1.0}, {"lr": 0.3}])
    cb.set_state(SimpleNamespace(model=model, optimizer=opt, stop_training=False, metrics=None))
    cb.on_train_begin({})
    for epoch in range(9):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
        lrs.append([g["lr"] for g in opt.param_groups])
    assert [a for a, _ in lrs] == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert [b for _, b in lrs] == [0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]


def test_reduce_lr_improvement_resets_wait_and_respects_min_delta():
    cb = ReduceLROnPlateau(factor=0.1, patience=2, min_delta=0.01)
    _, _, opt = _drive(cb, [1.0, 0.995, 0.98, 0.975, 0.972])
    # 0.995 is not below 1 - 0.01 (wait 1); 0.98 is (best=0.98, wait 0); 0.975 and 0.972 are
    # not below 0.97 (wait 2 -> reduce)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    cb = ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1, min_delta=0.0)
    _, _, opt = _drive(cb, [0.5, 0.6, 0.6], monitor="val_accuracy")
    assert opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)


def test_callback_base_stop_training_goes_through_fit_state():
    class Stopper(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.stop_training = True

    state = SimpleNamespace(model=None, optimizer=None, stop_training=False)
    cb = Stopper()
    cb.set_state(state)
    cb.on_epoch_end(0)
    assert not state.stop_training
    cb.on_epoch_end(1)
    assert state.stop_training and cb.stop_training
