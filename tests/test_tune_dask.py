"""Dask: scikit-learn's GridSearchCV and RandomizedSearchCV over convergent's estimators inside
``joblib.parallel_backend("dask")`` on a LocalCluster of 2 worker processes (one thread each)
score exactly as the same searches at ``n_jobs=1``. Skipped without dask[distributed]
(``pip install 'convergent[dask]'``)."""

from __future__ import annotations

import warnings

import convergent as cg
import numpy as np
import pytest

pytest.importorskip("distributed", reason="needs dask[distributed]: pip install 'convergent[dask]'")
pytest.importorskip("sklearn", reason="needs scikit-learn")


def _searches():
    from convergent.sklearn import MLPClassifier, MLPRegressor
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    grid = GridSearchCV(
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, batch_size=40, random_state=0),
        {"learning_rate_init": [1e-3, 1e-2], "dropout": [0.0, 0.2]},
        cv=3,
    )
    rand = RandomizedSearchCV(
        MLPRegressor(max_iter=10, batch_size=40, random_state=1, optimizer="adamw"),
        {"hidden_layer_sizes": [(8,), (24,)], "alpha": [1e-4, 1e-2, 1e-1]},
        n_iter=3,
        cv=2,
        random_state=0,
    )
    return grid, rand


def _run(searches, X, y, yr):
    grid, rand = searches
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        grid.fit(X, y)
        rand.fit(X, yr)
    return grid, rand


def _scores(search):
    keys = [k for k in search.cv_results_ if k.startswith("split") or k == "mean_test_score"]
    return {k: np.asarray(search.cv_results_[k]) for k in keys}


def test_dask_search_equals_n_jobs_1():
    import joblib
    from distributed import Client, LocalCluster, get_task_stream
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = (X[:360] / 16.0).astype(np.float32), y[:360]
    yr = X[:, 20:30].sum(axis=1)  # a regression target
    threads = cg.get_num_threads()
    cg.set_num_threads(1)  # as in the workers (Dask sets OMP_NUM_THREADS=1 there)
    try:
        serial = _run(_searches(), X, y, yr)
    finally:
        cg.set_num_threads(threads)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
        joblib.parallel_backend("dask"),
        get_task_stream(client) as stream,
    ):  # fmt: skip
        dask = _run(_searches(), X, y, yr)
    # the cross-validation fits (4 x 3 + 3 x 2) ran on the two workers (the refits run here);
    # joblib batches fits into Dask tasks as it sees fit, so the task count is not the fit count
    assert len({t["worker"] for t in stream.data}) == 2
    for s, d in zip(serial, dask):
        a, b = _scores(s), _scores(d)
        assert set(a) == set(b) and "mean_test_score" in a
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert s.best_params_ == d.best_params_
    assert list(serial[0].cv_results_["params"]) == list(dask[0].cv_results_["params"])
