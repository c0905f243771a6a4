"""Optuna: cg.callbacks.OptunaPruning, the estimators under optuna_integration.OptunaSearchCV,
and two processes sharing one study through a journal file (examples/tune_optuna.py).
Skipped without optuna (``pip install 'convergent[tune]'``)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import convergent as cg
import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="needs optuna: pip install 'convergent[tune]'")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fit(trial, epochs=5, **kw):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    model = cg.nn.Sequential([cg.nn.Dense(4, 8, "tanh", dtype=np.float64),
                              cg.nn.Dense(8, 2, dtype=np.float64)])  # fmt: skip
    opt = cg.optim.Adam(model.parameters(), lr=1e-2)
    cb = cg.callbacks.OptunaPruning(trial, **kw)
    return cb, lambda: cg.fit(model, cg.nn.SoftmaxCrossEntropy(), opt, X, y, epochs=epochs,
                              batch_size=16, validation_split=0.25, callbacks=[cb],
                              progress=False)  # fmt: skip


def test_reports_every_epoch():
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    _, fit = _fit(trial)
    hist = fit()
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == dict(
        enumerate(hist.history["val_loss"])
    )


@pytest.mark.parametrize("raise_pruned", [True, False])
def test_pruned_trial_stops(raise_pruned):
    # prunes at the first report from step 2 on (every val_loss is above -1)
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=-1.0, n_warmup_steps=2))
    trial = study.ask()
    cb, fit = _fit(trial, epochs=6, monitor="val_loss", raise_pruned=raise_pruned)
    if raise_pruned:
        with pytest.raises(optuna.TrialPruned, match="pruned at epoch 2"):
            fit()
        assert len(cb.state.history.epoch) == 3
    else:
        assert len(fit().epoch) == 3
    assert cb.pruned and cb.pruned_epoch == 2
    assert sorted(trial.storage.get_trial(trial._trial_id).intermediate_values) == [0, 1, 2]


def test_bad_arguments():
    trial = optuna.create_study().ask()
    with pytest.raises(TypeError, match="optuna Trial"):
        cg.callbacks.OptunaPruning(object())
    _, fit = _fit(trial, monitor="val_auc")
    with pytest.raises(ValueError, match="monitors 'val_auc'"):
        fit()


def test_optuna_search_cv_with_the_estimator():
    oi = pytest.importorskip("optuna_integration", reason="needs optuna-integration[sklearn]")
    pytest.importorskip("sklearn", reason="needs scikit-learn")
    from convergent.sklearn import MLPClassifier
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    est = MLPClassifier(max_iter=40, batch_size=50, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        # optuna's ExperimentalWarning and its note on tuple choices; sklearn's convergence
        warnings.simplefilter("ignore")
        dist = {
            "learning_rate_init": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
            "hidden_layer_sizes": optuna.distributions.CategoricalDistribution([(16,), (32,)]),
            "dropout": optuna.distributions.FloatDistribution(0.0, 0.3),
        }
        search = oi.OptunaSearchCV(est, dist, n_trials=4, cv=2, random_state=0, verbose=0)
        search.fit(X, y)
    assert len(search.trials_) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in search.trials_)
    assert set(search.best_params_) == set(dist)
    assert search.score(X, y) > 0.8


def test_two_processes_share_one_journal_study(tmp_path):
    """Two processes run examples/tune_optuna.py on one journal file, 4 trials each: the
    study ends with 8 finished trials numbered 0..7, 4 from each process."""
    pytest.importorskip("sklearn", reason="the example loads scikit-learn's digits")
    journal = str(tmp_path / "study.log")
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(cg.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([pkg, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, os.path.join(ROOT, "examples", "tune_optuna.py"), "--storage",
           journal, "--study", "shared", "--trials", "4", "--epochs", "4", "--rows", "400",
           "--threads", "1", "--quiet"]  # fmt: skip
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="shared", storage=JournalStorage(JournalFileBackend(journal))
    )
    trials = study.get_trials()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state in finished for t in trials)
    workers = [t.user_attrs["worker"] for t in trials]
    assert sorted(workers.count(p.pid) for p in procs) == [4, 4]
    assert study.best_value < 1.0
