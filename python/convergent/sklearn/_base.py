"""The shared machinery of the MLP estimators: the network, the loss head and the training loop.

Loss: exactly scikit-learn's MLP objective. Per mini-batch of ``n_b`` rows,

    loss = data_loss + alpha / 2 * sum_layers ||W||^2 / n_b

with ``data_loss`` the mean cross-entropy of the softmax (multiclass), the sum over outputs of the
mean binary cross-entropy of the logistic outputs (binary and multilabel), or half the mean
squared error over all elements (regression); the gradient of the output layer's pre-activation
is ``(output - target) / n_b`` in every case, as in sklearn. (sklearn clips probabilities at the
float epsilon when it reports the log loss; convergent computes the log-softmax exactly, so
reported losses differ only when a probability is below ~1e-16.) The L2 term is the
``weight_l2`` of the Dense layers, set to ``alpha / (2 n_b)`` for each batch.

Training follows sklearn's ``_fit`` and ``_fit_stochastic`` draw for draw: one RandomState from
``random_state`` per fit; sklearn's initial weights then biases per layer (``weight_init="auto"``);
the early-stopping split (``train_test_split``, stratified by the binarized target for a
one-output classifier only, as sklearn); per epoch a shuffle of the row indices, batches in order
(the last one partial), ``loss_curve_`` of the size-weighted mean batch loss, ``t_ += n_samples``,
the no-improvement counter (training loss, or validation score with ``early_stopping``),
``learning_rate`` "invscaling"/"adaptive" at the end of each epoch, and a ``ConvergenceWarning``
when ``max_iter`` epochs are used up. ``solver="adam"`` is sklearn's Adam (convergent's kernel with
a per-step epsilon), ``solver="sgd"`` sklearn's momentum SGD (torch's form with the momentum
buffer rescaled when the rate changes), ``solver="lbfgs"`` scipy's L-BFGS-B as sklearn calls it
(see ``_sk_solvers.py``). So with the same ``random_state`` a float64 fit is sklearn's model to
float64 rounding (tests/test_sklearn_equal.py).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import validate_data

from .. import _core, nn, optim
from .._fused import FusedLoop
from ..train import _set_mode
from ._head import _Head
from ._params import (
    _ACTIVATION_LAYERS,
    _ACTIVATIONS,
    _check_params,
    make_catalogue_optimizer,
)
from ._sk_solvers import adam_eps, adam_epss, fit_lbfgs, rescale_momentum, sklearn_init


class MLPMixin:
    """Network construction and training shared by MLPClassifier and MLPRegressor."""

    # ---- input ------------------------------------------------------------------------------
    def _validate_xy(self, X, y, reset: bool, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's validation of the training data. X's NaN/infinity check is a scan on
        the kernels' threads (a fraction of NumPy's time on large inputs); when it finds a
        non-finite value, check_array raises scikit-learn's own error."""
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            dtype=np.dtype(self.dtype),
            order="C",
            reset=reset,
            ensure_all_finite=False,
            **kw,
        )
        if not _core.all_finite([X]):
            check_array(X, ensure_all_finite=True, dtype=None, input_name="X", estimator=self)
        return X, y

    # ---- the network ------------------------------------------------------------------------
    def _optimizer_name(self) -> str:
        """``optimizer`` (convergent's own), else the solver's sklearn twin: "sgd_sklearn",
        "adam_sklearn" or "lbfgs_sklearn"."""
        return self.optimizer or f"{self.solver}_sklearn"

    def _build(self, sizes: list[int], n_in: int, n_out: int, rs: np.random.RandomState) -> None:
        dtype = np.dtype(self.dtype)
        init = "zeros" if self.weight_init == "auto" else self.weight_init
        layers: list[nn.Layer] = []
        fan = n_in
        for h in sizes:
            act = None if self.batch_norm else _ACTIVATIONS[self.activation]
            layers.append(nn.Dense(fan, h, act, init=init, dtype=dtype))
            if self.batch_norm:
                layers.append(nn.BatchNorm(h, dtype=dtype))
                if self.activation != "identity":
                    layers.append(getattr(nn, _ACTIVATION_LAYERS[self.activation])())
            if self.dropout > 0:
                layers.append(nn.Dropout(float(self.dropout)))
            fan = h
        out_init = "zeros" if self.weight_init == "auto" else "glorot_uniform"
        layers.append(nn.Dense(fan, n_out, None, init=out_init, dtype=dtype))
        top = np.iinfo(np.int32).max
        if self.weight_init == "auto":
            # sklearn's draws from rs, in sklearn's order; the network's own seed (dropout's
            # stream) from a copy of rs, so that the shuffles and the validation split that
            # follow draw exactly what sklearn's do.
            seed = int(copy.deepcopy(rs).randint(top))
            self.model_ = nn.Sequential(layers, seed=seed)
            self._dense = [layer for layer in self.model_.layers if isinstance(layer, nn.Dense)]
            sklearn_init(self._dense, self.activation, rs)
        else:
            self.model_ = nn.Sequential(layers, seed=int(rs.randint(top)))
            self._dense = [layer for layer in self.model_.layers if isinstance(layer, nn.Dense)]
        self.coefs_ = [layer.weight for layer in self._dense]
        self.intercepts_ = [layer.bias for layer in self._dense]
        self.n_layers_ = len(sizes) + 2
        self.n_outputs_ = n_out
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self.best_loss_ = None if self.early_stopping else np.inf

    def _make_optimizer(self, params: list[np.ndarray]) -> Any:
        name, lr = self._optimizer_name(), self.learning_rate_init
        betas = (self.beta_1, self.beta_2)
        if name == "sgd_sklearn":  # sklearn's SGD: momentum with Nesterov by default
            nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
            return optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=nesterov)
        if name == "sgd":
            return optim.SGD(params, lr=lr)
        if name in ("momentum", "nesterov"):
            return optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=name == "nesterov")
        if name == "adagrad":
            return optim.Adagrad(params, lr=lr)
        if name == "rmsprop":
            return optim.RMSprop(params, lr=lr, eps=self.epsilon)
        if name in ("adam", "adam_sklearn"):  # sklearn's: the eps of each step set by _train
            return optim.Adam(params, lr=lr, betas=betas, eps=self.epsilon)
        if name == "adamw":
            return optim.AdamW(params, lr=lr, betas=betas, eps=self.epsilon)
        return make_catalogue_optimizer(name, params, lr, betas, self.epsilon)

    def _set_l2(self, n_rows: int) -> None:
        for layer in self._dense:
            layer.weight_l2 = self.alpha / (2.0 * n_rows)

    def _loss_and_grads(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Forward and backward on one batch: sklearn's loss; gradients land in the model."""
        self._set_l2(X.shape[0])
        logits = self.model_.forward(X, training=True)
        value = self._head.forward(logits, Y)
        self.model_.backward(self._head.backward(), need_input_grad=False)
        if self.alpha:
            # The Dense layers' backward adds the L2 gradient and sums alpha/(2 n_b) ||W||^2 in
            # the same pass over W (float64, on the kernels' threads).
            value += sum(layer.backward_weight_penalty for layer in self._dense)
        return value

    def _forward(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=self.dtype)
        return self._head.output(self.model_.forward(X, training=False))

    # ---- training ---------------------------------------------------------------------------
    def _train(self, X: np.ndarray, Y: np.ndarray, y_raw: np.ndarray, incremental: bool) -> None:
        if self._optimizer_name().startswith("lbfgs"):
            if incremental:
                raise ValueError("partial_fit needs a stochastic optimizer, not lbfgs")
            if self._optimizer_name() == "lbfgs":
                self._train_lbfgs(X, Y)  # convergent's L-BFGS
            else:
                fit_lbfgs(self, X, Y)  # sklearn's: scipy's L-BFGS-B
        else:
            self._train_stochastic(X, Y, y_raw, incremental)
        if not all(np.isfinite(p).all() for p in self.model_.parameters()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )

    def _train_lbfgs(self, X: np.ndarray, Y: np.ndarray) -> None:
        grads = self.model_.gradients()
        opt = optim.LBFGS(
            self.model_.parameters(),
            max_iter=self.max_iter,
            max_eval=self.max_fun,
            tolerance_grad=self.tol,
            history_size=10,
            line_search_fn="strong_wolfe",
        )
        self.loss_curve_ = []
        opt.step(lambda: (self._loss_and_grads(X, Y), grads), callback=self.loss_curve_.append)
        st = opt.state.get(0, {})
        self.n_iter_ = int(st.get("n_iter", 0))
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else self._loss_and_grads(X, Y)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        if self.n_iter_ >= self.max_iter or st.get("func_evals", 0) >= self.max_fun:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"({st.get('func_evals', 0)} evaluations): increase max_iter or max_fun, or "
                "scale the data",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _train_stochastic(self, X, Y, y_raw, incremental: bool) -> None:
        params = self.model_.parameters()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(params)
            self._lr = float(self.learning_rate_init)
            self._n_updates = 0  # sklearn Adam's t
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X_val = y_val = None
        if self.early_stopping:
            # sklearn stratifies by the binarized target of a one-output classifier only
            stratify = Y if self._stratify() and Y.ndim == 2 and Y.shape[1] == 1 else None
            X, X_val, Y, _, _, y_val = train_test_split(
                X,
                Y,
                y_raw,
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
            X = np.ascontiguousarray(X)
        n = X.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                    "clipped",
                    stacklevel=3,
                )
            bs = int(np.clip(self.batch_size, 1, n))
        name = self._optimizer_name()
        schedule = self.learning_rate != "constant" and name not in ("adam", "adam_sklearn")
        sk_adam, group = name == "adam_sklearn", self._optimizer.param_groups[0]
        eps, beta2 = float(self.epsilon), float(self.beta_2)
        grads = self.model_.gradients()
        idx = np.arange(n)
        # Mini-batches are gathered into buffers reused across steps (fresh large arrays cost
        # page faults every step).
        xbuf = np.empty((min(bs, n),) + X.shape[1:], X.dtype)
        ybuf = np.empty((min(bs, n),) + Y.shape[1:], Y.dtype)
        # Runs of steps in C++ when the network and optimizer allow (convergent/_fused.py):
        # sklearn's loss (data loss + the L2 term summed by the backward passes), no guard.
        fused = None
        if self._head.kind == "softmax":
            fused = FusedLoop.plan(
                self.model_, self._head.loss, self._optimizer, X, Y, bs, False, True
            )
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:
                idx = _shuffled(idx, self._random_state)
            total = 0.0
            batches = _batches(n, bs, 2 if self.batch_norm else 0)
            _set_mode(self._optimizer, "train")  # Schedule-Free: steps on y
            i = 0
            while i < len(batches):
                sl = batches[i]
                if fused is not None:  # the following batches of this size in one call
                    rows = sl.stop - sl.start
                    j, last = i + 1, min(len(batches), i + FusedLoop.MAX_STEPS)
                    while j < last and batches[j].stop - batches[j].start == rows:
                        j += 1
                    self._set_l2(rows)
                    epss = adam_epss(eps, beta2, self._n_updates, j - i) if sk_adam else None
                    out = fused.run(idx if self.shuffle else None, i, j - i, epss=epss)
                    if out is not None:
                        self._n_updates += int(out[2].sum())
                        for value in out[0].tolist():
                            total += value * rows
                        i = j
                        continue
                i += 1
                if self.shuffle:
                    picked = idx[sl]
                    xb, yb = xbuf[: len(picked)], ybuf[: len(picked)]
                    _core.take_rows(X, picked, xb)
                    _core.take_rows(Y, picked, yb)
                else:
                    xb, yb = X[sl], Y[sl]
                total += self._loss_and_grads(xb, yb) * xb.shape[0]
                if sk_adam:
                    group["eps"] = adam_eps(eps, beta2, self._n_updates + 1)
                self._optimizer.step(grads)
                self._n_updates += 1
            _set_mode(self._optimizer, "eval")  # Schedule-Free: scores and coefs_ on x
            self.n_iter_ += 1
            self.loss_ = total / n
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(X_val, y_val)
            old_lr = self._lr
            if schedule and self.learning_rate == "invscaling":
                self._lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if self.early_stopping else "Training loss"
                msg = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs."
                )
                if not (schedule and self.learning_rate == "adaptive") or self._lr <= 1e-6:
                    if self.verbose:
                        print(msg + " Stopping.")
                    break
                self._lr /= 5.0
                if self.verbose:
                    print(msg + f" Setting learning rate to {self._lr:f}")
                self._no_improvement_count = 0
            if name == "sgd_sklearn":
                rescale_momentum(self._optimizer, old_lr, self._lr)
            for g in self._optimizer.param_groups:
                g["lr"] = self._lr
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        if self.early_stopping:
            for p, best in zip(params, self._best_params):
                np.copyto(p, best)

    def _update_no_improvement_count(self, X_val, y_val) -> None:
        if self.early_stopping:
            score = self._score(X_val, y_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [p.copy() for p in self.model_.parameters()]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Arrays may come back read-only (e.g. joblib's memory-mapped loading) while the layers
        # and the optimizer write into theirs: work on private copies (deepcopy keeps the
        # sharing between the model's parameters, coefs_/intercepts_ and the optimizer).
        if "model_" in state:
            state = copy.deepcopy(state)
        super().__setstate__(state)

    def _fit_common(self, X, y, incremental: bool):
        sizes = _check_params(self)
        first = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, Y, y_raw = self._validate_input(X, y, incremental, reset=first)
        if self.batch_norm and X.shape[0] < 2:
            raise ValueError(
                f"batch_norm needs batches of 2 rows or more; got n_samples = {X.shape[0]}"
            )
        self._random_state = check_random_state(self.random_state)
        if first:
            self._head = _Head(self._out_kind())
            self.out_activation_ = self._head.kind
            self._build(sizes, X.shape[1], self._n_outputs(Y), self._random_state)
            if hasattr(self, "_optimizer"):
                del self._optimizer
        if self.early_stopping:
            self._best_params = [p.copy() for p in self.model_.parameters()]
        self._train(X, Y, y_raw, incremental)
        return self


def _shuffled(idx: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    """``sklearn.utils.shuffle(idx, random_state=rs)``: the same draws and result (a shuffled
    ``arange`` indexes idx), without its per-call argument validation (5-9% of a small fit)."""
    perm = np.arange(len(idx))
    rs.shuffle(perm)
    return idx[perm]


def _batches(n: int, size: int, min_batch_size: int) -> list[slice]:
    """``list(sklearn.utils.gen_batches(n, size, min_batch_size=min_batch_size))``, without its
    per-call argument validation."""
    out, start = [], 0
    for _ in range(n // size):
        end = start + size
        if end + min_batch_size > n:
            continue
        out.append(slice(start, end))
        start = end
    if start < n:
        out.append(slice(start, n))
    return out
