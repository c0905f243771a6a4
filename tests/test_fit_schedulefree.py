"""cg.fit with an optimizer that has train()/eval() (ScheduleFreeAdamW): steps run on y, and
validation, epoch-end callbacks (checkpoints) and the parameters left at the end see x."""

from __future__ import annotations

import convergent as cg
from _optim_harness import assert_bits_equal
from _train_helpers import Linear, SoftmaxCE, Tanh, blobs
from convergent.callbacks import Callback, ModelCheckpoint


def _model():
    return cg.nn.Sequential([Linear(4, 16), Tanh(), Linear(16, 3)], seed=0)


def _opt(model):
    return cg.optim.ScheduleFreeAdamW(model.parameters(), lr=0.02, warmup_steps=5,
                                      weight_decay=1e-3)  # fmt: skip


class _Probe(Callback):
    """At each epoch end: the optimizer's mode, and the validation loss at the current
    parameters and at y (computed from the state, without switching)."""

    def __init__(self, model, opt, Xv, yv):
        super().__init__()
        self.net, self.opt, self.Xv, self.yv, self.rows = model, opt, Xv, yv, []

    def _val_loss(self):
        return SoftmaxCE().forward(self.net.forward(self.Xv, False), self.yv)

    def on_epoch_end(self, epoch, logs=None):
        params = self.net.parameters()
        here = self._val_loss()
        beta1 = self.opt.param_groups[0]["betas"][0]
        saved = [p.copy() for p in params]
        for i, p in enumerate(params):  # y = x + (1 - beta1) (z - x)
            p[...] = p + (self.opt.state[i]["z"] - p) * (1.0 - beta1)
        at_y = self._val_loss()
        for p, s in zip(params, saved):
            p[...] = s
        self.rows.append((self.opt.param_groups[0]["train_mode"], logs["val_loss"], here, at_y))


def test_fit_validates_and_ends_on_x():
    X, y = blobs(seed=1)
    Xv, yv = blobs(n=90, seed=2)
    model, ref_model = _model(), _model()
    opt, ref_opt = _opt(model), _opt(ref_model)
    probe = _Probe(model, opt, Xv, yv)
    h = cg.fit(model, SoftmaxCE(), opt, X, y, epochs=3, batch_size=32, shuffle=False,
               validation_data=(Xv, yv), callbacks=[probe], progress=False)  # fmt: skip
    assert h.history["val_loss"][-1] < h.history["val_loss"][0]
    for train_mode, logged, here, at_y in probe.rows:
        assert train_mode is False
        assert logged == here  # validation ran on the parameters the callback sees: x
        assert at_y != here  # and x is not y
    assert opt.param_groups[0]["train_mode"] is False

    # The same steps by hand (train mode, batches in order), eval() after each epoch: same bits.
    loss = SoftmaxCE()
    for epoch in range(3):
        if epoch:
            ref_opt.train()
        for s in range(0, len(X), 32):
            pred = ref_model.forward(X[s : s + 32], True)
            loss.forward(pred, y[s : s + 32])
            ref_model.backward(loss.backward())
            ref_opt.step(ref_model.gradients())
        ref_opt.eval()
    for i, (p, q) in enumerate(zip(model.parameters(), ref_model.parameters())):
        assert_bits_equal(p, q, f"param {i}")


def test_fit_checkpoint_resume_is_bit_exact(tmp_path):
    X, y = blobs(seed=3)
    common = dict(batch_size=32, seed=4, validation_split=0.2, progress=False)
    full = _model()
    hfull = cg.fit(full, SoftmaxCE(), _opt(full), X, y, epochs=4, **common)
    part = _model()
    cg.fit(part, SoftmaxCE(), _opt(part), X, y, epochs=2,
           callbacks=[ModelCheckpoint(tmp_path / "c-{epoch}.npz")], **common)  # fmt: skip
    ckpt = cg.train.load_checkpoint(tmp_path / "c-2.npz")
    assert isinstance(ckpt.optimizer, cg.optim.ScheduleFreeAdamW)
    assert ckpt.optimizer.param_groups[0]["train_mode"] is False  # saved in eval mode, on x
    for p, q in zip(ckpt.model.parameters(), part.parameters()):
        assert_bits_equal(p, q, "checkpointed params")
    hres = cg.fit(ckpt.model, SoftmaxCE(), ckpt.optimizer, X, y, epochs=4, initial_epoch=2,
                  **common)  # fmt: skip
    for p, q in zip(ckpt.model.parameters(), full.parameters()):
        assert_bits_equal(p, q, "resumed params")
    for k, v in hres.history.items():
        assert v == hfull.history[k][2:], k
