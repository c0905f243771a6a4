"""convergent.sklearn: scikit-learn's estimator checks, equality with sklearn's MLP, API."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import convergent as cg  # noqa: E402
from convergent.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one thread keeps these tests fast on a loaded machine."""
    n = cg.get_num_threads()
    cg.set_num_threads(1)
    yield
    cg.set_num_threads(n)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


@parametrize_with_checks(
    [
        # scikit-learn's defaults (hidden (100,), Adam, lr 1e-3): the user-measured case
        MLPClassifier(max_iter=30),
        MLPRegressor(max_iter=30),
        MLPRegressor(max_iter=30, solver="sgd", random_state=0, dtype=np.float64),
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, learning_rate_init=0.01),
        MLPRegressor(hidden_layer_sizes=(32,), max_iter=50, learning_rate_init=0.01),
        MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=10),
        MLPClassifier(
            hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, optimizer="nesterov",
            batch_norm=True, dropout=0.1, dtype=np.float64,
        ),
    ]
)  # fmt: skip
def test_sklearn_estimator_checks(estimator, check):
    _quiet(check, estimator)


# ---- same numbers as sklearn's MLP ------------------------------------------------------------
def _data(kind):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    if kind == "multiclass":
        y = rng.integers(0, 4, 120)
    elif kind == "binary":
        y = np.where(rng.random(120) < 0.5, "no", "yes")
    elif kind == "multilabel":
        y = (rng.random((120, 3)) < 0.4).astype(int)
    elif kind == "regression":
        y = X @ rng.standard_normal(6)
    else:
        y = X @ rng.standard_normal((6, 2))
    return X, y


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression", "multi"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_same_trajectory_as_sklearn(kind, activation):
    """From the same weights, sklearn's SGD (Nesterov momentum, constant lr, no shuffling) and
    ours give the same loss curve and weights: same loss, same L2 term, same update."""
    X, y = _data(kind)
    regression = kind in ("regression", "multi")
    kw = dict(hidden_layer_sizes=(7, 5), activation=activation, solver="sgd", alpha=0.05,
              batch_size=32, learning_rate_init=0.05, shuffle=False, random_state=0)  # fmt: skip
    sk = (SkRegressor if regression else SkClassifier)(max_iter=1, **kw)
    ours = (MLPRegressor if regression else MLPClassifier)(max_iter=1, dtype=np.float64, **kw)
    _quiet(sk.fit, X, y)
    _quiet(ours.fit, X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.copyto(mine, theirs)
    for est in (sk, ours):
        est.set_params(warm_start=True, max_iter=4)
        _quiet(est.fit, X, y)
    # loss_curve_[0] is from the first fit, before the weights were made equal
    np.testing.assert_allclose(ours.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-10)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    assert ours.out_activation_ == sk.out_activation_
    assert ours.n_iter_ == sk.n_iter_ and ours.t_ == sk.t_
    if regression:
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-10)
        np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_stopping_rule_matches_sklearn():
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.2, tol=1e-2,
              n_iter_no_change=3, shuffle=False, max_iter=1, random_state=0)  # fmt: skip
    sk, ours = SkClassifier(**kw), MLPClassifier(dtype=np.float64, **kw)
    _quiet(sk.fit, X, y)
    _quiet(ours.fit, X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.copyto(mine, theirs)
    ours.best_loss_ = sk.best_loss_  # the counter's reference, from the first (different) epoch
    for est in (sk, ours):
        est.set_params(warm_start=True, max_iter=200)
        est.fit(X, y)  # converges: no ConvergenceWarning (filterwarnings=error would fail)
    assert ours.n_iter_ == sk.n_iter_ < 200
    assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=1e-10)


# ---- behaviour ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.mark.parametrize(
    "optimizer",
    ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs"],
)
def test_every_optimizer_learns(digits, optimizer):
    X, y = digits
    lr = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.05}.get(optimizer, 3e-3)
    clf = MLPClassifier(hidden_layer_sizes=(32,), optimizer=optimizer, max_iter=15,
                        batch_size=32, learning_rate_init=lr, random_state=0)  # fmt: skip
    _quiet(clf.fit, X, y)
    assert clf.score(X, y) > 0.9
    assert clf.coefs_[0].dtype == np.float32 and clf.coefs_[0].shape == (64, 32)
    assert [b.shape for b in clf.intercepts_] == [(32,), (10,)]
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-5)


