"""cg.gradcheck: passes on every activation and loss, fails loudly on planted gradient bugs,
restores parameters and buffers bit-exactly, works on any object with the layer protocol."""

import convergent as cg
import numpy as np
import pytest
from convergent.nn import (
    BinaryCrossEntropy,
    Layer,
    LeakyReLU,
    MSELoss,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
)


class Linear(Layer):
    """y = x @ W + b with an optional L2 penalty 0.5 * l2 * |W|² (test helper, float64)."""

    def __init__(self, n_in, n_out, l2=0.0, seed=0, grad_factor=1.0, forget_penalty=False):
        super().__init__()
        rng = np.random.default_rng(seed)
        self._params["weight"] = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
        self._params["bias"] = 0.1 * rng.standard_normal(n_out)
        self._grads["weight"] = np.zeros((n_in, n_out))
        self._grads["bias"] = np.zeros(n_out)
        self.l2, self.grad_factor, self.forget_penalty = l2, grad_factor, forget_penalty

    def forward(self, x, training=False):
        self._x = x
        return x @ self._params["weight"] + self._params["bias"]

    def backward(self, dout):
        w = self._params["weight"]
        dw = self._x.T @ dout
        if not self.forget_penalty:
            dw += self.l2 * w
        self._grads["weight"][...] = dw * self.grad_factor
        self._grads["bias"][...] = dout.sum(axis=0)
        return dout @ w.T

    def penalty(self):
        return 0.5 * self.l2 * float(np.sum(self._params["weight"] ** 2))


