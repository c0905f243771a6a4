"""scikit-learn's own numerics for the MLP estimators: its weight initialization, its Adam (the
per-step epsilon that turns convergent's Adam kernel into sklearn's update), its SGD under a
changing learning rate, and its L-BFGS (scipy's L-BFGS-B on the packed parameters).

Each follows scikit-learn 1.9.1's ``sklearn/neural_network/_multilayer_perceptron.py`` and
``_stochastic_optimizers.py`` draw for draw and formula for formula; the loss and gradients come
from convergent's layers (see ``_base.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.optimize
from sklearn.utils.optimize import _check_optimize_result

try:  # sklearn passes iprint only to scipy < 1.15 (deprecated there)
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:  # pragma: no cover - older/newer sklearn without the helper

    def _get_additional_lbfgs_options_dict(key: str, value: Any) -> dict[str, Any]:
        return {}


def sklearn_init(dense: list[Any], activation: str, rs: np.random.RandomState) -> None:
    """sklearn's ``_init_coef`` for each Dense layer in order: the weights, then the biases, from
    ``rs.uniform(-b, b)`` with ``b = sqrt(f / (fan_in + fan_out))``, f = 2 for the logistic
    activation and 6 otherwise (Glorot & Bengio 2010), drawn in float64 and cast to the layer's
    dtype. A layer without bias still consumes its draws, so the stream stays sklearn's."""
    factor = 2.0 if activation == "logistic" else 6.0
    for d in dense:
        fan_in, fan_out = d.in_features, d.out_features
        bound = np.sqrt(factor / (fan_in + fan_out))
        w = rs.uniform(-bound, bound, (fan_in, fan_out))
        b = rs.uniform(-bound, bound, fan_out)
        np.copyto(d.weight, w, casting="unsafe")
        if d.bias is not None:
            np.copyto(d.bias, b, casting="unsafe")


def adam_eps(eps: float, beta2: float, t: int) -> float:
    """The epsilon that makes convergent's (torch's) Adam step of step ``t`` sklearn's.

    torch: ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps_t)``;
    sklearn: ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    They are the same function when ``eps_t = eps / sqrt(1 - b2^t)``."""
    return eps / math.sqrt(1.0 - beta2**t)


def adam_epss(eps: float, beta2: float, t0: int, count: int) -> np.ndarray:
    """``adam_eps`` of steps t0 + 1 .. t0 + count (float64), the fused loop's ``epss``."""
    return np.array([adam_eps(eps, beta2, t0 + k + 1) for k in range(count)], np.float64)


def rescale_momentum(opt: Any, old_lr: float, new_lr: float) -> None:
    """Keeps torch's SGD momentum equal to sklearn's when the learning rate changes.

    sklearn keeps the velocity ``v = m v - lr g`` (the step is ``v``, or ``m v - lr g`` with
    Nesterov); torch keeps ``b = m b + g`` and steps ``-lr b`` (``-lr (g + m b)``). With a constant
    rate ``v = -lr b``; when the rate changes from ``old`` to ``new`` the buffer is scaled by
    ``old / new`` so that ``v = -new b`` still holds and the next steps are sklearn's."""
    if old_lr == new_lr or new_lr == 0.0:
        return
    ratio = old_lr / new_lr
    for st in opt.state.values():
        buf = st.get("momentum_buffer")
        if isinstance(buf, np.ndarray):
            buf *= buf.dtype.type(ratio)


def fit_lbfgs(est: Any, X: np.ndarray, Y: np.ndarray) -> None:
    """sklearn's ``_fit_lbfgs``: scipy's L-BFGS-B on all coefs then all intercepts, raveled into
    one float64 vector; options maxfun=max_fun, maxiter=max_iter, gtol=tol; ``n_iter_`` from
    sklearn's ``_check_optimize_result`` (which warns ConvergenceWarning as sklearn does);
    ``loss_`` the optimizer's final value. The loss and gradient are the network's (in the
    estimator's dtype). convergent's addition: ``loss_curve_`` (the loss after each iteration)
    and ``best_loss_``."""
    dense = est._dense
    params = [d.weight for d in dense] + [d.bias for d in dense if d.bias is not None]
    grads = [d.gradients()[0] for d in dense] + [d.gradients()[1] for d in dense if d.use_bias]
    sizes = np.cumsum([0] + [p.size for p in params])
    x0 = np.concatenate([p.ravel() for p in params])

    def unpack(x: np.ndarray) -> None:
        for p, lo, hi in zip(params, sizes[:-1], sizes[1:]):
            np.copyto(p, x[lo:hi].reshape(p.shape), casting="unsafe")

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        unpack(x)
        loss = est._loss_and_grads(X, Y)
        return loss, np.concatenate([g.ravel() for g in grads]).astype(np.float64, copy=False)

    iprint = 1 if (est.verbose is True or est.verbose >= 1) else -1
    curve: list[float] = []

    def callback(intermediate_result: Any) -> None:
        # scipy >= 1.11 passes an OptimizeResult (by this parameter name); older ones x only
        fun = getattr(intermediate_result, "fun", None)
        if fun is not None:
            curve.append(float(fun))

    res = scipy.optimize.minimize(
        fun,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={
            "maxfun": est.max_fun,
            "maxiter": est.max_iter,
            "gtol": est.tol,
            **_get_additional_lbfgs_options_dict("iprint", iprint),
        },
    )
    est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)  # warns as sklearn does
    est.loss_ = float(res.fun)
    unpack(res.x)
    est.loss_curve_ = curve
    est.best_loss_ = min(curve, default=est.loss_)
