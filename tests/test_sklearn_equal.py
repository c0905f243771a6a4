"""convergent.sklearn vs scikit-learn's MLP from the same random_state: the same model.

In float64 the estimators draw sklearn's initial weights, shuffles and validation split from the
same RandomState, take sklearn's Adam/SGD steps and run scipy's L-BFGS-B as sklearn does, so
loss_curve_, coefs_, intercepts_, n_iter_ and the predictions agree to float64 rounding (asserted
at rtol 1e-7; observed <= ~1e-11). In float32 (our default) both sides compute in float32 and
drift apart by float32 rounding (asserted loosely, see test_float32_within_rounding_drift).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import convergent as cg  # noqa: E402
from convergent.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from convergent.sklearn._sk_solvers import sklearn_init  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

RTOL = 1e-7


@pytest.fixture(autouse=True)
def _one_thread():
    n = cg.get_num_threads()
    cg.set_num_threads(1)
    yield
    cg.set_num_threads(n)


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


_CACHE: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}


def _data(name):
    """(X, y, regression): standardized features (digits scaled to [0, 1]); the diabetes
    target standardized, "diabetes2" with a second output."""
    if name not in _CACHE:
        if name.startswith("diabetes"):
            X, y = datasets.load_diabetes(return_X_y=True)
            y = (y - y.mean()) / y.std()
            if name == "diabetes2":
                y = np.c_[y, y**2 - 1.0]
            _CACHE[name] = StandardScaler().fit_transform(X), y, True
        else:
            X, y = getattr(datasets, "load_" + name)(return_X_y=True)
            X = X / 16.0 if name == "digits" else StandardScaler().fit_transform(X)
            _CACHE[name] = X, y, False
    return _CACHE[name]


def _pair(name, dtype=np.float64, **kw):
    X, y, regression = _data(name)
    kw.setdefault("hidden_layer_sizes", (16,))
    kw.setdefault("max_iter", 20)
    kw.setdefault("random_state", 0)
    if kw.get("solver") == "sgd":
        kw.setdefault("learning_rate_init", 0.01)
    sk = _fit((SkRegressor if regression else SkClassifier)(**kw), X.astype(dtype), y)
    ours = _fit((MLPRegressor if regression else MLPClassifier)(dtype=dtype, **kw), X, y)
    return sk, ours, X, regression


def _assert_same(sk, ours, X, regression, rtol=RTOL):
    stochastic = sk.solver != "lbfgs"
    assert ours.n_iter_ == sk.n_iter_ and ours.t_ == sk.t_
    assert ours.n_layers_ == sk.n_layers_ and ours.n_outputs_ == sk.n_outputs_
    assert ours.out_activation_ == sk.out_activation_
    np.testing.assert_allclose(ours.loss_, sk.loss_, rtol=rtol)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=0)
    if stochastic:
        np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=rtol, atol=0)
        assert ours._no_improvement_count == sk._no_improvement_count
        if sk.early_stopping:
            assert ours.best_loss_ is None
            np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_, rtol=rtol)
            assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, rtol)
        else:
            assert ours.validation_scores_ is None
            assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=rtol)
    if regression:
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(ours.classes_, sk.classes_)
        np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=rtol, atol=0)
        np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


DATASETS = ["iris", "wine", "breast_cancer", "digits", "diabetes", "diabetes2"]


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize(
    ("solver", "early_stopping"),
    [("adam", False), ("adam", True), ("sgd", False), ("sgd", True), ("lbfgs", False)],
)
def test_same_model_as_sklearn_float64(name, solver, early_stopping):
    sk, ours, X, regression = _pair(name, solver=solver, early_stopping=early_stopping)
    _assert_same(sk, ours, X, regression)


OPTIONS = {
    "invscaling": ("iris", dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1)),
    "adaptive": (
        "iris",
        dict(
            solver="sgd",
            learning_rate="adaptive",
            learning_rate_init=0.1,
            tol=0.1,
            n_iter_no_change=1,
        ),
    ),  # fmt: skip
    "adaptive-es": (
        "wine",
        dict(
            solver="sgd",
            learning_rate="adaptive",
            learning_rate_init=0.1,
            tol=0.1,
            n_iter_no_change=1,
            early_stopping=True,
        ),
    ),  # fmt: skip
    "momentum-no-nesterov": ("wine", dict(solver="sgd", nesterovs_momentum=False, momentum=0.5)),
    "no-momentum-invscaling": (
        "wine",
        dict(solver="sgd", momentum=0.0, learning_rate="invscaling", learning_rate_init=0.5),
    ),
    "logistic-alpha-batch": (
        "breast_cancer",
        dict(solver="adam", activation="logistic", alpha=0.1, batch_size=50, early_stopping=True),
    ),
    "tanh-two-layers": (
        "digits",
        dict(solver="adam", activation="tanh", hidden_layer_sizes=(12, 8), batch_size=64),
    ),
    "identity-no-shuffle": (
        "digits",
        dict(
            solver="sgd",
            activation="identity",
            hidden_layer_sizes=(12, 8),
            batch_size=33,
            shuffle=False,
        ),
    ),  # fmt: skip
    "lbfgs-logistic": (
        "diabetes",
        dict(solver="lbfgs", activation="logistic", hidden_layer_sizes=(8, 6)),
    ),  # fmt: skip
    "adam-betas-eps": (
        "iris",
        dict(solver="adam", beta_1=0.5, beta_2=0.9, epsilon=1e-3, learning_rate="invscaling"),
    ),
    "stops-early": (
        "iris",
        dict(solver="adam", learning_rate_init=0.05, tol=0.05, n_iter_no_change=2, max_iter=200),
    ),  # fmt: skip
    "lbfgs-max-fun": ("wine", dict(solver="lbfgs", max_fun=7)),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_same_model_as_sklearn_options(case):
    name, kw = OPTIONS[case]
    sk, ours, X, regression = _pair(name, **kw)
    _assert_same(sk, ours, X, regression)


def test_multilabel_same_as_sklearn():
    X, y = datasets.make_multilabel_classification(150, 8, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    for es in (False, True):
        kw = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=3, early_stopping=es)
        sk = _fit(SkClassifier(**kw), X, y)
        ours = _fit(MLPClassifier(dtype=np.float64, **kw), X, y)
        _assert_same(sk, ours, X, False)


def test_partial_fit_and_warm_start_same_as_sklearn():
    X, y, _ = _data("wine")
    kw = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate="invscaling",
              learning_rate_init=0.1, random_state=1)  # fmt: skip
    sk, ours = SkClassifier(**kw), MLPClassifier(dtype=np.float64, **kw)
    for est in (sk, ours):
        est.partial_fit(X[:60], y[:60], classes=np.unique(y))
        for _ in range(4):
            est.partial_fit(X, y)
    _assert_same(sk, ours, X, False)
    for est in (sk, ours):
        est.set_params(warm_start=True, max_iter=5, solver="adam")
        _fit(est, X, y)
    _assert_same(sk, ours, X, False)


def test_float32_within_rounding_drift():
    """float32 on both sides (sklearn keeps float32 input in float32): Adam and SGD drift by
    float32 rounding only (loss_curve_ rtol 1e-6, weights and outputs atol 2e-6 after 20
    epochs). sklearn's lbfgs turns float32 weights into float64 ones (scipy works in float64)
    while ours stays float32: 20 iterations agree to atol 1e-3."""
    for name in ("iris", "breast_cancer", "digits", "diabetes2"):
        for solver in ("adam", "sgd", "lbfgs"):
            sk, ours, X, regression = _pair(name, np.float32, solver=solver)
            atol = 1e-3 if solver == "lbfgs" else 2e-6
            assert ours.coefs_[0].dtype == np.float32 and ours.n_iter_ == sk.n_iter_
            for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
                np.testing.assert_allclose(mine, theirs, rtol=0, atol=atol)
            if solver != "lbfgs":
                np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-6)
            method = "predict" if regression else "predict_proba"
            mine, theirs = getattr(ours, method)(X), getattr(sk, method)(X)
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=atol)


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_init_is_sklearns_init_coef(activation):
    """sklearn_init draws what sklearn's _init_coef draws, layer by layer, in the same order."""
    sizes = [7, 5, 4, 3]
    dense = [cg.nn.Dense(a, b, dtype=np.float64) for a, b in zip(sizes[:-1], sizes[1:])]
    sklearn_init(dense, activation, np.random.RandomState(42))
    sk = SkClassifier(activation=activation)
    sk._random_state = np.random.RandomState(42)
    for d, (a, b) in zip(dense, zip(sizes[:-1], sizes[1:])):
        w, bias = sk._init_coef(a, b, np.float64)
        np.testing.assert_array_equal(d.weight, w)
        np.testing.assert_array_equal(d.bias, bias)