class Chain:
    """A container with the Sequential protocol but no named_parameters/set_rng."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self):
        return [g for layer in self.layers for g in layer.gradients()]

    def penalty(self):
        return sum(layer.penalty() for layer in self.layers)


def _away_from_kinks(shape, seed=0):
    rng = np.random.default_rng(seed)
    return np.sign(rng.standard_normal(shape)) * (0.1 + np.abs(rng.standard_normal(shape)))


@pytest.mark.parametrize(
    "layer",
    [
        ReLU(),
        LeakyReLU(0.2),
        PReLU(1, dtype=np.float64),
        PReLU(4, init=0.1, dtype=np.float64),
        RReLU(),
        Sigmoid(),
        Tanh(),
        Softmax(),
    ],
    ids=repr,
)
def test_passes_on_activations(layer):
    X = _away_from_kinks((5, 4))
    y = np.random.default_rng(1).standard_normal((5, 4))
    report = cg.gradcheck(layer, MSELoss(), X, y)
    assert report.passed and bool(report)
    assert report["input"].checked == X.size
    if isinstance(layer, PReLU):
        assert report["weight"].checked == layer.num_parameters
        assert report["weight"].max_abs_err < 1e-8


def test_rrelu_training_mode_with_fixed_noise():
    X = _away_from_kinks((6, 3), seed=2)
    y = np.zeros((6, 3))
    report = cg.gradcheck(RReLU(0.1, 0.9), MSELoss(), X, y, training=True)
    assert report.passed


@pytest.mark.parametrize(
    "loss,target",
    [
        (MSELoss(), np.random.default_rng(0).standard_normal((4, 3))),
        (SoftmaxCrossEntropy(), np.array([0, 2, 1, 2])),
        (SoftmaxCrossEntropy(label_smoothing=0.3), np.array([0, 2, 1, 2])),
        (BinaryCrossEntropy(), np.random.default_rng(0).random((4, 3))),
    ],
    ids=["mse", "sce", "sce_smoothing", "bce"],
)
def test_passes_on_losses(loss, target):
    X = 2 * np.random.default_rng(3).standard_normal((4, 3))
    model = Chain([Linear(3, 3, seed=4)])
    report = cg.gradcheck(model, loss, X, target)
    assert report.passed
    assert [c.name for c in report.checks] == ["parameters()[0]", "parameters()[1]", "input"]


def test_container_with_penalty():
    model = Chain([Linear(4, 6, l2=0.3, seed=1), Tanh(), Linear(6, 3, l2=0.1, seed=2)])
    X = np.random.default_rng(0).standard_normal((7, 4))
    assert cg.gradcheck(model, SoftmaxCrossEntropy(), X, np.arange(7) % 3).passed
    # a penalty whose gradient backward forgets is caught on that weight only
    model.layers[2].forget_penalty = True
    report = cg.gradcheck(model, SoftmaxCrossEntropy(), X, np.arange(7) % 3,
                          raise_on_failure=False)  # fmt: skip
    assert [c.name for c in report.failures] == ["parameters()[2]"]


def test_fails_loudly_on_wrong_gradient():
    layer = Linear(3, 2, grad_factor=1.01)
    X = np.random.default_rng(0).standard_normal((5, 3))
    y = np.zeros((5, 2))
    with pytest.raises(cg.GradcheckError, match="weight") as info:
        cg.gradcheck(layer, MSELoss(), X, y)
    assert isinstance(info.value, AssertionError)
    assert "bias" not in str(info.value).split("\n")[0]
    report = info.value.report
    assert not report.passed
    assert not report["weight"].passed and report["bias"].passed and report["input"].passed
    assert report["weight"].max_rel_err == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert "FAIL" in str(report) and "weight" in str(report)
    assert "passed=False" in repr(report)
    quiet = cg.gradcheck(layer, MSELoss(), X, y, raise_on_failure=False)
    assert not quiet.passed and [c.name for c in quiet.failures] == ["weight"]


class WrongInputGrad(Layer):
    def forward(self, x, training=False):
        return x**2

    def backward(self, dout):
        return dout  # should be 2 x dout

    def get_config(self):
        return {}


def test_fails_on_wrong_input_gradient():
    X = np.random.default_rng(0).standard_normal((3, 2)) + 2.0
    with pytest.raises(cg.GradcheckError, match="input"):
        cg.gradcheck(WrongInputGrad(), MSELoss(), X, np.zeros((3, 2)))


def test_restores_parameters_bit_exactly():
    layer = Linear(3, 4, seed=5)
    # values of the order of eps do not survive w + eps - eps: only a write-back restores them
    small = 1.2573022109339328e-07
    assert (small + 1e-6) - 1e-6 != small
    layer._params["weight"][0, :] = small
    layer._params["bias"][:] = -1.321048632913019e-07
    before = [p.copy() for p in layer.parameters()]
    objs = layer.parameters()
    X = np.random.default_rng(0).standard_normal((4, 3))
    X0 = X.copy()
    cg.gradcheck(layer, MSELoss(), X, np.zeros((4, 4)))
    for p, b, o in zip(layer.parameters(), before, objs):
        assert p is o and p.tobytes() == b.tobytes()
    assert X.tobytes() == X0.tobytes()


class Explodes(MSELoss):
    def __init__(self, after):
        self.calls, self.after = 0, after

    def forward(self, pred, target):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("boom")
        return super().forward(pred, target)


def test_restores_parameters_when_interrupted():
    layer = Linear(3, 4, seed=6)
    before = [p.copy() for p in layer.parameters()]
    X = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.raises(RuntimeError, match="boom"):
        cg.gradcheck(layer, Explodes(after=4), X, np.zeros((2, 4)))  # dies mid-perturbation
    for p, b in zip(layer.parameters(), before):
        assert p.tobytes() == b.tobytes()


class RunningMean(Layer):
    """Identity that tracks a running mean of its input in training mode (a buffer)."""

    def __init__(self):
        super().__init__()
        self._buffers["mean"] = np.zeros(3)

    def forward(self, x, training=False):
        if training:
            self._buffers["mean"] *= 0.9
            self._buffers["mean"] += 0.1 * x.mean(axis=0)
        return x.copy()

    def backward(self, dout):
        return dout

    def get_config(self):
        return {}


def test_restores_buffers():
    layer = RunningMean()
    layer._buffers["mean"][...] = [1.0, 2.0, 3.0]
    X = np.random.default_rng(0).standard_normal((4, 3))
    assert cg.gradcheck(layer, MSELoss(), X, np.zeros((4, 3)), training=True).passed
    assert np.array_equal(layer.buffers()["mean"], [1.0, 2.0, 3.0])


def test_subset_of_big_tensors_is_seeded():
    layer = Linear(30, 20, seed=7)
    X = np.random.default_rng(0).standard_normal((3, 30))
    a = cg.gradcheck(layer, MSELoss(), X, np.zeros((3, 20)), max_checks=25)
    assert a["weight"].checked == 25 and a["bias"].checked == 20 and a["input"].checked == 25
    b = cg.gradcheck(layer, MSELoss(), X, np.zeros((3, 20)), max_checks=25)
    assert a["weight"].worst_index == b["weight"].worst_index
    assert cg.gradcheck(layer, MSELoss(), X, np.zeros((3, 20)), check_input=False).checks[-1].name


def test_requires_float64():
    X = np.zeros((2, 3))
    with pytest.raises(TypeError, match="float64.*dtype=np.float64"):
        cg.gradcheck(PReLU(3), MSELoss(), X, X)
    with pytest.raises(TypeError, match="float64 input"):
        cg.gradcheck(ReLU(), MSELoss(), X.astype(np.float32), X)
    with pytest.raises(ValueError, match="eps"):
        cg.gradcheck(ReLU(), MSELoss(), X, X, eps=0.0)
    with pytest.raises(ValueError, match="max_checks"):
        cg.gradcheck(ReLU(), MSELoss(), X, X, max_checks=0)
    with pytest.raises(TypeError, match="set_rng"):
        cg.gradcheck(Chain([ReLU()]), MSELoss(), X, X, training=True)