def test_convergence_warning_and_attributes(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2 and clf.t_ == 2 * len(X)
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    assert clf.n_layers_ == 3 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert clf.validation_scores_ is None and clf.best_loss_ == min(clf.loss_curve_)
    with pytest.warns(ConvergenceWarning, match="lbfgs"):
        MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=3).fit(X, y)


def test_early_stopping_restores_best(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, n_iter_no_change=2,
                        learning_rate_init=0.01, max_iter=100, random_state=0)  # fmt: skip
    clf.fit(X, y)
    assert clf.n_iter_ < 100 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_partial_fit_and_warm_start(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X[:100], y[:100])
    clf.partial_fit(X[:100], y[:100], classes=np.arange(10))
    for _ in range(5):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 6 and clf.t_ == 100 + 5 * len(X)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    reg.partial_fit(X, y.astype(float))
    reg.partial_fit(X, y.astype(float))
    assert len(reg.loss_curve_) == 2 and reg.loss_curve_[1] < reg.loss_curve_[0]


def test_adaptive_learning_rate(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.5, tol=0.5, n_iter_no_change=1, max_iter=8,
                        random_state=0)  # fmt: skip
    _quiet(clf.fit, X, y)
    assert clf._optimizer.param_groups[0]["lr"] < 0.5 / 4


def test_pipeline_gridsearch_cross_val():
    X, y = make_classification(200, 8, n_informative=5, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, learning_rate_init=0.01,
                                                         random_state=0))  # fmt: skip
    scores = _quiet(cross_val_score, pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (16, 8)]}, cv=2)
    _quiet(grid.fit, X, y)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(8,), (16, 8)]
    Xr, yr = make_regression(200, 5, noise=0.1, random_state=0)
    reg = make_pipeline(StandardScaler(), MLPRegressor(max_iter=200, learning_rate_init=0.01,
                                                       random_state=0))  # fmt: skip
    assert _quiet(cross_val_score, reg, Xr, yr / yr.std(), cv=3).mean() > 0.8


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("hidden_layer_sizes", (0,)),
        ("activation", "softplus"),
        ("solver", "newton"),
        ("optimizer", "lamb"),
        ("alpha", -1.0),
        ("learning_rate_init", 0.0),
        ("momentum", 1.5),
        ("dropout", 1.0),
        ("batch_size", 0),
        ("max_iter", 0),
        ("weight_init", "orthogonal"),
        ("dtype", np.int32),
    ],
)
def test_bad_parameters(param, value):
    X, y = make_classification(20, 4, random_state=0)
    with pytest.raises(ValueError, match=param):
        MLPClassifier(**{param: value}).fit(X, y)


def test_clear_import_error_without_sklearn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import convergent\n"
        "try:\n    import convergent.sklearn\n"
        "except ImportError as e:\n    print('ImportError:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ImportError: convergent.sklearn needs scikit-learn" in out.stdout


def test_epoch_shuffle_and_batches_are_sklearns():
    """The estimators' per-epoch shuffle and batches (without sklearn's per-call validation)
    draw and give what sklearn.utils.shuffle and gen_batches do."""
    from convergent.sklearn._base import _batches, _shuffled
    from sklearn.utils import gen_batches, shuffle

    for n in range(1, 260, 3):
        for size in (1, 2, 3, 16, 200, 256):
            for min_batch in (0, 2):
                expected = list(gen_batches(n, size, min_batch_size=min_batch))
                assert _batches(n, size, min_batch) == expected, (n, size, min_batch)
        idx = np.arange(n) * 3 + 1
        a, b = np.random.RandomState(n), np.random.RandomState(n)
        assert np.array_equal(_shuffled(idx, a), shuffle(idx, random_state=b))
        assert a.randint(1 << 30) == b.randint(1 << 30)  # the same draws consumed