def test_convergent_options_keep_sklearn_init_and_stream():
    """dropout and batch_norm leave sklearn's numbers, but the sklearn init and data stream
    remain: the run is reproducible, dropout=0 with batch_norm=False is sklearn's model, and a
    named weight_init keeps convergent's own initializer (zero biases)."""
    X, y, _ = _data("iris")
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, dtype=np.float64)
    a = _fit(MLPClassifier(dropout=0.2, batch_norm=True, **kw), X, y)
    b = _fit(MLPClassifier(dropout=0.2, batch_norm=True, **kw), X, y)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    init = MLPClassifier(weight_init="he_uniform", learning_rate_init=1e-300, **kw)
    _fit(init, X, y)
    assert all(np.abs(b).max() < 1e-290 for b in init.intercepts_)  # zeros, moved by ~lr
    sk = _fit(SkClassifier(learning_rate_init=1e-300, hidden_layer_sizes=(8,), max_iter=3,
                           random_state=0), X, y)  # fmt: skip
    auto = _fit(MLPClassifier(learning_rate_init=1e-300, **kw), X, y)
    for u, v in zip(auto.coefs_ + auto.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_array_equal(u, v)  # lr 1e-300: the init, untouched by the steps


def test_random_state_instance_and_global_stream_as_sklearn():
    """A RandomState instance (left at the same position as sklearn leaves it) and
    random_state=None (numpy's global RandomState) give sklearn's model too."""
    X, y, _ = _data("iris")
    kw = dict(hidden_layer_sizes=(8,), max_iter=5)
    rs_sk, rs_ours = np.random.RandomState(7), np.random.RandomState(7)
    sk = _fit(SkClassifier(random_state=rs_sk, **kw), X, y)
    ours = _fit(MLPClassifier(random_state=rs_ours, dtype=np.float64, **kw), X, y)
    _assert_same(sk, ours, X, False)
    assert rs_sk.randint(1 << 30) == rs_ours.randint(1 << 30)
    saved = np.random.get_state()  # noqa: NPY002 - the global stream is what is tested
    try:
        np.random.seed(3)  # noqa: NPY002
        sk = _fit(SkClassifier(**kw), X, y)
        np.random.seed(3)  # noqa: NPY002
        ours = _fit(MLPClassifier(dtype=np.float64, **kw), X, y)
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    _assert_same(sk, ours, X, False)
