"""The estimators' ``optimizer=`` names for the whole catalogue: each one trains, in the
estimator's dtype, with the optimizer it names (Muon for the weight matrices with AdamW for the
biases; Schedule-Free AdamW leaves the averaged x in the model)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimators need scikit-learn (the test extra)")

import convergent as cg  # noqa: E402
from convergent.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

#: optimizer -> (convergent class of the weight matrices, learning_rate_init)
CATALOGUE = {
    "nadam": ("NAdam", 1e-2),
    "radam": ("RAdam", 1e-2),
    "adamax": ("Adamax", 2e-2),
    "adadelta": ("Adadelta", 1.0),
    "asgd": ("ASGD", 5e-2),
    "rprop": ("Rprop", 1e-3),
    "adafactor": ("Adafactor", 5e-2),
    "lion": ("Lion", 1e-2),
    "schedulefree_adamw": ("ScheduleFreeAdamW", 1e-2),
    "muon": ("Muon", 2e-2),
}


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("name", list(CATALOGUE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_optimizer_trains_the_classifier(name, dtype):
    X, y = _iris()
    cls, lr = CATALOGUE[name]
    clf = MLPClassifier(
        hidden_layer_sizes=(16,), optimizer=name, learning_rate_init=lr, max_iter=60,
        batch_size=32, random_state=0, dtype=dtype,
    )  # fmt: skip
    _fit(clf, X, y)
    assert clf.score(X, y) >= 0.85, (name, clf.score(X, y))
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_curve_[-1] < clf.loss_curve_[0]
    opt = clf._optimizer
    if name == "muon":
        assert isinstance(opt, cg.optim.MultiOptimizer)
        muon, adamw = opt.optimizers
        assert type(muon).__name__ == "Muon" and type(adamw).__name__ == "AdamW"
        assert all(p.ndim == 2 for p in muon.param_groups[0]["params"])
        assert all(p.ndim == 1 for p in adamw.param_groups[0]["params"])
    else:
        assert type(opt).__name__ == cls
    for p in clf.coefs_ + clf.intercepts_:
        assert p.dtype == dtype and np.all(np.isfinite(p))


def test_schedulefree_leaves_x_in_the_model():
    X, y = _iris()
    clf = _fit(
        MLPClassifier(hidden_layer_sizes=(8,), optimizer="schedulefree_adamw", max_iter=5,
                      learning_rate_init=1e-2, random_state=0, dtype=np.float64),
        X, y,
    )  # fmt: skip
    opt = clf._optimizer
    assert not opt.param_groups[0]["train_mode"]
    # predictions come from the averaged iterate x: moving to y changes them
    before = clf.predict_proba(X)
    opt.train()
    assert not np.array_equal(clf.predict_proba(X), before)
    opt.eval()
    np.testing.assert_array_equal(clf.predict_proba(X), before)


@pytest.mark.parametrize("name", ["nadam", "lion", "muon"])
def test_regressor_takes_the_names(name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(200)
    reg = _fit(
        MLPRegressor(hidden_layer_sizes=(16,), optimizer=name, max_iter=80,
                     learning_rate_init=CATALOGUE[name][1], random_state=0),
        X, y,
    )  # fmt: skip
    assert reg.score(X, y) > 0.85, (name, reg.score(X, y))


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        MLPClassifier(optimizer="lamb").fit(*_iris())
