"""Small NumPy layers and losses for the training-loop tests (independent of Dense and of the
package's losses), and a central-difference gradient check."""

from __future__ import annotations

import convergent as cg
import numpy as np


class Linear(cg.nn.Layer):
    """y = x @ W + b, with an optional L2 penalty l2 * sum(W^2) whose gradient backward adds."""

    def __init__(self, n_in, n_out, l2=0.0, dtype="float64"):
        super().__init__()
        self.n_in, self.n_out, self.l2, self.dtype = n_in, n_out, l2, np.dtype(dtype)
        self._params = {
            "weight": np.zeros((n_in, n_out), self.dtype),
            "bias": np.zeros(n_out, self.dtype),
        }
        self._grads = {k: np.zeros_like(v) for k, v in self._params.items()}
        self.reset_parameters(np.random.default_rng(123))

    def reset_parameters(self, rng):
        bound = 1.0 / np.sqrt(self.n_in)
        self._params["weight"][...] = rng.uniform(-bound, bound, (self.n_in, self.n_out))
        self._params["bias"][...] = rng.uniform(-bound, bound, self.n_out)

    def forward(self, x, training=False):
        self._x = x
        return x @ self._params["weight"] + self._params["bias"]

    def backward(self, dout, need_input_grad=True):
        w = self._params["weight"]
        np.matmul(self._x.T, dout, out=self._grads["weight"])
        if self.l2:
            self._grads["weight"] += (2 * self.l2) * w
        np.sum(dout, axis=0, out=self._grads["bias"])
        self.need_input_grad_seen = need_input_grad
        return dout @ w.T if need_input_grad else None

    def penalty(self):
        return float(self.l2 * np.sum(self._params["weight"] ** 2)) if self.l2 else 0.0

    def get_config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "l2": self.l2, "dtype": self.dtype.name}


class Tanh(cg.nn.Layer):
    def forward(self, x, training=False):
        self._y = np.tanh(x)
        return self._y

    def backward(self, dout):
        return dout * (1 - self._y**2)

    def get_config(self):
        return {}


class SoftmaxCE:
    """Mean softmax cross-entropy on integer labels, with accuracy."""

    is_classification = True

    def forward(self, pred, target):
        z = pred - pred.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        self._p, self._t = p, np.asarray(target)
        return float(-np.mean(np.log(p[np.arange(len(p)), self._t])))

    def backward(self):
        d = self._p.copy()
        d[np.arange(len(d)), self._t] -= 1
        return d / len(d)

    def accuracy(self, pred, target):
        return float(np.mean(pred.argmax(axis=1) == target))


class MSE:
    is_classification = False

    def forward(self, pred, target):
        self._d = pred - target
        return float(np.mean(self._d**2))

    def backward(self):
        return 2 * self._d / self._d.size


for _cls in (Linear, Tanh):
    cg.nn.register_layer(_cls, name="test_" + _cls.__name__)


def blobs(n=300, d=4, k=3, seed=0, dtype=np.float64):
    """A separable classification problem."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    X = centers[y] + rng.normal(0, 1, (n, d))
    return X.astype(dtype), y.astype(np.int64)


def numeric_grads(f, arrays, eps=1e-6):
    """Central differences of the scalar f() with respect to each array (modified in place and
    restored)."""
    out = []
    for a in arrays:
        g = np.zeros_like(a, dtype=np.float64)
        flat, gf = a.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            gf[i] = (up - down) / (2 * eps)
        out.append(g)
    return out
