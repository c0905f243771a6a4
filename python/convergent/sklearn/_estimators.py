"""MLPClassifier and MLPRegressor: sklearn.neural_network's estimators on convergent."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import MLPMixin

__all__ = ["MLPClassifier", "MLPRegressor"]

_DOC = """
    Parameters shared with scikit-learn (same names, defaults and meaning): hidden_layer_sizes,
    activation ("identity", "logistic", "tanh", "relu"), solver ("sgd", "adam", "lbfgs"), alpha
    (L2 penalty, ``alpha / 2 * sum ||W||^2 / n_batch`` added to each batch's loss, as sklearn),
    batch_size ("auto" = min(200, n_samples)), learning_rate ("constant", "invscaling",
    "adaptive"; not used by Adam, as in sklearn), learning_rate_init, power_t, max_iter (epochs;
    iterations for lbfgs), shuffle, random_state, tol, verbose, warm_start, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
    n_iter_no_change, max_fun (lbfgs evaluations).

    With the same ``random_state`` (and the default ``weight_init="auto"``, no ``optimizer``,
    ``dropout`` or ``batch_norm``) fitting is scikit-learn's fit: its initial weights and biases
    (the same RandomState draws), its early-stopping split and shuffles, its Adam
    (``lr sqrt(1-b2^t) / (1-b1^t) m / (sqrt(v) + eps)``), its momentum SGD with every
    learning-rate schedule, and scipy's L-BFGS-B called as sklearn calls it (``n_iter_`` and the
    ConvergenceWarning from sklearn's own check). With ``dtype=np.float64`` the fitted model
    (coefs_, intercepts_, loss_curve_, n_iter_, predictions) is sklearn's to float64 rounding;
    with the default float32 it is sklearn's fit on float32 data up to float32 rounding drift
    (sklearn's lbfgs turns float32 weights into float64 ones; ours stay float32).

    convergent's additions (they leave scikit-learn's numbers; the sklearn initialization and
    data stream still apply where they can):

    - optimizer: None (from ``solver``) or one of convergent's own optimizers with torch's
      semantics: "sgd" (no momentum), "momentum", "nesterov" (with ``momentum``), "adagrad",
      "rmsprop", "adam" (torch's Adam: epsilon outside the bias-corrected square root),
      "adamw" (torch's default decoupled weight decay 0.01, on top of ``alpha``), "lbfgs"
      (convergent's full-batch L-BFGS, strong-Wolfe line search, history 10). All take
      ``learning_rate_init`` except lbfgs.
    - dropout: inverted dropout probability after each hidden activation (0: none).
    - batch_norm: BatchNorm between each hidden Dense layer and its activation.
    - weight_init: "auto" (scikit-learn's: weights and biases from U(-b, b), b = sqrt(f /
      (fan_in + fan_out)), f = 2 for the logistic activation and 6 otherwise, drawn from the
      estimator's RandomState in sklearn's order), or any name of
      ``convergent.nn.INITIALIZERS`` (convergent's initializer, zero biases, seeded from the
      RandomState).
    - dtype: float32 (default) or float64, the precision of the weights and of all arithmetic.

    Fitted attributes as sklearn: coefs_ and intercepts_ (the network's own weight arrays,
    shapes (in, out) and (out,)), loss_, loss_curve_ (per epoch; for lbfgs, convergent's
    addition, per iteration), best_loss_, validation_scores_ and best_validation_score_
    (early_stopping), n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_; plus
    model_, the ``convergent.nn.Sequential`` network (outputs are logits).

    Not supported (unlike sklearn): sparse X, ``sample_weight``, MLPRegressor's
    ``loss="poisson"``. ``partial_fit`` is there for the stochastic optimizers only, as in sklearn.
"""


class _BaseMLP(MLPMixin, BaseEstimator):
    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        optimizer=None,
        dropout=0.0,
        batch_norm=False,
        weight_init="auto",
        dtype=np.float32,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.optimizer = optimizer
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_init = weight_init
        self.dtype = dtype

    def fit(self, X, y):
        """Trains the network on (X, y); returns self."""
        return self._fit_common(X, y, incremental=False)

    def _check_solver(self) -> bool:
        if self._optimizer_name().startswith("lbfgs"):
            raise AttributeError("partial_fit is only available for stochastic optimizers")
        return True

    def _check_X(self, X, reset: bool = False) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=np.dtype(self.dtype), order="C")

    def _score(self, X, y) -> float:
        y_pred = self._predict(X)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(self._score_fn(y, y_pred))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = "Multi-layer perceptron classifier (log loss), scikit-learn's API.\n" + _DOC
    _score_fn = staticmethod(accuracy_score)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = self._validate_xy(X, y, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        if self._out_kind() == "softmax":
            Y = np.searchsorted(self.classes_, y).astype(np.int64)
        else:
            Y = np.ascontiguousarray(self._label_binarizer.transform(y), dtype=self.dtype)
        return X, Y, y

    def _out_kind(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _n_outputs(self, Y: np.ndarray) -> int:
        return len(self.classes_) if Y.ndim == 1 else Y.shape[1]

    def _stratify(self) -> bool:
        return self._label_binarizer.y_type_ != "multilabel-indicator"

    def _predict(self, X) -> np.ndarray:
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X) -> np.ndarray:
        """Class labels for the rows of X."""
        check_is_fitted(self)
        return self._predict(self._check_X(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit_common(X, y, incremental=True)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``."""
        check_is_fitted(self)
        y_pred = self._forward(self._check_X(X))
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = "Multi-layer perceptron regressor (half squared error), scikit-learn's API.\n" + _DOC
    _score_fn = staticmethod(r2_score)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = self._validate_xy(X, y, reset, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self.dtype)
        return X, Y, y

    def _out_kind(self) -> str:
        return "identity"

    def _n_outputs(self, Y: np.ndarray) -> int:
        return Y.shape[1]

    def _stratify(self) -> bool:
        return False

    def _predict(self, X) -> np.ndarray:
        y_pred = self._forward(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def predict(self, X) -> np.ndarray:
        """Predicted values for the rows of X."""
        check_is_fitted(self)
        return self._predict(self._check_X(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y):
        """One epoch over (X, y)."""
        return self._fit_common(X, y, incremental=True)
